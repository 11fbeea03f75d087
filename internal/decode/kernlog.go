package decode

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/darkscope/darkscope/internal/event"
)

// ErrNotFirewall is returned for a line that is not a firewall (netfilter LOG
// target / nftables log) message. Sources count such lines as ignored.
var ErrNotFirewall = errors.New("not a firewall log line")

// ParseError describes a firewall log line that could not be decoded.
// Sources count it as rejected under Reason, a short snake_case word
// ("bad_src", "truncated_header", "bad_timestamp", ...); Detail shows the
// offending text.
type ParseError struct {
	Reason string
	Detail string
}

func (e *ParseError) Error() string {
	if e.Detail == "" {
		return "parse firewall log line: " + e.Reason
	}
	return "parse firewall log line: " + e.Reason + ": " + e.Detail
}

// Rejection reasons of the kernel LOG parser.
const (
	klReasonTruncated   = "truncated_header" // the line ends before the addresses
	klReasonBadSrc      = "bad_src"
	klReasonBadDst      = "bad_dst"
	klReasonBadTime     = "bad_timestamp"
	klReasonBadKmsg     = "bad_kmsg_header"
	klReasonBadValue    = "bad_value"
	klReasonBadMAC      = "bad_mac"
	klReasonNoAddresses = "no_addresses" // a firewall line of a non-IP packet without addresses
)

func klErr(reason string, detail []byte) error {
	const max = 64
	if len(detail) > max {
		detail = detail[:max]
	}
	// Keep Detail printable and valid UTF-8: it ends up in reports and JSON.
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

// KernLogConfig configures a KernLogParser.
type KernLogConfig struct {
	// Location is the zone of classic syslog stamps ("Nov 23 10:00:00"),
	// which carry none. Nil means UTC.
	Location *time.Location
	// Now gives the wall clock for the year inference of classic stamps
	// (nil: time.Now). A stamp is placed in the latest year that does not
	// put it more than a day in the future.
	Now func() time.Time
	// Sensor is the sensor name of lines that carry no host name.
	Sensor string
}

// KernLogParser parses the text the kernel's netfilter loggers (iptables and
// ip6tables LOG, nftables log) print, in the forms it reaches darkscope:
// syslog files, journal output, /dev/kmsg records, syslog messages. It is not
// safe for concurrent use; it owns an Interner for prefixes, interface and
// host names, so the common path allocates nothing.
type KernLogParser struct {
	loc    *time.Location
	utc    bool
	now    func() time.Time
	sensor string
	in     *Interner

	// Cache of the last classic syslog stamp (month, day, time) → Unix seconds.
	clsKey [15]byte
	clsLen int
	clsSec int64
	// Cache of the day numbers (days since 1970) of the last month/day in
	// the candidate years y0+1, y0, y0-1 of classicSeconds (UTC only).
	dayMo, dayD, dayY0 int
	dayNum             [3]int64

	scratch [256]byte // kmsg prefix unescaping

	// The last string of each interned field: consecutive lines mostly
	// repeat them, and a compare is cheaper than a map lookup.
	lastPrefix, lastIn, lastOut, lastHost string
}

// intern returns a shared string equal to b, trying the field's last value
// before the Interner.
func (p *KernLogParser) intern(last *string, b []byte) string {
	if string(b) == *last {
		return *last
	}
	s := p.in.Intern(b)
	*last = s
	return s
}

// NewKernLogParser validates cfg and returns a parser.
func NewKernLogParser(cfg KernLogConfig) (*KernLogParser, error) {
	for i := 0; i < len(cfg.Sensor); i++ {
		if c := cfg.Sensor[i]; c <= ' ' || c == 0x7f {
			return nil, fmt.Errorf("kernel log parser: sensor name %q contains a space or control character", cfg.Sensor)
		}
	}
	p := &KernLogParser{
		loc:    cfg.Location,
		now:    cfg.Now,
		sensor: cfg.Sensor,
		in:     NewInterner(0),
	}
	if p.loc == nil {
		p.loc = time.UTC
	}
	p.utc = p.loc == time.UTC
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// ParseLine parses one full line as found in log files and journal output:
// classic syslog ("Nov 23 10:00:00 host kernel: [1234.567890] PREFIX IN=..."),
// an RFC 3339 stamp ("2026-11-23T10:00:00.123456+00:00 host kernel: ..."),
// journalctl -o short-iso, short-iso-precise, short-precise and
// short-monotonic, or a bare kernel message as dmesg prints it. The event time
// is the syslog/journal time in UTC (zero for bare messages, which carry
// none); the kernel's [uptime] stamp goes to e.Uptime. e.Sensor is the host
// name field when present, else the configured sensor. e is reset first.
//
// It returns ErrNotFirewall for other lines and a *ParseError for firewall
// lines that cannot be decoded.
func (p *KernLogParser) ParseLine(line []byte, e *event.Event) error {
	b := klTrimEOL(line)
	i := 0
	// An optional "<PRI>" as some collectors keep it.
	if len(b) > 2 && b[0] == '<' {
		j := 1
		for j < len(b) && j < 5 && klDigit(b[j]) {
			j++
		}
		if j > 1 && j < len(b) && b[j] == '>' {
			i = j + 1
		}
	}
	var (
		sec, nsec int64
		hasTime   bool
		host      []byte
	)
	if i == 0 && klIsKmsg(b) {
		// A saved /dev/kmsg record ("PRI,SEQ,USEC,FLAGS;MESSAGE").
		_, _, err := p.ParseKmsg(b, e)
		return err
	}
	switch {
	case i+10 < len(b) && klDigit(b[i]) && b[i+4] == '-' && b[i+7] == '-':
		s, ns, n, ok := klISOStamp(b[i:])
		if !ok {
			if bytes.Index(b, klIN) < 0 {
				return ErrNotFirewall
			}
			return klErr(klReasonBadTime, b[i:min(len(b), i+32)])
		}
		sec, nsec, hasTime = s, ns, true
		i += n
	case i+15 < len(b) && klMonth(b[i:]) > 0:
		s, ns, n, ok := p.classicStamp(b[i:])
		if !ok {
			if bytes.Index(b, klIN) < 0 {
				return ErrNotFirewall
			}
			return klErr(klReasonBadTime, b[i:min(len(b), i+32)])
		}
		sec, nsec, hasTime = s, ns, true
		i += n
	}
	if hasTime {
		// HOST TAG: MESSAGE, or TAG: MESSAGE without a host.
		i = klSkipSpaces(b, i)
		w, j := klWord(b, i)
		if len(w) > 0 && w[len(w)-1] == ':' {
			i = j
		} else {
			host = w
			i = klSkipSpaces(b, j)
			if t, k := klWord(b, i); len(t) > 0 && t[len(t)-1] == ':' {
				i = k
			}
		}
	} else if i < len(b) && b[i] == '[' {
		// dmesg -T: "[Mon Nov 23 10:00:00 2026] message", local time.
		if s, n, ok := p.ctimeStamp(b[i:]); ok {
			sec, hasTime = s, true
			i += n
		}
		// journalctl -o short-monotonic: "[ 1234.567890] host kernel: ...".
		if up, n, ok := klUptime(b[i:]); ok {
			w, k := klWord(b, klSkipSpaces(b, i+n))
			t, k2 := klWord(b, klSkipSpaces(b, k))
			if len(w) > 0 && string(t) == "kernel:" {
				if err := p.parseMessage(b[k2:], e, false); err != nil {
					return err
				}
				if e.Uptime == 0 {
					e.Uptime = up
				}
				p.setSensor(e, w)
				return nil
			}
		}
	}
	if err := p.parseMessage(b[i:], e, false); err != nil {
		return err
	}
	if hasTime {
		e.Time = time.Unix(sec, nsec).UTC()
	}
	p.setSensor(e, host)
	return nil
}

func (p *KernLogParser) setSensor(e *event.Event, host []byte) {
	if len(host) > 0 {
		e.Sensor = p.intern(&p.lastHost, host)
	} else {
		e.Sensor = p.sensor
	}
}

// ParseMessage parses only the kernel message ("[uptime] PREFIX IN=... OUT=...
// ..."), the part after the syslog header, resetting e and setting every
// field except Time and Sensor. The syslog receiver and the /dev/kmsg reader
// use it.
func (p *KernLogParser) ParseMessage(msg []byte, e *event.Event) error {
	return p.parseMessage(klTrimEOL(msg), e, false)
}

// ParseKmsg parses one /dev/kmsg record, "PRI,SEQ,USEC,FLAGS[,...];MESSAGE"
// followed by optional continuation lines (" KEY=value", ignored). It returns
// the record's sequence number and its timestamp in microseconds since boot
// (also set as e.Uptime) whenever the header parses, even when the message is
// not a firewall line (ErrNotFirewall), so the caller can detect gaps.
// e.Sensor is the configured sensor; e.Time stays zero: the caller turns the
// boot-relative stamp into wall-clock time.
func (p *KernLogParser) ParseKmsg(rec []byte, e *event.Event) (seq uint64, usec uint64, err error) {
	semi := bytes.IndexByte(rec, ';')
	if semi < 0 {
		return 0, 0, klErr(klReasonBadKmsg, rec)
	}
	h := rec[:semi]
	var f [3]uint64
	for k := 0; k < 3; k++ {
		j := 0
		for j < len(h) && h[j] != ',' {
			j++
		}
		v, ok := klUint(h[:j], 1<<63)
		if !ok {
			return 0, 0, klErr(klReasonBadKmsg, rec[:semi])
		}
		f[k] = v
		if j == len(h) {
			if k < 2 {
				return 0, 0, klErr(klReasonBadKmsg, rec[:semi])
			}
			break
		}
		h = h[j+1:]
	}
	seq, usec = f[1], f[2]
	msg := rec[semi+1:]
	if nl := bytes.IndexByte(msg, '\n'); nl >= 0 {
		msg = msg[:nl]
	}
	if err := p.parseMessage(msg, e, true); err != nil {
		return seq, usec, err
	}
	if e.Uptime == 0 {
		e.Uptime = time.Duration(usec) * time.Microsecond
	}
	e.Sensor = p.sensor
	return seq, usec, nil
}

// klIsKmsg reports whether b starts like a /dev/kmsg record: three
// comma-separated decimal fields, then flags up to a ';'.
func klIsKmsg(b []byte) bool {
	i := 0
	for f := 0; f < 3; f++ {
		s := i
		for i < len(b) && i-s < 20 && klDigit(b[i]) {
			i++
		}
		if i == s || i >= len(b) || (b[i] != ',' && !(f == 2 && b[i] == ';')) {
			return false
		}
		if b[i] == ';' {
			return true
		}
		i++
	}
	for k := i; k < len(b) && k < i+32; k++ {
		if b[k] == ';' {
			return true
		}
		if b[k] == ' ' {
			return false
		}
	}
	return false
}

var (
	klIN  = []byte("IN=")
	klOUT = []byte("OUT=")
)

// klFindIN finds the "IN=<iface> OUT=" that starts the netfilter part of a
// message and returns the offset of "IN=", or -1.
func klFindIN(m []byte) int {
	off := 0
	for {
		k := bytes.Index(m[off:], klIN)
		if k < 0 {
			return -1
		}
		k += off
		j := k + 3
		for j < len(m) && m[j] != ' ' {
			j++
		}
		if j+1 < len(m) && bytes.HasPrefix(m[j+1:], klOUT) {
			return k
		}
		off = k + 3
	}
}

// parseMessage is ParseMessage on a message without its line end; kmsg says
// whether the text is /dev/kmsg-escaped (\xNN).
func (p *KernLogParser) parseMessage(m []byte, e *event.Event, kmsg bool) error {
	*e = event.Event{}
	i := klSkipSpaces(m, 0)
	if i < len(m) && m[i] == '[' {
		if up, n, ok := klUptime(m[i:]); ok {
			e.Uptime = up
			i += n
			if i < len(m) && m[i] == ' ' {
				i++
			}
		}
	}
	m = m[i:]
	k := klFindIN(m)
	if k < 0 {
		return ErrNotFirewall
	}
	pre := m[:k]
	for len(pre) > 0 && pre[len(pre)-1] == ' ' {
		pre = pre[:len(pre)-1]
	}
	if kmsg && bytes.IndexByte(pre, '\\') >= 0 {
		pre = klUnescape(p.scratch[:0], pre)
	}
	e.Prefix = p.intern(&p.lastPrefix, pre)
	// IN=<in> OUT=<out>
	j := k + 3
	s := j
	for j < len(m) && m[j] != ' ' {
		j++
	}
	e.InIface = p.intern(&p.lastIn, m[s:j])
	j += 5 // " OUT="
	s = j
	for j < len(m) && m[j] != ' ' {
		j++
	}
	e.OutIface = p.intern(&p.lastOut, m[s:j])
	e.Kind = event.KindPacket
	return klFields(m[j:], e)
}

// klUnescape undoes the \xNN escaping of /dev/kmsg into dst.
func klUnescape(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' {
			hi, ok1 := klHexVal(b[i+2])
			lo, ok2 := klHexVal(b[i+3])
			if ok1 && ok2 {
				dst = append(dst, hi<<4|lo)
				i += 3
				continue
			}
		}
		dst = append(dst, b[i])
	}
	return dst
}

// Protocol contexts of the field scanner.
const (
	klPNone uint8 = iota
	klPTCP
	klPUDP
	klPICMP
	klPOther
)

// klLevel is the scanner state of one IP header: the logged packet, or the
// packet an ICMP error quotes.
type klLevel struct {
	v6      bool
	src     bool
	dst     bool
	proto   uint8 // klP*
	frag    bool  // a non-first fragment: no transport header follows
	l4done  bool  // the transport part ended as the kernel prints it
	partial bool  // INCOMPLETE [n bytes] or TRUNCATED
	icmp    uint8 // ICMP type seen (TYPE=)
	need    uint8 // klNeed*: what ends this ICMP message
}

// What the kernel prints last for an ICMP message of a given type.
const (
	klNeedNone     uint8 = iota
	klNeedSeq            // echo: ID= SEQ=
	klNeedQuote          // errors: [ quoted packet ]
	klNeedQuoteMTU       // fragmentation needed / packet too big: [ ... ] MTU=
	klNeedMTU            // after the quote of the above
	klNeedParam          // IPv4 parameter problem: PARAMETER=
	klNeedPtrQuote       // ICMPv6 parameter problem: POINTER= then [ ... ]
)

// klICMPNeed returns what follows TYPE/CODE for an ICMP (v6 false) or
// ICMPv6 type, as nf_log_syslog prints it.
func klICMPNeed(v6 bool, typ, code uint8) uint8 {
	if v6 {
		switch typ {
		case 128, 129:
			return klNeedSeq
		case 1, 3:
			return klNeedQuote
		case 2:
			return klNeedQuoteMTU
		case 4:
			return klNeedPtrQuote
		}
		return klNeedNone
	}
	switch typ {
	case 0, 8:
		return klNeedSeq
	case 3:
		if code == 4 {
			return klNeedQuoteMTU
		}
		return klNeedQuote
	case 4, 5, 11:
		return klNeedQuote
	case 12:
		return klNeedParam
	}
	return klNeedNone
}

// klFields scans the fields after "IN=x OUT=y".
func klFields(m []byte, e *event.Event) error {
	var (
		outer, inner klLevel
		lv           = &outer
		quote        bool // inside the [ ... ] of an ICMP error
		quoted       bool // a quote was opened
		arp          bool

		snap                           event.Event
		snapOuter, snapInner           klLevel
		snapQuote, snapQuoted, snapArp bool
		haveSnap                       bool
	)
	i := 0
	n := len(m)
	for i < n {
		for i < n && m[i] == ' ' {
			i++
		}
		if i >= n {
			break
		}
		// Fast paths for the parts the kernel always prints in one order.
		if !quote && n-i > 10 {
			switch {
			case m[i] == 'S' && m[i+1] == 'R' && !outer.src:
				if j := klFastIP(m, i, e, &outer); j != i {
					i = j
					continue
				}
			case m[i] == 'P' && m[i+1] == 'R' && outer.proto == klPNone && !outer.frag && string(m[i:i+10]) == "PROTO=TCP ":
				if j := klFastTCP(m, i+10, e, &outer); j != i+10 {
					i = j
					continue
				}
			}
		}
		s := i
		if k := bytes.IndexByte(m[i:], ' '); k >= 0 {
			i += k
		} else {
			i = n
		}
		tok := m[s:i]
		eq := bytes.IndexByte(tok, '=')
		last := i >= n // the line may have been cut inside this token
		if last {
			// Keep the state before the final, unterminated token: if the
			// line turns out to be cut, its value may be a prefix of the
			// real one ("DST=ff02:0000:00") and is dropped.
			snap, snapOuter, snapInner = *e, outer, inner
			snapQuote, snapQuoted, snapArp, haveSnap = quote, quoted, arp, true
		}
		if tok[0] == '[' {
			if len(tok) > 1 && !quote && outer.proto == klPICMP {
				quote, quoted = true, true
				lv = &inner
				tok = tok[1:]
				eq--
			} else if !quote {
				continue
			}
		}
		closeQuote := false
		if quote && tok[len(tok)-1] == ']' {
			closeQuote = true
			tok = tok[:len(tok)-1]
		}
		if len(tok) > 0 {
			var err error
			if eq > 0 {
				err = klKeyVal(tok[:eq], tok[eq+1:], e, lv, quote, &arp)
			} else {
				i, err = klWordTok(tok, m, i, e, lv, quote, &arp)
			}
			if err != nil {
				if last {
					lv.partial = true
					e.Truncated = true
					break
				}
				return err
			}
		}
		if closeQuote {
			quote = false
			lv = &outer
			switch outer.need {
			case klNeedQuote:
				outer.need, outer.l4done = klNeedNone, true
			case klNeedQuoteMTU:
				outer.need = klNeedMTU
			}
		}
	}
	if haveSnap && (quote || !outer.l4done) && !(arp && e.Src.IsValid() && e.Dst.IsValid()) {
		*e, outer, inner = snap, snapOuter, snapInner
		quote, quoted, arp = snapQuote, snapQuoted, snapArp
		e.Truncated = true
		outer.partial = true
	}
	if !outer.src || !outer.dst {
		if arp {
			if e.Src.IsValid() && e.Dst.IsValid() {
				return nil
			}
		}
		if outer.partial || i >= n {
			return klErr(klReasonTruncated, m)
		}
		return klErr(klReasonNoAddresses, m)
	}
	if quoted {
		e.HasQuoted = inner.src && inner.dst
		if quote {
			e.Truncated = true // the line was cut inside the quote
		}
	}
	if outer.partial {
		e.Truncated = true
	}
	if !outer.l4done && !outer.partial {
		e.Truncated = true
	}
	if e.Proto == event.ProtoUDP || e.Proto == event.ProtoUDPLite {
		if e.UDPLen >= 8 {
			e.PayloadLen = e.UDPLen - 8
		}
	}
	return nil
}

// klWordTok handles a token without '='. It may consume following tokens
// (INCOMPLETE [n bytes], OPT (...)); it returns the new scan position.
func klWordTok(tok, m []byte, i int, e *event.Event, lv *klLevel, quote bool, arp *bool) (int, error) {
	switch string(tok) {
	case "DF":
		if !quote {
			e.IPFlags |= event.IPFlagDF
		}
	case "MF":
		if !quote {
			e.IPFlags |= event.IPFlagMF
		}
	case "CE":
		if !quote {
			e.IPFlags |= event.IPFlagCE
		}
	case "FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE":
		if quote || lv.proto != klPTCP {
			break
		}
		switch string(tok) {
		case "FIN":
			e.Flags |= event.FlagFIN
		case "SYN":
			e.Flags |= event.FlagSYN
		case "RST":
			e.Flags |= event.FlagRST
		case "PSH":
			e.Flags |= event.FlagPSH
		case "ACK":
			e.Flags |= event.FlagACK
		case "URG":
			e.Flags |= event.FlagURG
		case "ECE":
			e.Flags |= event.FlagECE
		case "CWR":
			e.Flags |= event.FlagCWR
		case "AE":
			// Since Linux 6.x the AE (ex-NS) bit is printed apart from RES;
			// Reserved keeps all four bits in RES=0x.. scale.
			e.Reserved |= 0x04
		}
	case "INCOMPLETE":
		// "INCOMPLETE [n bytes]": the packet ended inside a header. Without
		// the bracket (IPv6 fragment header) it means "more fragments".
		j := klSkipSpaces(m, i)
		if j < len(m) && m[j] == '[' {
			lv.partial = true
			if !quote {
				e.Truncated = true
			}
			// Skip the two tokens "[n" and "bytes]".
			for k := 0; k < 2; k++ {
				for j < len(m) && m[j] != ' ' {
					j++
				}
				if k == 0 {
					j = klSkipSpaces(m, j)
				}
			}
			return j, nil
		}
		if lv.v6 && !quote {
			e.IPFlags |= event.IPFlagMF
		}
	case "TRUNCATED", "(TRUNCATED)":
		lv.partial = true
		if !quote {
			e.Truncated = true
		}
	case "OPT":
		j := klSkipSpaces(m, i)
		if j >= len(m) {
			lv.partial = true // cut right after "OPT"
			if !quote {
				e.Truncated = true
			}
			return i, nil
		}
		if m[j] != '(' {
			return i, nil
		}
		if j+1 < len(m) && m[j+1] == ' ' {
			// IPv6 extension header group "OPT ( ... )": the tokens inside
			// (FRAG:, INCOMPLETE, ID:, AH, ESP, SPI=) are handled one by
			// one. Hop-by-hop, routing and destination options print an
			// empty group, which does not say which of them it was.
			return j + 1, nil
		}
		k := j + 1
		for k < len(m) && m[k] != ')' && m[k] != ' ' {
			k++
		}
		hex := m[j+1 : k]
		end := k
		if k < len(m) && m[k] == ')' {
			end = k + 1
		} else if k >= len(m) {
			// Cut inside the option bytes.
			lv.partial = true
			if !quote {
				e.Truncated = true
			}
		}
		if string(hex) == "TRUNCATED" {
			lv.partial = true
			if !quote {
				e.Truncated = true
			}
			return end, nil
		}
		if quote {
			return end, nil
		}
		var dst []byte
		if lv.proto == klPNone {
			dst = e.IPOptions[:]
		} else {
			dst = e.TCPOptions[:]
		}
		nb, ok := klHexBytes(dst, hex)
		if !ok && k < len(m) {
			return i, klErr(klReasonBadValue, tok)
		}
		if lv.proto == klPNone {
			e.IPOptLen = uint8(nb)
			e.IHL = uint8(20 + len(hex)/2)
		} else {
			e.TCPOptLen = uint8(nb)
		}
		return end, nil
	case "AH":
		if lv.v6 && !quote {
			klExt(e, uint8(event.ProtoAH))
		}
	case "ESP":
		if lv.v6 {
			// The kernel stops at ESP: it is the last header it prints.
			if !quote {
				klExt(e, uint8(event.ProtoESP))
				e.Proto = event.ProtoESP
			} else {
				e.Quoted.Proto = event.ProtoESP
			}
			lv.proto = klPOther
			lv.l4done = true
		}
	case "ARP":
		// nf_log_arp: "ARP HTYPE=.. PTYPE=.. OPCODE=.. MACSRC=.. IPSRC=.. ...".
		if !quote && !lv.src {
			*arp = true
			if e.EtherType == 0 {
				e.EtherType = 0x0806
			}
			lv.l4done = true
		}
	default:
		if len(tok) > 5 && string(tok[:5]) == "FRAG:" {
			v, ok := klUint(tok[5:], 0xffff)
			if !ok {
				return i, klErr(klReasonBadValue, tok)
			}
			if lv.v6 {
				v >>= 3 // IPv6 prints the offset in bytes
				if !quote {
					klExt(e, 44)
				}
			}
			if v != 0 {
				lv.frag = true
			}
			if !quote {
				e.FragOff = uint16(v)
			}
		} else if len(tok) > 3 && string(tok[:3]) == "ID:" {
			// IPv6 fragment header identification, %08x.
			v, ok := klHex(tok[3:], 0xffffffff)
			if !ok {
				return i, klErr(klReasonBadValue, tok)
			}
			if quote {
				e.Quoted.IPID = uint32(v)
			} else {
				e.IPID = uint32(v)
			}
		}
		// Unknown words (PHYSIN and friends have '='; "Unknown Ext Hdr N",
		// "(", ")") are skipped.
	}
	return i, nil
}

func klExt(e *event.Event, t uint8) {
	if int(e.ExtHdrLen) < len(e.ExtHdrs) {
		e.ExtHdrs[e.ExtHdrLen] = t
		e.ExtHdrLen++
	}
}

// klKeyNum parses the value of a numeric key: decimal or hexadecimal as
// the kernel prints that key, bounded by the field's width. Other keys give 0.
func klKeyNum(k, v []byte, lv *klLevel) (uint64, error) {
	var max uint64
	hex := false
	switch string(k) {
	case "TC", "TTL", "HOPLIMIT", "TYPE", "CODE":
		max = 0xff
	case "TOS", "PREC", "RES":
		max, hex = 0xff, true
	case "LEN", "ID", "SPT", "DPT", "WINDOW", "URGP":
		max = 0xffff
	case "MACPROTO":
		max, hex = 0xffff, true
	case "FLOWLBL":
		max = 0xfffff
	case "SEQ":
		max = 0xffffffff
		if lv.proto == klPICMP {
			max = 0xffff // ICMP echo sequence number
		}
	case "ACK", "MTU", "UID", "GID":
		max = 0xffffffff
	case "MARK":
		max, hex = 0xffffffff, true
	default:
		return 0, nil
	}
	x, ok := klUint(v, max)
	if hex {
		x, ok = klHex(v, max)
	}
	if !ok {
		return 0, klErr(klReasonBadValue, v)
	}
	return x, nil
}

// klKeyVal handles a KEY=VALUE token.
func klKeyVal(k, v []byte, e *event.Event, lv *klLevel, quote bool, arp *bool) error {
	q := &e.Quoted
	x, err := klKeyNum(k, v, lv)
	if err != nil {
		return err
	}
	switch string(k) {
	case "SRC", "DST":
		a, ok := klAddr(v)
		if !ok {
			if k[0] == 'S' {
				return klErr(klReasonBadSrc, v)
			}
			return klErr(klReasonBadDst, v)
		}
		lv.v6 = a.Is6()
		if k[0] == 'S' {
			lv.src = true
			if quote {
				q.Src = a
			} else {
				e.Src = a
			}
		} else {
			lv.dst = true
			if quote {
				q.Dst = a
			} else {
				e.Dst = a
			}
		}
		if !quote {
			if lv.v6 {
				e.IPVersion = 6
				e.IHL = 40
			} else {
				e.IPVersion = 4
			}
		}
	case "LEN":
		switch {
		case lv.proto == klPUDP:
			if !quote {
				e.UDPLen = uint16(x)
			}
			lv.l4done = true
		case lv.proto != klPNone:
			// LEN after another protocol: not printed by the kernel.
		case quote:
			q.TotalLen = uint16(x)
		default:
			e.TotalLen = uint16(x)
		}
	case "TOS", "PREC":
		if !quote {
			e.TOS |= uint8(x)
		}
	case "TC":
		if !quote {
			e.TOS = uint8(x)
		}
	case "TTL", "HOPLIMIT":
		if quote {
			q.TTL = uint8(x)
		} else {
			e.TTL = uint8(x)
		}
	case "FLOWLBL":
		if !quote {
			e.FlowLabel = uint32(x)
		}
	case "ID":
		switch {
		case lv.proto == klPICMP:
			if !quote {
				e.ICMPID = uint16(x)
			}
		case quote:
			q.IPID = uint32(x)
		default:
			e.IPID = uint32(x)
		}
	case "PROTO":
		var pr event.Proto
		c := klPOther
		switch string(v) {
		case "TCP":
			pr, c = event.ProtoTCP, klPTCP
		case "UDP":
			pr, c = event.ProtoUDP, klPUDP
		case "UDPLITE":
			pr, c = event.ProtoUDPLite, klPUDP
		case "ICMP":
			pr, c = event.ProtoICMP, klPICMP
		case "ICMPv6":
			pr, c = event.ProtoICMPv6, klPICMP
		case "AH":
			pr = event.ProtoAH
		case "ESP":
			pr = event.ProtoESP
		default:
			n, ok := klUint(v, 0xff)
			if !ok {
				return klErr(klReasonBadValue, v)
			}
			pr = event.Proto(n)
			lv.l4done = true
		}
		lv.proto = c
		if quote {
			q.Proto = pr
		} else {
			e.Proto = pr
		}
		if lv.frag {
			lv.l4done = true
		}
	case "SPT", "DPT":
		if quote {
			if k[0] == 'S' {
				q.SrcPort = uint16(x)
			} else {
				q.DstPort = uint16(x)
			}
		} else if k[0] == 'S' {
			e.SrcPort = uint16(x)
		} else {
			e.DstPort = uint16(x)
		}
	case "SEQ":
		if lv.proto == klPICMP {
			if !quote {
				e.ICMPSeq = uint16(x)
			}
			if lv.need == klNeedSeq {
				lv.need, lv.l4done = klNeedNone, true
			}
			break
		}
		if quote {
			q.Seq = uint32(x)
		} else {
			e.Seq = uint32(x)
			e.HasSeq = true
		}
	case "ACK":
		if !quote {
			e.Ack = uint32(x)
		}
	case "WINDOW":
		if !quote {
			e.Window = uint16(x)
		}
	case "RES":
		if !quote {
			e.Reserved |= uint8(x)
		}
	case "URGP":
		if !quote {
			e.Urgent = uint16(x)
		}
		lv.l4done = true
	case "TYPE", "CODE":
		if !quote {
			if k[0] == 'T' {
				e.ICMPType = uint8(x)
			} else {
				e.ICMPCode = uint8(x)
			}
		}
		if k[0] == 'T' {
			lv.icmp = uint8(x)
		} else {
			lv.need = klICMPNeed(lv.v6, lv.icmp, uint8(x))
			if quote {
				lv.need = klNeedNone // the kernel recurses only once
			}
			lv.l4done = lv.need == klNeedNone
		}
	case "PARAMETER", "POINTER":
		switch lv.need {
		case klNeedParam:
			lv.need, lv.l4done = klNeedNone, true
		case klNeedPtrQuote:
			lv.need = klNeedQuote
		}
	case "MTU":
		if !quote {
			e.ICMPMTU = uint32(x)
			if lv.need == klNeedMTU {
				lv.need, lv.l4done = klNeedNone, true
			}
		}
	case "GATEWAY":
		a, ok := klAddr(v)
		if !ok {
			return klErr(klReasonBadValue, v)
		}
		if !quote {
			e.ICMPGateway = a
		}
	case "UID", "GID":
		if !quote {
			if k[0] == 'U' {
				e.UID = uint32(x)
			} else {
				e.GID = uint32(x)
			}
			e.HasUID = true
		}
	case "MARK":
		if !quote {
			e.Mark = uint32(x)
			e.HasMark = true
		}
	case "MAC":
		if quote {
			break
		}
		var raw [32]byte
		nb, ok := klMACBytes(raw[:], v)
		if !ok {
			return klErr(klReasonBadMAC, v)
		}
		if nb == 14 {
			copy(e.MACDst[:], raw[0:6])
			copy(e.MACSrc[:], raw[6:12])
			e.EtherType = uint16(raw[12])<<8 | uint16(raw[13])
			e.HasMAC = true
		} else if nb > 0 {
			e.MACRawLen = uint8(copy(e.MACRaw[:], raw[:min(nb, len(raw))]))
		}
	case "MACSRC", "MACDST":
		if quote || *arp {
			break // the ARP payload's addresses repeat the link header's
		}
		var mac [6]byte
		nb, ok := klMACBytes(mac[:], v)
		if !ok || nb != 6 {
			return klErr(klReasonBadMAC, v)
		}
		if k[3] == 'S' {
			e.MACSrc = mac
		} else {
			e.MACDst = mac
		}
		e.HasMAC = true
	case "MACPROTO":
		if !quote {
			e.EtherType = uint16(x)
			e.HasMAC = true
		}
	case "SPI":
		if lv.proto == klPOther {
			lv.l4done = true // IPv4 AH/ESP end with the SPI
		}
	case "IPSRC", "IPDST":
		if !*arp || quote {
			break
		}
		a, ok := klAddr(v)
		if !ok {
			if k[2] == 'S' {
				return klErr(klReasonBadSrc, v)
			}
			return klErr(klReasonBadDst, v)
		}
		if k[2] == 'S' {
			e.Src = a
		} else {
			e.Dst = a
		}
	}
	// PHYSIN, PHYSOUT, VPROTO, VID, TUNNEL, PTYPE,
	// OPCODE and unknown keys are skipped.
	return nil
}

// klAddr parses an IPv4 dotted quad or an IPv6 address (the kernel prints
// IPv6 uncompressed, %pI6; "::" forms are accepted too) without allocating.
func klAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	for _, c := range b {
		if c == ':' {
			return klAddr6(b)
		}
	}
	a4, ok := klAddr4(b)
	if !ok {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(a4), true
}

func klAddr4(b []byte) ([4]byte, bool) {
	var a [4]byte
	part, val, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 && val == 0 {
				return a, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return a, false
			}
		case c == '.':
			if digits == 0 || part == 3 {
				return a, false
			}
			a[part] = byte(val)
			part++
			val, digits = 0, 0
		default:
			return a, false
		}
	}
	if part != 3 || digits == 0 {
		return a, false
	}
	a[3] = byte(val)
	return a, true
}

func klAddr6(b []byte) (netip.Addr, bool) {
	var a [16]byte
	if len(b) == 39 {
		// The kernel's %pI6: eight groups of four hex digits.
		ok := true
		for g := 0; g < 8 && ok; g++ {
			o := g * 5
			if g < 7 && b[o+4] != ':' {
				ok = false
				break
			}
			var v uint16
			for k := 0; k < 4; k++ {
				h, okh := klHexVal(b[o+k])
				if !okh {
					ok = false
					break
				}
				v = v<<4 | uint16(h)
			}
			a[2*g], a[2*g+1] = byte(v>>8), byte(v)
		}
		if ok {
			return netip.AddrFrom16(a), true
		}
		a = [16]byte{}
	}
	ellipsis := -1 // byte index where "::" was
	i, n := 0, 0   // input index, bytes written
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		i = 2
		if i == len(b) {
			return netip.AddrFrom16(a), true
		}
	}
	for i < len(b) {
		// One group: up to 4 hex digits, or a dotted IPv4 tail.
		j, v := i, 0
		for j < len(b) && j-i < 5 {
			h, ok := klHexVal(b[j])
			if !ok {
				break
			}
			v = v<<4 | int(h)
			j++
		}
		if j == i || j-i > 4 {
			return netip.Addr{}, false
		}
		if j < len(b) && b[j] == '.' {
			if n > 12 {
				return netip.Addr{}, false
			}
			a4, ok := klAddr4(b[i:])
			if !ok {
				return netip.Addr{}, false
			}
			copy(a[n:], a4[:])
			n += 4
			i = len(b)
			break
		}
		if n > 14 {
			return netip.Addr{}, false
		}
		a[n], a[n+1] = byte(v>>8), byte(v)
		n += 2
		i = j
		if i == len(b) {
			break
		}
		if b[i] != ':' {
			return netip.Addr{}, false
		}
		i++
		if i < len(b) && b[i] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = n
			i++
			if i == len(b) {
				break
			}
		} else if i == len(b) {
			return netip.Addr{}, false
		}
	}
	if n < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		shift := 16 - n
		copy(a[ellipsis+shift:], a[ellipsis:n])
		for k := ellipsis; k < ellipsis+shift; k++ {
			a[k] = 0
		}
	} else if ellipsis >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(a), true
}

// klMACBytes parses "aa:bb:cc" into dst (bytes beyond dst are counted but
// dropped) and returns the number of bytes in the text.
func klMACBytes(dst, b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, true
	}
	n := 0
	for i := 0; ; i += 3 {
		if i+2 > len(b) {
			return n, false
		}
		hi, ok1 := klHexVal(b[i])
		lo, ok2 := klHexVal(b[i+1])
		if !ok1 || !ok2 {
			return n, false
		}
		if n < len(dst) {
			dst[n] = hi<<4 | lo
		}
		n++
		if i+2 == len(b) {
			return n, true
		}
		if b[i+2] != ':' {
			return n, false
		}
	}
}

// klHexBytes decodes hex digits into dst (at most len(dst) bytes kept).
func klHexBytes(dst, b []byte) (int, bool) {
	if len(b)%2 != 0 {
		return 0, false
	}
	n := 0
	for i := 0; i+1 < len(b); i += 2 {
		hi, ok1 := klHexVal(b[i])
		lo, ok2 := klHexVal(b[i+1])
		if !ok1 || !ok2 {
			return n, false
		}
		if n < len(dst) {
			dst[n] = hi<<4 | lo
			n++
		}
	}
	return n, true
}

func klHexVal(c byte) (byte, bool) {
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

// klUint parses a decimal number no larger than max.
func klUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// klHex parses a hexadecimal number with an optional 0x prefix.
func klHex(b []byte, max uint64) (uint64, bool) {
	if len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		b = b[2:]
	}
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		h, ok := klHexVal(c)
		if !ok {
			return 0, false
		}
		n = n<<4 | uint64(h)
		if n > max {
			return 0, false
		}
	}
	return n, true
}

// klUptime parses "[ 1234.567890]" at the start of b and returns the stamp
// and the bytes it spans.
func klUptime(b []byte) (time.Duration, int, bool) {
	if len(b) < 3 || b[0] != '[' {
		return 0, 0, false
	}
	i := 1
	for i < len(b) && b[i] == ' ' {
		i++
	}
	s := i
	var sec int64
	for i < len(b) && klDigit(b[i]) {
		if i-s >= 12 {
			return 0, 0, false
		}
		sec = sec*10 + int64(b[i]-'0')
		i++
	}
	if i == s || i >= len(b) || b[i] != '.' {
		return 0, 0, false
	}
	i++
	f := i
	var ns int64
	for i < len(b) && klDigit(b[i]) {
		if i-f < 9 {
			ns = ns*10 + int64(b[i]-'0')
		}
		i++
	}
	if i == f || i >= len(b) || b[i] != ']' {
		return 0, 0, false
	}
	for d := i - f; d < 9; d++ {
		ns *= 10
	}
	return time.Duration(sec)*time.Second + time.Duration(ns), i + 1, true
}

func klDigit(c byte) bool { return c >= '0' && c <= '9' }

func klTrimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func klSkipSpaces(b []byte, i int) int {
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i
}

// klWord returns the word at b[i:] up to a space and the index after it.
func klWord(b []byte, i int) ([]byte, int) {
	s := i
	for i < len(b) && b[i] != ' ' {
		i++
	}
	return b[s:i], i
}

var klMonths = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// klMonth returns 1..12 for a month abbreviation followed by a space, else 0.
func klMonth(b []byte) int {
	if len(b) < 4 || b[3] != ' ' {
		return 0
	}
	for i, m := range klMonths {
		if b[0] == m[0] && b[1] == m[1] && b[2] == m[2] {
			return i + 1
		}
	}
	return 0
}

// klClock parses "hh:mm:ss" and returns seconds of the day.
func klClock(b []byte) (int64, bool) {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return 0, false
	}
	h, ok1 := klNum2(b[0:2])
	m, ok2 := klNum2(b[3:5])
	s, ok3 := klNum2(b[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 60 {
		return 0, false
	}
	return int64(h*3600 + m*60 + s), true
}

func klNum2(b []byte) (int, bool) {
	if !klDigit(b[0]) || !klDigit(b[1]) {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// klFrac parses ".ddddd" at b and returns nanoseconds and the bytes used.
func klFrac(b []byte) (int64, int) {
	if len(b) < 2 || b[0] != '.' || !klDigit(b[1]) {
		return 0, 0
	}
	i := 1
	var ns int64
	for i < len(b) && klDigit(b[i]) {
		if i <= 9 {
			ns = ns*10 + int64(b[i]-'0')
		}
		i++
	}
	for d := i - 1; d < 9; d++ {
		ns *= 10
	}
	return ns, i
}

// klDaysFromCivil returns the days since 1970-01-01 of a proleptic
// Gregorian date (the usual era arithmetic).
func klDaysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func klDaysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// klISOStamp parses an RFC 3339 / ISO 8601 stamp as syslog daemons and
// journalctl -o short-iso[-precise] write it: YYYY-MM-DDTHH:MM:SS[.frac]
// then Z, ±hh:mm, ±hhmm or ±hh, followed by a space. It returns Unix time.
func klISOStamp(b []byte) (sec, nsec int64, n int, ok bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') {
		return 0, 0, 0, false
	}
	var y int
	for _, c := range b[:4] {
		if !klDigit(c) {
			return 0, 0, 0, false
		}
		y = y*10 + int(c-'0')
	}
	mo, ok1 := klNum2(b[5:7])
	d, ok2 := klNum2(b[8:10])
	if !ok1 || !ok2 || mo < 1 || mo > 12 || d < 1 || d > klDaysIn(mo, y) {
		return 0, 0, 0, false
	}
	tod, ok3 := klClock(b[11:19])
	if !ok3 {
		return 0, 0, 0, false
	}
	i := 19
	ns, fn := klFrac(b[i:])
	i += fn
	if i >= len(b) {
		return 0, 0, 0, false
	}
	var off int64
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		sign := int64(1)
		if b[i] == '-' {
			sign = -1
		}
		i++
		if i+2 > len(b) {
			return 0, 0, 0, false
		}
		hh, okh := klNum2(b[i : i+2])
		if !okh || hh > 23 {
			return 0, 0, 0, false
		}
		i += 2
		mm := 0
		if i < len(b) && b[i] == ':' {
			i++
		}
		if i+2 <= len(b) && klDigit(b[i]) {
			var okm bool
			mm, okm = klNum2(b[i : i+2])
			if !okm || mm > 59 {
				return 0, 0, 0, false
			}
			i += 2
		}
		off = sign * int64(hh*3600+mm*60)
	default:
		return 0, 0, 0, false
	}
	if i < len(b) && b[i] != ' ' {
		return 0, 0, 0, false
	}
	sec = klDaysFromCivil(y, mo, d)*86400 + tod - off
	return sec, ns, i, true
}

// classicStamp parses "Mmm dd hh:mm:ss[.frac]" (day space-padded or not),
// inferring the year and applying the configured zone.
func (p *KernLogParser) classicStamp(b []byte) (sec, nsec int64, n int, ok bool) {
	mo := klMonth(b)
	i := 4
	if b[i] == ' ' {
		i++
	}
	d := 0
	ds := i
	for i < len(b) && klDigit(b[i]) && i-ds < 2 {
		d = d*10 + int(b[i]-'0')
		i++
	}
	if i == ds || d < 1 || d > 31 || i >= len(b) || b[i] != ' ' {
		return 0, 0, 0, false
	}
	i++
	if i+8 > len(b) {
		return 0, 0, 0, false
	}
	tod, okc := klClock(b[i : i+8])
	if !okc {
		return 0, 0, 0, false
	}
	keyEnd := i + 8
	i += 8
	ns, fn := klFrac(b[i:])
	i += fn
	if i < len(b) && b[i] != ' ' {
		return 0, 0, 0, false
	}
	key := b[:keyEnd]
	if p.clsLen == len(key) && string(p.clsKey[:p.clsLen]) == string(key) {
		return p.clsSec, ns, i, true
	}
	s, okd := p.classicSeconds(mo, d, tod)
	if !okd {
		return 0, 0, 0, false
	}
	p.clsLen = copy(p.clsKey[:], key)
	p.clsSec = s
	return s, ns, i, true
}

// ctimeStamp parses dmesg -T's "[Www Mmm dd hh:mm:ss yyyy]" (day padded
// with a space or not) in the configured zone and returns Unix seconds and
// the bytes used, including one following space.
func (p *KernLogParser) ctimeStamp(b []byte) (int64, int, bool) {
	if len(b) < 25 || b[0] != '[' || b[4] != ' ' {
		return 0, 0, false
	}
	mo := klMonth(b[5:])
	if mo == 0 {
		return 0, 0, false
	}
	i := 9
	if b[i] == ' ' {
		i++
	}
	d := 0
	ds := i
	for i < len(b) && klDigit(b[i]) && i-ds < 2 {
		d = d*10 + int(b[i]-'0')
		i++
	}
	if i == ds || i+15 > len(b) || b[i] != ' ' {
		return 0, 0, false
	}
	tod, ok := klClock(b[i+1 : i+9])
	i += 9
	if !ok || b[i] != ' ' {
		return 0, 0, false
	}
	y := 0
	for k := i + 1; k < i+5; k++ {
		if !klDigit(b[k]) {
			return 0, 0, false
		}
		y = y*10 + int(b[k]-'0')
	}
	i += 5
	if b[i] != ']' || d < 1 || d > klDaysIn(mo, y) {
		return 0, 0, false
	}
	i++
	if i < len(b) && b[i] == ' ' {
		i++
	}
	var s int64
	if p.utc {
		s = klDaysFromCivil(y, mo, d)*86400 + tod
	} else {
		s = time.Date(y, time.Month(mo), d, int(tod/3600), int(tod/60%60), int(tod%60), 0, p.loc).Unix()
	}
	return s, i, true
}

// classicSeconds places month/day/time-of-day in the latest year that is not
// more than a day ahead of the clock.
func (p *KernLogParser) classicSeconds(mo, d int, tod int64) (int64, bool) {
	now := p.now()
	limit := now.Unix() + 86400
	y0 := now.In(p.loc).Year()
	if p.utc && (p.dayMo != mo || p.dayD != d || p.dayY0 != y0) {
		p.dayMo, p.dayD, p.dayY0 = mo, d, y0
		for k := range p.dayNum {
			p.dayNum[k] = klDaysFromCivil(y0+1-k, mo, d)
		}
	}
	for y := y0 + 1; y >= y0-1; y-- {
		if d > klDaysIn(mo, y) {
			continue // Feb 29 outside a leap year
		}
		var s int64
		if p.utc {
			s = p.dayNum[y0+1-y]*86400 + tod
		} else {
			s = time.Date(y, time.Month(mo), d, int(tod/3600), int(tod/60%60), int(tod%60), 0, p.loc).Unix()
		}
		if s <= limit {
			return s, true
		}
	}
	// Feb 29 with no leap year among the candidates.
	return 0, false
}

// klFastVal returns the value of "KEY=value " at m[i:] when the key matches
// and the value is followed by a space (a value at the very end of the line
// is left to the generic scanner, which knows about cut lines).
func klFastVal(m []byte, i int, key string) ([]byte, int, bool) {
	if len(m)-i <= len(key) || string(m[i:i+len(key)]) != key {
		return nil, i, false
	}
	j := i + len(key)
	k := bytes.IndexByte(m[j:], ' ')
	if k <= 0 {
		return nil, i, false
	}
	return m[j : j+k], j + k + 1, true
}

// klFastNum is klFastVal followed by klUint on the value, in one pass over
// the digits (it takes exactly what they take).
func klFastNum(m []byte, i int, key string, max uint64) (uint64, int, bool) {
	if max > 1<<32 { // n*10+d below cannot overflow for smaller max
		return klFastNumSlow(m, i, key, max)
	}
	if len(m)-i <= len(key) || string(m[i:i+len(key)]) != key {
		return 0, i, false
	}
	j := i + len(key)
	var n uint64
	k := j
	for ; k < len(m); k++ {
		c := m[k]
		if c < '0' || c > '9' {
			break
		}
		if n = n*10 + uint64(c-'0'); n > max {
			return 0, i, false
		}
	}
	if k == j || k == len(m) || m[k] != ' ' || k-j > 20 {
		return 0, i, false
	}
	return n, k + 1, true
}

// klFastHex is klFastVal followed by klHex on the value, in one pass over
// the digits (it takes exactly what they take).
func klFastHex(m []byte, i int, key string, max uint64) (uint64, int, bool) {
	if max <= 1<<32 { // n<<4 below cannot overflow
		if len(m)-i <= len(key) || string(m[i:i+len(key)]) != key {
			return 0, i, false
		}
		j := i + len(key)
		if j+2 < len(m) && m[j] == '0' && m[j+1]|0x20 == 'x' && m[j+2] != ' ' {
			j += 2
		}
		var n uint64
		k := j
		for ; k < len(m); k++ {
			h, ok := klHexVal(m[k])
			if !ok {
				break
			}
			if n = n<<4 | uint64(h); n > max {
				return 0, i, false
			}
		}
		if k == j || k == len(m) || m[k] != ' ' || k-j > 16 {
			return 0, i, false
		}
		return n, k + 1, true
	}
	return klFastHexSlow(m, i, key, max)
}

// klFastNumSlow is klFastNum's definition, and its path for limits above
// 2^32: the value up to the next space, parsed by klUint.
func klFastNumSlow(m []byte, i int, key string, max uint64) (uint64, int, bool) {
	v, j, ok := klFastVal(m, i, key)
	if !ok {
		return 0, i, false
	}
	x, ok := klUint(v, max)
	if !ok {
		return 0, i, false
	}
	return x, j, true
}

// klFastHexSlow is klFastHex's definition, and its path for limits above
// 2^32: the value up to the next space, parsed by klHex.
func klFastHexSlow(m []byte, i int, key string, max uint64) (uint64, int, bool) {
	v, j, ok := klFastVal(m, i, key)
	if !ok {
		return 0, i, false
	}
	x, ok := klHex(v, max)
	if !ok {
		return 0, i, false
	}
	return x, j, true
}

// klFastIP parses the fixed network-layer part nf_log prints in this order:
// "SRC= DST= LEN= TOS= PREC= TTL= ID= " (IPv4) or "SRC= DST= LEN= TC=
// HOPLIMIT= FLOWLBL= " (IPv6). It returns the index after the fields it
// took; at the first field that differs it stops, and the generic scanner
// goes on from there (returning i itself means nothing was taken).
func klFastIP(m []byte, i int, e *event.Event, lv *klLevel) int {
	sv, j, ok := klFastVal(m, i, "SRC=")
	if !ok {
		return i
	}
	dv, k, ok := klFastVal(m, j, "DST=")
	if !ok {
		return i
	}
	src, ok1 := klAddr(sv)
	dst, ok2 := klAddr(dv)
	if !ok1 || !ok2 || src.Is4() != dst.Is4() {
		return i // the generic scanner reports the bad address
	}
	e.Src, e.Dst = src, dst
	lv.src, lv.dst, lv.v6 = true, true, src.Is6()
	if lv.v6 {
		e.IPVersion, e.IHL = 6, 40
	} else {
		e.IPVersion = 4
	}
	i = k
	x, j, ok := klFastNum(m, i, "LEN=", 0xffff)
	if !ok {
		return i
	}
	e.TotalLen, i = uint16(x), j
	if lv.v6 {
		if x, j, ok = klFastNum(m, i, "TC=", 0xff); !ok {
			return i
		}
		e.TOS, i = uint8(x), j
		if x, j, ok = klFastNum(m, i, "HOPLIMIT=", 0xff); !ok {
			return i
		}
		e.TTL, i = uint8(x), j
		if x, j, ok = klFastNum(m, i, "FLOWLBL=", 0xfffff); !ok {
			return i
		}
		e.FlowLabel = uint32(x)
		return j
	}
	if x, j, ok = klFastHex(m, i, "TOS=", 0xff); !ok {
		return i
	}
	e.TOS, i = e.TOS|uint8(x), j
	if x, j, ok = klFastHex(m, i, "PREC=", 0xff); !ok {
		return i
	}
	e.TOS, i = e.TOS|uint8(x), j
	if x, j, ok = klFastNum(m, i, "TTL=", 0xff); !ok {
		return i
	}
	e.TTL, i = uint8(x), j
	if x, j, ok = klFastNum(m, i, "ID=", 0xffff); !ok {
		return i
	}
	e.IPID = uint32(x)
	return j
}

// klFastTCP parses what follows "PROTO=TCP " in the order nf_log prints it:
// "SPT= DPT= [SEQ= ACK= ]WINDOW= RES=0x.. [flags ]URGP= ". i is the index
// after "PROTO=TCP "; like klFastIP it returns where it stopped, and i
// itself when it took nothing (the generic scanner then reads PROTO=TCP too).
func klFastTCP(m []byte, i int, e *event.Event, lv *klLevel) int {
	start := i
	sp, j, ok := klFastNum(m, i, "SPT=", 0xffff)
	if !ok {
		return start
	}
	dp, k, ok := klFastNum(m, j, "DPT=", 0xffff)
	if !ok {
		return start
	}
	e.Proto, lv.proto = event.ProtoTCP, klPTCP
	e.SrcPort, e.DstPort, i = uint16(sp), uint16(dp), k
	if x, j, ok := klFastNum(m, i, "SEQ=", 0xffffffff); ok {
		y, k, ok := klFastNum(m, j, "ACK=", 0xffffffff)
		if !ok {
			return i
		}
		e.Seq, e.Ack, e.HasSeq, i = uint32(x), uint32(y), true, k
	}
	x, j, ok := klFastNum(m, i, "WINDOW=", 0xffff)
	if !ok {
		return i
	}
	e.Window, i = uint16(x), j
	if x, j, ok = klFastHex(m, i, "RES=", 0xff); !ok {
		return i
	}
	e.Reserved, i = e.Reserved|uint8(x), j
	for i < len(m) && m[i] >= 'A' && m[i] <= 'Z' {
		if x, j, ok = klFastNum(m, i, "URGP=", 0xffff); ok {
			e.Urgent = uint16(x)
			lv.l4done = true
			return j
		}
		k := bytes.IndexByte(m[i:], ' ')
		if k < 0 {
			return i
		}
		switch string(m[i : i+k]) {
		case "CWR":
			e.Flags |= event.FlagCWR
		case "ECE":
			e.Flags |= event.FlagECE
		case "URG":
			e.Flags |= event.FlagURG
		case "ACK":
			e.Flags |= event.FlagACK
		case "PSH":
			e.Flags |= event.FlagPSH
		case "RST":
			e.Flags |= event.FlagRST
		case "SYN":
			e.Flags |= event.FlagSYN
		case "FIN":
			e.Flags |= event.FlagFIN
		case "AE":
			e.Reserved |= 0x04
		default:
			return i
		}
		i += k + 1
	}
	return i
}
