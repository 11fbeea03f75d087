package jsonl_test

import (
	"net/netip"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

type sample struct {
	name string
	ev   event.Event
}

// sampleEvents are hand-built events covering every branch of the encoders.
func sampleEvents() []sample {
	t0 := time.Date(2026, 11, 23, 10, 29, 23, 514937123, time.UTC)
	mac := func(e *event.Event) {
		e.HasMAC = true
		e.MACSrc = [6]byte{0x02, 0, 0, 0, 0x99, 0x02}
		e.MACDst = [6]byte{0x02, 0, 0, 0, 0x99, 0x01}
	}
	var out []sample
	add := func(name string, f func(e *event.Event)) {
		e := event.Event{Time: t0.Add(time.Duration(len(out)) * time.Second), Kind: event.KindPacket}
		f(&e)
		out = append(out, sample{name, e})
	}

	add("ipv4 tcp syn, everything set", func(e *event.Event) {
		mac(e)
		e.EtherType = 0x0800
		e.Uptime = 12345678 * time.Microsecond
		e.Sensor, e.Source, e.Prefix = "dark1", "nflog:7", "dark"
		e.Group, e.Hook, e.InIface = 7, event.HookPrerouting, "eth0"
		e.Verdict, e.Mark, e.HasMark = event.VerdictBlocked, 42, true
		e.IPVersion, e.Proto = 4, event.ProtoTCP
		e.Src, e.Dst = netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("198.51.100.7")
		e.IHL, e.TotalLen, e.TOS, e.TTL, e.IPID = 24, 64, 0xb9, 51, 0x4242
		e.IPFlags = event.IPFlagDF
		e.SetIPOptions([]byte{0x94, 0x04, 0, 0})
		e.SrcPort, e.DstPort, e.Seq, e.Ack, e.HasSeq = 41000, 22, 0x01020304, 0, true
		e.Window, e.Flags, e.Reserved = 29200, event.FlagSYN|event.FlagECE|event.FlagCWR, 0x14
		e.SetTCPOptions([]byte{2, 4, 5, 0xb4, 1, 1, 4, 2})
		e.SetPayload([]byte("GET /"), 5)
	})
	add("ipv4 tcp rst ack backscatter, allowed", func(e *event.Event) {
		mac(e)
		e.EtherType = 0x0800
		e.Sensor, e.Prefix, e.Hook, e.InIface = "dark1", "bs", event.HookInput, "eth0"
		e.Verdict = event.VerdictAllowed
		e.IPVersion, e.Proto = 4, event.ProtoTCP
		e.Src, e.Dst = netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("192.0.2.99")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 40, 240, 0
		e.SrcPort, e.DstPort, e.Seq, e.Ack, e.HasSeq = 80, 51515, 0, 77, true
		e.Flags, e.Urgent = event.FlagRST|event.FlagACK|event.FlagURG, 3
	})
	add("ipv4 udp with zero checksum", func(e *event.Event) {
		e.Sensor, e.Prefix, e.Hook, e.InIface = "dark1", "udp", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 4, event.ProtoUDP
		e.Src, e.Dst = netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.9.8.7")
		e.IHL, e.TotalLen, e.TOS, e.TTL, e.IPID = 20, 33, 0x10, 64, 10
		e.SrcPort, e.DstPort, e.UDPLen, e.HasUDPChecksum = 5353, 53, 13, true
		e.SetPayload([]byte("hello"), 5)
	})
	add("icmp echo request", func(e *event.Event) {
		e.Prefix, e.Hook, e.InIface = "icmp", event.HookPrerouting, "eth1"
		e.IPVersion, e.Proto = 4, event.ProtoICMP
		e.Src, e.Dst = netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.9.8.7")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 84, 64, 999
		e.ICMPType, e.ICMPCode, e.ICMPID, e.ICMPSeq = 8, 0, 0xbeef, 1
		e.PayloadLen = 56
	})
	add("icmp fragmentation needed quoting tcp", func(e *event.Event) {
		mac(e)
		e.EtherType = 0x0800
		e.Prefix, e.Hook, e.InIface = "dark", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 4, event.ProtoICMP
		e.Src, e.Dst = netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 56, 250, 7
		e.ICMPType, e.ICMPCode, e.ICMPMTU = 3, 4, 1400
		e.HasQuoted = true
		e.Quoted = event.Quoted{Src: netip.MustParseAddr("10.99.0.1"), Dst: netip.MustParseAddr("10.99.7.7"),
			Proto: event.ProtoTCP, SrcPort: 22, DstPort: 41000, TotalLen: 28, TTL: 3, IPID: 99, Seq: 7}
	})
	add("icmp redirect with gateway", func(e *event.Event) {
		e.Prefix, e.Hook = "redir", event.HookForward
		e.InIface, e.OutIface = "eth0", "eth1"
		e.IPVersion, e.Proto = 4, event.ProtoICMP
		e.Src, e.Dst = netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 56, 255, 8
		e.ICMPType, e.ICMPCode = 5, 1
		e.ICMPGateway = netip.MustParseAddr("10.99.0.254")
	})
	add("ipv4 fragment, later piece", func(e *event.Event) {
		e.Prefix, e.Hook, e.InIface = "frag", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 4, event.ProtoTCP
		e.Src, e.Dst = netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 36, 64, 250
		e.IPFlags, e.FragOff = event.IPFlagMF|event.IPFlagCE, 2
	})
	add("ipv4 first fragment too short for tcp", func(e *event.Event) {
		e.Prefix, e.Hook, e.InIface = "frag", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 4, event.ProtoTCP
		e.Src, e.Dst = netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 36, 64, 251
		e.IPFlags, e.Truncated = event.IPFlagMF, true
	})
	add("ipv4 tcp truncated after the ports (LOG line cut short)", func(e *event.Event) {
		e.Source, e.Prefix, e.InIface = "kmsg", "cut", "eth0"
		e.IPVersion, e.Proto = 4, event.ProtoTCP
		e.Src, e.Dst = netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 40, 64, 3
		e.SrcPort, e.DstPort, e.Truncated = 1234, 23, true
	})
	add("output hook, uid, no link layer", func(e *event.Event) {
		e.Prefix, e.Hook, e.OutIface = "out", event.HookOutput, "eth0"
		e.UID, e.GID, e.HasUID = 1000, 100, true
		e.IPVersion, e.Proto = 4, event.ProtoTCP
		e.Src, e.Dst = netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("10.99.0.2")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 60, 64, 60050
		e.SrcPort, e.DstPort, e.Seq, e.Ack, e.HasSeq, e.Window = 40010, 9, 1605709070, 0, true, 64240
		e.Flags = event.FlagSYN
	})
	add("gre, unknown transport", func(e *event.Event) {
		e.Prefix, e.Hook, e.InIface = "gre", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 4, event.ProtoGRE
		e.Src, e.Dst = netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 44, 64, 11
	})
	add("sctp init", func(e *event.Event) {
		e.Prefix, e.Hook, e.InIface = "sctp", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 4, event.ProtoSCTP
		e.Src, e.Dst = netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 68, 64, 12
		e.SrcPort, e.DstPort = 2905, 2905
	})
	add("ipv6 tcp syn with traffic class and flow label", func(e *event.Event) {
		mac(e)
		e.EtherType = 0x86dd
		e.Sensor, e.Prefix, e.Hook, e.InIface = "dark6", "dark", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 6, event.ProtoTCP
		e.Src, e.Dst = netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8:ffff::1")
		e.IHL, e.TotalLen, e.TOS, e.TTL, e.FlowLabel = 40, 64, 0xb8, 57, 0x12345
		e.SrcPort, e.DstPort, e.Seq, e.HasSeq, e.Window, e.Flags = 41001, 443, 1, true, 4096, event.FlagSYN
		e.SetTCPOptions([]byte{2, 4, 5, 0x8c})
	})
	add("ipv6 udp first fragment behind hop-by-hop", func(e *event.Event) {
		e.Prefix, e.Hook, e.InIface = "dark-udp", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 6, event.ProtoUDP
		e.Src, e.Dst = netip.MustParseAddr("fd99::2"), netip.MustParseAddr("fd99::1")
		e.IHL, e.TotalLen, e.TOS, e.TTL, e.FlowLabel = 40, 72, 3, 64, 0xfffff
		e.ExtHdrs[0], e.ExtHdrs[1], e.ExtHdrLen = 0, 44, 2
		e.IPID, e.IPFlags = 0xabcdef01, event.IPFlagMF
		e.SrcPort, e.DstPort, e.UDPLen, e.UDPChecksum, e.HasUDPChecksum = 40124, 161, 32, 0xc174, true
	})
	add("ipv6 later fragment", func(e *event.Event) {
		e.Prefix, e.Hook, e.InIface = "dark-udp", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 6, event.ProtoUDP
		e.Src, e.Dst = netip.MustParseAddr("fd99::2"), netip.MustParseAddr("fd99::1")
		e.IHL, e.TotalLen, e.TTL = 40, 64, 64
		e.ExtHdrs[0], e.ExtHdrLen = 44, 1
		e.IPID, e.FragOff = 0xabcdef01, 2
	})
	add("icmpv6 echo reply, prefix needing escapes", func(e *event.Event) {
		mac(e)
		e.EtherType = 0x86dd
		e.Prefix, e.Hook, e.InIface = "q\"uote\\ é\t", event.HookIngress, "eth0"
		e.IPVersion, e.Proto = 6, event.ProtoICMPv6
		e.Src, e.Dst = netip.MustParseAddr("fe80::ff:fe00:9902"), netip.MustParseAddr("ff02::1")
		e.IHL, e.TotalLen, e.TTL = 40, 52, 255
		e.ICMPType, e.ICMPCode, e.ICMPID, e.ICMPSeq = 129, 0, 0x1234, 7
	})
	add("icmpv6 packet too big", func(e *event.Event) {
		e.Prefix, e.Hook, e.InIface = "ptb", event.HookPrerouting, "eth0"
		e.IPVersion, e.Proto = 6, event.ProtoICMPv6
		e.Src, e.Dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
		e.IHL, e.TotalLen, e.TTL = 40, 96, 250
		e.ICMPType, e.ICMPCode, e.ICMPMTU = 2, 0, 1280
		e.HasQuoted = true
		e.Quoted = event.Quoted{Src: netip.MustParseAddr("2001:db8::2"), Dst: netip.MustParseAddr("2001:db8::77"),
			Proto: event.ProtoTCP, SrcPort: 443, DstPort: 41001}
	})
	add("loopback, non-ethernet link header", func(e *event.Event) {
		e.Prefix, e.Hook, e.InIface = "lo", event.HookInput, "tun0"
		e.MACRaw[0], e.MACRaw[1], e.MACRawLen = 0x45, 0x00, 2
		e.IPVersion, e.Proto = 4, event.ProtoTCP
		e.Src, e.Dst = netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1")
		e.IHL, e.TotalLen, e.TTL, e.IPID = 20, 40, 64, 1
		e.SrcPort, e.DstPort, e.HasSeq, e.Flags, e.Window = 5000, 0, true, event.FlagSYN, 1
	})
	return out
}
