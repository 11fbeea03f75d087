package jsonl

import (
	"github.com/darkscope/darkscope/internal/event"
)

// ulogdTimeLayout is the JSON plugin's "timestamp": local time with
// microseconds; ulogd 2.0.8 omits the UTC offset when it is zero, and
// darkscope writes UTC.
const ulogdTimeLayout = "2006-01-02T15:04:05.000000"

// appendULOGD encodes ev with the keys, value types, key order and layout
// (jansson's ", " and ": ") that ulogd2 2.0.8's JSON plugin writes for the
// stack NFLOG,BASE,IFINDEX,IP2STR,HWHDR,JSON. Keys whose values darkscope
// does not keep are left out: ip.csum, tcp.csum, icmp.csum, icmpv6.csum,
// sctp.csum, oob.ifindex_in, oob.ifindex_out, oob.seq.* (docs/json.md).
func appendULOGD(b []byte, ev *event.Event) []byte {
	o := newObj(b, ", ", ": ")
	t := ev.Time.UTC()
	o.key("timestamp")
	o.b = append(o.b, '"')
	o.b = t.AppendFormat(o.b, ulogdTimeLayout)
	o.b = append(o.b, '"')
	if ev.Sensor != "" {
		o.str("dvc", ev.Sensor)
	} else {
		o.str("dvc", "Netfilter")
	}

	// NFLOG.
	o.uint("raw.pktlen", uint64(ev.TotalLen))
	o.uint("raw.pktcount", 1)
	o.str("oob.prefix", ev.Prefix)
	o.uint("oob.time.sec", uint64(t.Unix())&0xffffffff)
	o.uint("oob.time.usec", uint64(t.Nanosecond()/1000))
	o.uint("oob.mark", uint64(ev.Mark))
	if h, ok := ulogdHook(ev.Hook); ok {
		o.uint("oob.hook", uint64(h))
	}
	switch {
	case ev.HasMAC:
		o.uint("raw.mac_len", 14)
	case ev.MACRawLen > 0:
		o.uint("raw.mac_len", uint64(ev.MACRawLen))
	}
	switch ev.IPVersion {
	case 4:
		o.uint("oob.family", 2)
	case 6:
		o.uint("oob.family", 10)
	}
	o.uint("oob.protocol", uint64(etherType(ev)))
	if ev.HasUID {
		o.uint("oob.uid", uint64(ev.UID))
		o.uint("oob.gid", uint64(ev.GID))
	}
	if ev.Verdict == event.VerdictAllowed {
		o.uint("raw.label", 1)
	} else {
		o.uint("raw.label", 0)
	}
	if ev.HasMAC {
		o.uint("raw.type", 1) // ARPHRD_ETHER
		o.uint("raw.mac.addrlen", 6)
	}

	// BASE.
	nonFirst := ev.FragOff != 0
	switch ev.IPVersion {
	case 4:
		o.uint("ip.protocol", uint64(ev.Proto))
		o.uint("ip.tos", uint64(ev.TOS))
		o.uint("ip.ttl", uint64(ev.TTL))
		o.uint("ip.totlen", uint64(ev.TotalLen))
		o.uint("ip.ihl", uint64(ev.IHL/4))
		o.uint("ip.id", uint64(ev.IPID&0xffff))
		fo := uint64(ev.FragOff&0x1fff) | uint64(ev.IPFlags&7)<<13
		o.uint("ip.fragoff", fo)
	case 6:
		if !nonFirst {
			o.uint("ip.protocol", uint64(ev.Proto))
		}
		if ev.TotalLen >= 40 { // below 40 the length is unknown
			o.uint("ip6.payloadlen", uint64(ev.TotalLen)-40)
		}
		o.uint("ip6.priority", uint64(ev.TOS))
		o.uint("ip6.flowlabel", uint64(ev.FlowLabel&0xfffff))
		o.uint("ip6.hoplimit", uint64(ev.TTL))
		o.uint("ip6.nexthdr", uint64(ev.Proto))
		if hasFragHeader(ev) {
			o.uint("ip6.fragoff", uint64(ev.FragOff)*8)
			o.uint("ip6.fragid", uint64(ev.IPID))
		}
	}
	if ev.IPVersion == 4 || ev.IPVersion == 6 {
		switch ev.Proto {
		case event.ProtoTCP:
			if hasPorts(ev) {
				o.uint("src_port", uint64(ev.SrcPort))
				o.uint("dest_port", uint64(ev.DstPort))
				if !tcpHeaderKnown(ev) {
					break // cut after the ports: ParseLine reads it back as truncated
				}
				if ev.HasSeq {
					o.uint("tcp.seq", uint64(ev.Seq))
					o.uint("tcp.ackseq", uint64(ev.Ack))
				}
				o.uint("tcp.window", uint64(ev.Window))
				// BASE applies ntohs to these 4-bit fields and always prints 0.
				o.uint("tcp.offset", 0)
				o.uint("tcp.reserved", 0)
				f := ev.Flags
				o.uint("tcp.urg", flagBit(f, event.FlagURG))
				if f&event.FlagURG != 0 {
					o.uint("tcp.urgp", uint64(ev.Urgent))
				}
				o.uint("tcp.ack", flagBit(f, event.FlagACK))
				o.uint("tcp.psh", flagBit(f, event.FlagPSH))
				o.uint("tcp.rst", flagBit(f, event.FlagRST))
				o.uint("tcp.syn", flagBit(f, event.FlagSYN))
				o.uint("tcp.fin", flagBit(f, event.FlagFIN))
				o.uint("tcp.res1", uint64(ev.Reserved>>2)&15)
				o.uint("tcp.res2", uint64(f>>6))
			}
		case event.ProtoUDP:
			if hasPorts(ev) {
				o.uint("src_port", uint64(ev.SrcPort))
				o.uint("dest_port", uint64(ev.DstPort))
				o.uint("udp.len", uint64(ev.UDPLen))
				if ev.HasUDPChecksum {
					o.uint("udp.csum", uint64(ev.UDPChecksum))
				}
			}
		case event.ProtoSCTP:
			if hasPorts(ev) {
				o.uint("src_port", uint64(ev.SrcPort))
				o.uint("dest_port", uint64(ev.DstPort))
			}
		case event.ProtoICMP:
			if ev.IPVersion == 4 && hasICMP(ev) {
				o.uint("icmp.type", uint64(ev.ICMPType))
				o.uint("icmp.code", uint64(ev.ICMPCode))
				switch {
				case ev.ICMPType == 0 || ev.ICMPType == 8:
					o.uint("icmp.echoid", uint64(ev.ICMPID))
					o.uint("icmp.echoseq", uint64(ev.ICMPSeq))
				case ev.ICMPType == 3 && ev.ICMPCode == 4:
					o.uint("icmp.fragmtu", uint64(ev.ICMPMTU&0xffff))
				}
			}
		case event.ProtoICMPv6:
			if ev.IPVersion == 6 && hasICMP(ev) {
				o.uint("icmpv6.type", uint64(ev.ICMPType))
				o.uint("icmpv6.code", uint64(ev.ICMPCode))
				if ev.ICMPType == 128 || ev.ICMPType == 129 {
					o.uint("icmpv6.echoid", uint64(ev.ICMPID))
					o.uint("icmpv6.echoseq", uint64(ev.ICMPSeq))
				}
			}
		}
	}

	// IFINDEX, IP2STR, HWHDR.
	o.str("oob.in", ev.InIface)
	o.str("oob.out", ev.OutIface)
	if ev.IPVersion == 4 || ev.IPVersion == 6 {
		o.addr("src_ip", ev.Src)
		o.addr("dest_ip", ev.Dst)
	}
	switch {
	case ev.HasMAC:
		o.key("mac.saddr.str")
		o.b = append(o.b, '"')
		o.b = appendMAC(o.b, ev.MACSrc[:], ':', false)
		o.b = append(o.b, '"')
		o.key("mac.daddr.str")
		o.b = append(o.b, '"')
		o.b = appendMAC(o.b, ev.MACDst[:], ':', false)
		o.b = append(o.b, '"')
		o.key("mac.str")
		o.b = append(o.b, '"')
		o.b = appendMAC(o.b, ev.MACDst[:], ':', false)
		o.b = append(o.b, ':')
		o.b = appendMAC(o.b, ev.MACSrc[:], ':', false)
		et := etherType(ev)
		o.b = append(o.b, ':')
		o.b = appendMAC(o.b, []byte{byte(et >> 8), byte(et)}, ':', false)
		o.b = append(o.b, '"')
	case ev.MACRawLen > 0:
		o.key("mac.str")
		o.b = append(o.b, '"')
		o.b = appendMAC(o.b, ev.MACRaw[:min(int(ev.MACRawLen), len(ev.MACRaw))], ':', false)
		o.b = append(o.b, '"')
	}
	o.b = append(o.b, '}')
	return o.b
}

func flagBit(f, bit event.TCPFlags) uint64 {
	if f&bit != 0 {
		return 1
	}
	return 0
}

// ulogdHook maps a Hook to the netfilter hook number ulogd prints.
func ulogdHook(h event.Hook) (uint8, bool) {
	switch h {
	case event.HookPrerouting:
		return 0, true
	case event.HookInput:
		return 1, true
	case event.HookForward:
		return 2, true
	case event.HookOutput:
		return 3, true
	case event.HookPostrouting:
		return 4, true
	case event.HookIngress:
		return 5, true // NF_INET_INGRESS
	}
	return 0, false
}
