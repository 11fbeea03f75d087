#!/usr/bin/env bash
# capture-kernlog.sh — produce real kernel LOG lines for the golden tests of
# internal/decode (kernlog_test.go).
#
# It creates its own two network namespaces (sensor, attacker) joined by a veth
# pair with 10.99.77.0/24 and fd99:77::/64 ONLY inside them, installs
# iptables/ip6tables LOG rules with every option and nftables `log` rules
# (plain and `flags all`) in the sensor, sends bounded traffic from the
# attacker (hping3, nmap, ping, and scripts/kernlog-craft.py for frames those
# tools cannot build) and from the sensor (to elicit real ICMP errors and RSTs
# back), and reads the resulting /dev/kmsg records. /dev/kmsg is global: only
# records that name this run's veth interface are kept.
#
# Output (default internal/decode/testdata/kernlog):
#   kmsg.log                  /dev/kmsg records "PRI,SEQ,USEC,FLAGS;MESSAGE"
#   syslog.log                classic syslog "Nov 23 10:00:00 host kernel: [uptime] MESSAGE"
#   rfc3339.log               "2026-11-23T10:00:00.123456+00:00 host kernel: MESSAGE"
#   journal-short-iso.log     journalctl -o short-iso "2026-11-23T10:00:00+0000 host kernel: MESSAGE"
#   journal-iso-precise.log   journalctl -o short-iso-precise "2026-11-23T10:00:00.123456+0000 ..."
# The wrapped forms carry the same messages with the wall-clock time derived
# from the kmsg stamp. Then regenerate the golden files:
#   go test ./internal/decode -run TestKernLogGolden -update
#
# Needs root, ip, iptables, ip6tables, nft, hping3, nmap, ping, python3.
# Sets net.netfilter.nf_log_all_netns=1 (LOG in a namespace prints nothing
# otherwise) and leaves it set.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-internal/decode/testdata/kernlog}
HOSTNAME_FIELD=dscap-sensor
ID=$$
NS_S=dscap${ID}-s
NS_A=dscap${ID}-a
IF_S=dsk${ID}s
IF_A=dsk${ID}a
S4=10.99.77.1
A4=10.99.77.2
S6=fd99:77::1
A6=fd99:77::2
END_MARK="dscap-end-${ID}"

[ "$(id -u)" = 0 ] || { echo "capture-kernlog.sh: needs root" >&2; exit 1; }
for t in ip iptables ip6tables nft hping3 nmap ping python3 timeout; do
	command -v "$t" >/dev/null || { echo "capture-kernlog.sh: $t not found" >&2; exit 1; }
done

READER_PID=
cleanup() {
	if [ -n "$READER_PID" ] && kill -0 "$READER_PID" 2>/dev/null; then
		kill "$READER_PID" 2>/dev/null || true
	fi
	ip netns del "$NS_S" 2>/dev/null || true
	ip netns del "$NS_A" 2>/dev/null || true
	rm -f "$TMP"
}
TMP=$(mktemp)
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
A ip addr add $A4/24 dev "$IF_A"
S ip addr add $S6/64 dev "$IF_S" nodad
A ip addr add $A6/64 dev "$IF_A" nodad
S ip link set "$IF_S" up
A ip link set "$IF_A" up
S_MAC=$(S cat /sys/class/net/"$IF_S"/address)

# Start the kmsg reader before any rule: it seeks to the end of the ring and
# keeps every record that names our interface, until it sees END_MARK.
python3 scripts/kmsg-tail.py "$IF_S" "$END_MARK" "$TMP" 180 any &
READER_PID=$!
sleep 0.5

# --- rules in the sensor ---------------------------------------------------
S iptables -t raw -A PREROUTING -i "$IF_S" -p tcp --dport 8 -j LOG
S iptables -t raw -A PREROUTING -i "$IF_S" -p tcp -j LOG --log-prefix "dscap4 tcp all: " \
	--log-tcp-sequence --log-tcp-options --log-ip-options --log-uid
S iptables -t raw -A PREROUTING -i "$IF_S" -p tcp -j LOG --log-prefix "dscap4-tcp-plain"
S iptables -t raw -A PREROUTING -i "$IF_S" -p udp -j LOG --log-prefix "dscap4-udp " --log-ip-options
S iptables -t raw -A PREROUTING -i "$IF_S" -p icmp -j LOG --log-prefix "dscap4-icmp " \
	--log-ip-options --log-tcp-sequence --log-tcp-options
for p in 47 50 51 132 136 253; do
	S iptables -t raw -A PREROUTING -i "$IF_S" -p $p -j LOG --log-prefix "dscap4-proto " --log-ip-options
done
S iptables -t mangle -A PREROUTING -i "$IF_S" -p udp --dport 5353 -j MARK --set-mark 0x2a
S iptables -t mangle -A PREROUTING -i "$IF_S" -p udp --dport 5353 -j LOG --log-prefix "dscap4-mark "
S iptables -A OUTPUT -o "$IF_S" -p icmp -j LOG --log-prefix "dscap4-out " --log-uid
S ip6tables -t raw -A PREROUTING -i "$IF_S" -p tcp -j LOG --log-prefix "dscap6-tcp-all " \
	--log-tcp-sequence --log-tcp-options --log-ip-options
S ip6tables -t raw -A PREROUTING -i "$IF_S" -j LOG --log-prefix "dscap6-any " --log-ip-options
S ip6tables -t raw -A PREROUTING -i "$IF_S" -j LOG --log-prefix "dscap6-noopt "
S ip6tables -A OUTPUT -o "$IF_S" -p ipv6-icmp --icmpv6-type echo-request -j LOG --log-prefix "dscap6-out " --log-uid
S nft -f - <<EOF
table inet dscap {
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		iifname "$IF_S" meta nfproto ipv4 log prefix "dscap-nft4 all: " flags all
		iifname "$IF_S" meta nfproto ipv6 log prefix "dscap-nft6 all " flags all
		iifname "$IF_S" tcp dport 9 log prefix "dscap-nft-plain "
		iifname "$IF_S" tcp dport 10 log prefix "dscap-nft-seq " level debug flags tcp sequence,options
	}
	chain out {
		type filter hook output priority 0; policy accept;
		oifname "$IF_S" meta l4proto { icmp, ipv6-icmp } log prefix "dscap-nft-out " flags skuid
	}
}
table arp dscap {
	chain in {
		type filter hook input priority 0; policy accept;
		log prefix "dscap-arp " flags all
		log prefix "dscap-arp-plain "
	}
}
EOF
# A real kernel message about the interface that is not a firewall line.
S ip link set "$IF_S" promisc on
S ip link set "$IF_S" promisc off

# --- traffic ----------------------------------------------------------------
H() { A timeout 20 hping3 -q -n "$@" "$S4" >/dev/null 2>&1 || true; }
H -S -p 80 -c 2 -i u20000
H -S -p 81 -c 1 -s 40000 -M 1000 -w 1024
H -F -P -U -p 82 -c 1
H -p 83 -c 1
H -F -S -R -P -A -U -X -Y -p 84 -c 1
H -A -p 85 -c 1 -L 12345
H -R -A -p 86 -c 1
H -S -A -p 87 -c 1
H -S -p 88 --tcp-timestamp -c 1
H -S -p 8 -c 1
H -S -p 9 -c 1
H -S -p 10 -c 1
H -S -p 89 -G -c 1
H -S -p 90 -o 0x10 -t 7 -N 4242 -y -c 1
H -S -p 91 -f -d 40 -c 1
H --udp -p 53 -d 12 -c 2 -i u20000
H --udp -p 5353 -c 1
H --udp -p 161 -f -d 100 -c 1
H -1 -c 2 -i u20000
H -1 -C 13 -c 1
H -1 -C 3 -K 3 -c 1
H -1 -C 11 -c 1
H -1 -C 5 -K 1 --icmp-gw 10.99.77.254 -c 1
H -0 -H 47 -c 1
A timeout 10 ping -n -q -c 1 -s 2000 "$S4" >/dev/null 2>&1 || true
A timeout 60 nmap -n -Pn -sS -p 20-23,80,443 --max-retries 0 --host-timeout 15s "$S4" >/dev/null 2>&1 || true
A timeout 60 nmap -n -Pn -sF -p 22 --max-retries 0 --host-timeout 15s "$S4" >/dev/null 2>&1 || true
A timeout 60 nmap -n -Pn -sX -p 22 --max-retries 0 --host-timeout 15s "$S4" >/dev/null 2>&1 || true
A timeout 60 nmap -n -Pn -sN -p 22 --max-retries 0 --host-timeout 15s "$S4" >/dev/null 2>&1 || true
A timeout 60 nmap -n -Pn -sU -p 53,161 --max-retries 0 --host-timeout 15s "$S4" >/dev/null 2>&1 || true
A timeout 60 nmap -6 -n -Pn -sS -p 22,80 --max-retries 0 --host-timeout 15s "$S6" >/dev/null 2>&1 || true
A timeout 10 ping -6 -n -q -c 2 -i 0.2 "$S6" >/dev/null 2>&1 || true
A timeout 10 ping -6 -n -q -c 1 -s 3000 "$S6" >/dev/null 2>&1 || true
# From the sensor: real ICMP errors and RSTs come back from the attacker.
S timeout 20 hping3 -q -n --udp -p 33434 -c 1 "$A4" >/dev/null 2>&1 || true
S timeout 20 hping3 -q -n -S -p 4444 -c 1 "$A4" >/dev/null 2>&1 || true
S timeout 10 ping -n -q -c 1 "$A4" >/dev/null 2>&1 || true
S timeout 10 ping -6 -n -q -c 1 "$A6" >/dev/null 2>&1 || true
S timeout 10 python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); s.sendto(b"probe",(sys.argv[1],33435))' "$A6" || true
# Hand-built frames.
A timeout 30 python3 scripts/kernlog-craft.py "$IF_A" "$S_MAC" "$A4" "$S4" "$A6" "$S6"

sleep 1
echo "$END_MARK" >/dev/kmsg
wait "$READER_PID" || true
READER_PID=

# --- write the files --------------------------------------------------------
mkdir -p "$OUT"
python3 - "$TMP" "$OUT" "$HOSTNAME_FIELD" <<'PY'
import sys, time, datetime
src, out, host = sys.argv[1], sys.argv[2], sys.argv[3]
recs = [l.rstrip("\n") for l in open(src) if l.strip()]
# Wall clock of boot, from the kmsg clock (monotonic) and the realtime clock.
boot = time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)
def split(r):
    head, msg = r.split(";", 1)
    usec = int(head.split(",")[2])
    return usec, msg
files = {n: open("%s/%s" % (out, n), "w") for n in
         ("kmsg.log", "syslog.log", "rfc3339.log", "journal-short-iso.log", "journal-iso-precise.log")}
for r in recs:
    usec, msg = split(r)
    wall = boot + usec / 1e6
    t = datetime.datetime.fromtimestamp(wall, datetime.timezone.utc)
    files["kmsg.log"].write(r + "\n")
    files["syslog.log"].write("%s %2d %s %s kernel: [%5d.%06d] %s\n" % (
        t.strftime("%b"), t.day, t.strftime("%H:%M:%S"), host, usec // 1000000, usec % 1000000, msg))
    files["rfc3339.log"].write("%s.%06d+00:00 %s kernel: %s\n" % (t.strftime("%Y-%m-%dT%H:%M:%S"), t.microsecond, host, msg))
    files["journal-short-iso.log"].write("%s+0000 %s kernel: %s\n" % (t.strftime("%Y-%m-%dT%H:%M:%S"), host, msg))
    files["journal-iso-precise.log"].write("%s.%06d+0000 %s kernel: %s\n" % (t.strftime("%Y-%m-%dT%H:%M:%S"), t.microsecond, host, msg))
for f in files.values():
    f.close()
print("capture-kernlog.sh: %d records written to %s" % (len(recs), out))
PY
