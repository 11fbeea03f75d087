#!/usr/bin/env bash
# capture-scans.sh — record what real nmap and hping3 put on the wire, as the
# kernel logs it, for the detector's replay scenarios
# (internal/detect/testdata/scenarios/real-*.txtar).
#
# It creates its own two network namespaces (sensor, attacker) joined by a
# veth pair, with 10.99.88.0/24 and fd99:88::/64 ONLY inside them. The sensor
# logs every arriving packet with an nftables `log ... flags all` rule in a
# prerouting chain at priority -450 (as `darkscope rules` does) and serves TCP
# port 80 (so nmap -O and -sT find an open port). Each scan runs from its own
# attacker address (nmap -S/-e, hping3 -a) with bounded retries, ports and a
# timeout. /dev/kmsg records naming this run's interface are collected and
# written, per source address, as RFC 3339 syslog lines into one txtar per
# scenario with an empty "expected" section; then:
#   go test ./internal/detect -run TestScenarios -update
# fills "expected" from darkscope's verdicts, which must be reviewed by hand.
#
# Needs root, ip, nft, nmap, hping3, python3, timeout. Sets
# net.netfilter.nf_log_all_netns=1 and leaves it set.
set -euo pipefail

cd "$(dirname "$0")"
OUT=${1:-scenarios}
ID=$$
NS_S=dsdet${ID}-s
NS_A=dsdet${ID}-a
IF_S=dsd${ID}s
IF_A=dsd${ID}a
NET=10.99.88
S4=$NET.1
END_MARK="dsdet-end-${ID}"

[ "$(id -u)" = 0 ] || { echo "capture-scans.sh: needs root" >&2; exit 1; }
for t in ip nft nmap hping3 python3 timeout; do
	command -v "$t" >/dev/null || { echo "capture-scans.sh: $t not found" >&2; exit 1; }
done

READER_PID=
SERVER_PID=
TMP=$(mktemp)
cleanup() {
	for p in "$READER_PID" "$SERVER_PID"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null || true; fi
	done
	ip netns del "$NS_S" 2>/dev/null || true
	ip netns del "$NS_A" 2>/dev/null || true
	rm -f "$TMP"
}
trap cleanup EXIT

sysctl -qw net.netfilter.nf_log_all_netns=1
ip netns add "$NS_S"
ip netns add "$NS_A"
S() { ip netns exec "$NS_S" "$@"; }
A() { ip netns exec "$NS_A" "$@"; }
S ip link set lo up
A ip link set lo up
ip link add "$IF_S" netns "$NS_S" type veth peer name "$IF_A" netns "$NS_A"
S ip addr add $S4/24 dev "$IF_S"
for h in $(seq 100 119); do S ip addr add $NET.$h/32 dev "$IF_S"; done
S ip addr add fd99:88::1/64 dev "$IF_S" nodad
A ip addr add $NET.2/24 dev "$IF_A"
for h in $(seq 11 40); do A ip addr add $NET.$h/32 dev "$IF_A"; done
A ip addr add fd99:88::2/64 dev "$IF_A" nodad
A ip addr add fd99:88::a/128 dev "$IF_A" nodad
A ip addr add fd99:88::b/128 dev "$IF_A" nodad
S ip link set "$IF_S" up
A ip link set "$IF_A" up
A ip route add $NET.96/27 dev "$IF_A"
sleep 1

# kmsg reader: from the end of the ring, keep records naming our interface.
python3 ../../../scripts/kmsg-tail.py "$IF_S" "$END_MARK" "$TMP" 600 &
READER_PID=$!
sleep 0.5

S nft -f - <<EOF
table inet dsdet {
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		iifname "$IF_S" log prefix "dsdet " flags all
	}
}
EOF
S timeout 300 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(64)
while True:
    c, _ = s.accept(); c.close()' &
SERVER_PID=$!
sleep 0.5

N() { A timeout 90 nmap -n -Pn --send-ip --max-retries 0 --host-timeout 60s "$@" >/dev/null 2>&1 || true; }
# Warm the neighbour caches so the first scan is not lost to ARP.
A timeout 5 ping -n -q -c 1 $NET.100 >/dev/null 2>&1 || true
A timeout 5 ping -n -q -c 1 $S4 >/dev/null 2>&1 || true
T=$NET.100
N -e "$IF_A" -S $NET.11 -sS -p 1-100 $T
N -sT -p 1-30,80 $T                        # connect(): from the primary address .2
N -e "$IF_A" -S $NET.13 -sF -p 1-30 $T
N -e "$IF_A" -S $NET.14 -sN -p 1-30 $T
N -e "$IF_A" -S $NET.15 -sX -p 1-30 $T
N -e "$IF_A" -S $NET.16 -sA -p 1-30 $T
N -e "$IF_A" -S $NET.17 -sW -p 1-30 $T
N -e "$IF_A" -S $NET.18 -sM -p 1-30 $T
N -e "$IF_A" -S $NET.19 -sU -p 50-60 $T
N -e "$IF_A" -S $NET.20 -sO -p 1-20 $T
A timeout 120 nmap -n -Pn --send-ip -e "$IF_A" -S $NET.21 -O --osscan-guess -p 22,80 --max-retries 1 --host-timeout 90s $S4 >/dev/null 2>&1 || true
A timeout 60 nmap -n -sn --disable-arp-ping --send-ip -PE -e "$IF_A" -S $NET.22 --max-retries 0 $NET.100-119 >/dev/null 2>&1 || true
A timeout 60 nmap -n -sn --disable-arp-ping --send-ip -PP -e "$IF_A" -S $NET.23 --max-retries 0 $NET.100-111 >/dev/null 2>&1 || true
A timeout 60 nmap -n -sn --disable-arp-ping --send-ip -PM -e "$IF_A" -S $NET.24 --max-retries 0 $NET.100-111 >/dev/null 2>&1 || true
N -6 -e "$IF_A" -S fd99:88::a -sS -p 1-3 fd99:88::1
N -6 -e "$IF_A" -S fd99:88::b -sS -p 4-6 fd99:88::1
# Backscatter: a victim's SYN-ACKs and RST-ACKs to dark addresses, and an ICMP
# error from a router quoting a packet "from" a dark address to the victim.
H() { A timeout 20 hping3 -q -n "$@" >/dev/null 2>&1 || true; }
for h in $(seq 100 109); do H -S -A -s 443 -k -p $((20000 + h)) -a $NET.30 -c 1 $NET.$h; done
for h in $(seq 100 103); do H -R -A -s 80 -k -p $((30000 + h)) -a $NET.31 -c 1 $NET.$h; done
H -1 -C 3 -K 1 -a $NET.32 --icmp-ipsrc $NET.105 --icmp-ipdst 203.0.113.99 --icmp-ipproto 17 --icmp-srcport 1234 --icmp-dstport 53 -c 1 $NET.105

sleep 1
echo "$END_MARK" >/dev/kmsg
wait "$READER_PID" || true
READER_PID=

# kmsg "PRI,SEQ,USEC,FLAGS;MESSAGE" → "RFC3339 sensor kernel: MESSAGE", one
# txtar per source address.
python3 - "$TMP" "$OUT" <<'PY'
import sys, time, re, os
src, out = sys.argv[1], sys.argv[2]
boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
scen = {
 "10.99.88.11": ("real-nmap-sS", "nmap -sS -p 1-100"),
 "10.99.88.2": ("real-nmap-sT", "nmap -sT -p 1-30,80 (connect, from the primary address)"),
 "10.99.88.13": ("real-nmap-sF", "nmap -sF -p 1-30"),
 "10.99.88.14": ("real-nmap-sN", "nmap -sN -p 1-30"),
 "10.99.88.15": ("real-nmap-sX", "nmap -sX -p 1-30"),
 "10.99.88.16": ("real-nmap-sA", "nmap -sA -p 1-30"),
 "10.99.88.17": ("real-nmap-sW", "nmap -sW -p 1-30"),
 "10.99.88.18": ("real-nmap-sM", "nmap -sM -p 1-30"),
 "10.99.88.19": ("real-nmap-sU", "nmap -sU -p 50-60"),
 "10.99.88.20": ("real-nmap-sO", "nmap -sO -p 1-20"),
 "10.99.88.21": ("real-nmap-O", "nmap -O --osscan-guess -p 22,80 (80 open)"),
 "10.99.88.22": ("real-nmap-PE", "nmap -sn -PE 10.99.88.100-119"),
 "10.99.88.23": ("real-nmap-PP", "nmap -sn -PP 10.99.88.100-111"),
 "10.99.88.24": ("real-nmap-PM", "nmap -sn -PM 10.99.88.100-111"),
 "fd99:0088:0000:0000:0000:0000:0000:000a": ("real-ipv6-per-64", "nmap -6 -sS -p 1-3 from fd99:88::a and -p 4-6 from fd99:88::b"),
 "fd99:0088:0000:0000:0000:0000:0000:000b": ("real-ipv6-per-64", None),
 "10.99.88.30": ("real-backscatter", "hping3 SYN-ACK from .30 port 443 to 10 dark addresses; RST-ACK from .31 port 80 to 4; ICMP 3/1 from .32 quoting 10.99.88.105 -> 203.0.113.99 udp/53"),
 "10.99.88.31": ("real-backscatter", None),
 "10.99.88.32": ("real-backscatter", None),
}
files = {}
with open(src) as f:
    for rec in f:
        rec = rec.rstrip("\n")
        if ";" not in rec:
            continue
        hdr, msg = rec.split(";", 1)
        usec = int(hdr.split(",")[2])
        m = re.search(r" SRC=(\S+) ", msg)
        if not m or m.group(1) not in scen:
            continue
        name, what = scen[m.group(1)]
        t = boot + usec / 1e6
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06d+00:00" % int((t % 1) * 1e6)
        files.setdefault(name, []).append(stamp + " dsdet-sensor kernel: " + msg)
descr = {}
for k, (n, w) in scen.items():
    if w:
        descr[n] = w
for name, lines in sorted(files.items()):
    cfg = "min_level: 0\n" if name == "real-ipv6-per-64" else ""
    path = os.path.join(out, name + ".txtar")
    with open(path, "w") as f:
        f.write("Captured by internal/detect/testdata/capture-scans.sh: %s.\n" % descr[name])
        f.write("Real kernel LOG lines (nftables log flags all, prerouting -450) read from /dev/kmsg.\n")
        f.write("-- config --\n" + cfg + "-- input --\n" + "\n".join(lines) + "\n-- expected --\n")
        if name == "real-backscatter":
            f.write("-- victims --\n")
    print("%s: %d lines" % (path, len(lines)))
PY
