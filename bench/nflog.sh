#!/bin/bash
# nflog.sh — NFLOG capture throughput: darkscope's NFLOG reader against
# ulogd2 (NFLOG,BASE,IFINDEX,IP2STR,HWHDR,JSON) on the same traffic.
#
# Builds two throw-away namespaces (sensor, attacker) joined by a veth pair,
# an nftables prerouting rule (priority -450) in the sensor with a counter
# before `log group G`, then for each reader in turn: starts it in the sensor
# namespace, floods the sensor from the attacker with hping3 for SECONDS
# (bounded by timeout), sends one sentinel packet (so a loss at the very end
# shows in the sequence numbers), stops the reader and reports what nft
# counted, what the reader stored, what it counted lost, and its CPU time.
#
# Needs root, ip, nft, hping3, go; ulogd for the comparison (skipped if
# absent). Usage: bench/nflog.sh [SECONDS] (default 5). Env: GROUP (4299),
# FLOODERS (hping3 processes, default 1), SKIP_ULOGD=1, DARKSCOPE=binary for the
# whole-daemon row (default: make build, ./bin/darkscope).
set -euo pipefail

SECS=${1:-5}
GROUP=${GROUP:-4299}
FLOODERS=${FLOODERS:-1}
PLUG=${ULOGD_PLUGINS:-/usr/lib/x86_64-linux-gnu/ulogd}
TAG=dsnb$$
S=$TAG-s
A=$TAG-a
TMP=$(mktemp -d)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	ip netns del "$S" 2>/dev/null || true
	ip netns del "$A" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

cd "$(dirname "$0")/.."
go build -o "$TMP/nflogbench" ./bench/nflogbench

ip netns add "$S"
ip netns add "$A"
ip -n "$S" link set lo up
ip -n "$A" link set lo up
ip link add "${TAG}s" netns "$S" type veth peer name "${TAG}a" netns "$A"
ip -n "$S" link set "${TAG}s" address 02:00:00:00:98:01
ip -n "$A" link set "${TAG}a" address 02:00:00:00:98:02
ip -n "$S" addr add 10.99.98.1/24 dev "${TAG}s"
ip -n "$A" addr add 10.99.98.2/24 dev "${TAG}a"
ip -n "$S" link set "${TAG}s" up
ip -n "$A" link set "${TAG}a" up
ip -n "$A" neigh add 10.99.98.1 lladdr 02:00:00:00:98:01 dev "${TAG}a"
ip -n "$S" neigh add 10.99.98.2 lladdr 02:00:00:00:98:02 dev "${TAG}s"
ip netns exec "$S" nft -f - <<NFT
table inet dsbench {
	counter logged { }
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		iifname "${TAG}s" ip saddr 10.99.98.2 counter name "logged" log prefix "bench " group $GROUP
	}
	# Drop after logging so the sensor spends no CPU answering the flood.
	chain in {
		type filter hook input priority 0; policy accept;
		ip saddr 10.99.98.2 drop
	}
}
NFT

logged() { ip netns exec "$S" nft list counter inet dsbench logged | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
reset() { ip netns exec "$S" nft reset counter inet dsbench logged >/dev/null; }
bound() {
	for _ in $(seq 100); do
		if ip netns exec "$S" awk -v g="$GROUP" '$1 == g { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_log; then
			return 0
		fi
		sleep 0.05
	done
	echo "group $GROUP never bound" >&2
	return 1
}
flood() {
	local fp=()
	for _ in $(seq "$FLOODERS"); do
		ip netns exec "$A" timeout "$SECS" hping3 -q --flood -S -p 9 10.99.98.1 >/dev/null 2>&1 &
		fp+=($!)
	done
	for p in "${fp[@]}"; do wait "$p" || true; done
	sleep 1
	ip netns exec "$A" hping3 -q -c 1 -S -p 7777 10.99.98.1 >/dev/null 2>&1 || true # sentinel
	sleep 1
}
# cpu_of PID: user+system seconds of a running process.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
field() { grep -o "\"$1\":[0-9.]*" "$2" | head -1 | cut -d: -f2; }

echo "flooding for ${SECS}s with $FLOODERS hping3 process(es); nproc=$(nproc)"
printf '%-12s %12s %12s %10s %10s %10s %14s %14s\n' reader nft_logged stored lost gen_pps cpu_s stored_per_s per_cpu_s

# darkscope
ip netns exec "$S" "$TMP/nflogbench" -group "$GROUP" -duration 10m >"$TMP/ds.json" 2>"$TMP/ds.err" &
DS=$!
PIDS+=("$DS")
bound
reset
flood
kill -INT "$DS"
wait "$DS" || { cat "$TMP/ds.err" >&2; exit 1; }
sent=$(logged)
stored=$(field stored "$TMP/ds.json")
lost=$(grep -o '"kernel_overrun":[0-9]*' "$TMP/ds.json" | cut -d: -f2 || true)
lost=${lost:-0}
cpu=$(awk -v u="$(field user_cpu_s "$TMP/ds.json")" -v s="$(field system_cpu_s "$TMP/ds.json")" 'BEGIN { printf "%.2f", u + s }')
awk -v n=darkscope -v sent="$sent" -v st="$stored" -v lo="$lost" -v cpu="$cpu" -v secs="$SECS" \
	'BEGIN { printf "%-12s %12d %12d %10d %10d %10.2f %14d %14d\n", n, sent, st, lo, sent / secs, cpu, st / secs, (cpu > 0 ? st / cpu : 0) }'
if [ $((stored + lost)) -ne "$sent" ]; then
	echo "darkscope: stored $stored + lost $lost != nft $sent" >&2
fi

# The whole darkscope daemon: NFLOG → pipeline → detect stage → DuckDB store.
BIN=${DARKSCOPE:-}
if [ -z "$BIN" ]; then
	make -s build
	BIN=./bin/darkscope
fi
ip netns exec "$S" /usr/bin/time -o "$TMP/run.time" -f "%U %S" "$BIN" run --nflog "$GROUP" --data "$TMP/data" --log-level warn 2>"$TMP/run.err" &
RT=$!
PIDS+=("$RT")
bound
reset
flood
sleep 1
kill -INT "$(pgrep -P "$RT")"
wait "$RT" || { cat "$TMP/run.err" >&2; exit 1; }
sent=$(logged)
"$BIN" stats --json --data "$TMP/data" >"$TMP/run.json"
# The counters of the nflog source (stats lists other sources too, e.g. detect:clock).
nf() { # nf KEY [REASON]: the nflog source's counter KEY (or its KEY[REASON], 0 when absent)
	python3 -c '
import json, sys
src = [x for x in json.load(open(sys.argv[1]))["sources"] if x["source"] == "nflog:" + sys.argv[2]][0]
v = src[sys.argv[3]]
print(v.get(sys.argv[4], 0) if len(sys.argv) > 4 else v)' "$TMP/run.json" "$GROUP" "$@"
}
stored=$(nf stored)
lost=$(nf lost kernel_overrun)
qlost=$(nf lost queue_full)
lost=$(( ${lost:-0} + ${qlost:-0} ))
cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$TMP/run.time")
awk -v n=darkscope-run -v sent="$sent" -v st="$stored" -v lo="$lost" -v cpu="$cpu" -v secs="$SECS" \
	'BEGIN { printf "%-12s %12d %12d %10d %10d %10.2f %14d %14d\n", n, sent, st, lo, sent / secs, cpu, st / secs, (cpu > 0 ? st / cpu : 0) }'
if [ $((stored + lost)) -ne "$sent" ]; then
	echo "darkscope run: stored $stored + lost $lost != nft $sent" >&2
fi

# ulogd2, configured like darkscope (threshold 64, 100 ms flush, 8 MiB buffer).
if [ -z "${SKIP_ULOGD:-}" ] && command -v ulogd >/dev/null && [ -e "$PLUG/ulogd_output_JSON.so" ]; then
	cat >"$TMP/ulogd.conf" <<CONF
[global]
logfile="$TMP/ulogd.log"
loglevel=5
plugin="$PLUG/ulogd_inppkt_NFLOG.so"
plugin="$PLUG/ulogd_raw2packet_BASE.so"
plugin="$PLUG/ulogd_filter_IFINDEX.so"
plugin="$PLUG/ulogd_filter_IP2STR.so"
plugin="$PLUG/ulogd_filter_HWHDR.so"
plugin="$PLUG/ulogd_output_JSON.so"
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,mac2str1:HWHDR,json1:JSON

[log1]
group=$GROUP
netlink_socket_buffer_size=8388608
netlink_socket_buffer_maxsize=8388608
netlink_qthreshold=64
netlink_qtimeout=10

[json1]
file="$TMP/ulogd.json"
sync=0
CONF
	ip netns exec "$S" ulogd -c "$TMP/ulogd.conf" &
	UL=$!
	PIDS+=("$UL")
	bound
	reset
	flood
	cpu=$(cpu_of "$UL")
	kill "$UL"
	wait "$UL" 2>/dev/null || true
	sent=$(logged)
	stored=$(wc -l <"$TMP/ulogd.json")
	awk -v n=ulogd2-json -v sent="$sent" -v st="$stored" -v cpu="$cpu" -v secs="$SECS" \
		'BEGIN { printf "%-12s %12d %12d %10s %10d %10.2f %14d %14d\n", n, sent, st, "?", sent / secs, cpu, st / secs, (cpu > 0 ? st / cpu : 0) }'
fi
