#!/usr/bin/env bash
# darkscope demo: a sensor namespace owns a dark prefix, an attacker namespace
# scans it with real tools, darkscope captures the firewall's NFLOG records and
# reports. Everything is created here and removed on exit; no packet leaves
# the two namespaces. Needs root, nft, nmap, hping3 (make deps installs them).
set -euo pipefail
BIN=${BIN:-$(pwd)/bin/darkscope}
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
id=$$
S=dsdemo-sensor-$id
A=dsdemo-attacker-$id
DATA=$(mktemp -d /tmp/darkscope-demo.XXXXXX)
DPID=""
cleanup() {
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  ip netns del "$S" 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

ip netns add "$S"
ip netns add "$A"
ip link add dsdemo-s$id netns "$S" type veth peer name dsdemo-a$id netns "$A"
ip -n "$S" link set lo up; ip -n "$A" link set lo up
ip -n "$S" addr add 10.203.0.1/24 dev dsdemo-s$id; ip -n "$S" link set dsdemo-s$id up
ip -n "$A" addr add 10.203.0.2/24 dev dsdemo-a$id; ip -n "$A" link set dsdemo-a$id up
# The dark prefix 10.203.1.0/24 is routed to the sensor, which has nothing there.
ip -n "$A" route add 10.203.1.0/24 via 10.203.0.1

echo "== darkscope rules (applied in the sensor namespace) =="
ip netns exec "$S" "$BIN" rules --dark 10.203.1.0/24 --group 5 --apply
ip netns exec "$S" nft list chain inet darkscope log_dark 2>/dev/null | sed -n '1,12p' || true

echo "== darkscope run --nflog 5 =="
ip netns exec "$S" "$BIN" run --nflog 5 --data "$DATA" --log-level warn &
DPID=$!
for _ in $(seq 50); do [ -S "$DATA/darkscope.sock" ] && break; sleep 0.1; done
[ -S "$DATA/darkscope.sock" ] || { echo "daemon did not start" >&2; exit 1; }

echo "== attacker: nmap SYN scan, hping3 probes and backscatter =="
ip netns exec "$A" timeout 60 nmap -n -Pn -sS -T4 --max-retries 0 --host-timeout 20s -p 21-25,80,443,3389 10.203.1.1-8 >/dev/null
ip netns exec "$A" timeout 20 hping3 -q -S -p 445 -c 20 -i u2000 10.203.1.9 >/dev/null 2>&1 || true
ip netns exec "$A" timeout 20 hping3 -q -2 -p 53 -c 10 -i u2000 10.203.1.10 >/dev/null 2>&1 || true
ip netns exec "$A" timeout 20 hping3 -q -1 -c 5 -i u2000 10.203.1.11 >/dev/null 2>&1 || true
ip netns exec "$A" timeout 20 hping3 -q -S -A -s 80 -p 40000 -c 10 -i u2000 10.203.1.12 >/dev/null 2>&1 || true
sleep 1.5   # NFLOG flush timeout + pipeline flush interval

echo
echo "== TOP SOURCES (through the running daemon's API) =="
"$BIN" top sources --data "$DATA"
echo
echo "== TOP PORTS =="
"$BIN" top ports --data "$DATA" --limit 5

kill -INT "$DPID"; wait "$DPID" || true; DPID=""
echo
echo "== HISTOGRAM by minute (daemon stopped: store opened read-only) =="
"$BIN" histogram --by minute --data "$DATA"
echo
echo "== STATS =="
"$BIN" stats --data "$DATA"
