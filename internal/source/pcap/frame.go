package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
)

var (
	errUnsupported = errors.New("unsupported link type")
	errNotIP       = fmt.Errorf("link-layer protocol is not IPv4 or IPv6: %w", decode.ErrNotIP)

	errShortSLL    = &decode.ParseError{Reason: ReasonBadLinkHeader, Detail: "Linux SLL header shorter than 16 bytes"}
	errShortSLL2   = &decode.ParseError{Reason: ReasonBadLinkHeader, Detail: "Linux SLL2 header shorter than 20 bytes"}
	errShortNflog  = &decode.ParseError{Reason: ReasonBadLinkHeader, Detail: "NFLOG header shorter than 4 bytes"}
	errBadTLV      = &decode.ParseError{Reason: ReasonBadNflogTLV, Detail: "TLV length outside the record"}
	errNoPayload   = &decode.ParseError{Reason: ReasonNflogNoPayload, Detail: "NFLOG record without NFULA_PAYLOAD"}
	errBadTimeTLV  = &decode.ParseError{Reason: ReasonBadNflogTLV, Detail: "NFULA_TIMESTAMP shorter than 16 bytes"}
	errBadPktHdr   = &decode.ParseError{Reason: ReasonBadNflogTLV, Detail: "NFULA_PACKET_HDR shorter than 4 bytes"}
	errBadUint32TL = &decode.ParseError{Reason: ReasonBadNflogTLV, Detail: "32-bit attribute shorter than 4 bytes"}
)

// Supported reports whether the reader decodes records of link type lt.
func Supported(lt layers.LinkType) bool {
	switch lt {
	case LinkEthernet, LinkRawAlt12, LinkRawAlt14, LinkRaw, LinkSLL, LinkIPv4, LinkIPv6, LinkNFLOG, LinkSLL2:
		return true
	}
	return false
}

// NFLOG attribute types (NFULA_*, linux/netfilter/nfnetlink_log.h).
const (
	nfulaPacketHdr = 1
	nfulaMark      = 2
	nfulaTimestamp = 3
	nfulaHWAddr    = 8
	nfulaPayload   = 9
	nfulaPrefix    = 10
	nfulaUID       = 11
	nfulaGID       = 14
	nfulaHWType    = 15
	nfulaHWHeader  = 16
)

const (
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	arphrdEther = 1
)

// decoder turns one capture record into an Event. It is not safe for
// concurrent use.
type decoder struct {
	sensor, source string
	tlvOrder       binary.ByteOrder // NFLOG TLV header order: the file's
	in             *decode.Interner
}

func newDecoder(sensor, src string, tlvOrder binary.ByteOrder) *decoder {
	return &decoder{sensor: sensor, source: src, tlvOrder: tlvOrder, in: decode.NewInterner(0)}
}

// next appends a zero event to *batch and returns it.
func (d *decoder) next(batch *[]event.Event) *event.Event {
	*batch = append(*batch, event.Event{})
	return &(*batch)[len(*batch)-1]
}

// decode fills e (which must be zero) from one record of link type lt
// captured at ts.
func (d *decoder) decode(lt layers.LinkType, data []byte, ts time.Time, e *event.Event) error {
	e.Time = ts.UTC()
	e.Sensor = d.sensor
	e.Source = d.source
	switch lt {
	case LinkEthernet:
		return decode.DecodeEthernet(data, e)
	case LinkRaw, LinkRawAlt12, LinkRawAlt14, LinkIPv4, LinkIPv6:
		return decode.DecodeIP(data, e)
	case LinkSLL:
		// packet type, ARPHRD type, address length, 8 address bytes, protocol.
		if len(data) < 16 {
			return errShortSLL
		}
		hatype := binary.BigEndian.Uint16(data[2:])
		halen := binary.BigEndian.Uint16(data[4:])
		return d.cooked(data[16:], binary.BigEndian.Uint16(data[14:]), hatype, int(halen), data[6:14], e)
	case LinkSLL2:
		// protocol, reserved, interface index, ARPHRD type, packet type, address length, 8 address bytes.
		if len(data) < 20 {
			return errShortSLL2
		}
		hatype := binary.BigEndian.Uint16(data[8:])
		return d.cooked(data[20:], binary.BigEndian.Uint16(data[0:]), hatype, int(data[11]), data[12:20], e)
	case LinkNFLOG:
		return d.nflog(data, e)
	}
	return errUnsupported
}

// cooked decodes the packet after a Linux cooked header. Only the source
// link-layer address is known there, so HasMAC stays false and MACSrc is set
// for Ethernet devices.
func (d *decoder) cooked(pkt []byte, proto, hatype uint16, halen int, addr []byte, e *event.Event) error {
	e.EtherType = proto
	if hatype == arphrdEther && halen == 6 {
		copy(e.MACSrc[:], addr[:6])
	}
	if proto != etherIPv4 && proto != etherIPv6 {
		return errNotIP
	}
	return decode.DecodeIP(pkt, e)
}

// nflog decodes a LINKTYPE_NFLOG record: a 4-byte header (address family,
// version, resource id = the NFLOG group, big-endian) and TLVs whose length
// and type are in the file's byte order, each padded to 4 bytes; the values
// are netlink attributes in network byte order.
func (d *decoder) nflog(data []byte, e *event.Event) error {
	if len(data) < 4 {
		return errShortNflog
	}
	e.Group = binary.BigEndian.Uint16(data[2:])
	var payload, hwHeader []byte
	hasPayload := false
	var hwType uint16
	for off := 4; off+4 <= len(data); {
		l := int(d.tlvOrder.Uint16(data[off:]))
		typ := d.tlvOrder.Uint16(data[off+2:]) & 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
		if l < 4 || off+l > len(data) {
			return errBadTLV
		}
		v := data[off+4 : off+l]
		off += (l + 3) &^ 3
		switch typ {
		case nfulaPacketHdr:
			if len(v) < 4 {
				return errBadPktHdr
			}
			e.EtherType = binary.BigEndian.Uint16(v)
			e.Hook = event.HookFromNetfilter(v[2])
		case nfulaMark:
			if len(v) < 4 {
				return errBadUint32TL
			}
			e.Mark, e.HasMark = binary.BigEndian.Uint32(v), true
		case nfulaTimestamp:
			if len(v) < 16 {
				return errBadTimeTLV
			}
			sec := int64(binary.BigEndian.Uint64(v))
			usec := int64(binary.BigEndian.Uint64(v[8:]))
			e.Time = time.Unix(sec, usec*1000).UTC()
		case nfulaHWAddr:
			if len(v) >= 4+6 && binary.BigEndian.Uint16(v) == 6 {
				copy(e.MACSrc[:], v[4:10])
			}
		case nfulaPayload:
			payload, hasPayload = v, true
		case nfulaPrefix:
			for len(v) > 0 && (v[len(v)-1] == 0 || v[len(v)-1] == ' ') {
				v = v[:len(v)-1]
			}
			e.Prefix = d.in.Intern(v)
		case nfulaUID:
			if len(v) < 4 {
				return errBadUint32TL
			}
			e.UID, e.HasUID = binary.BigEndian.Uint32(v), true
		case nfulaGID:
			if len(v) < 4 {
				return errBadUint32TL
			}
			e.GID = binary.BigEndian.Uint32(v)
		case nfulaHWType:
			if len(v) >= 2 {
				hwType = binary.BigEndian.Uint16(v)
			}
		case nfulaHWHeader:
			hwHeader = v
		}
	}
	if hwType == arphrdEther && len(hwHeader) >= 14 {
		copy(e.MACDst[:], hwHeader[0:6])
		copy(e.MACSrc[:], hwHeader[6:12])
		e.EtherType = binary.BigEndian.Uint16(hwHeader[12:14])
		e.HasMAC = true
	}
	if !hasPayload {
		return errNoPayload
	}
	return decode.DecodeIP(payload, e)
}
