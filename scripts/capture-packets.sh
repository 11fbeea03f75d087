#!/bin/bash
# capture-packets.sh — capture real packets for the golden test of
# internal/decode/packet.go (DecodeIP / DecodeEthernet).
#
# It builds three throw-away network namespaces, A — R — B (R forwards; the
# R—B link has MTU 1280 so R sends "fragmentation needed" / "packet too big"),
# captures on A's veth with tcpdump
# (Ethernet link type, full snap length) and sends a bounded set of probes
# from A, only to addresses of these namespaces: hping3 TCP flag combinations
# and header fields, UDP, ICMP echo, timestamp, record-route option, ICMP
# errors (port unreachable, TTL exceeded, fragmentation needed, redirect),
# IPv4 fragments (also hping3's tiny fragments), nmap SYN/FIN/NULL/Xmas/UDP
# and OS-detection probes (odd flags, options, the reserved bit), raw-socket
# packets with TCP reserved bits, urgent data and IPv4 options, and IPv6:
# echo, flow label and traffic class, fragments, packet too big, hop limit
# exceeded, port unreachable, hop-by-hop and destination options headers,
# nmap -6.
#
# Needs root, ip, tcpdump, hping3, nmap, ping (iputils), nc, python3.
# Usage: scripts/capture-packets.sh [OUT] (default
# internal/decode/testdata/packets/probes.pcap). The golden test compares
# DecodeEthernet's fields for every packet of OUT with tshark's.
set -euo pipefail

OUT=${1:-internal/decode/testdata/packets/probes.pcap}
TAG=dspk$$
A=$TAG-a
R=$TAG-r
B=$TAG-b
TMP=$(mktemp -d)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$R" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

inA() { ip netns exec "$A" "$@"; }
inR() { ip netns exec "$R" "$@"; }
inB() { ip netns exec "$B" "$@"; }
# Every probe is bounded by count and by a timeout; a probe that fails (no
# answer, as many of them expect) does not stop the capture.
probe() { timeout 15 ip netns exec "$A" "$@" >/dev/null 2>&1 || true; }

for ns in "$A" "$R" "$B"; do
	ip netns add "$ns"
	ip netns exec "$ns" ip link set lo up
done
ip link add "$TAG"a netns "$A" type veth peer name "$TAG"ra netns "$R"
ip link add "$TAG"b netns "$B" type veth peer name "$TAG"rb netns "$R"
inA ip link set "$TAG"a address 02:00:00:99:07:01
inR ip link set "$TAG"ra address 02:00:00:99:07:02
inA ip addr add 10.99.7.1/24 dev "$TAG"a
inA ip addr add fd99:7::1/64 dev "$TAG"a nodad
inR ip addr add 10.99.7.2/24 dev "$TAG"ra
inR ip addr add fd99:7::2/64 dev "$TAG"ra nodad
inR ip addr add 10.99.9.1/24 dev "$TAG"rb
inR ip addr add fd99:9::1/64 dev "$TAG"rb nodad
inB ip addr add 10.99.9.2/24 dev "$TAG"b
inB ip addr add fd99:9::2/64 dev "$TAG"b nodad
inR ip link set "$TAG"rb mtu 1280
inB ip link set "$TAG"b mtu 1280
for l in "$A:${TAG}a" "$R:${TAG}ra" "$R:${TAG}rb" "$B:${TAG}b"; do
	ip netns exec "${l%%:*}" ip link set "${l#*:}" up
done

inA ip route add 10.99.9.0/24 via 10.99.7.2
inA ip route add 10.99.10.0/24 via 10.99.7.2
inA ip -6 route add fd99:9::/64 via fd99:7::2
inB ip route add default via 10.99.9.1
inB ip -6 route add default via fd99:9::1
inR sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
inR sysctl -qw net.ipv4.conf.all.send_redirects=1 net.ipv4.conf."$TAG"ra.send_redirects=1
inR sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
inB sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
# R sends a redirect for 10.99.10.0/24: its next hop is back on A's link.
inR ip route add 10.99.10.0/24 via 10.99.7.3
# Something listening on B:22 (IPv4 and IPv6) so nmap's OS probes get answers.
inB timeout 60 nc -l -k 22 >/dev/null 2>&1 &
PIDS+=($!)
inB timeout 60 nc -6 -l -k 22 >/dev/null 2>&1 &
PIDS+=($!)

inA timeout 90 tcpdump --immediate-mode -i "$TAG"a -s 0 -U -w "$TMP/out.pcap" >/dev/null 2>&1 &
PIDS+=($!)
sleep 1.5

B4=10.99.9.2
B6=fd99:9::2
# TCP flag combinations and header fields.
for f in -S "-S -A" -R "-R -A" -F "-F -P -U" "" -A "-S -F" "-S -X -Y" "-F -S -R -P -A -U -X -Y"; do
	# shellcheck disable=SC2086
	probe hping3 -c 1 -p 80 -s 40123 $f "$B4"
done
probe hping3 -c 1 -S -p 22 -s 41000 -M 123456789 -L 987654321 -w 4321 --tcp-timestamp "$B4"
probe hping3 -c 1 -A -p 443 -s 41001 -d 120 -E /etc/hostname -o 0x28 -N 4242 -t 33 "$B4"
probe hping3 -c 1 -S -p 80 -s 41002 -d 300 -f "$B4"      # tiny fragments
probe hping3 -c 1 -S -p 80 -s 41003 -t 1 "$B4"            # TTL exceeded from R
probe hping3 -c 1 -S -p 80 -s 41004 -y -x -d 10 "$B4"     # DF and MF
# UDP (closed port: B answers port unreachable) and ICMP.
probe hping3 -c 1 -2 -p 53 -s 41005 -d 40 "$B4"
probe hping3 -c 2 -1 "$B4"
probe hping3 -c 1 -1 -C 13 "$B4"                          # timestamp request
probe hping3 -c 1 -1 --rroute "$B4"                       # record route option
probe hping3 -c 1 -1 10.99.10.5                           # redirect from R
probe ping -c 1 -W 1 -s 3000 "$B4"                        # IPv4 fragments
probe ping -c 1 -W 1 -M do -s 1400 "$B4"                  # fragmentation needed from R
probe ping -c 1 -W 1 -T tsonly "$B4"                      # timestamp option
probe ping -c 1 -W 1 -Q 0xb8 -p 0102030405 "$B4"         # DSCP EF, pattern
# nmap scans (bounded: two ports, no retries).
probe nmap -n -Pn -sS -p 22,80 --max-retries 0 "$B4"
probe nmap -n -Pn -sF -p 22,80 --max-retries 0 "$B4"
probe nmap -n -Pn -sN -p 22,80 --max-retries 0 "$B4"
probe nmap -n -Pn -sX -p 22,80 --max-retries 0 "$B4"
probe nmap -n -Pn -sU -p 53,161 --max-retries 0 "$B4"
probe nmap -n -Pn -O --max-os-tries 1 -p 22,81 --max-retries 0 "$B4"
# Raw IPv4 packets: TCP reserved bits, urgent pointer, options and payload;
# IPv4 options (NOP, security-like, end); a GRE packet.
probe python3 - "$B4" <<'EOF'
import socket, struct, sys
dst = sys.argv[1]
src = "10.99.7.1"
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
def ip(proto, body, opts=b"", ident=0x1234, tos=0x10, ttl=61, frag=0):
    ihl = 5 + len(opts) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, 20 + len(opts) + len(body), ident,
                    frag, ttl, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h + opts + body
tcpopts = bytes([2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10]) + struct.pack("!II", 7, 0) + bytes([1, 1, 0, 0])
doff = (20 + len(tcpopts)) // 4
tcp = struct.pack("!HHIIBBHHH", 42424, 8080, 0xdeadbeef, 0x01020304, doff << 4 | 0x0e, 0x29, 512, 0, 77) + tcpopts + b"urgent-data!"
s.sendto(ip(6, tcp, opts=bytes([1, 1, 0x82, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), (dst, 0))
s.sendto(ip(6, struct.pack("!HHIIBBHHH", 1, 2, 3, 4, 0x5f, 0x00, 0, 0, 0)), (dst, 0))
s.sendto(ip(47, struct.pack("!HH", 0, 0x0800) + b"\x45" + bytes(19)), (dst, 0))
s.sendto(ip(132, struct.pack("!HHI", 5000, 5001, 99) + bytes(16)), (dst, 0))
EOF
# IPv6.
probe ping -6 -c 1 -W 1 "$B6"
probe ping -6 -c 1 -W 1 -F 0x12345 -Q 0x28 "$B6"
probe ping -6 -c 1 -W 1 -s 2000 "$B6"                     # fragments, then packet too big
probe ping -6 -c 1 -W 1 -s 1400 "$B6"                     # again, under the learned PMTU
probe ping -6 -c 1 -W 1 -t 1 "$B6"                        # hop limit exceeded from R
probe nmap -6 -n -Pn -sS -p 22,80 --max-retries 0 "$B6"
probe nmap -6 -n -Pn -sU -p 53 --max-retries 0 "$B6"      # port unreachable
probe python3 - "$B6" <<'EOF'
import socket, sys
dst = sys.argv[1]
IPV6_HOPOPTS, IPV6_DSTOPTS = 54, 59
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
# Hop-by-hop: PadN filling 6 bytes; destination options: an unknown option
# type 0x1e (skip) with 4 data bytes.
s.setsockopt(socket.IPPROTO_IPV6, IPV6_HOPOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
s.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, bytes([0, 0, 0x1e, 4, 1, 2, 3, 4]))
s.sendto(b"extension headers", (dst, 4444))
s2 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s2.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
s2.sendto(b"x" * 1800, (dst, 4445))                       # dest opts + fragments
EOF
sleep 1
kill "${PIDS[2]}" 2>/dev/null || true
wait "${PIDS[2]}" 2>/dev/null || true
mkdir -p "$(dirname "$OUT")"
cp "$TMP/out.pcap" "$OUT"
echo "wrote $OUT: $(tcpdump -r "$OUT" 2>/dev/null | wc -l) packets"
