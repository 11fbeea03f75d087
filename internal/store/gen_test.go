package store

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// randAddr returns a random address of the family version asks for; for
// IPv6 it sometimes returns an IPv4-mapped IPv6 address or one with zero
// runs, so rendering and decoding see the awkward cases.
func randAddr(r *rand.Rand, version uint8) netip.Addr {
	switch version {
	case 4:
		var b [4]byte
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return netip.AddrFrom4(b)
	case 6:
		var b [16]byte
		switch r.IntN(4) {
		case 0: // IPv4-mapped in an IPv6 packet
			b[10], b[11] = 0xff, 0xff
			for i := 12; i < 16; i++ {
				b[i] = byte(r.IntN(256))
			}
		case 1: // runs of zero groups
			for g := 0; g < 8; g++ {
				if r.IntN(2) == 0 {
					b[2*g], b[2*g+1] = byte(r.IntN(3)), byte(r.IntN(256))
				}
			}
		default:
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
		}
		return netip.AddrFrom16(b)
	}
	return netip.Addr{}
}

// randEvent fills a random, internally consistent event (Has* false means
// the guarded fields are zero, as decoders produce them).
func randEvent(r *rand.Rand, t time.Time) event.Event {
	var e event.Event
	e.Time = t
	e.Uptime = time.Duration(r.Int64N(1e15))
	e.Kind = event.Kind(r.IntN(3))
	e.Sensor = []string{"s1", "sensor-two", ""}[r.IntN(3)]
	e.Source = []string{"nflog:5", "kmsg", "file:/var/log/kern.log"}[r.IntN(3)]
	e.Prefix = []string{"DARK ", "darkscope", "", "it's \"quoted\""}[r.IntN(4)]
	e.Group = uint16(r.IntN(65536))
	e.Hook = event.Hook(r.IntN(7))
	e.InIface = []string{"eth0", "veth-dark", ""}[r.IntN(3)]
	e.OutIface = []string{"", "eth1"}[r.IntN(2)]
	e.Verdict = event.Verdict(r.IntN(3))
	if r.IntN(2) == 0 {
		e.HasMark, e.Mark = true, r.Uint32()
	}
	if r.IntN(3) == 0 {
		e.HasUID, e.UID, e.GID = true, r.Uint32(), r.Uint32()
	}
	if r.IntN(2) == 0 {
		e.HasMAC = true
		for i := range 6 {
			e.MACSrc[i], e.MACDst[i] = byte(r.IntN(256)), byte(r.IntN(256))
		}
	}
	e.EtherType = []uint16{0x0800, 0x86dd, 0}[r.IntN(3)]
	if r.IntN(5) == 0 {
		e.MACRawLen = uint8(1 + r.IntN(16))
		for i := range int(e.MACRawLen) {
			e.MACRaw[i] = byte(r.IntN(256))
		}
	}
	e.IPVersion = []uint8{4, 4, 6, 0}[r.IntN(4)]
	if e.IPVersion != 0 || r.IntN(2) == 0 {
		v := e.IPVersion
		if v == 0 {
			v = 4
		}
		e.Src, e.Dst = randAddr(r, v), randAddr(r, v)
	}
	e.Proto = event.Proto([]uint8{1, 6, 17, 58, 47, uint8(r.IntN(256))}[r.IntN(6)])
	e.IHL = uint8(20 + 4*r.IntN(11))
	e.TotalLen = uint16(r.IntN(65536))
	e.TOS = uint8(r.IntN(256))
	e.TTL = uint8(r.IntN(256))
	e.IPID = r.Uint32()
	e.IPFlags = uint8(r.IntN(8))
	e.FragOff = uint16(r.IntN(8192))
	e.FlowLabel = uint32(r.IntN(1 << 20))
	if r.IntN(4) == 0 {
		b := make([]byte, r.IntN(event.MaxIPOptions+1))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		e.SetIPOptions(b)
	}
	if e.IPVersion == 6 && r.IntN(2) == 0 {
		e.ExtHdrLen = uint8(1 + r.IntN(event.MaxExtHeaders))
		for i := range int(e.ExtHdrLen) {
			e.ExtHdrs[i] = []uint8{0, 43, 44, 60}[r.IntN(4)]
		}
	}
	e.SrcPort, e.DstPort = uint16(r.IntN(65536)), uint16(r.IntN(65536))
	if r.IntN(2) == 0 {
		e.HasSeq, e.Seq, e.Ack = true, r.Uint32(), r.Uint32()
	}
	e.Window = uint16(r.IntN(65536))
	e.Flags = event.TCPFlags(r.IntN(256))
	e.Reserved = uint8(r.IntN(16))
	e.Urgent = uint16(r.IntN(65536))
	if r.IntN(2) == 0 {
		b := make([]byte, r.IntN(event.MaxTCPOptions+1))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		e.SetTCPOptions(b)
	}
	e.UDPLen = uint16(r.IntN(65536))
	if r.IntN(2) == 0 {
		e.HasUDPChecksum, e.UDPChecksum = true, uint16(r.IntN(65536))
	}
	e.ICMPType, e.ICMPCode = uint8(r.IntN(256)), uint8(r.IntN(256))
	e.ICMPID, e.ICMPSeq = uint16(r.IntN(65536)), uint16(r.IntN(65536))
	e.ICMPMTU = r.Uint32()
	if r.IntN(5) == 0 && e.IPVersion != 0 {
		e.ICMPGateway = randAddr(r, e.IPVersion)
	}
	if r.IntN(3) == 0 && e.IPVersion != 0 {
		e.HasQuoted = true
		q := &e.Quoted
		if r.IntN(5) != 0 {
			q.Src, q.Dst = randAddr(r, e.IPVersion), randAddr(r, e.IPVersion)
		}
		q.Proto = event.Proto(r.IntN(256))
		q.SrcPort, q.DstPort = uint16(r.IntN(65536)), uint16(r.IntN(65536))
		q.TotalLen, q.TTL, q.IPID, q.Seq = uint16(r.IntN(65536)), uint8(r.IntN(256)), r.Uint32(), r.Uint32()
	}
	if r.IntN(2) == 0 {
		b := make([]byte, r.IntN(event.MaxPayload+1))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		e.SetPayload(b, len(b)+r.IntN(2000))
	}
	e.Truncated = r.IntN(10) == 0
	// Payloads on most auth and alert events (nil on the rest).
	switch {
	case e.Kind == event.KindAuth && r.IntN(4) != 0:
		e.Auth = randAuth(r)
	case e.Kind == event.KindAlert && r.IntN(4) != 0:
		e.Alert = randAlert(r, t)
	}
	return e
}

// benchEvent is a typical darknet event: a TCP SYN with options, no payload.
func benchEvent(r *rand.Rand, t time.Time, nsrc int) event.Event {
	var e event.Event
	e.Time = t
	e.Sensor, e.Source, e.Prefix, e.InIface = "sensor1", "nflog:5", "darkscope", "eth0"
	e.Group, e.Hook = 5, event.HookPrerouting
	e.IPVersion = 4
	s := uint32(r.IntN(nsrc))
	e.Src = netip.AddrFrom4([4]byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)})
	e.Dst = netip.AddrFrom4([4]byte{10, 99, byte(r.IntN(256)), byte(r.IntN(256))})
	e.Proto = event.ProtoTCP
	e.IHL, e.TotalLen, e.TTL, e.IPID, e.IPFlags = 20, 60, uint8(30+r.IntN(200)), r.Uint32()&0xffff, event.IPFlagDF
	e.SrcPort, e.DstPort = uint16(1024+r.IntN(64000)), uint16(r.IntN(1024))
	e.HasSeq, e.Seq = true, r.Uint32()
	e.Window, e.Flags = 65535, event.FlagSYN
	e.SetTCPOptions([]byte{2, 4, 5, 180, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7})
	return e
}
