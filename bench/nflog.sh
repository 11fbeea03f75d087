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
# whole-daemon row (default: make build, ./bin/darkscope), SKIP_RUN=1 (the reader row
# only), READER_ARGS (extra nflogbench flags for the reader row,
# e.g. "-threshold 64" for the reader's old setting),
# ULOGD_QTHRESH (ulogd2's netlink_qthreshold, default 1024 like darkscope's),
# RATE (offer this many UDP packets/s with nflogbench -send instead of the
# hping3 flood, so runs under different load get the same packets).
# The run-steady row is the whole daemon's CPU from the flood's start until
# everything is stored: without its start (store open) and stop (checkpoint).
#
# OVERLOAD=1 measures the whole daemon's loss accounting under a steady
# overload instead: a rate-limited UDP generator (nflogbench -send, token
# bucket, in the attacker namespace) first finds the daemon's loss-free rate
# (the generator's top rate, then halving and bisecting, STEP seconds per try),
# then offers twice that for SECONDS and reports nft = stored + lost by reason,
# for the overload phase and for the whole run, after a sentinel. So that 2x
# is reachable on a small machine, the daemon runs in a cgroup capped at
# DAEMON_CPU CPUs (default 0.25; 0 = no cap: then 2x is only reachable when
# the generator outruns the daemon, and the script says so). Env: STEP (3),
# BISECT (3 refinement steps). Exits 1 when the equation does not hold.
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
	if [ -n "${RATE:-}" ]; then
		# A fixed offered rate (UDP, nflogbench -send) instead of hping3's
		# flood: every reader sees the same packets, whatever the load.
		ip netns exec "$A" "$TMP/nflogbench" -send 10.99.98.1:9 -rate "$RATE" -count $((RATE * SECS)) -duration "${SECS}s" >/dev/null
		sleep 1
		ip netns exec "$A" hping3 -q -c 1 -S -p 7777 10.99.98.1 >/dev/null 2>&1 || true # sentinel
		sleep 1
		return
	fi
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

if [ -n "${OVERLOAD:-}" ]; then
	BIN=${DARKSCOPE:-}
	if [ -z "$BIN" ]; then
		make -s build
		BIN=./bin/darkscope
	fi
	STEP=${STEP:-3}
	BISECT=${BISECT:-3}
	DAEMON_CPU=${DAEMON_CPU:-0.25}
	# The daemon's cgroup: cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us).
	CG=
	if awk -v c="$DAEMON_CPU" 'BEGIN { exit !(c > 0) }'; then
		quota=$(awk -v c="$DAEMON_CPU" 'BEGIN { printf "%d", c * 100000 }')
		if [ -e /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
			CG=/sys/fs/cgroup/$TAG
			mkdir "$CG"
			echo "$quota 100000" >"$CG/cpu.max"
		elif [ -d /sys/fs/cgroup/cpu ]; then
			CG=/sys/fs/cgroup/cpu/$TAG
			mkdir "$CG"
			echo 100000 >"$CG/cpu.cfs_period_us"
			echo "$quota" >"$CG/cpu.cfs_quota_us"
		else
			echo "no cgroup cpu controller: running the daemon uncapped" >&2
		fi
	fi
	rmcg() { if [ -n "$CG" ]; then rmdir "$CG" 2>/dev/null || true; fi; }
	trap 'cleanup; rmcg' EXIT INT TERM
	sh -c 'if [ -n "$1" ]; then echo $$ >"$1/cgroup.procs"; fi; shift; exec "$@"' sh "$CG" \
		ip netns exec "$S" "$BIN" run --nflog "$GROUP" --data "$TMP/data" --log-level warn 2>"$TMP/run.err" &
	DS=$!
	PIDS+=("$DS")
	bound
	sleep 1 # the API socket
	# gen RATE SECS: offer RATE datagrams/s (0 = the generator's top rate);
	# prints the generator's achieved rate.
	gen() {
		ip netns exec "$A" "$TMP/nflogbench" -send 10.99.98.1:9 -rate "$1" -count 100000000 -duration "${2}s" >"$TMP/gen.json" || return 1
		field pps "$TMP/gen.json" | cut -d. -f1
	}
	# snap: "nft stored kernel_overrun queue_full other_lost received" now.
	snap() {
		"$BIN" stats --json --data "$TMP/data" >"$TMP/stats.json"
		python3 -c '
import json, sys
src = [x for x in json.load(open(sys.argv[1]))["sources"] if x["source"] == "nflog:" + sys.argv[2]][0]
lost = src["lost"]
k, q = lost.get("kernel_overrun", 0), lost.get("queue_full", 0)
print(sys.argv[3], src["stored"], k, q, sum(lost.values()) - k - q, src["received"])' "$TMP/stats.json" "$GROUP" "$(logged)"
	}
	# settle: send a sentinel (a loss at the very end shows in its sequence
	# number) and wait until nft = stored + lost (the store has caught up);
	# prints the snap.
	settle() {
		sleep 1
		ip netns exec "$A" "$TMP/nflogbench" -send 10.99.98.1:7777 -rate 0 -count 1 -duration 1s >/dev/null
		local i s
		for i in $(seq 120); do
			sleep 0.5
			s=$(snap)
			if echo "$s" | awk '{ exit !($1 == $2 + $3 + $4 + $5) }'; then
				echo "$s"
				return 0
			fi
		done
		echo "$s"
		echo "the store never caught up: nft stored kernel_overrun queue_full other received = $s" >&2
		return 1
	}
	cpu_ds() { cpu_of "$DS"; } # sh exec'd ip, which exec'd the daemon
	# try RATE: one step; sets TRY_PPS (achieved) and TRY_LOST (lost in it).
	try() {
		local a
		TRY_PPS=$(gen "$1" "$STEP")
		a=$(settle)
		TRY_LOST=$(echo "$LAST $a" | awk '{ print ($9 + $10 + $11) - ($3 + $4 + $5) }')
		LAST=$a
		printf '%-8s target %9s/s  achieved %9s/s  lost %9s\n' try "$1" "$TRY_PPS" "$TRY_LOST"
	}
	LAST=$(settle)
	echo "OVERLOAD: daemon capped at ${DAEMON_CPU} CPU (${CG:-no cgroup}); steps of ${STEP}s; nproc=$(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
	try 0
	GMAX=$TRY_PPS
	if [ "$TRY_LOST" -eq 0 ]; then
		echo "the daemon is loss-free at the generator's top rate ($GMAX/s): 2x its loss-free rate is not reachable; lower DAEMON_CPU" >&2
		exit 1
	fi
	hi=$GMAX
	lo=0
	r=$((GMAX / 2))
	while [ "$r" -ge 1000 ]; do
		try "$r"
		if [ "$TRY_LOST" -eq 0 ]; then
			lo=$r
			break
		fi
		hi=$r
		r=$((r / 2))
	done
	if [ "$lo" -eq 0 ]; then
		echo "no loss-free rate >= 1000/s found" >&2
		exit 1
	fi
	for _ in $(seq "$BISECT"); do
		r=$(((lo + hi) / 2))
		try "$r"
		if [ "$TRY_LOST" -eq 0 ]; then lo=$r; else hi=$r; fi
	done
	RATE=$((2 * lo))
	echo "loss-free rate: $lo/s (lossy at $hi/s); overload: 2x = $RATE/s for ${SECS}s"
	b=$LAST
	c0=$(cpu_ds)
	got=$(gen "$RATE" "$SECS")
	c1=$(cpu_ds)
	a=$(settle)
	awk -v g="$got" -v lo="$lo" 'BEGIN { printf "offered %d/s = %.2fx the loss-free rate%s\n", g, g / lo, (g < 1.8 * lo ? " (the generator fell short of 2x)" : "") }'
	read -r n0 s0 k0 q0 o0 _ <<<"$b"
	read -r n1 s1 k1 q1 o1 r1 <<<"$a"
	printf '%-10s %12s %10s %10s %12s %12s %10s %10s %10s\n' phase offered_pps nft stored kern_overrun queue_full other_lost lost_pct cpu_s
	awk -v p=overload -v got="$got" -v n=$((n1 - n0)) -v s=$((s1 - s0)) -v k=$((k1 - k0)) -v q=$((q1 - q0)) -v o=$((o1 - o0)) -v c0="$c0" -v c1="$c1" \
		'BEGIN { printf "%-10s %12d %10d %10d %12d %12d %10d %9.1f%% %10.2f\n", p, got, n, s, k, q, o, (n ? 100 * (k + q + o) / n : 0), c1 - c0 }'
	awk -v p=whole-run -v n="$n1" -v s="$s1" -v k="$k1" -v q="$q1" -v o="$o1" \
		'BEGIN { printf "%-10s %12s %10d %10d %12d %12d %10d %9.1f%% %10s\n", p, "-", n, s, k, q, o, (n ? 100 * (k + q + o) / n : 0), "-" }'
	ok=1
	if [ $((n1 - n0)) -ne $((s1 - s0 + k1 - k0 + q1 - q0 + o1 - o0)) ] || [ "$n1" -ne $((s1 + k1 + q1 + o1)) ] || [ "$n1" -ne "$r1" ]; then
		echo "EQUATION BROKEN: nft != stored + lost" >&2
		ok=0
	else
		echo "equation holds: nft = received = stored + kernel_overrun + queue_full + other (overload phase and whole run)"
	fi
	if [ $((k1 - k0 + q1 - q0 + o1 - o0)) -eq 0 ]; then
		echo "no loss during the overload: it was not one" >&2
		ok=0
	fi
	kill -INT "$DS"
	wait "$DS" || { cat "$TMP/run.err" >&2; exit 1; }
	[ "$ok" -eq 1 ]
	exit
fi

echo "flooding for ${SECS}s with $FLOODERS hping3 process(es); nproc=$(nproc)"
printf '%-12s %12s %12s %10s %10s %10s %14s %14s\n' reader nft_logged stored lost gen_pps cpu_s stored_per_s per_cpu_s

# darkscope
# shellcheck disable=SC2086 # READER_ARGS is a list of flags
ip netns exec "$S" "$TMP/nflogbench" -group "$GROUP" -duration 10m ${READER_ARGS:-} >"$TMP/ds.json" 2>"$TMP/ds.err" &
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
if [ -n "${SKIP_RUN:-}" ]; then
	exit 0
fi
BIN=${DARKSCOPE:-}
if [ -z "$BIN" ]; then
	make -s build
	BIN=./bin/darkscope
fi
ip netns exec "$S" /usr/bin/time -o "$TMP/run.time" -f "%U %S" "$BIN" run --nflog "$GROUP" --data "$TMP/data" --log-level warn 2>"$TMP/run.err" &
RT=$!
PIDS+=("$RT")
bound
DP=$(pgrep -P "$RT") # ip netns exec, which exec'd the daemon
reset
c0=$(cpu_of "$DP")
flood
sleep 1
c1=$(cpu_of "$DP")
kill -INT "$DP"
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
# The same row without the daemon's start (store open) and stop (final
# checkpoint): its CPU from the flood's start until everything was stored.
awk -v n=run-steady -v sent="$sent" -v st="$stored" -v lo="$lost" -v cpu="$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')" -v secs="$SECS" \
	'BEGIN { printf "%-12s %12d %12d %10d %10d %10.2f %14d %14d\n", n, sent, st, lo, sent / secs, cpu, st / secs, (cpu > 0 ? st / cpu : 0) }'

# ulogd2, configured like darkscope (threshold ULOGD_QTHRESH, default 1024 as
# darkscope's; 100 ms flush, 8 MiB buffer).
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
netlink_qthreshold=${ULOGD_QTHRESH:-1024}
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
