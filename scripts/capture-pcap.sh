#!/bin/sh
# capture-pcap.sh — make the real captures internal/source/pcap tests read, and
# tshark's decoding of each as ground truth.
#
# It creates two throw-away network namespaces (sensor, attacker) joined by a
# veth pair, logs every packet entering the sensor
# through an nftables prerouting rule to NFLOG group 5, and, while a bounded
# set of probes runs (hping3 flag combinations, UDP, ICMP, an ICMP error,
# fragments, nmap SYN probes over IPv4 and IPv6), captures
# in the sensor namespace with:
#   tcpdump -i VETH                  -> eth.pcap     (LINKTYPE_ETHERNET, 1)
#   tcpdump -i any -y LINUX_SLL      -> sll.pcap     (LINKTYPE_LINUX_SLL, 113)
#   tcpdump -i any -y LINUX_SLL2     -> sll2.pcap    (LINKTYPE_LINUX_SLL2, 276)
#   editcap -C 14 -T rawip eth.pcap  -> raw.pcap     (LINKTYPE_RAW, 101: the same
#                                       packets without their Ethernet header; this
#                                       kernel has no tunnel device that tcpdump
#                                       would capture as raw IP)
#   tcpdump -i nflog:5               -> nflog.pcap   (LINKTYPE_NFLOG, 239)
#   dumpcap -i VETH                  -> eth.pcapng   (pcapng, Ethernet)
#   tshark -F pcapng of nflog.pcap   -> nflog.pcapng (pcapng, NFLOG)
#   dumpcap -i VETH -i nflog:6       -> mixed.pcapng (pcapng with an Ethernet and an
#                                       NFLOG interface; a second log rule feeds group 6)
# and writes FILE.tshark.tsv beside each: tshark -T fields of the fields the
# test compares (first occurrence of each, so ICMP errors give the outer header).
#
# tshark runs with IP reassembly off, so each fragment is compared as it is.
#
# Needs root, ip, nft, tcpdump, dumpcap, tshark, editcap, hping3, nmap, ping.
# Usage: scripts/capture-pcap.sh [OUTDIR]   (default internal/source/pcap/testdata)
#        scripts/capture-pcap.sh --tsv-only [OUTDIR]   (only redo the tshark files)
set -eu

FIELDS="frame.number frame.time_epoch eth.src eth.dst sll.etype sll.src.eth nflog.res_id nflog.prefix nflog.timestamp
ip.src ip.dst ipv6.src ipv6.dst ip.proto ipv6.nxt ip.ttl ipv6.hlim ip.id ip.len ipv6.plen ip.flags.df ip.flags.mf ip.frag_offset
tcp.srcport tcp.dstport tcp.seq_raw tcp.ack_raw tcp.window_size_value tcp.flags udp.srcport udp.dstport
icmp.type icmp.code icmpv6.type icmpv6.code"
FILES="eth.pcap sll.pcap sll2.pcap raw.pcap nflog.pcap eth.pcapng nflog.pcapng mixed.pcapng"

tsv() { # tsv DIR: write FILE.tshark.tsv for every capture in DIR
	args=
	for x in $FIELDS; do args="$args -e $x"; done
	for f in $FILES; do
		{
			echo $FIELDS | tr ' ' '\t' # unquoted: one line, single spaces
			# shellcheck disable=SC2086
			TZ=UTC tshark -r "$1/$f" -o ip.defragment:FALSE -o ipv6.defragment:FALSE \
				-T fields -E separator=/t -E occurrence=f $args 2>/dev/null
		} >"$1/$f.tshark.tsv"
		echo "$f: $(($(wc -l <"$1/$f.tshark.tsv") - 1)) packets"
	done
}

if [ "${1:-}" = "--tsv-only" ]; then
	tsv "${2:-internal/source/pcap/testdata}"
	exit 0
fi

OUT=${1:-internal/source/pcap/testdata}
TAG=dspc$$
SNS=$TAG-s
ANS=$TAG-a
VS=${TAG}s
VA=${TAG}a
TMP=$(mktemp -d)
PIDS=

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	ip netns del "$SNS" 2>/dev/null || true
	ip netns del "$ANS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

S() { ip netns exec "$SNS" "$@"; }
A() { ip netns exec "$ANS" "$@"; }

ip netns add "$SNS"
ip netns add "$ANS"
ip -n "$SNS" link set lo up
ip -n "$ANS" link set lo up
ip link add "$VS" netns "$SNS" type veth peer name "$VA" netns "$ANS"
ip -n "$SNS" link set "$VS" address 02:00:00:00:98:01
ip -n "$ANS" link set "$VA" address 02:00:00:00:98:02
ip -n "$SNS" addr add 10.99.3.1/24 dev "$VS"
ip -n "$ANS" addr add 10.99.3.2/24 dev "$VA"
ip -n "$SNS" addr add fd99:3::1/64 dev "$VS" nodad
ip -n "$ANS" addr add fd99:3::2/64 dev "$VA" nodad
ip -n "$SNS" link set "$VS" up
ip -n "$ANS" link set "$VA" up
ip -n "$ANS" neigh add 10.99.3.1 lladdr 02:00:00:00:98:01 dev "$VA"
ip -n "$ANS" neigh add fd99:3::1 lladdr 02:00:00:00:98:01 dev "$VA"
ip -n "$SNS" neigh add 10.99.3.2 lladdr 02:00:00:00:98:02 dev "$VS"
ip -n "$SNS" neigh add fd99:3::2 lladdr 02:00:00:00:98:02 dev "$VS"
S nft -f - <<NFT
table inet dspcap {
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		log prefix "DSPCAP " group 5
		log prefix "DSMIX " group 6
	}
}
NFT

start() { # start OUTFILE CMD... in the sensor namespace, remember its PID
	f=$1
	shift
	# ip netns exec execs the command: $! is the capture process itself.
	ip netns exec "$SNS" "$@" >"$TMP/$f.log" 2>&1 &
	PIDS="$PIDS $!"
}
start eth.pcap tcpdump -n -U -i "$VS" -w "$TMP/eth.pcap"
start sll.pcap tcpdump -n -U -i any -y LINUX_SLL -w "$TMP/sll.pcap"
start sll2.pcap tcpdump -n -U -i any -y LINUX_SLL2 -w "$TMP/sll2.pcap"
start nflog.pcap tcpdump -n -U -i nflog:5 -w "$TMP/nflog.pcap"
start eth.pcapng dumpcap -q -i "$VS" -w "$TMP/eth.pcapng"
start mixed.pcapng dumpcap -q -i "$VS" -i nflog:6 -w "$TMP/mixed.pcapng"
sleep 2

H() { A timeout 20 hping3 -q "$@" >/dev/null 2>&1 || true; }
H -c 2 -S -p 22 -s 40000 -k 10.99.3.1         # SYN (the sensor answers RST)
H -c 1 -S -A -p 80 -s 40001 -k 10.99.3.1      # SYN-ACK backscatter
H -c 1 -R -p 81 -s 40002 -k 10.99.3.1         # RST backscatter
H -c 1 -F -P -U -p 82 -s 40003 -k 10.99.3.1   # Xmas
H -c 1 -p 83 -s 40004 -k 10.99.3.1            # NULL
H -c 1 -X -Y -S -p 84 -s 40005 -k 10.99.3.1   # ECE CWR SYN
H -c 2 -2 -p 53 -s 40006 -k -d 12 10.99.3.1   # UDP with payload (ICMP port unreachable back)
H -c 2 -1 10.99.3.1                           # ICMP echo
H -c 1 -S -p 8080 -s 40007 -k -f -d 40 10.99.3.1 # fragments
S timeout 20 hping3 -q -2 -c 1 -p 9 -s 40009 -k 10.99.3.2 >/dev/null 2>&1 || true # ICMP error towards the sensor
A timeout 30 nmap -n -Pn -sS -p 22,25 --max-retries 0 10.99.3.1 >/dev/null 2>&1 || true
A timeout 30 nmap -6 -n -Pn -sS -p 22,25 --max-retries 0 fd99:3::1 >/dev/null 2>&1 || true
A timeout 10 ping -6 -c 2 -i 0.2 fd99:3::1 >/dev/null 2>&1 || true
sleep 2 # NFLOG flushes its batch after up to a second

for p in $PIDS; do kill -INT "$p" 2>/dev/null || true; done
for p in $PIDS; do wait "$p" 2>/dev/null || true; done
PIDS=
tshark -r "$TMP/nflog.pcap" -F pcapng -w "$TMP/nflog.pcapng" 2>/dev/null
editcap -F pcap -C 14 -T rawip "$TMP/eth.pcap" "$TMP/raw.pcap"

mkdir -p "$OUT"
for f in $FILES; do cp "$TMP/$f" "$OUT/$f"; done
tsv "$OUT"
