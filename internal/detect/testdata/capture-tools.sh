#!/usr/bin/env bash
# capture-tools.sh — record what masscan, zmap, a Mirai-style hping3 probe,
# hping3's default SYN and hping3-crafted signature packets put on the wire,
# as the kernel logs them, for the detector's replay scenarios
# (internal/detect/testdata/scenarios/real-{masscan,zmap,mirai,hping3-syn,sig-*}.txtar).
# The companion of capture-scans.sh (nmap): same namespaces, same logging.
#
# It creates its own two network namespaces (sensor, attacker) joined by a
# veth pair, with 10.99.89.0/24 ONLY inside them. The sensor logs every
# arriving packet with an nftables `log ... flags all` rule in a prerouting
# chain at priority -450 (as `darkscope rules` does). Each case runs from its
# own attacker address (masscan --source-ip, zmap -S, hping3 -a) with bounded
# counts and a timeout; masscan and zmap get the sensor's MAC as router MAC,
# and zmap an empty blocklist (-b) and the test prefix as allowlist (-w)
# since its default blocklist excludes private ranges. /dev/kmsg records
# naming this run's interface are written, per source address, as RFC 3339
# syslog lines into one txtar per scenario with an empty "expected" section;
# then:
#   go test ./internal/detect -run TestScenarios -update
# fills "expected" from darkscope's verdicts, which must be reviewed by hand.
#
# Needs root, ip, nft, hping3, masscan, zmap, python3, timeout. Sets
# net.netfilter.nf_log_all_netns=1 and leaves it set.
set -euo pipefail

cd "$(dirname "$0")"
OUT=${1:-scenarios}
ID=$$
NS_S=dstool${ID}-s
NS_A=dstool${ID}-a
IF_S=dst${ID}s
IF_A=dst${ID}a
NET=10.99.89
S4=$NET.1
END_MARK="dstool-end-${ID}"

[ "$(id -u)" = 0 ] || { echo "capture-tools.sh: needs root" >&2; exit 1; }
for t in ip nft hping3 masscan zmap python3 timeout stat; do
	command -v "$t" >/dev/null || { echo "capture-tools.sh: $t not found" >&2; exit 1; }
done

READER_PID=
TMP=$(mktemp)
ZDIR=$(mktemp -d)
cleanup() {
	if [ -n "$READER_PID" ] && kill -0 "$READER_PID" 2>/dev/null; then kill "$READER_PID" 2>/dev/null || true; fi
	ip netns del "$NS_S" 2>/dev/null || true
	ip netns del "$NS_A" 2>/dev/null || true
	rm -rf "$TMP" "$ZDIR"
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
A ip addr add $NET.2/24 dev "$IF_A"
for h in $(seq 41 60); do A ip addr add $NET.$h/32 dev "$IF_A"; done
S ip link set "$IF_S" up
A ip link set "$IF_A" up
MAC=$(S cat /sys/class/net/"$IF_S"/address)
# Every dark address is reached through the sensor's MAC.
A ip route add $NET.64/26 via $S4
A ip route add $NET.128/25 via $S4
A ip neigh replace $S4 lladdr "$MAC" dev "$IF_A"
sleep 1

python3 ../../../scripts/kmsg-tail.py "$IF_S" "$END_MARK" "$TMP" 300 &
READER_PID=$!
sleep 0.5

S nft -f - <<EOF
table inet dstool {
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		iifname "$IF_S" ip saddr != $NET.2 log prefix "dstool " flags all
	}
}
EOF

: >"$ZDIR/block"
echo "$NET.128/25" >"$ZDIR/allow"
A timeout 30 masscan $NET.100-$NET.115 -p 20-25 --rate 500 -e "$IF_A" --router-mac "$MAC" --source-ip $NET.41 --wait 0 >/dev/null 2>&1 || true
A timeout 30 zmap -p 80 -B 1M -n 60 -b "$ZDIR/block" -w "$ZDIR/allow" -i "$IF_A" -G "$MAC" -S $NET.42 -c 1 -q >/dev/null 2>&1 || true
H() { A timeout 15 hping3 -q -n -i u20000 "$@" >/dev/null 2>&1 || true; }
# Mirai family: TCP SYN to 23 with the sequence number = destination address.
for h in 101 102 103; do H -a $NET.43 -S -p 23 -M $(( (10 << 24) | (99 << 16) | (89 << 8) | h )) -c 2 $NET.$h; done
# hping3's default SYN (window 512, no options), to ports 445-450.
H -a $NET.44 -S -p ++445 -c 6 $NET.110
# Signatures: TCP flag combinations.
H -a $NET.45 -S -F -P -U -p 80 -c 1 $NET.120
H -a $NET.45 -S -F -p 81 -c 1 $NET.120
H -a $NET.45 -F -S -R -P -A -U -p 82 -c 1 $NET.120
H -a $NET.45 -S -R -p 83 -c 1 $NET.120
# Signatures: ports (TCP 0, mstream, SubSeven, NetBus, Trin00).
for p in 0 15104 27374 12345 27665; do H -a $NET.46 -S -p $p -c 1 $NET.121; done
# Signatures: UDP (Slammer 404-byte packet, Trin00).
H -a $NET.47 -2 -p 1434 -d 376 -c 1 $NET.122
H -a $NET.47 -2 -p 27444 -d 10 -c 1 $NET.122
H -a $NET.47 -2 -p 31335 -d 10 -c 1 $NET.122
# Signatures: ICMP (timestamp, address mask, large, echo code 1, source quench).
H -a $NET.48 -1 -C 13 -c 1 $NET.123
H -a $NET.48 -1 -C 17 -c 1 $NET.123
H -a $NET.48 -1 -d 1000 -c 1 $NET.123
H -a $NET.48 -1 -K 1 -c 1 $NET.123
H -a $NET.48 -1 -C 4 -c 1 $NET.123
# Signatures: IP options (loose and strict source route, record route).
H -a $NET.49 -S -p 80 --lsrr $NET.124 -c 1 $NET.124
H -a $NET.49 -S -p 80 --ssrr $NET.124 -c 1 $NET.124
H -a $NET.49 -S -p 80 --rroute -c 1 $NET.124
# More TCP signatures: source port 0, synscan's SYN FIN with IP ID 39426,
# NetBus Pro, Kuang2, typot's window 55808, TTL 0.
H -a $NET.50 -S -s 0 -k -p 80 -c 1 $NET.125
H -a $NET.50 -S -F -N 39426 -p 81 -c 1 $NET.125
H -a $NET.50 -S -p 20034 -c 1 $NET.125
H -a $NET.50 -S -p 17300 -c 1 $NET.125
H -a $NET.50 -S -w 55808 -p 82 -c 1 $NET.125
H -a $NET.50 -S -t 0 -p 83 -c 1 $NET.125
# LAND: source = destination (a dark address).
H -a $NET.126 -S -p 139 -c 1 $NET.126
# More UDP signatures: ports 0, a version.bind query, an SSDP M-SEARCH.
printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03' >"$ZDIR/dns"
printf 'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n' >"$ZDIR/ssdp"
H -a $NET.51 -2 -p 0 -c 1 $NET.127
H -a $NET.51 -2 -s 0 -k -p 54 -c 1 $NET.127
H -a $NET.51 -2 -p 53 -E "$ZDIR/dns" -d "$(stat -c %s "$ZDIR/dns")" -c 1 $NET.127
H -a $NET.51 -2 -p 1900 -E "$ZDIR/ssdp" -d "$(stat -c %s "$ZDIR/ssdp")" -c 1 $NET.127
# ICMP redirects (code 0, undefined code 4).
H -a $NET.52 -1 -C 5 -K 0 -c 1 $NET.128
H -a $NET.52 -1 -C 5 -K 4 -c 1 $NET.128
# What hping3 cannot craft (timestamp/mask requests with a code, type 15,
# unassigned types, the IP timestamp option): a python3 raw ICMP socket.
RAW() {
	A timeout 10 python3 -c '
import socket, struct, sys
src, dst, typ, code, opts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), bytes.fromhex(sys.argv[5])
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
body = struct.pack("!BBHHH", typ, code, 0, 0x4242, 1) + bytes(12)
body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.bind((src, 0))
if opts:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, opts)
s.sendto(body, (dst, 0))' "$@" || true
}
RAW $NET.53 $NET.129 13 1 ""
RAW $NET.53 $NET.129 17 1 ""
RAW $NET.53 $NET.129 15 0 ""
RAW $NET.53 $NET.129 8 0 4408050000000000
RAW $NET.53 $NET.129 1 0 ""
RAW $NET.53 $NET.129 7 0 ""
RAW $NET.53 $NET.129 41 0 ""
# ICMP replies and errors with odd codes (backscatter-shaped).
H -a $NET.54 -1 -C 0 -K 1 -c 1 $NET.130
H -a $NET.54 -1 -C 14 -c 1 $NET.130
H -a $NET.54 -1 -C 18 -c 1 $NET.130
H -a $NET.54 -1 -C 3 -K 16 -c 1 $NET.130
H -a $NET.54 -1 -C 11 -K 2 -c 1 $NET.130
RAW $NET.54 $NET.130 12 3 ""

sleep 1
echo "$END_MARK" >/dev/kmsg
wait "$READER_PID" || true
READER_PID=

python3 - "$TMP" "$OUT" <<'PY'
import sys, time, re, os
src, out = sys.argv[1], sys.argv[2]
boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
scen = {
 "10.99.89.41": ("real-masscan", "masscan 1.3.2 10.99.89.100-115 -p 20-25 --rate 500 --source-ip 10.99.89.41"),
 "10.99.89.42": ("real-zmap", "zmap 2.1.1 -p 80 -n 60 over 10.99.89.128/25 (-b empty, -w the test prefix) -S 10.99.89.42"),
 "10.99.89.43": ("real-mirai", "hping3 -S -p 23 -M <destination address> -c 2, to 3 hosts (Mirai's seq = dst invariant)"),
 "10.99.89.44": ("real-hping3-syn", "hping3 -S -p ++445 -c 6 (default window 512, no options)"),
 "10.99.89.45": ("real-sig-tcpflags", "hping3: SYN FIN PSH URG, SYN FIN, all six flags, SYN RST"),
 "10.99.89.46": ("real-sig-ports", "hping3 SYN to tcp ports 0, 15104 (mstream), 27374 (SubSeven), 12345 (NetBus), 27665 (Trin00)"),
 "10.99.89.47": ("real-sig-udp", "hping3 UDP: 1434 with 376 data bytes (Slammer's 404-byte packet), 27444 and 31335 (Trin00)"),
 "10.99.89.48": ("real-sig-icmp", "hping3 ICMP: timestamp, address mask, 1000-byte echo, echo code 1, source quench"),
 "10.99.89.49": ("real-sig-ipopts", "hping3 SYN with LSRR, SSRR and record-route IP options"),
 "10.99.89.50": ("real-sig-tcp2", "hping3 SYN: source port 0, SYN FIN with IP ID 39426, ports 20034 and 17300, window 55808, TTL 0"),
 "10.99.89.126": ("real-sig-land", "hping3 SYN with source = destination (LAND)"),
 "10.99.89.51": ("real-sig-udp2", "hping3 UDP: ports 0 (destination, source), a version.bind query to 53, an SSDP M-SEARCH to 1900"),
 "10.99.89.52": ("real-sig-redirect", "hping3 ICMP redirect codes 0 and 4"),
 "10.99.89.53": ("real-sig-icmp-raw", "python3 raw ICMP socket: timestamp and mask requests with code 1, type 15, echo with the IP timestamp option, types 1, 7, 41"),
 "10.99.89.54": ("real-sig-icmp-replies", "hping3 and a python3 raw socket: echo reply code 1, timestamp and mask replies, unreachable code 16, time exceeded code 2, parameter problem code 3"),
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
        files.setdefault(name, []).append(stamp + " dstool-sensor kernel: " + msg)
for k, (name, what) in scen.items():
    lines = files.get(name)
    if not lines:
        print("%s: NOTHING captured" % name, file=sys.stderr)
        continue
    cfg = "min_level: 0\n"
    path = os.path.join(out, name + ".txtar")
    with open(path, "w") as f:
        f.write("Captured by internal/detect/testdata/capture-tools.sh: %s.\n" % what)
        f.write("Real kernel LOG lines (nftables log flags all, prerouting -450) read from /dev/kmsg.\n")
        f.write("-- config --\n" + cfg + "-- input --\n" + "\n".join(lines) + "\n-- expected --\n")
    print("%s: %d lines" % (path, len(lines)))
PY
