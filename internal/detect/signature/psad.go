package signature

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
)

// Skip is a psad signature that could not be translated.
type Skip struct {
	Line   int
	Reason string
}

// PsadResult is what ParsePsad loaded and skipped.
type PsadResult struct {
	File    string
	Rules   []*Rule
	Skipped []Skip
}

// ParsePsad reads psad's signatures file (/etc/psad/signatures: Snort-like
// "alert tcp $EXTERNAL_NET any -> $HOME_NET 27374 (msg:...; flags:S;
// psad_id:...; psad_dl:2;)" lines). Every line it can express becomes a
// Rule (ID psad_id, Level psad_dl); every other non-comment line is
// reported in Skipped with its line number and reason. Only a read error
// is an error.
//
// Translation: $HOME_NET, $EXTERNAL_NET, $HTTP_SERVERS (and the other *_SERVERS psad.conf sets to $HOME_NET) and any mean any
// address (psad.conf's defaults); addresses and prefixes are kept; "<>" matches
// both directions; msg, flags (Snort letters, + * ! modifiers and the ",12"
// ignore mask), dsize and psad_dsize (payload length, see dsize), psad_ip_len
// (IP length), itype, icode, icmp_id, icmp_seq, id, ttl, seq, window, ipopts,
// sameip, reference, sid and classtype. Any other keyword skips the rule.
func ParsePsad(r io.Reader, file string) (*PsadResult, error) {
	res := &PsadResult{File: file}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLineLen)
	seen := map[uint32]int{}
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		rule, err := parsePsadLine(s)
		if err == nil {
			if prev, dup := seen[rule.ID]; dup {
				err = fmt.Errorf("duplicate psad_id %d (first at line %d)", rule.ID, prev)
			}
		}
		if err != nil {
			res.Skipped = append(res.Skipped, Skip{Line: line, Reason: err.Error()})
			continue
		}
		seen[rule.ID] = line
		rule.Origin = file + ":" + strconv.Itoa(line)
		res.Rules = append(res.Rules, rule)
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read psad signatures %s after line %d: %w", file, line, err)
	}
	return res, nil
}

func psadAddrs(s string) (Addrs, error) {
	switch s {
	case "any", "$HOME_NET", "$EXTERNAL_NET":
		return Addrs{}, nil
	}
	switch s {
	case "$HTTP_SERVERS", "$SMTP_SERVERS", "$DNS_SERVERS", "$SQL_SERVERS", "$TELNET_SERVERS":
		// psad.conf defines these as $HOME_NET, which is any by default.
		return Addrs{}, nil
	}
	if strings.Contains(s, "$") {
		return Addrs{}, fmt.Errorf("unknown variable %s", s)
	}
	return parseAddrs(s, ',')
}

func parsePsadLine(s string) (*Rule, error) {
	open := strings.IndexByte(s, '(')
	closeIdx := strings.LastIndexByte(s, ')')
	if open < 0 || closeIdx < open {
		return nil, errors.New("no (options) part")
	}
	if tail := strings.Trim(s[closeIdx+1:], " \t;"); tail != "" {
		return nil, fmt.Errorf("text after options: %q", tail)
	}
	head := strings.Fields(s[:open])
	if len(head) != 7 {
		return nil, fmt.Errorf("header has %d words, want 7 (action proto src sport dir dst dport)", len(head))
	}
	if head[0] != "alert" {
		return nil, fmt.Errorf("action %q is not alert", head[0])
	}
	r := &Rule{}
	if head[1] == "ip" {
		r.AnyProto = true
	} else {
		p, ok := event.ParseProto(head[1])
		if !ok {
			return nil, fmt.Errorf("unknown protocol %q", head[1])
		}
		r.Proto = p
	}
	var err error
	if r.Src, err = psadAddrs(head[2]); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if r.Dst, err = psadAddrs(head[5]); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	if r.SrcPorts, err = parsePorts(head[3], ':'); err != nil {
		return nil, fmt.Errorf("source port: %w", err)
	}
	if r.DstPorts, err = parsePorts(head[6], ':'); err != nil {
		return nil, fmt.Errorf("destination port: %w", err)
	}
	switch head[4] {
	case "->":
	case "<>":
		r.Bidir = true
	default:
		return nil, fmt.Errorf("direction %q is neither -> nor <>", head[4])
	}
	if err := r.psadOptions(s[open+1 : closeIdx]); err != nil {
		return nil, err
	}
	if r.ID == 0 {
		return nil, errors.New("no psad_id")
	}
	if r.Level == 0 {
		return nil, errors.New("no psad_dl")
	}
	if r.Name == "" {
		return nil, errors.New("no msg")
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// splitOptions splits "k:v; k:v;" on semicolons outside quotes, honouring
// backslash escapes.
func splitOptions(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	inQ := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i++
		case c == '"':
			inQ = !inQ
			b.WriteByte(c)
		case c == ';' && !inQ:
			if t := strings.TrimSpace(b.String()); t != "" {
				out = append(out, t)
			}
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	if inQ {
		return nil, errors.New("unterminated quote in options")
	}
	if t := strings.TrimSpace(b.String()); t != "" {
		out = append(out, t)
	}
	return out, nil
}

var psadCondKeys = map[string]Field{
	"dsize": FieldDsize, "psad_dsize": FieldDsize, "psad_ip_len": FieldLen,
	"itype": FieldICMPType, "icode": FieldICMPCode, "icmp_id": FieldICMPID,
	"icmp_seq": FieldICMPSeq, "id": FieldIPID, "ttl": FieldTTL, "seq": FieldSeq,
	"window": FieldWindow, "ack": FieldAck,
}

func (r *Rule) psadOptions(s string) error {
	opts, err := splitOptions(s)
	if err != nil {
		return err
	}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "msg":
			if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
				return fmt.Errorf("msg %q is not quoted", v)
			}
			r.Name = v[1 : len(v)-1]
		case "psad_id":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 {
				return fmt.Errorf("psad_id %q is not a number", v)
			}
			r.ID = uint32(n)
		case "psad_dl":
			n, err := strconv.ParseUint(v, 10, 8)
			if err != nil || n < 1 || n > 5 {
				return fmt.Errorf("psad_dl %q: want 1..5", v)
			}
			r.Level = uint8(n)
		case "sid":
			r.References = append(r.References, "snort-sid,"+v)
		case "reference":
			r.References = append(r.References, v)
		case "classtype":
			r.Class = v
		case "psad_derived_sids":
			// provenance only
		case "flags":
			f, err := psadFlags(v)
			if err != nil {
				return err
			}
			r.Flags = f
		case "ipopts":
			t, ok := ipOptTypes[v]
			switch {
			case v == "any":
				r.IPOptAny = true
			case ok:
				r.IPOpts = append(r.IPOpts, t)
			default:
				return fmt.Errorf("ipopts %q unknown", v)
			}
		case "sameip":
			r.SameIP = true
		default:
			f, ok := psadCondKeys[k]
			if !ok {
				return fmt.Errorf("unsupported keyword %q", k)
			}
			c, err := parseCond(f, strings.ReplaceAll(v, " ", ""))
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			r.Conds = append(r.Conds, c)
		}
	}
	return nil
}

// psadFlags reads Snort's flags option: letters F S R P A U, C or 1 (CWR),
// E or 2 (ECE), 0 (none); a leading or trailing + (these and any others),
// * (any of these) or ! (none of these); ",MASK" lists flags to ignore.
func psadFlags(v string) (Flags, error) {
	f := Flags{Set: true}
	spec, ign, _ := strings.Cut(v, ",")
	var mod byte
	if spec != "" && strings.IndexByte("+*!", spec[0]) >= 0 {
		mod, spec = spec[0], spec[1:]
	} else if spec != "" && strings.IndexByte("+*!", spec[len(spec)-1]) >= 0 {
		mod, spec = spec[len(spec)-1], spec[:len(spec)-1]
	}
	letters := func(s string) (event.TCPFlags, error) {
		var x event.TCPFlags
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case 'F':
				x |= event.FlagFIN
			case 'S':
				x |= event.FlagSYN
			case 'R':
				x |= event.FlagRST
			case 'P':
				x |= event.FlagPSH
			case 'A':
				x |= event.FlagACK
			case 'U':
				x |= event.FlagURG
			case 'C', '1':
				x |= event.FlagCWR
			case 'E', '2':
				x |= event.FlagECE
			case '0':
			default:
				return 0, fmt.Errorf("flags: unknown letter %q", s[i])
			}
		}
		return x, nil
	}
	set, err := letters(spec)
	if err != nil {
		return f, err
	}
	if spec == "" {
		return f, errors.New("flags: empty")
	}
	ignore, err := letters(ign)
	if err != nil {
		return f, err
	}
	switch mod {
	case 0:
		f.Mask, f.Value = 0xff&^ignore, set&^ignore
	case '+':
		f.Mask, f.Value = set, set
	case '*':
		f.Any = set
	case '!':
		f.Mask = set
	}
	return f, nil
}
