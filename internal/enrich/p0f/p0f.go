// Package p0f is the passive OS fingerprint step of enrich: it reads p0f v3
// signature files (Debian's /etc/p0f/p0f.fp) and labels TCP SYN and SYN+ACK
// events with the operating system or tool whose stack sent them, the way
// p0f 3.09b does, so darkscope's labels equal `p0f -r` on the same packets.
//
// The matcher works on decoded event fields (TTL, IP ID and flags, TOS,
// flow label, TCP window, flags, sequence and acknowledgement numbers,
// urgent pointer, raw TCP options and payload length), not on packets, so
// firewall log lines with OPT (...) hex are fingerprinted too. What a log
// line cannot carry is documented on Fingerprint.
//
// p0f signatures describe stacks, not scanners: a modern scanner crafting
// its own SYNs is either unknown or labelled as a generic OS here; the tool
// package names such tools from header invariants.
package p0f

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Quirk is a bit set of p0f's header quirks.
type Quirk uint32

// Quirks, in the order p0f prints them.
const (
	QuirkDF       Quirk = 1 << iota // df: don't fragment set
	QuirkNZID                       // id+: DF set but IP ID not zero
	QuirkZeroID                     // id-: DF clear but IP ID zero
	QuirkECN                        // ecn: ECN in IP or TCP header
	QuirkNZMBZ                      // 0+: IPv4 "must be zero" flag set
	QuirkFlow                       // flow: IPv6 flow label not zero
	QuirkZeroSeq                    // seq-: sequence number zero
	QuirkNZAck                      // ack+: ACK number set without ACK flag
	QuirkZeroAck                    // ack-: ACK flag with ACK number zero
	QuirkNZUrg                      // uptr+: urgent pointer without URG flag
	QuirkURG                        // urgf+: URG flag
	QuirkPush                       // pushf+: PSH flag
	QuirkZeroTS1                    // ts1-: own timestamp zero
	QuirkNZTS2                      // ts2+: peer timestamp non-zero on a SYN
	QuirkOptEOLNZ                   // opt+: non-zero bytes after EOL
	QuirkExWS                       // exws: window scale above 14
	QuirkOptBad                     // bad: malformed TCP options
	quirkEnd
)

var quirkNames = [...]string{"df", "id+", "id-", "ecn", "0+", "flow", "seq-", "ack+", "ack-",
	"uptr+", "urgf+", "pushf+", "ts1-", "ts2+", "opt+", "exws", "bad"}

// String lists the quirks comma-separated, as p0f prints them.
func (q Quirk) String() string {
	var b strings.Builder
	for i := 0; i < len(quirkNames); i++ {
		if q&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quirkNames[i])
		}
	}
	return b.String()
}

// Window size forms of a signature.
const (
	WinNormal = iota // a fixed value
	WinAny           // *
	WinMod           // %N: a multiple of N
	WinMSS           // mss*N
	WinMTU           // mtu*N
)

// TCP option kinds p0f names.
const (
	optEOL    = 0
	optNOP    = 1
	optMSS    = 2
	optWS     = 3
	optSACKOK = 4
	optSACK   = 5
	optTS     = 8
)

// Constants of p0f 3.09b (config.h, tcp.h).
const (
	maxDist   = 35 // largest TTL distance for a non-fuzzy match
	maxTCPOpt = 24 // options parsed per packet
	minTCP4   = 40 // IPv4 + TCP header
	minTCP6   = 60 // IPv6 + TCP header
)

// Label is the software a group of signatures identifies.
type Label struct {
	Generic bool     // type g: used only when no specific signature matches
	Class   string   // OS family ("unix", "win", ...); "" for applications
	App     bool     // class "!": a user-space tool, not an OS
	Name    string   // e.g. "Linux", "NMap"
	Flavor  string   // e.g. "3.11 and newer", "SYN scan"
	Sys     []string // for App labels: systems it runs on
	Line    int

	text string // String's result, built once when the label is parsed
}

// String is what p0f prints: name, then flavor if any. It does not
// allocate for a parsed label (the detect stage asks once per SYN).
func (l *Label) String() string {
	if l.text != "" {
		return l.text
	}
	if l.Flavor == "" {
		return l.Name
	}
	return l.Name + " " + l.Flavor
}

// Sig is one TCP signature of p0f.fp.
type Sig struct {
	Label    *Label
	Line     int
	Ver      int8  // 4, 6, or -1 for any
	TTL      uint8 // initial TTL (ttl+dist already added)
	BadTTL   bool  // "ttl-": random TTLs up to TTL
	OptLen   uint8 // IPv4 options length
	MSS      int32 // -1 for any
	WinType  int
	Win      uint16
	Scale    int16 // -1 for any
	Layout   []byte
	EOLPad   uint8
	Quirks   Quirk
	PayClass int8 // -1 any, 0 none, 1 some
}

// MTU is one [mtu] signature.
type MTU struct {
	Link string
	MTU  uint16
}

// DB is a parsed p0f.fp.
type DB struct {
	Request  []*Sig // [tcp:request]: SYN
	Response []*Sig // [tcp:response]: SYN+ACK
	MTUs     []MTU
	Classes  []string

	byLayout [2]map[string][]*Sig
}

// Load reads a p0f.fp file.
func Load(path string) (*DB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open p0f signatures: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// ParseError is a p0f.fp error with its place.
type ParseError struct {
	File   string
	Line   int
	Reason string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// Parse reads p0f.fp text: the [mtu], [tcp:request] and [tcp:response]
// sections; [http:*] sections are skipped. Errors carry file and line.
func Parse(r io.Reader, file string) (*DB, error) {
	db := &DB{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	section := ""
	var label *Label
	var mtuLabel string
	line := 0
	fail := func(format string, a ...any) error {
		return &ParseError{File: file, Line: line, Reason: fmt.Sprintf(format, a...)}
	}
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == ';' {
			continue
		}
		if s[0] == '[' {
			if !strings.HasSuffix(s, "]") {
				return nil, fail("unterminated section header")
			}
			section, label, mtuLabel = s[1:len(s)-1], nil, ""
			switch {
			case section == "mtu", section == "tcp:request", section == "tcp:response",
				strings.HasPrefix(section, "http:"):
			default:
				return nil, fail("unknown section %q", section)
			}
			continue
		}
		key, val, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fail("want key = value")
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if strings.HasPrefix(section, "http:") {
			continue
		}
		switch key {
		case "classes":
			if section != "" {
				return nil, fail("classes must come before the first section")
			}
			for _, c := range strings.Split(val, ",") {
				if c = strings.TrimSpace(c); c == "" {
					return nil, fail("empty class")
				}
				db.Classes = append(db.Classes, c)
			}
		case "label":
			switch section {
			case "mtu":
				if val == "" {
					return nil, fail("empty MTU label")
				}
				mtuLabel = val
			case "tcp:request", "tcp:response":
				l, err := db.parseLabel(val)
				if err != nil {
					return nil, fail("%v", err)
				}
				l.Line = line
				label = l
			default:
				return nil, fail("label outside a section")
			}
		case "sys":
			if label == nil || !label.App {
				return nil, fail("sys must follow an application label")
			}
			for _, n := range strings.Split(val, ",") {
				label.Sys = append(label.Sys, strings.TrimSpace(n))
			}
		case "sig":
			switch section {
			case "mtu":
				if mtuLabel == "" {
					return nil, fail("sig before label")
				}
				n, err := strconv.ParseUint(val, 10, 16)
				if err != nil || n == 0 {
					return nil, fail("bad MTU %q", val)
				}
				db.MTUs = append(db.MTUs, MTU{Link: mtuLabel, MTU: uint16(n)})
			case "tcp:request", "tcp:response":
				if label == nil {
					return nil, fail("sig before label")
				}
				sg, err := parseSig(val)
				if err != nil {
					return nil, fail("%v", err)
				}
				sg.Label, sg.Line = label, line
				if section == "tcp:request" {
					db.Request = append(db.Request, sg)
				} else {
					db.Response = append(db.Response, sg)
				}
			default:
				return nil, fail("sig outside a section")
			}
		default:
			return nil, fail("unknown key %q", key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s after line %d: %w", file, line, err)
	}
	db.index()
	return db, nil
}

func (db *DB) index() {
	for i, list := range [2][]*Sig{db.Request, db.Response} {
		db.byLayout[i] = map[string][]*Sig{}
		for _, s := range list {
			k := string(s.Layout)
			db.byLayout[i][k] = append(db.byLayout[i][k], s)
		}
	}
}

func (db *DB) parseLabel(v string) (*Label, error) {
	parts := strings.SplitN(v, ":", 4)
	if len(parts) != 4 {
		return nil, fmt.Errorf("label %q: want type:class:name:flavor", v)
	}
	l := &Label{Name: parts[2], Flavor: parts[3]}
	l.text = l.String()
	switch parts[0] {
	case "s":
	case "g":
		l.Generic = true
	default:
		return nil, fmt.Errorf("label type %q: want s or g", parts[0])
	}
	if parts[1] == "!" {
		l.App = true
	} else {
		known := false
		for _, c := range db.Classes {
			known = known || c == parts[1]
		}
		if !known {
			return nil, fmt.Errorf("class %q not declared in classes", parts[1])
		}
		l.Class = parts[1]
	}
	if l.Name == "" {
		return nil, errors.New("label without a name")
	}
	return l, nil
}

// atoiField parses a decimal field within [lo, hi].
func atoiField(s, what string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi || s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("bad %s %q", what, s)
	}
	return n, nil
}

// parseSig reads ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass.
func parseSig(v string) (*Sig, error) {
	f := strings.Split(v, ":")
	if len(f) != 8 {
		return nil, fmt.Errorf("signature %q: want 8 colon-separated fields", v)
	}
	s := &Sig{}
	switch f[0] {
	case "4":
		s.Ver = 4
	case "6":
		s.Ver = 6
	case "*":
		s.Ver = -1
	default:
		return nil, fmt.Errorf("bad IP version %q", f[0])
	}
	ttl := f[1]
	add := 0
	switch {
	case strings.HasSuffix(ttl, "-"):
		s.BadTTL, ttl = true, ttl[:len(ttl)-1]
	case strings.Contains(ttl, "+"):
		a, b, _ := strings.Cut(ttl, "+")
		n, err := atoiField(b, "TTL distance", 0, 255)
		if err != nil {
			return nil, err
		}
		ttl, add = a, n
	}
	n, err := atoiField(ttl, "initial TTL", 1, 255)
	if err != nil {
		return nil, err
	}
	if n+add > 255 {
		return nil, fmt.Errorf("bad initial TTL %q", f[1])
	}
	s.TTL = uint8(n + add)
	if n, err = atoiField(f[2], "IP option length", 0, 255); err != nil {
		return nil, err
	}
	s.OptLen = uint8(n)
	s.MSS = -1
	if f[3] != "*" {
		if n, err = atoiField(f[3], "MSS", 0, 65535); err != nil {
			return nil, err
		}
		s.MSS = int32(n)
	}
	win, scale, ok := strings.Cut(f[4], ",")
	if !ok {
		return nil, fmt.Errorf("window %q: want wsize,scale", f[4])
	}
	switch {
	case win == "*":
		s.WinType = WinAny
	case strings.HasPrefix(win, "%"):
		s.WinType = WinMod
		if n, err = atoiField(win[1:], "window modulus", 2, 65535); err != nil {
			return nil, err
		}
		s.Win = uint16(n)
	case strings.HasPrefix(win, "mss*"), strings.HasPrefix(win, "mtu*"):
		s.WinType = WinMSS
		if win[1] == 't' {
			s.WinType = WinMTU
		}
		if n, err = atoiField(win[4:], "window multiplier", 1, 1000); err != nil {
			return nil, err
		}
		s.Win = uint16(n)
	default:
		if n, err = atoiField(win, "window", 0, 65535); err != nil {
			return nil, err
		}
		s.Win = uint16(n)
	}
	s.Scale = -1
	if scale != "*" {
		if n, err = atoiField(scale, "window scale", 0, 255); err != nil {
			return nil, err
		}
		s.Scale = int16(n)
	}
	if f[5] != "" {
		opts := strings.Split(f[5], ",")
		if len(opts) > maxTCPOpt {
			return nil, errors.New("too many TCP options")
		}
		for i, o := range opts {
			switch {
			case strings.HasPrefix(o, "eol+"):
				if i != len(opts)-1 {
					return nil, errors.New("eol must be the last option")
				}
				if n, err = atoiField(o[4:], "EOL padding", 0, 255); err != nil {
					return nil, err
				}
				s.Layout, s.EOLPad = append(s.Layout, optEOL), uint8(n)
			case o == "nop":
				s.Layout = append(s.Layout, optNOP)
			case o == "mss":
				s.Layout = append(s.Layout, optMSS)
			case o == "ws":
				s.Layout = append(s.Layout, optWS)
			case o == "sok":
				s.Layout = append(s.Layout, optSACKOK)
			case o == "sack":
				s.Layout = append(s.Layout, optSACK)
			case o == "ts":
				s.Layout = append(s.Layout, optTS)
			case strings.HasPrefix(o, "?"):
				if n, err = atoiField(o[1:], "option number", 0, 255); err != nil {
					return nil, err
				}
				s.Layout = append(s.Layout, byte(n))
			default:
				return nil, fmt.Errorf("unknown TCP option %q", o)
			}
		}
	}
	if f[6] != "" {
		for _, q := range strings.Split(f[6], ",") {
			i := 0
			for i < len(quirkNames) && quirkNames[i] != q {
				i++
			}
			if i == len(quirkNames) {
				return nil, fmt.Errorf("unknown quirk %q", q)
			}
			bit := Quirk(1) << i
			if s.Ver == 6 && bit&(QuirkDF|QuirkNZID|QuirkZeroID|QuirkNZMBZ) != 0 {
				return nil, fmt.Errorf("quirk %q is not valid for IPv6", q)
			}
			if s.Ver == 4 && bit == QuirkFlow {
				return nil, errors.New("quirk flow is not valid for IPv4")
			}
			s.Quirks |= bit
		}
	}
	switch f[7] {
	case "*":
		s.PayClass = -1
	case "0":
		s.PayClass = 0
	case "+":
		s.PayClass = 1
	default:
		return nil, fmt.Errorf("bad payload class %q", f[7])
	}
	return s, nil
}

// String prints the signature in p0f.fp syntax (an ttl+dist form prints as
// the sum).
func (s *Sig) String() string {
	var b strings.Builder
	switch s.Ver {
	case -1:
		b.WriteString("*")
	default:
		b.WriteString(strconv.Itoa(int(s.Ver)))
	}
	b.WriteString(":" + strconv.Itoa(int(s.TTL)))
	if s.BadTTL {
		b.WriteByte('-')
	}
	b.WriteString(":" + strconv.Itoa(int(s.OptLen)) + ":")
	if s.MSS < 0 {
		b.WriteByte('*')
	} else {
		b.WriteString(strconv.Itoa(int(s.MSS)))
	}
	b.WriteByte(':')
	switch s.WinType {
	case WinAny:
		b.WriteByte('*')
	case WinMod:
		b.WriteString("%" + strconv.Itoa(int(s.Win)))
	case WinMSS:
		b.WriteString("mss*" + strconv.Itoa(int(s.Win)))
	case WinMTU:
		b.WriteString("mtu*" + strconv.Itoa(int(s.Win)))
	default:
		b.WriteString(strconv.Itoa(int(s.Win)))
	}
	b.WriteByte(',')
	if s.Scale < 0 {
		b.WriteByte('*')
	} else {
		b.WriteString(strconv.Itoa(int(s.Scale)))
	}
	b.WriteByte(':')
	writeLayout(&b, s.Layout, s.EOLPad)
	b.WriteString(":" + s.Quirks.String() + ":")
	switch s.PayClass {
	case -1:
		b.WriteByte('*')
	case 0:
		b.WriteByte('0')
	default:
		b.WriteByte('+')
	}
	return b.String()
}

// writeLayout writes a TCP option layout as p0f prints it: "mss,nop,ws,..."
// with eol+PAD for an end-of-list followed by pad bytes.
func writeLayout(b *strings.Builder, layout []uint8, eolPad uint8) {
	for i, k := range layout {
		if i > 0 {
			b.WriteByte(',')
		}
		switch k {
		case optEOL:
			b.WriteString("eol+" + strconv.Itoa(int(eolPad)))
		case optNOP:
			b.WriteString("nop")
		case optMSS:
			b.WriteString("mss")
		case optWS:
			b.WriteString("ws")
		case optSACKOK:
			b.WriteString("sok")
		case optSACK:
			b.WriteString("sack")
		case optTS:
			b.WriteString("ts")
		default:
			b.WriteString("?" + strconv.Itoa(int(k)))
		}
	}
}
