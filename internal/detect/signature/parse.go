package signature

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
)

// ParseError is a rules-file error with its place.
type ParseError struct {
	File   string
	Line   int
	Reason string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// maxLineLen bounds one rules-file line.
const maxLineLen = 64 << 10

// Parse reads darkscope's rules format (docs/signatures.md) from r; file
// names the input in errors and in each Rule's Origin. The format is strict:
// the first bad line is an error carrying file and line.
func Parse(r io.Reader, file string) ([]*Rule, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLineLen)
	var rules []*Rule
	seen := map[uint32]int{}
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		rule, err := parseRuleLine(s)
		if err != nil {
			return nil, &ParseError{File: file, Line: line, Reason: err.Error()}
		}
		if prev, dup := seen[rule.ID]; dup {
			return nil, &ParseError{File: file, Line: line, Reason: fmt.Sprintf("duplicate id %d (first at line %d)", rule.ID, prev)}
		}
		seen[rule.ID] = line
		rule.Origin = file + ":" + strconv.Itoa(line)
		rules = append(rules, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read rules %s after line %d: %w", file, line, err)
	}
	return rules, nil
}

// token is one key=value (or bare key) of a rule line.
type token struct {
	key, val string
	hasVal   bool
}

// tokenize splits a line into tokens; values may be double-quoted with \"
// and \\ escapes.
func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '#' {
			break // trailing comment
		}
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		t := token{key: s[i:j]}
		if t.key == "" {
			return nil, fmt.Errorf("empty key at column %d", i+1)
		}
		i = j
		if i < len(s) && s[i] == '=' {
			i++
			t.hasVal = true
			if i < len(s) && s[i] == '"' {
				var b strings.Builder
				i++
				closed := false
				for i < len(s) {
					c := s[i]
					if c == '\\' && i+1 < len(s) {
						b.WriteByte(s[i+1])
						i += 2
						continue
					}
					if c == '"' {
						closed = true
						i++
						break
					}
					b.WriteByte(c)
					i++
				}
				if !closed {
					return nil, fmt.Errorf("unterminated quote in %s", t.key)
				}
				if i < len(s) && s[i] != ' ' && s[i] != '\t' {
					return nil, fmt.Errorf("text after closing quote of %s", t.key)
				}
				t.val = b.String()
			} else {
				j = i
				for j < len(s) && s[j] != ' ' && s[j] != '\t' {
					j++
				}
				t.val = s[i:j]
				i = j
			}
		}
		toks = append(toks, t)
	}
	return toks, nil
}

// numericKeys maps rules-file keywords to fields.
var numericKeys = func() map[string]Field {
	m := map[string]Field{}
	for f := Field(1); f < fieldEnd; f++ {
		m[fieldNames[f]] = f
	}
	return m
}()

func parseRuleLine(s string) (*Rule, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 || toks[0].key != "rule" || toks[0].hasVal {
		return nil, errors.New(`a rule line starts with the word "rule"`)
	}
	r := &Rule{AnyProto: true}
	var hasID, hasName, hasLevel bool
	var lastContent = -1
	for _, t := range toks[1:] {
		needVal := func() error {
			if !t.hasVal || t.val == "" {
				return fmt.Errorf("%s needs a value", t.key)
			}
			return nil
		}
		switch t.key {
		case "sameip", "bidir", "nocase", "anywhere":
			if t.hasVal {
				return nil, fmt.Errorf("%s takes no value", t.key)
			}
		default:
			if err := needVal(); err != nil {
				return nil, err
			}
		}
		switch t.key {
		case "id":
			n, err := strconv.ParseUint(t.val, 10, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("id %q: want a number 1..4294967295", t.val)
			}
			r.ID, hasID = uint32(n), true
		case "name":
			r.Name, hasName = t.val, true
		case "level":
			n, err := strconv.ParseUint(t.val, 10, 8)
			if err != nil || n < 1 || n > 5 {
				return nil, fmt.Errorf("level %q: want 1..5", t.val)
			}
			r.Level, hasLevel = uint8(n), true
		case "class":
			r.Class = t.val
		case "ref":
			r.References = append(r.References, t.val)
		case "proto":
			if t.val == "ip" || t.val == "any" {
				r.AnyProto = true
				break
			}
			p, ok := event.ParseProto(t.val)
			if !ok {
				return nil, fmt.Errorf("proto %q: unknown protocol", t.val)
			}
			r.AnyProto, r.Proto = false, p
		case "src", "dst":
			a, err := parseAddrs(t.val, ',')
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.key, err)
			}
			if t.key == "src" {
				r.Src = a
			} else {
				r.Dst = a
			}
		case "sport", "dport":
			p, err := parsePorts(t.val, '-')
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.key, err)
			}
			if t.key == "sport" {
				r.SrcPorts = p
			} else {
				r.DstPorts = p
			}
		case "flags", "flags_all", "flags_none", "flags_any", "flags_ignore":
			f, err := parseFlagNames(t.val)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.key, err)
			}
			r.Flags.Set = true
			switch t.key {
			case "flags":
				r.Flags.Mask |= 0xff
				r.Flags.Value |= f
			case "flags_all":
				r.Flags.Mask |= f
				r.Flags.Value |= f
			case "flags_none":
				r.Flags.Mask |= f
			case "flags_any":
				r.Flags.Any |= f
			case "flags_ignore":
				r.Flags.Mask &^= f
				r.Flags.Value &^= f
			}
		case "ipopts":
			for _, n := range strings.Split(t.val, ",") {
				if n == "any" {
					r.IPOptAny = true
					continue
				}
				if v, ok := ipOptTypes[n]; ok {
					r.IPOpts = append(r.IPOpts, v)
					continue
				}
				v, err := strconv.ParseUint(n, 0, 8)
				if err != nil {
					return nil, fmt.Errorf("ipopts %q: want any, rr, ts, lsrr, ssrr, sec, esec, satid, ra or a number", n)
				}
				r.IPOpts = append(r.IPOpts, uint8(v))
			}
		case "content":
			c, err := parseContent(t.val)
			if err != nil {
				return nil, fmt.Errorf("content: %w", err)
			}
			r.Contents = append(r.Contents, c)
			lastContent = len(r.Contents) - 1
		case "offset":
			if lastContent < 0 {
				return nil, errors.New("offset must follow a content")
			}
			n, err := strconv.ParseUint(t.val, 10, 8)
			if err != nil || int(n)+len(r.Contents[lastContent].Bytes) > event.MaxPayload {
				return nil, fmt.Errorf("offset %q: content must end within the first %d payload bytes", t.val, event.MaxPayload)
			}
			r.Contents[lastContent].Offset = int(n)
		case "nocase", "anywhere":
			if lastContent < 0 {
				return nil, fmt.Errorf("%s must follow a content", t.key)
			}
			if t.key == "nocase" {
				r.Contents[lastContent].NoCase = true
			} else {
				r.Contents[lastContent].Anywhere = true
			}
		case "prefix":
			r.Prefix = t.val
		case "sameip":
			r.SameIP = true
		case "bidir":
			r.Bidir = true
		default:
			f, ok := numericKeys[t.key]
			if !ok {
				return nil, fmt.Errorf("unknown key %q", t.key)
			}
			c, err := parseCond(f, t.val)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.key, err)
			}
			r.Conds = append(r.Conds, c)
		}
	}
	switch {
	case !hasID:
		return nil, errors.New("missing id")
	case !hasName:
		return nil, errors.New("missing name")
	case !hasLevel:
		return nil, errors.New("missing level")
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// check rejects rules whose tests contradict the protocol.
func (r *Rule) check() error {
	if r.Flags.Set && !r.AnyProto && r.Proto != event.ProtoTCP {
		return errors.New("flags need proto=tcp")
	}
	if (!r.SrcPorts.Any() || !r.DstPorts.Any()) && !r.AnyProto && !hasPorts(r.Proto) {
		return fmt.Errorf("ports need a protocol with ports, not %s", r.Proto)
	}
	return nil
}

// parseUint reads a decimal or 0x-prefixed number no larger than max.
func parseUint(s string, max uint32) (uint32, error) {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil || uint32(n) > max {
		return 0, fmt.Errorf("%q is not a number 0..%d", s, max)
	}
	return uint32(n), nil
}

// parseCond reads N, N-M, <N, >N, <=N, >=N, each optionally preceded by !.
func parseCond(f Field, s string) (Cond, error) {
	c := Cond{Field: f}
	max := fieldMax[f]
	if strings.HasPrefix(s, "!") {
		c.Not, s = true, s[1:]
	}
	var err error
	switch {
	case strings.HasPrefix(s, "<="):
		c.Hi, err = parseUint(s[2:], max)
	case strings.HasPrefix(s, ">="):
		c.Lo, err = parseUint(s[2:], max)
		c.Hi = max
	case strings.HasPrefix(s, "<"):
		c.Hi, err = parseUint(s[1:], max)
		if err == nil && c.Hi == 0 {
			return c, errors.New("<0 never matches")
		}
		c.Hi--
	case strings.HasPrefix(s, ">"):
		c.Lo, err = parseUint(s[1:], max)
		if err == nil && c.Lo == max {
			return c, fmt.Errorf(">%d never matches", max)
		}
		c.Lo++
		c.Hi = max
	default:
		lo, hi, ok := strings.Cut(s, "-")
		if c.Lo, err = parseUint(lo, max); err != nil {
			return c, err
		}
		c.Hi = c.Lo
		if ok {
			if c.Hi, err = parseUint(hi, max); err == nil && c.Hi < c.Lo {
				err = fmt.Errorf("range %s is backwards", s)
			}
		}
	}
	return c, err
}

// parsePorts reads a port list: "any", or comma-separated ports and ranges
// (lo<sep>hi, either end may be empty), the whole list optionally preceded
// by "!" and optionally in brackets.
func parsePorts(s string, sep byte) (Ports, error) {
	var p Ports
	if s == "any" {
		return p, nil
	}
	if strings.HasPrefix(s, "!") {
		p.Not, s = true, s[1:]
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return p, errors.New("empty port list")
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, string(sep))
		var r Range
		if lo == "" && !isRange {
			return p, errors.New("empty port in list")
		}
		if lo != "" {
			n, err := parseUint(lo, 65535)
			if err != nil {
				return p, err
			}
			r.Lo = uint16(n)
		}
		r.Hi = r.Lo
		if isRange {
			r.Hi = 65535
			if hi != "" {
				n, err := parseUint(hi, 65535)
				if err != nil {
					return p, err
				}
				r.Hi = uint16(n)
			}
			if r.Hi < r.Lo {
				return p, fmt.Errorf("port range %s is backwards", part)
			}
		}
		p.Ranges = append(p.Ranges, r)
	}
	return p, nil
}

// parseAddrs reads "any" or a list of addresses and prefixes, optionally
// preceded by "!" and in brackets.
func parseAddrs(s string, sep byte) (Addrs, error) {
	var a Addrs
	if s == "any" {
		return a, nil
	}
	if strings.HasPrefix(s, "!") {
		a.Not, s = true, s[1:]
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	for _, part := range strings.Split(s, string(sep)) {
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return a, fmt.Errorf("address %q: %w", part, err)
			}
			a.Prefixes = append(a.Prefixes, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(part)
		if err != nil {
			return a, fmt.Errorf("address %q: %w", part, err)
		}
		ip = ip.Unmap()
		a.Prefixes = append(a.Prefixes, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return a, nil
}

var flagWords = map[string]event.TCPFlags{
	"FIN": event.FlagFIN, "SYN": event.FlagSYN, "RST": event.FlagRST, "PSH": event.FlagPSH,
	"ACK": event.FlagACK, "URG": event.FlagURG, "ECE": event.FlagECE, "CWR": event.FlagCWR,
	"F": event.FlagFIN, "S": event.FlagSYN, "R": event.FlagRST, "P": event.FlagPSH,
	"A": event.FlagACK, "U": event.FlagURG, "E": event.FlagECE, "C": event.FlagCWR,
}

// parseFlagNames reads a comma list of flag names (FIN, SYN, ... or their
// first letters), or "none"/"0" for no flag.
func parseFlagNames(s string) (event.TCPFlags, error) {
	if s == "none" || s == "0" {
		return 0, nil
	}
	var f event.TCPFlags
	for _, n := range strings.Split(s, ",") {
		v, ok := flagWords[strings.ToUpper(n)]
		if !ok {
			return 0, fmt.Errorf("unknown flag %q", n)
		}
		f |= v
	}
	return f, nil
}

// parseContent reads a byte string where |hex hex ...| spans give raw bytes.
func parseContent(s string) (Content, error) {
	var c Content
	if strings.HasPrefix(s, "!") {
		c.Not, s = true, s[1:]
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '|' {
			b = append(b, s[i])
			continue
		}
		end := strings.IndexByte(s[i+1:], '|')
		if end < 0 {
			return c, errors.New("unterminated |hex| span")
		}
		hex := strings.Fields(s[i+1 : i+1+end])
		for _, h := range hex {
			for len(h) > 0 {
				if len(h) < 2 {
					return c, fmt.Errorf("odd hex digits in %q", h)
				}
				v, err := strconv.ParseUint(h[:2], 16, 8)
				if err != nil {
					return c, fmt.Errorf("bad hex %q", h[:2])
				}
				b = append(b, byte(v))
				h = h[2:]
			}
		}
		i += end + 1
	}
	if len(b) == 0 || len(b) > event.MaxPayload {
		return c, fmt.Errorf("content must be 1..%d bytes", event.MaxPayload)
	}
	c.Bytes = b
	return c, nil
}
