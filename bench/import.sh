#!/usr/bin/env bash
# Whole-program benchmark of `darkscope import` on a generated kern.log,
# with peers measured in the same run on the same file (when installed):
# fwlogwatch (Debian fwlogwatch) and psad (Debian psad, -A -m FILE), each on a
# prefix of the file and under a timeout, since they are far slower.
# Usage: bench/import.sh [LINES] (default 10000000). Prints lines/s and peak RSS.
set -euo pipefail
N=${1:-10000000}
PEER_N=${PEER_N:-200000}
cd "$(dirname "$0")/.."
make -s build
W=$(mktemp -d /tmp/darkscope-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
echo "generating $N lines..."
go run ./bench/genlog -n "$N" -sources 1000000 -span 720h -o "$W/kern.log"
ls -l "$W/kern.log" | awk '{printf "file: %.1f MB\n", $5/1048576}'

measure() { # name lines cmd...
  local name=$1 lines=$2; shift 2
  local t0 t1 rss
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$W/rss" "$@" >"$W/$name.out" 2>"$W/$name.err" || true
  t1=$(date +%s.%N)
  rss=$(tail -1 "$W/rss")
  awk -v n="$name" -v l="$lines" -v a="$t0" -v b="$t1" -v r="$rss" \
    'BEGIN{printf "%-22s %10d lines %8.2f s %12.0f lines/s  peak RSS %6.0f MB\n", n, l, b-a, l/(b-a), r/1024}'
}

measure darkscope-import "$N" ./bin/darkscope import --no-progress --data "$W/data" "$W/kern.log"
cat "$W/darkscope-import.out"
head -n "$PEER_N" "$W/kern.log" > "$W/peer.log"
if command -v fwlogwatch >/dev/null; then
  measure fwlogwatch "$PEER_N" timeout 600 fwlogwatch -o "$W/fwlogwatch.txt" "$W/peer.log"
fi
if command -v psad >/dev/null; then
  measure psad-analyze "$PEER_N" timeout 600 psad -A -m "$W/peer.log"
fi
