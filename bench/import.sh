#!/usr/bin/env bash
# Whole-program benchmark of `darkscope import` on a generated kern.log,
# with peers measured in the same run on the same file (when installed):
# fwlogwatch (Debian fwlogwatch) and psad (Debian psad, -A -m FILE), each on a
# prefix of the file and under a timeout, since they are far slower.
# Usage: bench/import.sh [LINES] (default 10000000). Prints lines/s, lines per
# CPU-second (user+system of every thread: what a shared machine distorts
# least), peak RSS and the load average before each run.
# Env: DARKSCOPE=path of the binary to measure (default: make build, ./bin/darkscope),
# PEER_N (lines the peers get, default 200000), LOG=an existing generated file.
set -euo pipefail
N=${1:-10000000}
PEER_N=${PEER_N:-200000}
cd "$(dirname "$0")/.."
BIN=${DARKSCOPE:-}
if [ -z "$BIN" ]; then
  make -s build
  BIN=./bin/darkscope
fi
W=$(mktemp -d /tmp/darkscope-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
if [ -n "${LOG:-}" ]; then
  ln -s "$(realpath "$LOG")" "$W/kern.log"
  N=$(wc -l <"$W/kern.log")
else
  echo "generating $N lines..."
  # 30 days ending two days ago: the lines' year-less syslog stamps must
  # not run past today, or year inference files them a year back.
  go run ./bench/genlog -n "$N" -sources 1000000 -span 720h -start "$(date -u -d '32 days ago' +%Y-%m-%dT00:00:00Z)" -o "$W/kern.log"
fi
ls -lL "$W/kern.log" | awk '{printf "file: %.1f MB\n", $5/1048576}'

measure() { # name lines cmd...
  local name=$1 lines=$2; shift 2
  local t0 t1 rss cpu load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$W/rss" "$@" >"$W/$name.out" 2>"$W/$name.err" || true
  t1=$(date +%s.%N)
  rss=$(tail -1 "$W/rss" | cut -d' ' -f1)
  cpu=$(tail -1 "$W/rss" | awk '{print $2 + $3}')
  awk -v n="$name" -v l="$lines" -v a="$t0" -v b="$t1" -v r="$rss" -v c="$cpu" -v ld="$load" \
    'BEGIN{printf "%-22s %10d lines %8.2f s %10.0f lines/s %10.0f lines/cpu-s  peak RSS %6.0f MB  (load before: %s)\n", n, l, b-a, l/(b-a), l/c, r/1024, ld}'
}

measure darkscope-import "$N" "$BIN" import --no-progress --data "$W/data" "$W/kern.log"
cat "$W/darkscope-import.out"
head -n "$PEER_N" "$W/kern.log" > "$W/peer.log"
if command -v fwlogwatch >/dev/null; then
  measure fwlogwatch "$PEER_N" timeout 600 fwlogwatch -o "$W/fwlogwatch.txt" "$W/peer.log"
fi
if command -v psad >/dev/null; then
  measure psad-analyze "$PEER_N" timeout 600 psad -A -m "$W/peer.log"
fi
