package jsonl

import (
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/darkscope/darkscope/internal/event"
)

// Low-level appenders shared by the three dialects. obj tracks whether the
// current object already has a member, so callers never think about commas.

type obj struct {
	b     []byte
	first bool
	sep   string // ", " for ulogd (jansson's layout), "," otherwise
	colon string
}

func newObj(b []byte, sep, colon string) obj {
	return obj{b: append(b, '{'), first: true, sep: sep, colon: colon}
}

func (o *obj) key(k string) {
	if !o.first {
		o.b = append(o.b, o.sep...)
	}
	o.first = false
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"')
	o.b = append(o.b, o.colon...)
}

func (o *obj) str(k, v string) {
	o.key(k)
	o.b = appendJSONString(o.b, v)
}

func (o *obj) uint(k string, v uint64) {
	o.key(k)
	o.b = strconv.AppendUint(o.b, v, 10)
}

func (o *obj) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *obj) bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

func (o *obj) addr(k string, a netip.Addr) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = a.AppendTo(o.b)
	o.b = append(o.b, '"')
}

func (o *obj) hex(k string, v []byte) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = appendHex(o.b, v)
	o.b = append(o.b, '"')
}

// begin opens a nested object under k.
func (o *obj) begin(k string) {
	o.key(k)
	o.b = append(o.b, '{')
	o.first = true
}

// end closes the innermost object.
func (o *obj) end() {
	o.b = append(o.b, '}')
	o.first = false
}

const hexDigits = "0123456789abcdef"

func appendHex(b, v []byte) []byte {
	for _, c := range v {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

// appendMAC appends "aa:bb:cc:dd:ee:ff" (sep ':') or ECS's
// "AA-BB-CC-DD-EE-FF" (upper, sep '-').
func appendMAC(b []byte, m []byte, sep byte, upper bool) []byte {
	digits := hexDigits
	if upper {
		digits = "0123456789ABCDEF"
	}
	for i, c := range m {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, digits[c>>4], digits[c&15])
	}
	return b
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped the way jansson (ulogd's JSON library) does
// (\b \f \n \r \t, others as \u00XX), invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += n
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFlags appends the set TCP flags in the kernel LOG order
// (CWR ECE URG ACK PSH RST SYN FIN), space-separated.
func appendFlags(b []byte, f event.TCPFlags) []byte {
	names := [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}
	first := true
	for i := 7; i >= 0; i-- {
		if f&(1<<i) == 0 {
			continue
		}
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, names[i]...)
	}
	return b
}

// hasPorts reports whether ev carries a transport header with ports: a
// port-carrying protocol, not a later fragment, and not cut before them.
func hasPorts(ev *event.Event) bool {
	switch ev.Proto {
	case event.ProtoTCP, event.ProtoUDP, event.ProtoSCTP, event.ProtoUDPLite:
	default:
		return false
	}
	if ev.FragOff != 0 {
		return false
	}
	return !(ev.Truncated && ev.SrcPort == 0 && ev.DstPort == 0 && !ev.HasSeq)
}

// hasICMP reports whether ev carries an ICMP or ICMPv6 header.
func hasICMP(ev *event.Event) bool {
	if ev.FragOff != 0 {
		return false
	}
	switch {
	case ev.Proto == event.ProtoICMP && ev.IPVersion == 4, ev.Proto == event.ProtoICMPv6 && ev.IPVersion == 6:
	default:
		return false
	}
	return !(ev.Truncated && ev.ICMPType == 0 && ev.ICMPCode == 0 && ev.ICMPID == 0 && ev.ICMPSeq == 0)
}

// hasFragHeader reports whether an IPv6 event went through a fragment header.
func hasFragHeader(ev *event.Event) bool {
	for _, h := range ev.ExtHdrs[:min(int(ev.ExtHdrLen), len(ev.ExtHdrs))] {
		if h == 44 {
			return true
		}
	}
	return false
}

// etherType returns the event's ethertype, derived from the IP version when
// the source had no link layer.
func etherType(ev *event.Event) uint16 {
	switch {
	case ev.EtherType != 0:
		return ev.EtherType
	case ev.IPVersion == 4:
		return 0x0800
	case ev.IPVersion == 6:
		return 0x86dd
	}
	return 0
}

// tcpHeaderKnown reports whether ev has the TCP header beyond the ports
// (window, flags): false for a header cut short right after the ports.
func tcpHeaderKnown(ev *event.Event) bool {
	return !(ev.Truncated && !ev.HasSeq && ev.Window == 0 && ev.Flags == 0)
}
