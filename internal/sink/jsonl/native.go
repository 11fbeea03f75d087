package jsonl

import (
	"encoding/json"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// appendNative encodes ev with darkscope's own keys (docs/json.md). Absent
// fields are omitted; zero values that were seen (Has* flags, IP header
// fields of an IP packet) are written.
func appendNative(b []byte, ev *event.Event) []byte {
	o := newObj(b, ",", ":")
	o.key("time")
	o.b = append(o.b, '"')
	o.b = ev.Time.UTC().AppendFormat(o.b, time.RFC3339Nano)
	o.b = append(o.b, '"')
	if ev.Uptime != 0 {
		o.int("uptime_ns", int64(ev.Uptime))
	}
	if ev.Kind != event.KindPacket {
		o.str("kind", ev.Kind.String())
	}
	if ev.Sensor != "" {
		o.str("sensor", ev.Sensor)
	}
	if ev.Source != "" {
		o.str("source", ev.Source)
	}
	if ev.Prefix != "" {
		o.str("prefix", ev.Prefix)
	}
	if ev.Group != 0 {
		o.uint("group", uint64(ev.Group))
	}
	if ev.Hook != event.HookUnknown {
		o.str("hook", ev.Hook.String())
	}
	if ev.InIface != "" {
		o.str("in_iface", ev.InIface)
	}
	if ev.OutIface != "" {
		o.str("out_iface", ev.OutIface)
	}
	if ev.Verdict != event.VerdictUnknown {
		o.str("verdict", ev.Verdict.String())
	}
	if ev.HasMark {
		o.uint("mark", uint64(ev.Mark))
	}
	if ev.HasUID {
		o.uint("uid", uint64(ev.UID))
		o.uint("gid", uint64(ev.GID))
	}
	if ev.HasMAC {
		o.key("mac_src")
		o.b = append(o.b, '"')
		o.b = appendMAC(o.b, ev.MACSrc[:], ':', false)
		o.b = append(o.b, '"')
		o.key("mac_dst")
		o.b = append(o.b, '"')
		o.b = appendMAC(o.b, ev.MACDst[:], ':', false)
		o.b = append(o.b, '"')
	}
	if ev.HasMAC || ev.EtherType != 0 {
		o.uint("ethertype", uint64(ev.EtherType))
	}
	if ev.MACRawLen > 0 {
		o.hex("mac_raw", ev.MACRaw[:min(int(ev.MACRawLen), len(ev.MACRaw))])
	}

	if ev.IPVersion == 4 || ev.IPVersion == 6 {
		o.uint("ip_version", uint64(ev.IPVersion))
		o.addr("src_ip", ev.Src)
		o.addr("dst_ip", ev.Dst)
		o.str("proto", ev.Proto.String())
		o.uint("ihl", uint64(ev.IHL))
		o.uint("len", uint64(ev.TotalLen))
		o.uint("tos", uint64(ev.TOS))
		o.uint("dscp", uint64(ev.DSCP()))
		o.uint("ecn", uint64(ev.ECN()))
		o.uint("ttl", uint64(ev.TTL))
		if ev.IPVersion == 4 || ev.IPID != 0 || hasFragHeader(ev) {
			o.uint("ip_id", uint64(ev.IPID))
		}
		if ev.IPFlags&event.IPFlagCE != 0 {
			o.bool("ce", true)
		}
		if ev.IPFlags&event.IPFlagDF != 0 {
			o.bool("df", true)
		}
		if ev.IPFlags&event.IPFlagMF != 0 {
			o.bool("mf", true)
		}
		if ev.FragOff != 0 {
			o.uint("frag_off", uint64(ev.FragOff))
		}
		if ev.IPVersion == 6 {
			o.uint("flow_label", uint64(ev.FlowLabel))
		}
		if ev.IPOptLen > 0 {
			o.hex("ip_options", ev.IPOpts())
		}
		if ev.ExtHdrLen > 0 {
			o.key("ext_headers")
			o.b = append(o.b, '[')
			for i, h := range ev.ExtHdrs[:min(int(ev.ExtHdrLen), len(ev.ExtHdrs))] {
				if i > 0 {
					o.b = append(o.b, ',')
				}
				o.b = appendUint8(o.b, h)
			}
			o.b = append(o.b, ']')
		}
	}

	if hasPorts(ev) {
		o.uint("src_port", uint64(ev.SrcPort))
		o.uint("dst_port", uint64(ev.DstPort))
	}
	if ev.Proto == event.ProtoTCP && hasPorts(ev) {
		if ev.HasSeq {
			o.uint("seq", uint64(ev.Seq))
			o.uint("ack", uint64(ev.Ack))
		}
		// A header cut after the ports has no window or flags to show.
		if tcpHeaderKnown(ev) {
			o.uint("window", uint64(ev.Window))
			o.key("tcp_flags")
			o.b = append(o.b, '"')
			o.b = appendFlags(o.b, ev.Flags)
			o.b = append(o.b, '"')
		}
		if ev.Reserved != 0 {
			o.uint("tcp_reserved", uint64(ev.Reserved))
		}
		if ev.Urgent != 0 || ev.Flags&event.FlagURG != 0 {
			o.uint("urgent", uint64(ev.Urgent))
		}
		if ev.TCPOptLen > 0 {
			o.hex("tcp_options", ev.TCPOpts())
		}
	}
	if (ev.Proto == event.ProtoUDP || ev.Proto == event.ProtoUDPLite) && hasPorts(ev) {
		if ev.UDPLen != 0 {
			o.uint("udp_len", uint64(ev.UDPLen))
		}
		if ev.HasUDPChecksum {
			o.uint("udp_checksum", uint64(ev.UDPChecksum))
		}
	}
	if hasICMP(ev) {
		o.uint("icmp_type", uint64(ev.ICMPType))
		o.uint("icmp_code", uint64(ev.ICMPCode))
		if ev.ICMPID != 0 || ev.ICMPSeq != 0 || isEcho(ev) {
			o.uint("icmp_id", uint64(ev.ICMPID))
			o.uint("icmp_seq", uint64(ev.ICMPSeq))
		}
		if ev.ICMPMTU != 0 {
			o.uint("icmp_mtu", uint64(ev.ICMPMTU))
		}
		if ev.ICMPGateway.IsValid() {
			o.addr("icmp_gateway", ev.ICMPGateway)
		}
	}
	if ev.HasQuoted {
		q := &ev.Quoted
		o.begin("quoted")
		if q.Src.IsValid() {
			o.addr("src_ip", q.Src)
		}
		if q.Dst.IsValid() {
			o.addr("dst_ip", q.Dst)
		}
		o.str("proto", q.Proto.String())
		switch q.Proto {
		case event.ProtoTCP, event.ProtoUDP, event.ProtoSCTP, event.ProtoUDPLite:
			o.uint("src_port", uint64(q.SrcPort))
			o.uint("dst_port", uint64(q.DstPort))
		}
		if q.TotalLen != 0 {
			o.uint("len", uint64(q.TotalLen))
		}
		if q.TTL != 0 {
			o.uint("ttl", uint64(q.TTL))
		}
		if q.IPID != 0 {
			o.uint("ip_id", uint64(q.IPID))
		}
		if q.Seq != 0 {
			o.uint("seq", uint64(q.Seq))
		}
		o.end()
	}
	if ev.PayloadLen != 0 {
		o.uint("payload_len", uint64(ev.PayloadLen))
	}
	if ev.PayloadCap > 0 {
		o.hex("payload_hex", ev.PayloadPrefix())
	}
	if ev.Truncated {
		o.bool("truncated", true)
	}
	// The rare payloads (detection verdicts, honeypot attempts) are typed
	// structs with their own JSON tags; encoding/json is fine off the hot path.
	if ev.Alert != nil {
		o.raw("alert", ev.Alert)
	}
	if ev.Auth != nil {
		o.raw("auth", ev.Auth)
	}
	o.b = append(o.b, '}')
	return o.b
}

// raw writes v as JSON under k ("null" if it cannot be encoded, which the
// typed payloads never are).
func (o *obj) raw(k string, v any) {
	o.key(k)
	j, err := json.Marshal(v)
	if err != nil {
		j = []byte("null")
	}
	o.b = append(o.b, j...)
}

func isEcho(ev *event.Event) bool {
	if ev.Proto == event.ProtoICMP {
		return ev.ICMPType == 0 || ev.ICMPType == 8
	}
	return ev.ICMPType == 128 || ev.ICMPType == 129
}

func appendUint8(b []byte, v uint8) []byte {
	if v >= 100 {
		b = append(b, '0'+v/100)
	}
	if v >= 10 {
		b = append(b, '0'+v/10%10)
	}
	return append(b, '0'+v%10)
}
