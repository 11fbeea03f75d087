// Package signature is the signature stage of detect: after decode and
// enrich, it matches each packet event against header and payload rules
// (darkscope's own rules file format and psad's /etc/psad/signatures) and
// reports every rule that fires, with its danger level.
//
// Rules are indexed by protocol and by destination port (TCP, UDP, SCTP,
// UDP-Lite) or ICMP type, so Match looks at a handful of candidates per
// packet and allocates nothing. The file format is documented in
// docs/signatures.md.
package signature

import (
	"bytes"
	"net/netip"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
)

// Field names a numeric header field a rule can test.
type Field uint8

// Numeric fields; the rules-file keyword is given beside each.
const (
	FieldTTL       Field = iota + 1 // ttl: IPv4 TTL / IPv6 hop limit
	FieldWindow                     // window: TCP window
	FieldIPID                       // ipid: IPv4 ID
	FieldLen                        // len: IP total length (the LOG target's LEN=)
	FieldDsize                      // dsize: payload length after the transport header
	FieldICMPType                   // itype
	FieldICMPCode                   // icode
	FieldICMPID                     // icmp_id
	FieldICMPSeq                    // icmp_seq
	FieldSeq                        // seq: TCP sequence number (needs SEQ in the log)
	FieldAck                        // ack: TCP acknowledgement number
	FieldTOS                        // tos: IPv4 TOS / IPv6 traffic class
	FieldUrgent                     // urgent: TCP urgent pointer
	FieldIPVersion                  // ipver: 4 or 6
	FieldMSS                        // mss: TCP MSS option (absent = no match)
	FieldFragOff                    // fragoff: fragment offset in 8-byte units
	fieldEnd
)

var fieldNames = [...]string{
	FieldTTL: "ttl", FieldWindow: "window", FieldIPID: "ipid", FieldLen: "len",
	FieldDsize: "dsize", FieldICMPType: "itype", FieldICMPCode: "icode",
	FieldICMPID: "icmp_id", FieldICMPSeq: "icmp_seq", FieldSeq: "seq", FieldAck: "ack",
	FieldTOS: "tos", FieldUrgent: "urgent", FieldIPVersion: "ipver", FieldMSS: "mss",
	FieldFragOff: "fragoff",
}

// fieldMax is the largest value each field can take.
var fieldMax = [...]uint32{
	FieldTTL: 255, FieldWindow: 65535, FieldIPID: 1<<32 - 1, FieldLen: 65535,
	FieldDsize: 65535, FieldICMPType: 255, FieldICMPCode: 255, FieldICMPID: 65535,
	FieldICMPSeq: 65535, FieldSeq: 1<<32 - 1, FieldAck: 1<<32 - 1, FieldTOS: 255,
	FieldUrgent: 65535, FieldIPVersion: 6, FieldMSS: 65535, FieldFragOff: 8191,
}

func (f Field) String() string {
	if int(f) < len(fieldNames) {
		return fieldNames[f]
	}
	return "?"
}

// Cond tests one numeric field: Lo <= value <= Hi, inverted when Not.
type Cond struct {
	Field  Field
	Lo, Hi uint32
	Not    bool
}

// Range is an inclusive range of ports.
type Range struct{ Lo, Hi uint16 }

// Ports is a set of port ranges; nil matches any port. Not inverts it.
type Ports struct {
	Ranges []Range
	Not    bool
}

// Any reports whether p places no constraint.
func (p Ports) Any() bool { return len(p.Ranges) == 0 }

func (p *Ports) match(port uint16) bool {
	if len(p.Ranges) == 0 {
		return true
	}
	in := false
	for _, r := range p.Ranges {
		if port >= r.Lo && port <= r.Hi {
			in = true
			break
		}
	}
	return in != p.Not
}

// Addrs is a set of prefixes; nil matches any address. Not inverts it.
type Addrs struct {
	Prefixes []netip.Prefix
	Not      bool
}

func (a *Addrs) match(ip *netip.Addr) bool {
	if len(a.Prefixes) == 0 {
		return true
	}
	in := false
	for i := range a.Prefixes {
		if a.Prefixes[i].Contains(*ip) {
			in = true
			break
		}
	}
	return in != a.Not
}

// Flags tests the TCP flags: flags&Mask == Value, and, when Any is not
// zero, at least one bit of Any set. An exact match is Mask 0xff.
type Flags struct {
	Mask, Value, Any event.TCPFlags
	Set              bool
}

func (f Flags) match(fl event.TCPFlags) bool {
	if fl&f.Mask != f.Value {
		return false
	}
	return f.Any == 0 || fl&f.Any != 0
}

// Content is a byte string expected at Offset bytes into the payload (or
// anywhere at or after Offset when Anywhere). The bytes must lie within the
// captured payload prefix (event.MaxPayload bytes).
type Content struct {
	Bytes    []byte
	Offset   int
	Anywhere bool
	NoCase   bool
	Not      bool
}

func (c Content) match(p []byte) bool {
	found := false
	if c.Offset <= len(p) {
		rest := p[c.Offset:]
		switch {
		case !c.Anywhere && c.NoCase:
			found = len(rest) >= len(c.Bytes) && bytes.EqualFold(rest[:len(c.Bytes)], c.Bytes)
		case !c.Anywhere:
			found = bytes.HasPrefix(rest, c.Bytes)
		case c.NoCase:
			for i := 0; i+len(c.Bytes) <= len(rest) && !found; i++ {
				found = bytes.EqualFold(rest[i:i+len(c.Bytes)], c.Bytes)
			}
		default:
			found = bytes.Contains(rest, c.Bytes)
		}
	}
	return found != c.Not
}

// Rule is one signature. The zero value of every test matches anything.
type Rule struct {
	ID         uint32
	Name       string
	Level      uint8 // danger level 1..5
	Class      string
	References []string
	Origin     string // "file:line" the rule came from

	AnyProto bool        // proto=ip: every protocol
	Proto    event.Proto // used unless AnyProto
	Src, Dst Addrs
	SrcPorts Ports
	DstPorts Ports
	Bidir    bool // also match with source and destination swapped (psad "<>")
	SameIP   bool
	Flags    Flags
	Conds    []Cond
	IPOpts   []uint8 // at least one of these IPv4 option types present
	IPOptAny bool    // any IPv4 option present
	Contents []Content
	Prefix   string // substring of the firewall log prefix
}

// ipOptTypes are the IPv4 option type numbers the rules files name.
var ipOptTypes = map[string]uint8{
	"eol": 0, "nop": 1, "rr": 7, "ts": 68, "sec": 130, "esec": 133,
	"lsrr": 131, "lsrre": 131, "ssrr": 137, "satid": 136, "ra": 148,
}

func ipOptName(t uint8) string {
	for n, v := range ipOptTypes {
		if v == t && n != "lsrre" {
			return n
		}
	}
	return ""
}

// fieldValue extracts f from e; ok is false when the packet has no such field.
func fieldValue(e *event.Event, f Field) (uint32, bool) {
	switch f {
	case FieldTTL:
		return uint32(e.TTL), e.IPVersion != 0
	case FieldWindow:
		return uint32(e.Window), e.Proto == event.ProtoTCP
	case FieldIPID:
		return e.IPID, e.IPVersion == 4
	case FieldLen:
		return uint32(e.TotalLen), true
	case FieldDsize:
		return uint32(dsize(e)), true
	case FieldICMPType:
		return uint32(e.ICMPType), isICMP(e.Proto)
	case FieldICMPCode:
		return uint32(e.ICMPCode), isICMP(e.Proto)
	case FieldICMPID:
		return uint32(e.ICMPID), isICMP(e.Proto)
	case FieldICMPSeq:
		return uint32(e.ICMPSeq), isICMP(e.Proto)
	case FieldSeq:
		return e.Seq, e.Proto == event.ProtoTCP && e.HasSeq
	case FieldAck:
		return e.Ack, e.Proto == event.ProtoTCP && e.HasSeq
	case FieldTOS:
		return uint32(e.TOS), true
	case FieldUrgent:
		return uint32(e.Urgent), e.Proto == event.ProtoTCP
	case FieldIPVersion:
		return uint32(e.IPVersion), true
	case FieldMSS:
		m, ok := e.MSS()
		return uint32(m), ok
	case FieldFragOff:
		return uint32(e.FragOff), true
	}
	return 0, false
}

func isICMP(p event.Proto) bool { return p == event.ProtoICMP || p == event.ProtoICMPv6 }

// dsize is the application payload length: the decoder's PayloadLen, or,
// when a log line did not give it, the IP length minus the IP header and
// the transport header (20 bytes plus the logged options for TCP, 8 for UDP
// and ICMP), which is how psad derives it.
func dsize(e *event.Event) int {
	if e.PayloadLen != 0 || e.PayloadCap != 0 {
		return int(e.PayloadLen)
	}
	ihl := int(e.IHL)
	if ihl == 0 {
		ihl = 20
		if e.IPVersion == 6 {
			ihl = 40
		}
	}
	n := int(e.TotalLen) - ihl
	switch e.Proto {
	case event.ProtoTCP:
		n -= 20 + int(e.TCPOptLen)
	case event.ProtoUDP, event.ProtoUDPLite, event.ProtoICMP, event.ProtoICMPv6:
		n -= 8
	}
	if n < 0 {
		n = 0
	}
	return n
}

func (r *Rule) hasIPOpt(e *event.Event) bool {
	o := e.IPOpts()
	for i := 0; i < len(o); {
		t := o[i]
		if r.IPOptAny && t != 0 && t != 1 {
			return true
		}
		for _, w := range r.IPOpts {
			if w == t {
				return true
			}
		}
		if t == 0 {
			break
		}
		if t == 1 {
			i++
			continue
		}
		if i+1 >= len(o) || o[i+1] < 2 {
			break
		}
		i += int(o[i+1])
	}
	return false
}

// Matches reports whether the rule fires on e (without the index).
func (r *Rule) Matches(e *event.Event) bool {
	if !r.AnyProto && e.Proto != r.Proto {
		return false
	}
	// Cheap tests first: flags and numeric fields reject most packets.
	if r.Flags.Set && (e.Proto != event.ProtoTCP || !r.Flags.match(e.Flags)) {
		return false
	}
	for i := range r.Conds {
		c := &r.Conds[i]
		v, ok := fieldValue(e, c.Field)
		if !ok || (v >= c.Lo && v <= c.Hi) == c.Not {
			return false
		}
	}
	if len(r.Src.Prefixes)+len(r.Dst.Prefixes)+len(r.SrcPorts.Ranges)+len(r.DstPorts.Ranges) != 0 &&
		!r.endpoints(e, false) && !(r.Bidir && r.endpoints(e, true)) {
		return false
	}
	if r.SameIP && e.Src != e.Dst {
		return false
	}
	if (r.IPOptAny || len(r.IPOpts) > 0) && !r.hasIPOpt(e) {
		return false
	}
	if len(r.Contents) > 0 {
		p := e.PayloadPrefix()
		for i := range r.Contents {
			if !r.Contents[i].match(p) {
				return false
			}
		}
	}
	if r.Prefix != "" && !strings.Contains(e.Prefix, r.Prefix) {
		return false
	}
	return true
}

func hasPorts(p event.Proto) bool {
	switch p {
	case event.ProtoTCP, event.ProtoUDP, event.ProtoSCTP, event.ProtoUDPLite, 33: // 33 = DCCP
		return true
	}
	return false
}

func (r *Rule) endpoints(e *event.Event, swap bool) bool {
	src, dst, sp, dp := &e.Src, &e.Dst, e.SrcPort, e.DstPort
	if swap {
		src, dst, sp, dp = dst, src, dp, sp
	}
	if !r.Src.match(src) || !r.Dst.match(dst) {
		return false
	}
	if r.SrcPorts.Any() && r.DstPorts.Any() {
		return true
	}
	if !hasPorts(e.Proto) {
		return false
	}
	return r.SrcPorts.match(sp) && r.DstPorts.match(dp)
}
