package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/darkscope/darkscope/internal/event"
)

// ErrNotIP is returned (wrapped) by DecodeIP and DecodeEthernet when the
// bytes are not an IPv4 or IPv6 packet (another ethertype, another IP
// version). Sources count such input as ignored rather than rejected.
var ErrNotIP = errors.New("not an IPv4 or IPv6 packet")

// Errors of DecodeIP and DecodeEthernet, allocated once so the error path
// allocates nothing either. Malformed packets are *ParseError (sources count
// them as rejected under Reason); input that is not IP wraps ErrNotIP.
var (
	pktErrEmpty      = &ParseError{Reason: "empty_packet"}
	pktErrShortIPv4  = &ParseError{Reason: "truncated_ip_header", Detail: "IPv4 header shorter than 20 bytes"}
	pktErrShortIPv6  = &ParseError{Reason: "truncated_ip_header", Detail: "IPv6 header shorter than 40 bytes"}
	pktErrBadIHL     = &ParseError{Reason: "bad_ihl", Detail: "IPv4 header length below 20 bytes"}
	pktErrShortEth   = &ParseError{Reason: "truncated_ethernet", Detail: "Ethernet frame shorter than 14 bytes"}
	pktErrShortVLAN  = &ParseError{Reason: "truncated_ethernet", Detail: "802.1Q tag cut short"}
	pktErrVersionEth = &ParseError{Reason: "ip_version_mismatch", Detail: "IP version does not match the ethertype"}
	pktErrVersion    = fmt.Errorf("decode packet: IP version is neither 4 nor 6: %w", ErrNotIP)
	pktErrEtherType  = fmt.Errorf("decode packet: ethertype is not IPv4 or IPv6: %w", ErrNotIP)
)

// Ethertypes DecodeEthernet understands.
const (
	pktEtherIPv4   = 0x0800
	pktEtherIPv6   = 0x86dd
	pktEther8021Q  = 0x8100
	pktEther8021AD = 0x88a8
	pktEtherQinQ   = 0x9100
)

// DecodeEthernet decodes an Ethernet II frame (with up to two 802.1Q/802.1ad
// tags) into e: MACDst, MACSrc, EtherType (the ethertype after the tags) and
// HasMAC, then the IP packet with DecodeIP. Like DecodeIP it sets only the
// fields it decodes; reset e first when reusing it.
func DecodeEthernet(frame []byte, e *event.Event) error {
	if len(frame) < 14 {
		return pktErrShortEth
	}
	copy(e.MACDst[:], frame[0:6])
	copy(e.MACSrc[:], frame[6:12])
	e.HasMAC = true
	et := binary.BigEndian.Uint16(frame[12:14])
	off := 14
	for tags := 0; tags < 2 && (et == pktEther8021Q || et == pktEther8021AD || et == pktEtherQinQ); tags++ {
		if len(frame) < off+4 {
			e.EtherType = et
			e.Truncated = true
			return pktErrShortVLAN
		}
		et = binary.BigEndian.Uint16(frame[off+2 : off+4])
		off += 4
	}
	e.EtherType = et
	switch et {
	case pktEtherIPv4, pktEtherIPv6:
	default:
		return pktErrEtherType
	}
	if err := DecodeIP(frame[off:], e); err != nil {
		return err
	}
	if (et == pktEtherIPv4) != (e.IPVersion == 4) {
		return pktErrVersionEth
	}
	return nil
}

// DecodeIP decodes an IPv4 or IPv6 packet starting at its IP header (what
// NFLOG's NFULA_PAYLOAD and a raw-IP pcap hold) into e.
//
// It fills the network layer (IPVersion, Src, Dst, Proto, IHL, TotalLen, TOS,
// TTL, IPID, IPFlags, FragOff, FlowLabel, IPv4 options, the IPv6 extension
// header chain, whose fragment header gives IPID, FragOff and MF), the
// transport layer (TCP, UDP, UDP-Lite, SCTP and DCCP ports; TCP sequence,
// acknowledgement, window, flags, reserved bits, urgent pointer and raw
// options; UDP length and checksum; ICMP and ICMPv6 type, code, echo id and
// sequence, MTU, redirect gateway and the packet an error quotes), the
// payload length (from the IP length fields) and its first event.MaxPayload
// bytes. Non-first fragments have no transport header: their payload is the
// fragment data.
//
// When the buffer ends early (an NFLOG copy range, a pcap snap length) it
// keeps what it read and sets e.Truncated. It returns an error only when not
// even the IP header is there (a *ParseError), or the bytes are not IP
// (wrapping ErrNotIP).
// It sets only the fields it decodes and allocates nothing; reset e first
// when reusing it.
func DecodeIP(pkt []byte, e *event.Event) error {
	if len(pkt) == 0 {
		return pktErrEmpty
	}
	switch pkt[0] >> 4 {
	case 4:
		return pktIPv4(pkt, e)
	case 6:
		return pktIPv6(pkt, e)
	}
	return pktErrVersion
}

func pktIPv4(p []byte, e *event.Event) error {
	if len(p) < 20 {
		return pktErrShortIPv4
	}
	ihl := int(p[0]&0x0f) * 4
	if ihl < 20 {
		return pktErrBadIHL
	}
	e.IPVersion = 4
	e.IHL = uint8(ihl)
	e.TOS = p[1]
	total := int(binary.BigEndian.Uint16(p[2:4]))
	e.TotalLen = uint16(total)
	e.IPID = uint32(binary.BigEndian.Uint16(p[4:6]))
	fo := binary.BigEndian.Uint16(p[6:8])
	e.IPFlags = uint8(fo >> 13)
	e.FragOff = fo & 0x1fff
	e.TTL = p[8]
	e.Proto = event.Proto(p[9])
	e.Src = netip.AddrFrom4([4]byte(p[12:16]))
	e.Dst = netip.AddrFrom4([4]byte(p[16:20]))
	if ihl > len(p) {
		e.SetIPOptions(p[20:])
		e.Truncated = true
		return nil
	}
	e.SetIPOptions(p[20:ihl])

	// The IP total length says how much transport data the packet really has;
	// the buffer may hold less (copy range) or more (link-layer padding).
	// A total length below the header length (segmentation offload, or a
	// bogus header) falls back to the buffer.
	if total < ihl {
		total = len(p)
	}
	data := p[ihl:]
	if total-ihl < len(data) {
		data = data[:total-ihl]
	}
	dataLen := total - ihl
	if e.FragOff != 0 {
		pktPayload(e, data, dataLen)
		return nil
	}
	pktTransport(e, data, dataLen)
	return nil
}

// pktIsExtHdr reports whether next header n is an IPv6 extension header whose
// length DecodeIP knows how to skip.
func pktIsExtHdr(n uint8) bool {
	switch n {
	case 0, 43, 44, 51, 60, 135, 139, 140, 253, 254:
		return true
	}
	return false
}

func pktIPv6(p []byte, e *event.Event) error {
	if len(p) < 40 {
		return pktErrShortIPv6
	}
	e.IPVersion = 6
	e.IHL = 40
	e.TOS = p[0]<<4 | p[1]>>4
	e.FlowLabel = binary.BigEndian.Uint32(p[0:4]) & 0x000fffff
	plen := int(binary.BigEndian.Uint16(p[4:6]))
	total := plen + 40
	if total > 0xffff {
		total = 0xffff
	}
	e.TotalLen = uint16(total)
	next := p[6]
	e.TTL = p[7]
	e.Src = netip.AddrFrom16([16]byte(p[8:24]))
	e.Dst = netip.AddrFrom16([16]byte(p[24:40]))

	data := p[40:]
	if plen == 0 && len(data) > 0 && next == 0 {
		// A jumbogram (RFC 2675) has payload length 0: use the buffer.
		plen = len(data)
	}
	if plen < len(data) {
		data = data[:plen]
	}
	dataLen := plen
	fragment := false
	for pktIsExtHdr(next) {
		if int(e.ExtHdrLen) < event.MaxExtHeaders {
			e.ExtHdrs[e.ExtHdrLen] = next
			e.ExtHdrLen++
		}
		if len(data) < 8 {
			e.Proto = event.Proto(next)
			e.Truncated = true
			return nil
		}
		var hl int
		switch next {
		case 44: // fragment header: fixed 8 bytes
			hl = 8
			fo := binary.BigEndian.Uint16(data[2:4])
			e.FragOff = fo >> 3
			if fo&1 != 0 {
				e.IPFlags |= event.IPFlagMF
			}
			e.IPID = binary.BigEndian.Uint32(data[4:8])
			fragment = e.FragOff != 0
		case 51: // authentication header: length in 4-byte units minus 2
			hl = (int(data[1]) + 2) * 4
		default:
			hl = (int(data[1]) + 1) * 8
		}
		next = data[0]
		if hl > len(data) {
			e.Proto = event.Proto(next)
			e.Truncated = true
			return nil
		}
		data = data[hl:]
		dataLen -= hl
		if fragment {
			break
		}
	}
	e.Proto = event.Proto(next)
	if dataLen < 0 {
		dataLen = 0
	}
	if fragment || next == 59 { // a non-first fragment, or "no next header"
		pktPayload(e, data, dataLen)
		return nil
	}
	pktTransport(e, data, dataLen)
	return nil
}

// pktPayload records the payload: n bytes by the headers' length fields, of
// which data holds the first len(data).
func pktPayload(e *event.Event, data []byte, n int) {
	if n < 0 {
		n = 0
	}
	e.SetPayload(data, n)
}

// pktTransport decodes the transport header of a first (or unfragmented)
// packet. data is what the buffer holds of the transport segment, n the
// segment's length by the IP header.
func pktTransport(e *event.Event, data []byte, n int) {
	switch e.Proto {
	case event.ProtoTCP:
		pktTCP(e, data, n)
	case event.ProtoUDP, event.ProtoUDPLite:
		if len(data) < 8 {
			pktPorts(e, data)
			e.Truncated = true
			return
		}
		pktPorts(e, data)
		e.UDPLen = binary.BigEndian.Uint16(data[4:6])
		e.UDPChecksum = binary.BigEndian.Uint16(data[6:8])
		e.HasUDPChecksum = true
		pktPayload(e, data[8:], n-8)
	case event.ProtoSCTP: // ports, verification tag, checksum
		pktPorts(e, data)
		if len(data) < 12 {
			e.Truncated = true
			return
		}
		pktPayload(e, data[12:], n-12)
	case pktProtoDCCP: // ports, then the header length in 32-bit words
		pktPorts(e, data)
		if len(data) < 5 {
			e.Truncated = true
			return
		}
		off := int(data[4]) * 4
		if off < 12 {
			pktPayload(e, nil, n-12)
			return
		}
		if off > len(data) {
			e.Truncated = true
			pktPayload(e, nil, n-off)
			return
		}
		pktPayload(e, data[off:], n-off)
	case event.ProtoICMP:
		pktICMP(e, data, n)
	case event.ProtoICMPv6:
		pktICMPv6(e, data, n)
	default:
		pktPayload(e, data, n)
	}
}

func pktPorts(e *event.Event, data []byte) {
	if len(data) >= 4 {
		e.SrcPort = binary.BigEndian.Uint16(data[0:2])
		e.DstPort = binary.BigEndian.Uint16(data[2:4])
	}
}

func pktTCP(e *event.Event, d []byte, n int) {
	pktPorts(e, d)
	if len(d) < 20 {
		// A header cut short (copy range, tiny first fragment): keep every
		// field that is wholly there.
		e.Truncated = true
		if len(d) >= 8 {
			e.Seq = binary.BigEndian.Uint32(d[4:8])
		}
		if len(d) >= 12 {
			e.Ack = binary.BigEndian.Uint32(d[8:12])
			e.HasSeq = true
		}
		if len(d) >= 14 {
			e.Reserved = (d[12] & 0x0f) << 2
			e.Flags = event.TCPFlags(d[13])
		}
		if len(d) >= 16 {
			e.Window = binary.BigEndian.Uint16(d[14:16])
		}
		return
	}
	e.Seq = binary.BigEndian.Uint32(d[4:8])
	e.Ack = binary.BigEndian.Uint32(d[8:12])
	e.HasSeq = true
	off := int(d[12]>>4) * 4
	// Reserved holds the four bits between the data offset and the flags in
	// the scale the kernel LOG target prints them (RES=0x%02x), i.e.
	// shifted left by two.
	e.Reserved = (d[12] & 0x0f) << 2
	e.Flags = event.TCPFlags(d[13])
	e.Window = binary.BigEndian.Uint16(d[14:16])
	e.Urgent = binary.BigEndian.Uint16(d[18:20])
	if off < 20 {
		// A bogus data offset: no options, and the payload cannot be located.
		pktPayload(e, nil, n-20)
		return
	}
	if off > len(d) {
		e.SetTCPOptions(d[20:])
		e.Truncated = true
		pktPayload(e, nil, n-off)
		return
	}
	e.SetTCPOptions(d[20:off])
	pktPayload(e, d[off:], n-off)
}

// pktProtoDCCP is DCCP's protocol number (event names no constant for it).
const pktProtoDCCP event.Proto = 33

// ICMP types with special layouts.
const (
	pktICMPEchoReply    = 0
	pktICMPUnreachable  = 3
	pktICMPSourceQuench = 4
	pktICMPRedirect     = 5
	pktICMPEcho         = 8
	pktICMPTimeExceeded = 11
	pktICMPParamProblem = 12
	pktICMPTimestamp    = 13
	pktICMPTimestampRep = 14
	pktICMPInfoRequest  = 15
	pktICMPInfoReply    = 16

	pktICMPv6Unreachable  = 1
	pktICMPv6PacketTooBig = 2
	pktICMPv6TimeExceeded = 3
	pktICMPv6ParamProblem = 4
	pktICMPv6EchoRequest  = 128
	pktICMPv6EchoReply    = 129
	pktICMPv6Redirect     = 137
)

func pktICMP(e *event.Event, d []byte, n int) {
	if len(d) < 2 {
		e.Truncated = true
		return
	}
	e.ICMPType, e.ICMPCode = d[0], d[1]
	if len(d) < 8 {
		e.Truncated = true
		return
	}
	switch e.ICMPType {
	case pktICMPEchoReply, pktICMPEcho, pktICMPTimestamp, pktICMPTimestampRep,
		pktICMPInfoRequest, pktICMPInfoReply:
		e.ICMPID = binary.BigEndian.Uint16(d[4:6])
		e.ICMPSeq = binary.BigEndian.Uint16(d[6:8])
	case pktICMPUnreachable:
		if e.ICMPCode == 4 { // fragmentation needed: next-hop MTU
			e.ICMPMTU = uint32(binary.BigEndian.Uint16(d[6:8]))
		}
		pktQuoted(e, d[8:])
	case pktICMPRedirect:
		e.ICMPGateway = netip.AddrFrom4([4]byte(d[4:8]))
		pktQuoted(e, d[8:])
	case pktICMPSourceQuench, pktICMPTimeExceeded, pktICMPParamProblem:
		pktQuoted(e, d[8:])
	}
	pktPayload(e, d[8:], n-8)
}

func pktICMPv6(e *event.Event, d []byte, n int) {
	if len(d) < 2 {
		e.Truncated = true
		return
	}
	e.ICMPType, e.ICMPCode = d[0], d[1]
	if len(d) < 8 {
		e.Truncated = true
		return
	}
	switch e.ICMPType {
	case pktICMPv6EchoRequest, pktICMPv6EchoReply:
		e.ICMPID = binary.BigEndian.Uint16(d[4:6])
		e.ICMPSeq = binary.BigEndian.Uint16(d[6:8])
	case pktICMPv6PacketTooBig:
		e.ICMPMTU = binary.BigEndian.Uint32(d[4:8])
		pktQuoted(e, d[8:])
	case pktICMPv6Unreachable, pktICMPv6TimeExceeded, pktICMPv6ParamProblem:
		pktQuoted(e, d[8:])
	case pktICMPv6Redirect:
		// Reserved(4) then the target (the better first hop) and destination.
		if len(d) >= 24 {
			e.ICMPGateway = netip.AddrFrom16([16]byte(d[8:24]))
		} else {
			e.Truncated = true
		}
	}
	pktPayload(e, d[8:], n-8)
}

// pktQuoted decodes the IP header (and the first transport bytes) that an
// ICMP error quotes. A quote cut short keeps what is there; the outer packet
// is not marked truncated for it, since ICMP quotes are short by design.
func pktQuoted(e *event.Event, q []byte) {
	if len(q) == 0 {
		return
	}
	var data []byte
	var fragment bool
	switch q[0] >> 4 {
	case 4:
		if len(q) < 20 {
			return
		}
		ihl := int(q[0]&0x0f) * 4
		if ihl < 20 {
			return
		}
		e.HasQuoted = true
		e.Quoted.TotalLen = binary.BigEndian.Uint16(q[2:4])
		e.Quoted.IPID = uint32(binary.BigEndian.Uint16(q[4:6]))
		fragment = binary.BigEndian.Uint16(q[6:8])&0x1fff != 0
		e.Quoted.TTL = q[8]
		e.Quoted.Proto = event.Proto(q[9])
		e.Quoted.Src = netip.AddrFrom4([4]byte(q[12:16]))
		e.Quoted.Dst = netip.AddrFrom4([4]byte(q[16:20]))
		if ihl > len(q) {
			return
		}
		data = q[ihl:]
	case 6:
		if len(q) < 40 {
			return
		}
		e.HasQuoted = true
		tl := int(binary.BigEndian.Uint16(q[4:6])) + 40
		if tl > 0xffff {
			tl = 0xffff
		}
		e.Quoted.TotalLen = uint16(tl)
		e.Quoted.TTL = q[7]
		e.Quoted.Src = netip.AddrFrom16([16]byte(q[8:24]))
		e.Quoted.Dst = netip.AddrFrom16([16]byte(q[24:40]))
		next := q[6]
		data = q[40:]
		for pktIsExtHdr(next) {
			if len(data) < 8 {
				e.Quoted.Proto = event.Proto(next)
				return
			}
			hl := (int(data[1]) + 1) * 8
			switch next {
			case 44:
				hl = 8
				e.Quoted.IPID = binary.BigEndian.Uint32(data[4:8])
				fragment = binary.BigEndian.Uint16(data[2:4])>>3 != 0
			case 51:
				hl = (int(data[1]) + 2) * 4
			}
			next = data[0]
			if hl > len(data) {
				e.Quoted.Proto = event.Proto(next)
				return
			}
			data = data[hl:]
			if fragment {
				break
			}
		}
		e.Quoted.Proto = event.Proto(next)
	default:
		return
	}
	if fragment {
		return
	}
	switch e.Quoted.Proto {
	case event.ProtoTCP, event.ProtoUDP, event.ProtoUDPLite, event.ProtoSCTP, pktProtoDCCP:
		if len(data) >= 4 {
			e.Quoted.SrcPort = binary.BigEndian.Uint16(data[0:2])
			e.Quoted.DstPort = binary.BigEndian.Uint16(data[2:4])
		}
		if e.Quoted.Proto == event.ProtoTCP && len(data) >= 8 {
			e.Quoted.Seq = binary.BigEndian.Uint32(data[4:8])
		}
	}
}
