package jsonl

import (
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// ecsVersion is the ECS version the mapping follows.
const ecsVersion = "8.11.0"

// ianaDecimal is the decimal text of every protocol number, so
// network.iana_number (an ECS keyword) is written without allocating.
var ianaDecimal = func() (t [256]string) {
	for i := range t {
		t[i] = string(appendUint8(nil, uint8(i)))
	}
	return t
}()

// appendECS encodes ev as an Elastic Common Schema 8.x document (mapping in
// docs/json.md). Fields ECS has no place for live under "darkscope".
func appendECS(b []byte, ev *event.Event) []byte {
	o := newObj(b, ",", ":")
	o.key("@timestamp")
	o.b = append(o.b, '"')
	o.b = ev.Time.UTC().AppendFormat(o.b, time.RFC3339Nano)
	o.b = append(o.b, '"')
	o.begin("ecs")
	o.str("version", ecsVersion)
	o.end()

	o.begin("event")
	o.str("kind", "event")
	o.key("category")
	o.b = append(o.b, `["network"]`...)
	o.key("type")
	switch ev.Verdict {
	case event.VerdictBlocked:
		o.b = append(o.b, `["connection","denied"]`...)
		o.str("action", "blocked")
	case event.VerdictAllowed:
		o.b = append(o.b, `["connection","allowed"]`...)
		o.str("action", "allowed")
	default:
		o.b = append(o.b, `["connection"]`...)
		o.str("action", "logged")
	}
	o.str("module", "darkscope")
	o.str("dataset", "darkscope.packet")
	o.end()

	o.begin("observer")
	o.str("type", "firewall")
	o.str("vendor", "netfilter")
	if ev.Sensor != "" {
		o.str("hostname", ev.Sensor)
	}
	if ev.InIface != "" {
		o.begin("ingress")
		o.begin("interface")
		o.str("name", ev.InIface)
		o.end()
		o.end()
	}
	if ev.OutIface != "" {
		o.begin("egress")
		o.begin("interface")
		o.str("name", ev.OutIface)
		o.end()
		o.end()
	}
	o.end()

	ports := hasPorts(ev)
	if ev.IPVersion == 4 || ev.IPVersion == 6 {
		o.begin("source")
		o.addr("ip", ev.Src)
		if ports {
			o.uint("port", uint64(ev.SrcPort))
		}
		if ev.HasMAC {
			o.key("mac")
			o.b = append(o.b, '"')
			o.b = appendMAC(o.b, ev.MACSrc[:], '-', true)
			o.b = append(o.b, '"')
		}
		o.end()
		o.begin("destination")
		o.addr("ip", ev.Dst)
		if ports {
			o.uint("port", uint64(ev.DstPort))
		}
		if ev.HasMAC {
			o.key("mac")
			o.b = append(o.b, '"')
			o.b = appendMAC(o.b, ev.MACDst[:], '-', true)
			o.b = append(o.b, '"')
		}
		o.end()

		o.begin("network")
		o.str("transport", ev.Proto.String())
		o.str("iana_number", ianaDecimal[ev.Proto])
		if ev.IPVersion == 4 {
			o.str("type", "ipv4")
		} else {
			o.str("type", "ipv6")
		}
		switch {
		case ev.InIface != "" && ev.OutIface == "":
			o.str("direction", "ingress")
		case ev.InIface == "" && ev.OutIface != "":
			o.str("direction", "egress")
		}
		o.uint("bytes", uint64(ev.TotalLen))
		o.uint("packets", 1)
		o.end()
	}
	if ev.Prefix != "" {
		o.begin("rule")
		o.str("name", ev.Prefix)
		o.end()
	}
	if ev.Source != "" {
		o.begin("log")
		o.str("logger", ev.Source)
		o.end()
	}

	// darkscope.*: everything ECS has no field for.
	o.begin("darkscope")
	if ev.Group != 0 {
		o.uint("nflog_group", uint64(ev.Group))
	}
	if ev.Hook != event.HookUnknown {
		o.str("hook", ev.Hook.String())
	}
	if ev.HasMark {
		o.uint("mark", uint64(ev.Mark))
	}
	if ev.HasUID {
		o.uint("uid", uint64(ev.UID))
		o.uint("gid", uint64(ev.GID))
	}
	if ev.IPVersion == 4 || ev.IPVersion == 6 {
		o.begin("ip")
		o.uint("ttl", uint64(ev.TTL))
		o.uint("tos", uint64(ev.TOS))
		o.uint("len", uint64(ev.TotalLen))
		if ev.IPVersion == 4 || ev.IPID != 0 {
			o.uint("id", uint64(ev.IPID))
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
			o.hex("options", ev.IPOpts())
		}
		o.end()
	}
	if ev.Proto == event.ProtoTCP && ports && tcpHeaderKnown(ev) {
		o.begin("tcp")
		o.key("flags")
		o.b = append(o.b, '"')
		o.b = appendFlags(o.b, ev.Flags)
		o.b = append(o.b, '"')
		if ev.HasSeq {
			o.uint("seq", uint64(ev.Seq))
			o.uint("ack", uint64(ev.Ack))
		}
		o.uint("window", uint64(ev.Window))
		if ev.TCPOptLen > 0 {
			o.hex("options", ev.TCPOpts())
		}
		o.end()
	}
	if hasICMP(ev) {
		o.begin("icmp")
		o.uint("type", uint64(ev.ICMPType))
		o.uint("code", uint64(ev.ICMPCode))
		if ev.ICMPID != 0 || ev.ICMPSeq != 0 || isEcho(ev) {
			o.uint("id", uint64(ev.ICMPID))
			o.uint("seq", uint64(ev.ICMPSeq))
		}
		if ev.ICMPMTU != 0 {
			o.uint("mtu", uint64(ev.ICMPMTU))
		}
		o.end()
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
		o.end()
	}
	if ev.PayloadLen != 0 {
		o.uint("payload_len", uint64(ev.PayloadLen))
	}
	if ev.Truncated {
		o.bool("truncated", true)
	}
	o.end()
	o.b = append(o.b, '}')
	return o.b
}
