// Package event defines the typed Event that flows from every source through
// decode, enrich and detect into the store and the other sinks.
//
// Hot fields (addresses, ports, protocol, flags, TTL, window, IP ID, sequence)
// are plain values and the variable-length parts (IP and TCP options, payload
// prefix) live in fixed-size arrays with a length, so decoding a packet into a
// reused Event allocates nothing. The package depends on the standard library
// only.
package event

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the version of the stored event layout. The store migrates
// older data directories forward; bump it whenever a stored column changes.
const SchemaVersion = 7

// Size limits of the fixed-size arrays in Event.
const (
	MaxIPOptions  = 40 // IPv4 options are at most 40 bytes (IHL 15).
	MaxTCPOptions = 40 // TCP options are at most 40 bytes (data offset 15).
	MaxPayload    = 64 // payload prefix kept per event.
	MaxExtHeaders = 8  // IPv6 extension header chain kept per event.
)

// Kind says what an Event describes.
type Kind uint8

const (
	KindPacket Kind = iota // a packet logged by the firewall or captured
	KindAlert              // a detection verdict (later issues)
	KindAuth               // an authentication attempt (honeypot, later issues)
)

func (k Kind) String() string {
	switch k {
	case KindPacket:
		return "packet"
	case KindAlert:
		return "alert"
	case KindAuth:
		return "auth"
	}
	return "unknown"
}

// Proto is an IP protocol number (IPv4 protocol field, IPv6 upper-layer next header).
type Proto uint8

// Protocol numbers darkscope names.
const (
	ProtoICMP    Proto = 1
	ProtoIGMP    Proto = 2
	ProtoTCP     Proto = 6
	ProtoUDP     Proto = 17
	ProtoGRE     Proto = 47
	ProtoESP     Proto = 50
	ProtoAH      Proto = 51
	ProtoICMPv6  Proto = 58
	ProtoSCTP    Proto = 132
	ProtoUDPLite Proto = 136
)

var protoNames = map[Proto]string{
	ProtoICMP: "icmp", ProtoIGMP: "igmp", ProtoTCP: "tcp", ProtoUDP: "udp",
	ProtoGRE: "gre", ProtoESP: "esp", ProtoAH: "ah", ProtoICMPv6: "icmpv6",
	ProtoSCTP: "sctp", ProtoUDPLite: "udplite",
}

// String returns the lower-case protocol name, or the number as text.
func (p Proto) String() string {
	if s, ok := protoNames[p]; ok {
		return s
	}
	return strconv.Itoa(int(p))
}

// ParseProto accepts a protocol name (case-insensitive, "icmpv6" also as
// "ipv6-icmp") or a decimal number.
func ParseProto(s string) (Proto, bool) {
	ls := strings.ToLower(s)
	if ls == "ipv6-icmp" || ls == "icmp6" {
		return ProtoICMPv6, true
	}
	for p, n := range protoNames {
		if n == ls {
			return p, true
		}
	}
	n := 0
	if s == "" || len(s) > 3 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > 255 {
		return 0, false
	}
	return Proto(n), true
}

// TCPFlags holds the eight TCP flag bits in their wire positions.
type TCPFlags uint8

// TCP flag bits as in the TCP header (byte 13).
const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

var flagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// String lists the set flags in the order the kernel LOG target prints them
// (CWR ECE URG ACK PSH RST SYN FIN), separated by spaces; "" when none is set.
func (f TCPFlags) String() string {
	var b []byte
	for i := 7; i >= 0; i-- {
		if f&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = append(b, flagNames[i]...)
		}
	}
	return string(b)
}

// Has reports whether every flag in m is set.
func (f TCPFlags) Has(m TCPFlags) bool { return f&m == m }

// Hook is the netfilter hook a packet was logged at.
type Hook uint8

const (
	HookUnknown Hook = iota
	HookPrerouting
	HookInput
	HookForward
	HookOutput
	HookPostrouting
	HookIngress
)

var hookNames = [...]string{"", "prerouting", "input", "forward", "output", "postrouting", "ingress"}

func (h Hook) String() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	return "unknown"
}

// HookFromNetfilter converts a netfilter hook number (NF_INET_*) as carried in
// NFULA_PACKET_HDR to a Hook.
func HookFromNetfilter(n uint8) Hook {
	switch n {
	case 0:
		return HookPrerouting
	case 1:
		return HookInput
	case 2:
		return HookForward
	case 3:
		return HookOutput
	case 4:
		return HookPostrouting
	}
	return HookUnknown
}

// Verdict is what the firewall did with the packet, as the rule's log prefix
// or configuration says (the log itself cannot know).
type Verdict uint8

const (
	VerdictUnknown Verdict = iota
	VerdictBlocked
	VerdictAllowed
)

func (v Verdict) String() string {
	switch v {
	case VerdictBlocked:
		return "blocked"
	case VerdictAllowed:
		return "allowed"
	}
	return ""
}

// IP header flag bits (Event.IPFlags).
const (
	IPFlagCE uint8 = 1 << 2 // the reserved "evil" bit; the kernel prints it as CE
	IPFlagDF uint8 = 1 << 1
	IPFlagMF uint8 = 1 << 0
)

// Quoted describes the packet an ICMP or ICMPv6 error quotes.
type Quoted struct {
	Src, Dst         netip.Addr
	Proto            Proto
	SrcPort, DstPort uint16
	TotalLen         uint16
	TTL              uint8
	IPID             uint32
	Seq              uint32 // TCP sequence number when the quote is long enough
}

// Event is one observation: a logged or captured packet in this issue; alerts
// and authentication attempts later. Zero values mean "not present"; the Has*
// booleans tell a zero that was seen from one that was not.
type Event struct {
	Time   time.Time     // event time, UTC, nanoseconds
	Uptime time.Duration // kernel uptime stamp of a LOG line ([12345.678901]); 0 if none
	Kind   Kind

	Sensor   string // sensor name: host name of the syslog line, configured name, ...
	Source   string // darkscope source that produced it (e.g. "nflog:5", "kmsg", "file:/var/log/kern.log")
	Prefix   string // firewall log prefix, trimmed of trailing spaces
	Group    uint16 // NFLOG group (0 for LOG lines)
	Hook     Hook
	InIface  string
	OutIface string
	Verdict  Verdict
	Mark     uint32
	HasMark  bool
	UID, GID uint32 // --log-uid / nftables "flags skuid"
	HasUID   bool

	// Link layer.
	MACSrc, MACDst [6]byte
	EtherType      uint16
	HasMAC         bool
	MACRaw         [16]byte // link-layer header as the LOG target prints it (MAC=...) when it is not Ethernet-shaped
	MACRawLen      uint8

	// Network layer.
	IPVersion uint8 // 4 or 6; 0 for non-IP
	Src, Dst  netip.Addr
	Proto     Proto
	IHL       uint8  // IPv4 header length in bytes; 40 for IPv6 fixed header
	TotalLen  uint16 // IPv4 total length / IPv6 payload length + 40 (as the LOG target's LEN=)
	TOS       uint8  // IPv4 TOS byte / IPv6 traffic class (DSCP<<2 | ECN)
	TTL       uint8  // TTL / hop limit
	IPID      uint32 // IPv4 ID; IPv6 fragment header identification
	IPFlags   uint8  // IPFlagCE|IPFlagDF|IPFlagMF
	FragOff   uint16 // fragment offset in 8-byte units
	FlowLabel uint32 // IPv6 flow label
	IPOptions [MaxIPOptions]byte
	IPOptLen  uint8
	ExtHdrs   [MaxExtHeaders]uint8 // IPv6 extension header types in order
	ExtHdrLen uint8

	// Transport layer.
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Window           uint16
	Flags            TCPFlags
	Reserved         uint8 // the TCP reserved bits (RES=0x..)
	Urgent           uint16
	TCPOptions       [MaxTCPOptions]byte
	TCPOptLen        uint8
	HasSeq           bool // SEQ/ACK were known (--log-tcp-sequence, NFLOG)
	UDPLen           uint16
	UDPChecksum      uint16
	HasUDPChecksum   bool

	// ICMP / ICMPv6.
	ICMPType, ICMPCode uint8
	ICMPID, ICMPSeq    uint16
	ICMPMTU            uint32 // next-hop MTU of "fragmentation needed" / packet too big
	ICMPGateway        netip.Addr
	HasQuoted          bool
	Quoted             Quoted

	// Payload: its length, and the first MaxPayload bytes when the source has them.
	PayloadLen uint16
	Payload    [MaxPayload]byte
	PayloadCap uint8 // bytes of Payload that are valid
	Truncated  bool  // the source line or packet ended before all headers were read

	// Auth is set on KindAuth events (SSH honeypot attempts and connection ends).
	Auth *Auth
	// Alert is set on KindAlert events (detector verdicts).
	Alert *Alert
}

// Reset clears e for reuse without allocating.
func (e *Event) Reset() { *e = Event{} }

// IPOpts returns the IPv4 option bytes.
func (e *Event) IPOpts() []byte { return e.IPOptions[:e.IPOptLen] }

// TCPOpts returns the raw TCP option bytes in wire order.
func (e *Event) TCPOpts() []byte { return e.TCPOptions[:e.TCPOptLen] }

// PayloadPrefix returns the captured payload prefix.
func (e *Event) PayloadPrefix() []byte { return e.Payload[:e.PayloadCap] }

// SetTCPOptions copies b (truncated to MaxTCPOptions) into the option array.
func (e *Event) SetTCPOptions(b []byte) {
	e.TCPOptLen = uint8(copy(e.TCPOptions[:], b))
}

// SetIPOptions copies b (truncated to MaxIPOptions) into the option array.
func (e *Event) SetIPOptions(b []byte) {
	e.IPOptLen = uint8(copy(e.IPOptions[:], b))
}

// SetPayload records the payload length and copies its first MaxPayload bytes.
func (e *Event) SetPayload(b []byte, total int) {
	if total > 0xffff {
		total = 0xffff
	}
	e.PayloadLen = uint16(total)
	e.PayloadCap = uint8(copy(e.Payload[:], b))
}

// DSCP returns the DiffServ code point of TOS.
func (e *Event) DSCP() uint8 { return e.TOS >> 2 }

// ECN returns the ECN bits of TOS.
func (e *Event) ECN() uint8 { return e.TOS & 3 }

// MSS returns the TCP maximum segment size option, if present.
func (e *Event) MSS() (uint16, bool) {
	o := e.TCPOpts()
	for i := 0; i < len(o); {
		switch o[i] {
		case 0:
			return 0, false
		case 1:
			i++
			continue
		}
		if i+1 >= len(o) || o[i+1] < 2 || i+int(o[i+1]) > len(o) {
			return 0, false
		}
		if o[i] == 2 && o[i+1] == 4 {
			return uint16(o[i+2])<<8 | uint16(o[i+3]), true
		}
		i += int(o[i+1])
	}
	return 0, false
}
