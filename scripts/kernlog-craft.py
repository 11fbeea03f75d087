#!/usr/bin/env python3
"""Send hand-built frames that hping3 and nmap cannot make, for
capture-kernlog.sh: TCP reserved bits, IPv4 options, ICMP errors with quoted
packets, unusual protocols, IPv6 extension headers, ICMPv6 errors.

Run ONLY inside the attacker network namespace that capture-kernlog.sh (or a
test) created:  kernlog-craft.py IFACE DST_MAC SRC4 DST4 SRC6 DST6
It sends one frame per case on IFACE (AF_PACKET) and exits; nothing is sent
anywhere else.
"""
import ipaddress
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src, dst, proto, payload, ttl=64, ident=1, tos=0, frag=0, opts=b"", tot=None):
    ihl = 5 + len(opts) // 4
    total = tot if tot is not None else ihl * 4 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, total, ident, frag, ttl, proto, 0,
                    ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def pseudo4(src, dst, proto, seg):
    return ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed + struct.pack("!BBH", 0, proto, len(seg))


def pseudo6(src, dst, proto, seg):
    return ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + struct.pack("!IxxxB", len(seg), proto)


def tcp(sport, dport, seq, ack, flags, win, urg=0, res=0, opts=b"", data=b"", pseudo=None):
    off = 5 + len(opts) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (off << 4) | (res & 0x0F), flags, win, 0, urg) + opts + data
    if pseudo:
        c = csum(pseudo(h) + h)
        h = h[:16] + struct.pack("!H", c) + h[18:]
    return h


def udp(sport, dport, data, pseudo=None):
    h = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    if pseudo:
        c = csum(pseudo(h) + h) or 0xFFFF
        h = h[:6] + struct.pack("!H", c) + h[8:]
    return h


def icmp(typ, code, rest, data):
    h = struct.pack("!BBH", typ, code, 0) + rest + data
    return h[:2] + struct.pack("!H", csum(h)) + h[4:]


def ip6(src, dst, nh, payload, hlim=64, tc=0, flow=0):
    first = (6 << 28) | (tc << 20) | flow
    return struct.pack("!IHBB", first, len(payload), nh, hlim) + \
        ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload


def icmp6(src, dst, typ, code, rest, data):
    h = struct.pack("!BBH", typ, code, 0) + rest + data
    c = csum(pseudo6(src, dst, 58, h) + h)
    return h[:2] + struct.pack("!H", c) + h[4:]


def main():
    iface, dmac, s4, d4, s6, d6 = sys.argv[1:7]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    smac = sock.getsockname()[4]
    dm = bytes.fromhex(dmac.replace(":", ""))

    def send4(pkt):
        sock.send(dm + smac + b"\x08\x00" + pkt)
        time.sleep(0.02)

    def send6(pkt):
        sock.send(dm + smac + b"\x86\xdd" + pkt)
        time.sleep(0.02)

    p4 = lambda h: pseudo4(s4, d4, 6, h)  # noqa: E731
    mss_ws_ts = bytes.fromhex("020405b4") + bytes.fromhex("0402080a") + struct.pack("!II", 123456, 0) + bytes.fromhex("01030307")

    # IPv4 TCP: every flag, all reserved bits (incl. AE), urgent pointer, options.
    send4(ip4(s4, d4, 6, tcp(40001, 70, 0x11223344, 0x55667788, 0xFF, 512, urg=7, res=0x0F, opts=mss_ws_ts, pseudo=p4), ident=7001))
    # IPv4 with IP options (NOP NOP NOP EOL + router alert) and ECN + CE bit + DF.
    send4(ip4(s4, d4, 6, tcp(40002, 71, 1, 0, 0x02, 1024, pseudo=p4), ident=7002, tos=0xB9, frag=0xC000,
              opts=bytes.fromhex("94040000") + bytes.fromhex("01010100")))
    # A non-first IPv4 fragment of TCP (offset 185*8) and one whose TCP header is cut short.
    send4(ip4(s4, d4, 6, b"\0" * 24, ident=7003, frag=0x2000 | 185))
    send4(ip4(s4, d4, 6, tcp(40004, 72, 5, 0, 0x02, 64)[:10], ident=7004))
    # ICMP errors quoting packets the sensor "sent".
    inner_tcp = ip4(d4, s4, 6, tcp(33000, 443, 0xDEADBEEF, 0, 0x12, 29200, opts=mss_ws_ts), ident=4242, ttl=63)
    inner_udp = ip4(d4, s4, 17, udp(33001, 53, b"abcdefgh"), ident=4243, ttl=1)
    send4(ip4(s4, d4, 1, icmp(3, 4, struct.pack("!HH", 0, 1400), inner_tcp), ident=7005))  # frag needed, MTU
    send4(ip4(s4, d4, 1, icmp(11, 0, b"\0" * 4, inner_udp[:28]), ident=7006))  # time exceeded
    send4(ip4(s4, d4, 1, icmp(5, 1, ipaddress.IPv4Address("10.99.77.254").packed, inner_udp[:28]), ident=7007))  # redirect
    send4(ip4(s4, d4, 1, icmp(12, 0, struct.pack("!BBH", 20, 0, 0), inner_tcp[:28]), ident=7008))  # parameter problem
    send4(ip4(s4, d4, 1, icmp(3, 1, b"\0" * 4, inner_tcp[:24]), ident=7009))  # host unreachable, short quote
    send4(ip4(s4, d4, 1, icmp(0, 0, struct.pack("!HH", 77, 3), b"pong"), ident=7010))  # echo reply (backscatter)
    # Other protocols: GRE, ESP, AH, SCTP, UDP-Lite, an unassigned number.
    send4(ip4(s4, d4, 47, b"\0\0\x08\x00", ident=7011))
    send4(ip4(s4, d4, 50, struct.pack("!II", 0x1234ABCD, 1) + b"\0" * 16, ident=7012))
    send4(ip4(s4, d4, 51, struct.pack("!BBHII", 6, 4, 0, 0xCAFE0001, 1) + b"\0" * 12, ident=7013))
    send4(ip4(s4, d4, 132, struct.pack("!HHII", 5000, 38412, 0, 0), ident=7014))
    send4(ip4(s4, d4, 136, struct.pack("!HHHH", 5001, 5002, 8, 0) + b"lite", ident=7015))
    send4(ip4(s4, d4, 253, b"experiment", ident=7016))

    # IPv6.
    p6 = lambda proto: (lambda h: pseudo6(s6, d6, proto, h))  # noqa: E731
    send6(ip6(s6, d6, 6, tcp(40010, 80, 1000, 0, 0xC2, 2048, opts=mss_ws_ts, pseudo=p6(6)), tc=0xB8, flow=0x12345, hlim=57))
    send6(ip6(s6, d6, 17, udp(40011, 53, b"v6udp", pseudo=p6(17))))
    send6(ip6(s6, d6, 58, icmp6(s6, d6, 128, 0, struct.pack("!HH", 99, 5), b"ping6")))
    inner6 = ip6(d6, s6, 17, udp(33002, 5353, b"quoted"), hlim=1)
    inner6t = ip6(d6, s6, 6, tcp(33003, 22, 0xABCDEF01, 0, 0x02, 1000, opts=mss_ws_ts))
    send6(ip6(s6, d6, 58, icmp6(s6, d6, 1, 4, b"\0" * 4, inner6)))  # port unreachable
    send6(ip6(s6, d6, 58, icmp6(s6, d6, 2, 0, struct.pack("!I", 1280), inner6t)))  # packet too big
    send6(ip6(s6, d6, 58, icmp6(s6, d6, 3, 0, b"\0" * 4, inner6)))  # time exceeded
    send6(ip6(s6, d6, 58, icmp6(s6, d6, 4, 1, struct.pack("!I", 40), inner6)))  # parameter problem
    # Hop-by-hop (PadN) then UDP.
    hbh = struct.pack("!BB", 17, 0) + bytes.fromhex("0104") + b"\0" * 4
    send6(ip6(s6, d6, 0, hbh + udp(40012, 123, b"hbh", pseudo=p6(17))))
    # Destination options then TCP.
    dst = struct.pack("!BB", 6, 0) + bytes.fromhex("0104") + b"\0" * 4
    send6(ip6(s6, d6, 60, dst + tcp(40013, 81, 7, 0, 0x02, 100, pseudo=p6(6))))
    # Fragment header: a first fragment (M=1) of UDP and a later fragment.
    seg = udp(40014, 161, b"x" * 40, pseudo=p6(17))
    send6(ip6(s6, d6, 44, struct.pack("!BBHI", 17, 0, 0x0001, 0xA1B2C3D4) + seg[:24]))
    send6(ip6(s6, d6, 44, struct.pack("!BBHI", 17, 0, 24, 0xA1B2C3D4) + seg[24:]))
    # AH then TCP; ESP; no next header.
    ah = struct.pack("!BBHII", 6, 4, 0, 0xBEEF0002, 1) + b"\0" * 12
    send6(ip6(s6, d6, 51, ah + tcp(40015, 82, 9, 0, 0x02, 100)))
    send6(ip6(s6, d6, 50, struct.pack("!II", 0x0BADF00D, 1) + b"\0" * 16))
    send6(ip6(s6, d6, 59, b""))


if __name__ == "__main__":
    main()
