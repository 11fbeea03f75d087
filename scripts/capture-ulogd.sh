#!/bin/sh
# capture-ulogd.sh — capture real ulogd2 JSON lines (Debian ulogd2-json 2.0.x,
# stack NFLOG,BASE,IFINDEX,IP2STR,HWHDR,JSON) for darkscope's golden files.
#
# It creates two throw-away network namespaces (sensor, attacker) joined by a
# veth pair, logs every packet arriving in the sensor through an nftables
# prerouting rule to NFLOG group 7, runs ulogd2 inside the sensor namespace,
# sends a bounded set of TCP/UDP/ICMP/IPv6 probes from the attacker (hping3 and
# nmap, only to the sensor's namespace addresses) and writes ulogd's JSON lines
# to OUT (default internal/decode/testdata/ulogd/ulogd2-2.0.8.jsonl).
#
# Needs root, ip, nft, ulogd, hping3, nmap. Usage: scripts/capture-ulogd.sh [OUT]
set -eu

OUT=${1:-internal/decode/testdata/ulogd/ulogd2-2.0.8.jsonl}
PLUG=${ULOGD_PLUGINS:-/usr/lib/x86_64-linux-gnu/ulogd}
TAG=dscap$$
SNS=$TAG-s
ANS=$TAG-a
TMP=$(mktemp -d)
ULOGD_PID=

cleanup() {
	if [ -n "$ULOGD_PID" ]; then kill "$ULOGD_PID" 2>/dev/null || true; wait "$ULOGD_PID" 2>/dev/null || true; fi
	ip netns del "$SNS" 2>/dev/null || true
	ip netns del "$ANS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ip netns add "$SNS"
ip netns add "$ANS"
ip -n "$SNS" link set lo up
ip -n "$ANS" link set lo up
ip link add "${TAG}s" netns "$SNS" type veth peer name "${TAG}a" netns "$ANS"
# Fixed MACs so the capture is reproducible.
ip -n "$SNS" link set "${TAG}s" address 02:00:00:00:99:01
ip -n "$ANS" link set "${TAG}a" address 02:00:00:00:99:02
ip -n "$SNS" addr add 10.99.0.1/24 dev "${TAG}s"
ip -n "$ANS" addr add 10.99.0.2/24 dev "${TAG}a"
ip -n "$SNS" addr add fd99::1/64 dev "${TAG}s" nodad
ip -n "$ANS" addr add fd99::2/64 dev "${TAG}a" nodad
ip -n "$SNS" link set "${TAG}s" up
ip -n "$ANS" link set "${TAG}a" up
# Static neighbours: no ARP/ND noise in the log.
ip -n "$ANS" neigh add 10.99.0.1 lladdr 02:00:00:00:99:01 dev "${TAG}a"
ip -n "$ANS" neigh add fd99::1 lladdr 02:00:00:00:99:01 dev "${TAG}a"
ip -n "$SNS" neigh add 10.99.0.2 lladdr 02:00:00:00:99:02 dev "${TAG}s"
ip -n "$SNS" neigh add fd99::2 lladdr 02:00:00:00:99:02 dev "${TAG}s"

cat >"$TMP/ulogd.conf" <<CONF
[global]
logfile="$TMP/ulogd.log"
loglevel=3
plugin="$PLUG/ulogd_inppkt_NFLOG.so"
plugin="$PLUG/ulogd_raw2packet_BASE.so"
plugin="$PLUG/ulogd_filter_IFINDEX.so"
plugin="$PLUG/ulogd_filter_IP2STR.so"
plugin="$PLUG/ulogd_filter_HWHDR.so"
plugin="$PLUG/ulogd_output_JSON.so"
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,mac2str1:HWHDR,json1:JSON

[log1]
group=7

[json1]
file="$TMP/ulogd.json"
sync=1
CONF

ip netns exec "$SNS" ulogd -c "$TMP/ulogd.conf" &
ULOGD_PID=$!
# Wait until ulogd has bound the group (it creates its output file then).
i=0
while [ ! -e "$TMP/ulogd.json" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5

ip netns exec "$SNS" nft -f - <<NFT
table inet dscap {
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		iifname "${TAG}s" tcp dport 8080 meta mark set 0x2a
		iifname "${TAG}s" meta l4proto != udp log prefix "dark " group 7
		iifname "${TAG}s" meta l4proto udp log prefix "dark-udp " group 7
	}
	chain out {
		type filter hook output priority 0; policy accept;
		oifname "${TAG}s" ip daddr 10.99.0.2 tcp dport 9 log prefix "out" group 7
	}
}
NFT

A() { timeout 20 ip netns exec "$ANS" "$@" >/dev/null 2>&1 || true; }
# TCP: SYN, SYN-ACK backscatter, RST, FIN/NULL/Xmas, with options.
A hping3 -c 1 -S -p 22 -s 40000 -k -M 1000 -w 1024 --tcp-timestamp 10.99.0.1
A hping3 -c 1 -S -A -p 80 -s 40001 -k -M 2000 -L 3000 10.99.0.1
A hping3 -c 1 -R -p 443 -s 40002 -k 10.99.0.1
A hping3 -c 1 -F -P -U -p 8080 -s 40003 -k 10.99.0.1
A hping3 -c 1 -p 23 -s 40004 -k -t 33 -N 4242 10.99.0.1
A hping3 -c 1 -X -Y -S -p 25 -s 40005 -k -d 16 -E /etc/hostname 10.99.0.1
# IPv4 options (record route), TOS, fragment.
A hping3 -c 1 -S -p 21 -s 40006 -k -G -o 0x10 10.99.0.1
A hping3 -c 1 -S -p 53 -s 40007 -k -f -d 40 10.99.0.1
# UDP with payload, and ICMP echo / timestamp / an ICMP error.
A hping3 -c 1 --udp -p 53 -s 40008 -k -d 12 10.99.0.1
A hping3 -c 1 --udp -p 161 -s 40009 -k 10.99.0.1
A hping3 -c 1 -1 -C 8 -d 8 10.99.0.1
A hping3 -c 1 -1 -C 13 10.99.0.1
A hping3 -c 1 -1 -C 3 -K 3 10.99.0.1
# IPv6: TCP SYN, UDP, ICMPv6 echo (nmap; no retries, two ports).
A nmap -6 -n -Pn -sS -p 22,80 --max-retries 0 --host-timeout 10s fd99::1
A nmap -6 -n -Pn -sU -p 53 --max-retries 0 --host-timeout 10s fd99::1
A nmap -6 -n -sn -PE --max-retries 0 --host-timeout 10s fd99::1
# Hand-made frames: TOS/ECN/DF, ICMP errors with quotes, IPv6 traffic class,
# flow label, extension headers and fragments.
A python3 "$(dirname "$0")/ulogd-probes.py" "${TAG}a" 02:00:00:00:99:02 02:00:00:00:99:01 \
	10.99.0.2 10.99.0.1 fd99::2 fd99::1
# A locally generated packet, logged in the output hook (uid/gid, no MAC).
timeout 20 ip netns exec "$SNS" hping3 -c 1 -S -p 9 -s 40010 -k 10.99.0.2 >/dev/null 2>&1 || true

sleep 1.5
kill "$ULOGD_PID"
wait "$ULOGD_PID" 2>/dev/null || true
ULOGD_PID=
mkdir -p "$(dirname "$OUT")"
cp "$TMP/ulogd.json" "$OUT"
echo "captured $(wc -l <"$OUT") lines into $OUT" >&2
