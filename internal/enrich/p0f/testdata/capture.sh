#!/bin/sh
# Captures TCP SYNs from real clients into syns.pcap and runs Debian's p0f on
# it, writing p0f's own log to syns.p0f.log: the ground truth TestP0fGolden
# compares darkscope's p0f matcher with.
#
# Needs root, iproute2, tcpdump, p0f, curl, nc, python3, nmap, hping3.
# Traffic stays inside two throw-away network namespaces.
# Usage: sh capture.sh [outdir]   (default: the directory of this script)
set -eu
out=$(cd "${1:-$(dirname "$0")}" && pwd)
A=dsp0fa$$
S=dsp0fs$$
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$S" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
ip netns add "$A"
ip netns add "$S"
ip -n "$A" link set lo up
ip -n "$S" link set lo up
ip link add dsp0fa netns "$A" type veth peer name dsp0fs netns "$S"
ip -n "$A" addr add 10.99.7.2/24 dev dsp0fa
ip -n "$S" addr add 10.99.7.1/24 dev dsp0fs
ip -n "$A" addr add fd99:7::2/64 dev dsp0fa nodad
ip -n "$S" addr add fd99:7::1/64 dev dsp0fs nodad
ip -n "$A" link set dsp0fa up
ip -n "$S" link set dsp0fs up
sleep 1

ina() { ip netns exec "$A" "$@"; }

# An HTTP listener on 80 (IPv4 and IPv6) so connects complete; 81 stays closed.
ip netns exec "$S" timeout 120 python3 -c '
import socket, threading
def serve(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 80)); s.listen(64)
    while True:
        c, _ = s.accept()
        try:
            c.settimeout(1); c.recv(1024)
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except Exception:
            pass
        c.close()
threading.Thread(target=serve, args=(socket.AF_INET6, "fd99:7::1"), daemon=True).start()
serve(socket.AF_INET, "10.99.7.1")
' &
pids="$pids $!"

# SYNs without ACK only (IPv4, and IPv6 without extension headers).
ip netns exec "$S" timeout 120 tcpdump -q -U -n -i dsp0fs -s 200 -w "$out/syns.pcap" \
	'(ip and tcp[13] & 0x12 == 0x02) or (ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02)' 2>/dev/null &
pids="$pids $!"
sleep 2

T="timeout 30"
# Linux kernel connects (default sysctls).
$T ip netns exec "$A" curl -s -o /dev/null --max-time 3 http://10.99.7.1/ || true
$T ip netns exec "$A" curl -s -o /dev/null --max-time 3 'http://[fd99:7::1]/' || true
$T ip netns exec "$A" nc -z -w 2 10.99.7.1 80 || true
$T ip netns exec "$A" python3 -c 'import socket; socket.create_connection(("10.99.7.1", 80), 2).close()' || true
# Kernel connects with other per-namespace stack settings.
ina sysctl -q -w net.ipv4.tcp_timestamps=0
$T ip netns exec "$A" curl -s -o /dev/null --max-time 3 http://10.99.7.1/ || true
ina sysctl -q -w net.ipv4.tcp_timestamps=1 net.ipv4.tcp_window_scaling=0
$T ip netns exec "$A" curl -s -o /dev/null --max-time 3 http://10.99.7.1/ || true
ina sysctl -q -w net.ipv4.tcp_window_scaling=1 net.ipv4.tcp_sack=0
$T ip netns exec "$A" curl -s -o /dev/null --max-time 3 http://10.99.7.1/ || true
ina sysctl -q -w net.ipv4.tcp_sack=1 net.ipv4.ip_default_ttl=128
$T ip netns exec "$A" curl -s -o /dev/null --max-time 3 http://10.99.7.1/ || true
ina sysctl -q -w net.ipv4.ip_default_ttl=64 net.ipv4.tcp_ecn=1
$T ip netns exec "$A" curl -s -o /dev/null --max-time 3 http://10.99.7.1/ || true
ina sysctl -q -w net.ipv4.tcp_ecn=2
ip -n "$A" link set dsp0fa mtu 1400
$T ip netns exec "$A" curl -s -o /dev/null --max-time 3 http://10.99.7.1/ || true
ip -n "$A" link set dsp0fa mtu 1500
# nmap: raw SYN scan, connect scan, OS detection probes.
$T ip netns exec "$A" nmap -n -Pn -sS -p 22,80,443 --max-retries 0 10.99.7.1 >/dev/null || true
$T ip netns exec "$A" nmap -n -Pn -sT -p 80,81 --max-retries 0 10.99.7.1 >/dev/null || true
$T ip netns exec "$A" nmap -n -Pn -sS -p 80 -6 --max-retries 0 fd99:7::1 >/dev/null || true
$T ip netns exec "$A" nmap -n -Pn -O -p 80,81 --max-retries 1 --max-os-tries 1 10.99.7.1 >/dev/null || true
# hping3: defaults, with a TCP timestamp, with a spoofed TTL.
$T ip netns exec "$A" hping3 -q -S -p 80 -c 2 -i u20000 10.99.7.1 >/dev/null 2>&1 || true
$T ip netns exec "$A" hping3 -q -S -p 81 -c 1 --tcp-timestamp 10.99.7.1 >/dev/null 2>&1 || true
$T ip netns exec "$A" hping3 -q -S -p 82 -c 1 -t 200 -w 1024 10.99.7.1 >/dev/null 2>&1 || true
$T ip netns exec "$A" hping3 -q -S -p 83 -c 1 -t 37 -w 5840 -y 10.99.7.1 >/dev/null 2>&1 || true
sleep 2
for p in $pids; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=""

rm -f "$out/syns.p0f.log"
timeout 60 p0f -r "$out/syns.pcap" -f /etc/p0f/p0f.fp -o "$out/syns.p0f.log" >/dev/null
chmod 644 "$out/syns.pcap" "$out/syns.p0f.log"
echo "captured $(tcpdump -r "$out/syns.pcap" 2>/dev/null | wc -l) SYNs; p0f: $(grep -c 'mod=syn|' "$out/syns.p0f.log") syn observations"
