package decode

import (
	"net/netip"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/darkscope/darkscope/internal/event"
)

// This file parses the JSON lines ulogd2's JSON output plugin writes for the
// stack NFLOG,BASE,IFINDEX,IP2STR,HWHDR,JSON (Debian ulogd2-json 2.0.8), so
// ulogd users can backfill darkscope from their logs. A captured sample and
// the script that produced it are in testdata/ulogd and scripts/capture-ulogd.sh.
//
// The scanner is hand-written: a ulogd line is one flat object of strings and
// integers, so it walks the bytes once, dispatches on the key and writes the
// value straight into the Event. Unknown keys (other plugins, eventv1 mode)
// are skipped whatever their value. Nothing is allocated per line except the
// first sighting of a prefix or interface name (interned).

// Rejection reasons of the ulogd JSON parser (ParseError.Reason).
const (
	ulReasonSyntax    = "bad_json"      // not a well-formed flat JSON object
	ulReasonBadValue  = "bad_value"     // a known key with a value of the wrong type or range
	ulReasonBadSrc    = "bad_src"       // src_ip is not an address
	ulReasonBadDst    = "bad_dst"       // dest_ip is not an address
	ulReasonBadMAC    = "bad_mac"       // mac.*.str is not a MAC address
	ulReasonBadTime   = "bad_timestamp" // no usable oob.time.* and a bad or missing timestamp
	ulReasonNoAddress = "no_addresses"  // a packet record without src_ip/dest_ip (non-IP)
)

// ulogd key presence bits.
const (
	ulHasFamily uint32 = 1 << iota
	ulHasTimeSec
	ulHasTimeUsec
	ulHasIPProto
	ulHasNextHdr
	ulHasFragOff4
	ulHasFrag6
	ulHasPorts
	ulHasTCP
	ulHasUDP
	ulHasICMP
	ulHasICMPv6
	ulHasSCTP
	ulHasPacketKey // a key only NFLOG packet records have
	ulHasUID
	ulHasGID
	ulHasMACSrc
	ulHasMACDst
	ulHasPayloadLen6
	ulHasRawType
)

// ULOGDParser parses ulogd2 JSON lines into events. It is not safe for
// concurrent use; each source owns one.
type ULOGDParser struct {
	sensor  string
	loc     *time.Location
	intern  *Interner
	scratch []byte // unescaped string values
}

// NewULOGDParser returns a parser that stamps events with sensor. When sensor
// is empty, the line's "dvc" (ulogd's device name, "Netfilter" by default)
// is used instead.
func NewULOGDParser(sensor string) *ULOGDParser {
	return &ULOGDParser{sensor: sensor, loc: time.UTC, intern: NewInterner(0)}
}

// SetLocation sets the zone of "timestamp" values without a UTC offset (ulogd
// writes local time and omits the offset when the zone is UTC). It only
// matters for lines without oob.time.sec, which every NFLOG record has.
// Nil means UTC.
func (p *ULOGDParser) SetLocation(loc *time.Location) {
	if loc == nil {
		loc = time.UTC
	}
	p.loc = loc
}

// ulState collects the values that need each other before they can be
// placed into the Event.
type ulState struct {
	has         uint32
	family      uint64
	timeSec     uint64
	timeUsec    uint64
	ipProto     uint64
	nextHdr     uint64
	fragOff4    uint64
	frag6Off    uint64
	frag6ID     uint64
	payloadLen6 uint64
	tcpBits     event.TCPFlags
	res1, res2  uint64
	label       uint64
	ts          []byte // "timestamp" / "@timestamp" raw value (no escapes)
	dvc         []byte
	src, dst    []byte
	macSrc      []byte
	macDst      []byte
	macStr      []byte
	rawType     uint64
	action      event.Verdict
}

// ParseLine decodes one ulogd2 JSON line into e (which it resets first). It
// returns ErrNotFirewall for blank lines and for JSON records that are not
// NFLOG packets (e.g. conntrack flows of an NFCT stack), and a *ParseError
// for malformed packet records. The caller sets e.Source.
func (p *ULOGDParser) ParseLine(line []byte, e *event.Event) error {
	e.Reset()
	line = ulTrimSpace(line)
	if len(line) == 0 {
		return ErrNotFirewall
	}
	if line[0] != '{' {
		return ulErr(ulReasonSyntax, line)
	}
	var st ulState
	i := ulSkipWS(line, 1)
	if i < len(line) && line[i] == '}' {
		return ErrNotFirewall
	}
	for {
		// Key.
		if i >= len(line) || line[i] != '"' {
			return ulErr(ulReasonSyntax, line[min(i, len(line)):])
		}
		ks, ke, kesc, next, ok := ulScanString(line, i)
		if !ok {
			return ulErr(ulReasonSyntax, line[i:])
		}
		key := line[ks:ke]
		if kesc {
			// Keys of ulogd never need escapes; an escaped key cannot be
			// one of ours, but unescape it anyway to compare honestly.
			var uok bool
			key, uok = ulUnescape(p.scratch[:0], key)
			if !uok {
				return ulErr(ulReasonSyntax, line[i:])
			}
			key = append([]byte(nil), key...)
		}
		i = ulSkipWS(line, next)
		if i >= len(line) || line[i] != ':' {
			return ulErr(ulReasonSyntax, line[min(i, len(line)):])
		}
		i = ulSkipWS(line, i+1)
		if i >= len(line) {
			return ulErr(ulReasonSyntax, key)
		}
		var err error
		i, err = p.value(line, i, key, e, &st)
		if err != nil {
			return err
		}
		i = ulSkipWS(line, i)
		if i >= len(line) {
			return ulErr(ulReasonSyntax, []byte("unterminated object"))
		}
		if line[i] == ',' {
			i = ulSkipWS(line, i+1)
			continue
		}
		if line[i] == '}' {
			if ulSkipWS(line, i+1) != len(line) {
				return ulErr(ulReasonSyntax, line[i:])
			}
			break
		}
		return ulErr(ulReasonSyntax, line[i:])
	}
	return p.finish(e, &st)
}

// value scans the value at line[i] for key, stores it and returns the index
// after it.
func (p *ULOGDParser) value(line []byte, i int, key []byte, e *event.Event, st *ulState) (int, error) {
	c := line[i]
	if c == '"' {
		s, end, esc, next, ok := ulScanString(line, i)
		if !ok {
			return 0, ulErr(ulReasonSyntax, line[i:])
		}
		v := line[s:end]
		if esc {
			var uok bool
			p.scratch, uok = ulUnescape(p.scratch[:0], v)
			if !uok {
				return 0, ulErr(ulReasonSyntax, line[i:])
			}
			v = p.scratch
		}
		if err := p.stringKey(key, v, esc, e, st); err != nil {
			return 0, err
		}
		return next, nil
	}
	if c == '-' || (c >= '0' && c <= '9') {
		n, next, neg, isInt := ulScanNumber(line, i)
		if next == i {
			return 0, ulErr(ulReasonSyntax, line[i:])
		}
		if err := p.intKey(key, n, neg, isInt, line[i:next], e, st); err != nil {
			return 0, err
		}
		return next, nil
	}
	// true/false/null/objects/arrays: never a ulogd packet key of ours.
	next, ok := ulSkipValue(line, i)
	if !ok {
		return 0, ulErr(ulReasonSyntax, line[i:])
	}
	if ulIsKnownKey(key) {
		return 0, ulErr(ulReasonBadValue, key)
	}
	return next, nil
}

func (p *ULOGDParser) stringKey(key, v []byte, escaped bool, e *event.Event, st *ulState) error {
	switch string(key) {
	case "timestamp", "@timestamp":
		if escaped {
			return ulErr(ulReasonBadTime, v)
		}
		st.ts = v
	case "dvc":
		if escaped {
			st.dvc = append([]byte(nil), v...)
		} else {
			st.dvc = v
		}
	case "oob.prefix":
		st.has |= ulHasPacketKey
		e.Prefix = p.intern.Intern(ulTrimRightSpace(v))
	case "oob.in":
		e.InIface = p.intern.Intern(v)
	case "oob.out":
		e.OutIface = p.intern.Intern(v)
	case "src_ip":
		if escaped {
			return ulErr(ulReasonBadSrc, v)
		}
		st.src = v
	case "dest_ip":
		if escaped {
			return ulErr(ulReasonBadDst, v)
		}
		st.dst = v
	case "mac.saddr.str":
		st.has |= ulHasMACSrc
		st.macSrc = v
		if escaped {
			return ulErr(ulReasonBadMAC, v)
		}
	case "mac.daddr.str":
		st.has |= ulHasMACDst
		st.macDst = v
		if escaped {
			return ulErr(ulReasonBadMAC, v)
		}
	case "mac.str":
		if escaped {
			return ulErr(ulReasonBadMAC, v)
		}
		st.macStr = v
	case "action": // boolean_label=1 writes the verdict label instead of raw.label
		switch string(v) {
		case "allowed":
			st.action = event.VerdictAllowed
		case "blocked":
			st.action = event.VerdictBlocked
		}
	default:
		if ulIsKnownKey(key) {
			return ulErr(ulReasonBadValue, key)
		}
	}
	return nil
}

func (p *ULOGDParser) intKey(key []byte, n uint64, neg, isInt bool, raw []byte, e *event.Event, st *ulState) error {
	// Upper bound per key type (ulogd's u8/u16/u32 keys); other keys are
	// not ours and any number is fine for them.
	var max uint64
	switch string(key) {
	case "oob.family", "oob.hook", "raw.label", "ip.protocol", "ip.tos", "ip.ttl",
		"ip.ihl", "ip6.priority", "ip6.hoplimit", "ip6.nexthdr", "tcp.urg", "tcp.ack",
		"tcp.psh", "tcp.rst", "tcp.syn", "tcp.fin", "tcp.res1", "tcp.res2", "icmp.type",
		"icmp.code", "icmpv6.type", "icmpv6.code":
		max = 0xff
	case "oob.protocol", "raw.type", "ip.totlen", "ip.id", "ip.fragoff", "ip6.payloadlen",
		"ip6.fragoff", "src_port", "dest_port", "tcp.window", "tcp.urgp", "udp.len",
		"udp.csum", "icmp.echoid", "icmp.echoseq", "icmp.fragmtu", "icmpv6.echoid",
		"icmpv6.echoseq":
		max = 0xffff
	case "raw.pktlen", "raw.pktcount", "oob.time.sec", "oob.time.usec", "oob.mark",
		"oob.uid", "oob.gid", "ip6.flowlabel", "ip6.fragid", "tcp.seq", "tcp.ackseq",
		"sctp.csum":
		max = 0xffffffff
	default:
		return nil
	}
	if neg || !isInt {
		return ulErr(ulReasonBadValue, raw)
	}
	if n > max {
		return ulErr(ulReasonBadValue, raw)
	}
	switch string(key) {
	case "raw.pktlen", "raw.pktcount":
		st.has |= ulHasPacketKey
	case "oob.time.sec":
		st.has |= ulHasTimeSec
		st.timeSec = n
	case "oob.time.usec":
		if n > 999999 {
			return ulErr(ulReasonBadValue, raw)
		}
		st.has |= ulHasTimeUsec
		st.timeUsec = n
	case "oob.mark":
		e.Mark = uint32(n)
		e.HasMark = n != 0
	case "oob.hook":
		st.has |= ulHasPacketKey
		e.Hook = ulHook(uint8(n))
	case "oob.family":
		st.has |= ulHasFamily | ulHasPacketKey
		st.family = n
	case "oob.protocol":
		e.EtherType = uint16(n)
	case "oob.uid":
		st.has |= ulHasUID
		e.UID = uint32(n)
	case "oob.gid":
		st.has |= ulHasGID
		e.GID = uint32(n)
	case "raw.label":
		st.label = n
	case "raw.type":
		st.has |= ulHasRawType
		st.rawType = n
	case "ip.protocol":
		st.has |= ulHasIPProto
		st.ipProto = n
	case "ip.tos", "ip6.priority":
		e.TOS = uint8(n)
	case "ip.ttl", "ip6.hoplimit":
		e.TTL = uint8(n)
	case "ip.totlen":
		e.TotalLen = uint16(n)
	case "ip.ihl":
		if n > 15 {
			return ulErr(ulReasonBadValue, raw)
		}
		e.IHL = uint8(n) * 4
	case "ip.id":
		e.IPID = uint32(n)
	case "ip.fragoff":
		st.has |= ulHasFragOff4
		st.fragOff4 = n
	case "ip6.payloadlen":
		st.has |= ulHasPayloadLen6
		st.payloadLen6 = n
	case "ip6.flowlabel":
		if n > 0xfffff {
			return ulErr(ulReasonBadValue, raw)
		}
		e.FlowLabel = uint32(n)
	case "ip6.nexthdr":
		st.has |= ulHasNextHdr
		st.nextHdr = n
	case "ip6.fragoff":
		st.has |= ulHasFrag6
		st.frag6Off = n
	case "ip6.fragid":
		st.has |= ulHasFrag6
		st.frag6ID = n
	case "src_port":
		st.has |= ulHasPorts
		e.SrcPort = uint16(n)
	case "dest_port":
		st.has |= ulHasPorts
		e.DstPort = uint16(n)
	case "tcp.seq":
		st.has |= ulHasTCP
		e.Seq = uint32(n)
		e.HasSeq = true
	case "tcp.ackseq":
		st.has |= ulHasTCP
		e.Ack = uint32(n)
		e.HasSeq = true
	case "tcp.window":
		st.has |= ulHasTCP
		e.Window = uint16(n)
	case "tcp.urgp":
		e.Urgent = uint16(n)
	case "tcp.fin":
		st.tcpBits = ulSetFlag(st.tcpBits, event.FlagFIN, n)
	case "tcp.syn":
		st.tcpBits = ulSetFlag(st.tcpBits, event.FlagSYN, n)
	case "tcp.rst":
		st.tcpBits = ulSetFlag(st.tcpBits, event.FlagRST, n)
	case "tcp.psh":
		st.tcpBits = ulSetFlag(st.tcpBits, event.FlagPSH, n)
	case "tcp.ack":
		st.has |= ulHasTCP
		st.tcpBits = ulSetFlag(st.tcpBits, event.FlagACK, n)
	case "tcp.urg":
		st.tcpBits = ulSetFlag(st.tcpBits, event.FlagURG, n)
	case "tcp.res1":
		if n > 15 {
			return ulErr(ulReasonBadValue, raw)
		}
		st.res1 = n
	case "tcp.res2":
		if n > 3 {
			return ulErr(ulReasonBadValue, raw)
		}
		st.res2 = n
	case "udp.len":
		st.has |= ulHasUDP
		e.UDPLen = uint16(n)
	case "udp.csum":
		st.has |= ulHasUDP
		e.UDPChecksum = uint16(n)
		e.HasUDPChecksum = true
	case "icmp.type":
		st.has |= ulHasICMP
		e.ICMPType = uint8(n)
	case "icmp.code":
		st.has |= ulHasICMP
		e.ICMPCode = uint8(n)
	case "icmp.echoid", "icmpv6.echoid":
		e.ICMPID = uint16(n)
	case "icmp.echoseq", "icmpv6.echoseq":
		e.ICMPSeq = uint16(n)
	case "icmp.fragmtu":
		e.ICMPMTU = uint32(n)
	case "icmpv6.type":
		st.has |= ulHasICMPv6
		e.ICMPType = uint8(n)
	case "icmpv6.code":
		st.has |= ulHasICMPv6
		e.ICMPCode = uint8(n)
	case "sctp.csum":
		st.has |= ulHasSCTP
	}
	return nil
}

func ulSetFlag(f, bit event.TCPFlags, n uint64) event.TCPFlags {
	if n != 0 {
		return f | bit
	}
	return f
}

// ulHook maps ulogd's oob.hook (the netfilter hook number) to a Hook; 5 is
// NF_INET_INGRESS.
func ulHook(n uint8) event.Hook {
	if n == 5 {
		return event.HookIngress
	}
	return event.HookFromNetfilter(n)
}

// finish turns the collected values into the Event's fields.
func (p *ULOGDParser) finish(e *event.Event, st *ulState) error {
	if st.has&ulHasPacketKey == 0 {
		return ErrNotFirewall
	}
	e.Kind = event.KindPacket
	switch {
	case p.sensor != "":
		e.Sensor = p.sensor
	case len(st.dvc) > 0:
		e.Sensor = p.intern.Intern(st.dvc)
	}

	// Time: oob.time.* is the kernel's NFULA_TIMESTAMP (or ulogd's clock),
	// in UTC seconds; "timestamp" is the same instant in local time.
	switch {
	case st.has&ulHasTimeSec != 0:
		e.Time = time.Unix(int64(st.timeSec), int64(st.timeUsec)*1000).UTC()
	case st.ts != nil:
		t, ok := ulParseTime(st.ts, p.loc)
		// ulogd's clock is an unsigned 32-bit count of seconds.
		if !ok || t.Unix() < 0 || t.Unix() > 0xffffffff {
			return ulErr(ulReasonBadTime, st.ts)
		}
		e.Time = t
	default:
		return ulErr(ulReasonBadTime, nil)
	}

	// Addresses.
	if st.src == nil || st.dst == nil {
		return ulErr(ulReasonNoAddress, nil)
	}
	var ok bool
	if e.Src, ok = ulParseAddr(st.src); !ok {
		return ulErr(ulReasonBadSrc, st.src)
	}
	if e.Dst, ok = ulParseAddr(st.dst); !ok {
		return ulErr(ulReasonBadDst, st.dst)
	}
	switch {
	case st.has&ulHasFamily != 0 && st.family == 2, st.has&ulHasFamily == 0 && e.Src.Is4():
		e.IPVersion = 4
	case st.has&ulHasFamily != 0 && st.family == 10, st.has&ulHasFamily == 0 && e.Src.Is6():
		e.IPVersion = 6
	default: // bridge family: decide by the addresses
		if e.Src.Is4() {
			e.IPVersion = 4
		} else {
			e.IPVersion = 6
		}
	}
	if (e.IPVersion == 4) != e.Src.Is4() || e.Src.Is4() != e.Dst.Is4() {
		return ulErr(ulReasonBadValue, []byte("address family does not match oob.family"))
	}

	nonFirst := false
	if e.IPVersion == 4 {
		if st.has&ulHasIPProto != 0 {
			e.Proto = event.Proto(st.ipProto)
		}
		e.IPFlags = uint8(st.fragOff4>>13) & (event.IPFlagCE | event.IPFlagDF | event.IPFlagMF)
		e.FragOff = uint16(st.fragOff4 & 0x1fff)
		nonFirst = e.FragOff != 0
	} else {
		e.IHL = 40
		if st.has&ulHasPayloadLen6 != 0 {
			e.TotalLen = uint16(min(st.payloadLen6+40, 0xffff))
		}
		switch {
		case st.has&ulHasIPProto != 0:
			e.Proto = event.Proto(st.ipProto)
		case st.has&ulHasNextHdr != 0:
			e.Proto = event.Proto(st.nextHdr)
		}
		if st.has&ulHasFrag6 != 0 {
			if st.frag6Off%8 != 0 {
				return ulErr(ulReasonBadValue, []byte("ip6.fragoff is not a multiple of 8"))
			}
			e.FragOff = uint16(st.frag6Off / 8)
			e.IPID = uint32(st.frag6ID)
			e.ExtHdrs[0] = 44 // IPv6 fragment header
			e.ExtHdrLen = 1
			nonFirst = e.FragOff != 0
		}
	}

	// Transport: ulogd prints a protocol's keys only when its header was
	// complete; a first fragment or packet without them was cut short.
	switch e.Proto {
	case event.ProtoTCP:
		e.Flags = st.tcpBits | event.TCPFlags(st.res2<<6)
		e.Reserved = uint8(st.res1) << 2
		if st.has&ulHasTCP == 0 && !nonFirst {
			e.Truncated = true
		}
	case event.ProtoUDP:
		if st.has&ulHasUDP == 0 && !nonFirst {
			e.Truncated = true
		}
	case event.ProtoICMP:
		if st.has&ulHasICMP == 0 && !nonFirst {
			e.Truncated = true
		}
	case event.ProtoICMPv6:
		if st.has&ulHasICMPv6 == 0 && !nonFirst {
			e.Truncated = true
		}
	}

	// Link layer: HWHDR prints the Ethernet addresses for ARPHRD_ETHER
	// (raw.type 1) and mac.str, the whole link-layer header, for any type.
	if st.has&ulHasMACSrc != 0 && st.has&ulHasMACDst != 0 && (st.has&ulHasRawType == 0 || st.rawType == 1) {
		if !ulParseMAC(st.macSrc, &e.MACSrc) {
			return ulErr(ulReasonBadMAC, st.macSrc)
		}
		if !ulParseMAC(st.macDst, &e.MACDst) {
			return ulErr(ulReasonBadMAC, st.macDst)
		}
		e.HasMAC = true
	} else if len(st.macStr) > 0 {
		n, ok := ulParseHexColon(st.macStr, e.MACRaw[:])
		if !ok {
			return ulErr(ulReasonBadMAC, st.macStr)
		}
		e.MACRawLen = uint8(n)
	}

	if st.has&(ulHasUID|ulHasGID) != 0 {
		e.HasUID = true
	}
	switch {
	case st.action != event.VerdictUnknown:
		e.Verdict = st.action
	case st.label != 0:
		// numeric_label: ulogd's own boolean_label reads non-zero as allowed.
		e.Verdict = event.VerdictAllowed
	}
	return nil
}

// ulIsKnownKey reports whether key is one whose value ParseLine interprets
// (and therefore type-checks).
func ulIsKnownKey(key []byte) bool {
	switch string(key) {
	case "timestamp", "@timestamp", "dvc", "oob.prefix", "oob.in", "oob.out", "src_ip",
		"dest_ip", "mac.saddr.str", "mac.daddr.str", "mac.str", "action",
		"raw.pktlen", "raw.pktcount", "oob.time.sec", "oob.time.usec", "oob.mark",
		"oob.hook", "oob.family", "oob.protocol", "oob.uid", "oob.gid", "raw.label",
		"raw.type", "ip.protocol", "ip.tos", "ip6.priority", "ip.ttl", "ip6.hoplimit",
		"ip.totlen", "ip.ihl", "ip.id", "ip.fragoff", "ip6.payloadlen", "ip6.flowlabel",
		"ip6.nexthdr", "ip6.fragoff", "ip6.fragid", "src_port", "dest_port", "tcp.seq",
		"tcp.ackseq", "tcp.window", "tcp.urgp", "tcp.fin", "tcp.syn", "tcp.rst",
		"tcp.psh", "tcp.ack", "tcp.urg", "tcp.res1", "tcp.res2", "udp.len", "udp.csum",
		"icmp.type", "icmp.code", "icmp.echoid", "icmpv6.echoid", "icmp.echoseq",
		"icmpv6.echoseq", "icmp.fragmtu", "icmpv6.type", "icmpv6.code", "sctp.csum":
		return true
	}
	return false
}

// ulErr returns a *ParseError whose Detail is at most 64 bytes of detail,
// printable and valid UTF-8 (it ends up in reports and JSON).
func ulErr(reason string, detail []byte) error {
	const max = 64
	if len(detail) > max {
		detail = detail[:max]
	}
	d := make([]byte, 0, len(detail))
	for len(detail) > 0 {
		r, n := utf8.DecodeRune(detail)
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			d = append(d, '?')
		} else {
			d = append(d, detail[:n]...)
		}
		detail = detail[n:]
	}
	return &ParseError{Reason: reason, Detail: string(d)}
}

func ulIsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func ulSkipWS(b []byte, i int) int {
	for i < len(b) && ulIsSpace(b[i]) {
		i++
	}
	return i
}

func ulTrimSpace(b []byte) []byte {
	for len(b) > 0 && ulIsSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && ulIsSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func ulTrimRightSpace(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// ulScanString scans the JSON string starting at b[i] == '"'. It returns the
// content bounds, whether it contains escapes, and the index after the
// closing quote.
func ulScanString(b []byte, i int) (start, end int, escaped bool, next int, ok bool) {
	start = i + 1
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return start, j, escaped, j + 1, true
		case c == '\\':
			escaped = true
			j++
		case c < 0x20:
			return 0, 0, false, 0, false
		}
	}
	return 0, 0, false, 0, false
}

// ulUnescape appends the unescaped JSON string content s to dst.
func ulUnescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(s) {
			return dst, false
		}
		switch s[i] {
		case '"', '\\', '/':
			dst = append(dst, s[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := ulHex4(s, i+1)
			if !ok {
				return dst, false
			}
			i += 4
			if r >= 0xd800 && r < 0xdc00 && i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2, ok2 := ulHex4(s, i+3); ok2 && r2 >= 0xdc00 && r2 < 0xe000 {
					r = (r-0xd800)<<10 | (r2 - 0xdc00) + 0x10000
					i += 6
				}
			}
			if r >= 0xd800 && r < 0xe000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func ulHex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// ulScanNumber scans a JSON number at b[i]. n is its value when it is an
// integer that fits 64 bits (isInt); next == i when it is not a number.
func ulScanNumber(b []byte, i int) (n uint64, next int, neg, isInt bool) {
	j := i
	if b[j] == '-' {
		neg = true
		j++
	}
	digits := j
	isInt = true
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		d := uint64(b[j] - '0')
		if n > (1<<64-1-d)/10 {
			isInt = false
		}
		n = n*10 + d
		j++
	}
	if j == digits {
		return 0, i, false, false
	}
	if j-digits > 1 && b[digits] == '0' {
		return 0, i, false, false // leading zero
	}
	if j < len(b) && b[j] == '.' {
		isInt = false
		j++
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return 0, i, false, false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		isInt = false
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return 0, i, false, false
		}
	}
	return n, j, neg, isInt
}

// ulSkipValue skips any JSON value (literal, number, string, object, array)
// at b[i] and returns the index after it.
func ulSkipValue(b []byte, i int) (int, bool) {
	switch c := b[i]; c {
	case '"':
		_, _, _, next, ok := ulScanString(b, i)
		return next, ok
	case 't':
		return ulLiteral(b, i, "true")
	case 'f':
		return ulLiteral(b, i, "false")
	case 'n':
		return ulLiteral(b, i, "null")
	case '{', '[':
		// Nested values: check nesting and strings, not full grammar.
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				_, _, _, next, ok := ulScanString(b, j)
				if !ok {
					return 0, false
				}
				j = next - 1
			case '{', '[':
				depth++
				if depth > 64 {
					return 0, false
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	if _, next, _, _ := ulScanNumber(b, i); next > i {
		return next, true
	}
	return 0, false
}

func ulLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return 0, false
}

// ulParseAddr parses an IPv4 or IPv6 address without allocating.
func ulParseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}, false
	}
	if a, ok := ulParseIPv4(b); ok {
		return a, true
	}
	// netip.ParseAddr does not keep its argument when it succeeds (zones are
	// copied), so a string view of b is safe here; b is not modified during
	// the call and the error (which would hold it) is dropped.
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil || !a.Is6() || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

func ulParseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	part, n, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 && n == 0 {
				return netip.Addr{}, false // leading zero
			}
			n = n*10 + int(c-'0')
			digits++
			if n > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if digits == 0 || part == 3 {
				return netip.Addr{}, false
			}
			ip[part] = byte(n)
			part, n, digits = part+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if part != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(n)
	return netip.AddrFrom4(ip), true
}

// ulParseMAC parses "aa:bb:cc:dd:ee:ff".
func ulParseMAC(b []byte, out *[6]byte) bool {
	n, ok := ulParseHexColon(b, out[:])
	return ok && n == 6
}

// ulParseHexColon parses colon-separated hex byte pairs into out and returns
// how many it read; it fails when there are more than len(out).
func ulParseHexColon(b []byte, out []byte) (int, bool) {
	if len(b) == 0 {
		return 0, true
	}
	if (len(b)+1)%3 != 0 {
		return 0, false
	}
	n := (len(b) + 1) / 3
	if n > len(out) {
		return 0, false
	}
	for k := 0; k < n; k++ {
		hi, ok1 := ulHexNibble(b[3*k])
		lo, ok2 := ulHexNibble(b[3*k+1])
		if !ok1 || !ok2 || (k < n-1 && b[3*k+2] != ':') {
			return 0, false
		}
		out[k] = hi<<4 | lo
	}
	return n, true
}

func ulHexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ulParseTime parses ulogd's "YYYY-MM-DDTHH:MM:SS[.ffffff][+HHMM]" (local
// time; the offset is omitted in UTC) into a UTC time.
func ulParseTime(b []byte, loc *time.Location) (time.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		v := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(b[0:4])
	mon, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hh, ok4 := num(b[11:13])
	mm, ok5 := num(b[14:16])
	ss, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		scale := 100000000
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			if scale > 0 {
				nsec += int(rest[j]-'0') * scale
				scale /= 10
			}
			j++
		}
		if j == 1 {
			return time.Time{}, false
		}
		rest = rest[j:]
	}
	switch {
	case len(rest) == 0:
		return time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, loc).UTC(), true
	case len(rest) == 1 && rest[0] == 'Z':
		return time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, time.UTC), true
	case (len(rest) == 5 || len(rest) == 6) && (rest[0] == '+' || rest[0] == '-'):
		h, okh := num(rest[1:3])
		mp := rest[3:]
		if len(mp) == 3 {
			if mp[0] != ':' {
				return time.Time{}, false
			}
			mp = mp[1:]
		}
		m, okm := num(mp)
		if !okh || !okm || h > 23 || m > 59 {
			return time.Time{}, false
		}
		off := h*3600 + m*60
		if rest[0] == '-' {
			off = -off
		}
		t := time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, time.UTC)
		return t.Add(-time.Duration(off) * time.Second), true
	}
	return time.Time{}, false
}
