#!/usr/bin/env python3
"""Send a fixed, bounded set of hand-made Ethernet frames (IPv4 and IPv6) out
of IFACE with an AF_PACKET socket, for scripts/capture-ulogd.sh. Each frame is
sent once. Only use it inside a throw-away network namespace.

usage: ulogd-probes.py IFACE SRC_MAC DST_MAC SRC4 DST4 SRC6 DST6
"""
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip4(src, dst, proto, payload, tos=0, ttl=64, ident=0, frag=0, opts=b""):
    ihl = 5 + len(opts) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, ihl * 4 + len(payload), ident, frag,
                      ttl, proto, 0, socket.inet_aton(src), socket.inet_aton(dst)) + opts
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def ip6(src, dst, nh, payload, tc=0, fl=0, hlim=64):
    word = (6 << 28) | (tc << 20) | fl
    return struct.pack("!IHBB16s16s", word, len(payload), nh, hlim,
                       socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)) + payload


def l4sum6(src, dst, proto, seg):
    ph = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + struct.pack("!IxxxB", len(seg), proto)
    return csum(ph + seg)


def l4sum4(src, dst, proto, seg):
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!xBH", proto, len(seg))
    return csum(ph + seg)


def tcp(sport, dport, seq, ack, flags, win, opts=b"", urg=0, res=0, data=b""):
    off = 5 + len(opts) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (off << 4) | res, flags, win, 0, urg) + opts + data


def with_sum(seg, off, s):
    return seg[:off] + struct.pack("!H", s) + seg[off + 2:]


def main():
    ifc, smac, dmac, s4, d4, s6, d6 = sys.argv[1:8]
    eth4 = mac(dmac) + mac(smac) + b"\x08\x00"
    eth6 = mac(dmac) + mac(smac) + b"\x86\xdd"
    frames = []

    # IPv4: TOS with ECN CE, DF, TCP SYN with ECE+CWR and options, reserved bits.
    seg = tcp(41000, 22, 0x01020304, 0, 0xC2, 29200, opts=b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07", res=0x5)
    seg = with_sum(seg, 16, l4sum4(s4, d4, 6, seg))
    frames.append(eth4 + ip4(s4, d4, 6, seg, tos=0xB9, ttl=51, ident=0x4242, frag=0x4000))
    # IPv4: ICMP fragmentation needed (MTU 1400) quoting a TCP packet.
    quoted = ip4(d4, "10.99.7.7", 6, tcp(22, 41000, 7, 0, 0x12, 1000)[:8], ttl=3, ident=99)
    icmp = struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + quoted
    icmp = with_sum(icmp, 2, csum(icmp))
    frames.append(eth4 + ip4(s4, d4, 1, icmp, ttl=250, ident=7))
    # IPv4: ICMP redirect with a gateway.
    icmp = struct.pack("!BBH4s", 5, 1, 0, socket.inet_aton("10.99.0.254")) + quoted
    icmp = with_sum(icmp, 2, csum(icmp))
    frames.append(eth4 + ip4(s4, d4, 1, icmp, ttl=255, ident=8))
    # IPv4: ICMP echo reply (backscatter) with id and sequence.
    icmp = struct.pack("!BBHHH", 0, 0, 0, 0xBEEF, 3) + b"abcdefgh"
    icmp = with_sum(icmp, 2, csum(icmp))
    frames.append(eth4 + ip4(s4, d4, 1, icmp, ident=9))
    # IPv4: UDP with a zero checksum and payload.
    udp = struct.pack("!HHHH", 5353, 5353, 8 + 5, 0) + b"hello"
    frames.append(eth4 + ip4(s4, d4, 17, udp, ident=10, tos=0x10))
    # IPv4: an unknown protocol (GRE) with no transport keys.
    frames.append(eth4 + ip4(s4, d4, 47, b"\x00\x00\x08\x00" + b"\x00" * 20, ident=11))

    # IPv6: TCP SYN with traffic class 0xb8, flow label, MSS option.
    seg = tcp(41001, 443, 1, 0, 0x02, 4096, opts=b"\x02\x04\x05\x8c")
    seg = with_sum(seg, 16, l4sum6(s6, d6, 6, seg))
    frames.append(eth6 + ip6(s6, d6, 6, seg, tc=0xB8, fl=0x12345, hlim=57))
    # IPv6: UDP with ECN bits and the largest flow label.
    udp = struct.pack("!HHHH", 40123, 123, 8 + 10, 0) + b"0123456789"
    udp = with_sum(udp, 6, l4sum6(s6, d6, 17, udp))
    frames.append(eth6 + ip6(s6, d6, 17, udp, tc=0x03, fl=0xFFFFF, hlim=64))
    # IPv6: ICMPv6 echo request.
    icmp = struct.pack("!BBHHH", 128, 0, 0, 0x1234, 7) + b"ping"
    icmp = with_sum(icmp, 2, l4sum6(s6, d6, 58, icmp))
    frames.append(eth6 + ip6(s6, d6, 58, icmp))
    # IPv6: ICMPv6 packet too big (MTU 1280) quoting a TCP packet.
    q = ip6(d6, "fd99::77", 6, tcp(443, 41001, 5, 0, 0x12, 100)[:8])
    icmp = struct.pack("!BBHI", 2, 0, 0, 1280) + q
    icmp = with_sum(icmp, 2, l4sum6(s6, d6, 58, icmp))
    frames.append(eth6 + ip6(s6, d6, 58, icmp, hlim=250))
    # IPv6: hop-by-hop options header, then TCP ACK with urgent pointer.
    seg = tcp(41002, 80, 100, 200, 0x30, 512, urg=9)
    seg = with_sum(seg, 16, l4sum6(s6, d6, 6, seg))
    hbh = struct.pack("!BB", 6, 0) + b"\x01\x04\x00\x00\x00\x00"
    frames.append(eth6 + ip6(s6, d6, 0, hbh + seg))
    # IPv6: a UDP datagram in two fragments (id 0xabcdef01).
    udp = struct.pack("!HHHH", 40124, 161, 8 + 24, 0) + b"x" * 24
    udp = with_sum(udp, 6, l4sum6(s6, d6, 17, udp))
    fh1 = struct.pack("!BBHI", 17, 0, (0 << 3) | 1, 0xABCDEF01)
    fh2 = struct.pack("!BBHI", 17, 0, (2 << 3) | 0, 0xABCDEF01)
    frames.append(eth6 + ip6(s6, d6, 44, fh1 + udp[:16]))
    frames.append(eth6 + ip6(s6, d6, 44, fh2 + udp[16:]))

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifc, 0))
    for f in frames:
        s.send(f)
    s.close()


if __name__ == "__main__":
    main()
