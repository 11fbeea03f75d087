package signature

import (
	"bytes"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
)

//go:embed default.rules
var defaultRules []byte

// DefaultRules returns darkscope's embedded default rule set.
func DefaultRules() ([]*Rule, error) {
	return Parse(bytes.NewReader(defaultRules), "default.rules")
}

// Config says which rules a Matcher loads.
type Config struct {
	NoDefaults bool     // leave out the embedded default set
	Files      []string // darkscope rules files (strict: an error stops Load)
	PsadFiles  []string // psad signatures files (untranslatable lines are skipped and reported)
}

// Report says what Load loaded from each input.
type Report struct {
	Defaults int // rules from the embedded set
	Files    map[string]int
	Psad     []*PsadResult // Rules and Skipped per psad file
}

// maxIndexedRange is the widest destination-port range that is indexed per
// port; wider ones are checked for every packet of their protocol.
const maxIndexedRange = 1024

// bucket holds the rules of one protocol.
type bucket struct {
	byKey map[uint16][]*Rule // destination port (TCP/UDP/...) or ICMP type
	rest  []*Rule            // rules the key cannot narrow
}

// Matcher matches events against an indexed rule set. It is read-only after
// construction and safe for concurrent use.
type Matcher struct {
	rules    []*Rule
	protos   [256]*bucket
	anyProto []*Rule
}

// Load builds a Matcher from the embedded defaults (unless cfg.NoDefaults),
// cfg.Files and cfg.PsadFiles. Rule IDs must be unique across all inputs;
// a psad rule whose ID is taken is skipped and reported. It logs one line
// per psad file with its loaded and skipped counts.
func Load(cfg Config, logger *slog.Logger) (*Matcher, *Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rep := &Report{Files: map[string]int{}}
	var all []*Rule
	if !cfg.NoDefaults {
		d, err := DefaultRules()
		if err != nil {
			return nil, nil, fmt.Errorf("embedded rules: %w", err)
		}
		all = append(all, d...)
		rep.Defaults = len(d)
	}
	for _, f := range cfg.Files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, nil, fmt.Errorf("open rules: %w", err)
		}
		rs, err := Parse(fh, f)
		fh.Close()
		if err != nil {
			return nil, nil, err
		}
		all = append(all, rs...)
		rep.Files[f] = len(rs)
	}
	ids := map[uint32]string{}
	for _, r := range all {
		if o, dup := ids[r.ID]; dup {
			return nil, nil, fmt.Errorf("rule id %d at %s is already used at %s", r.ID, r.Origin, o)
		}
		ids[r.ID] = r.Origin
	}
	for _, f := range cfg.PsadFiles {
		fh, err := os.Open(f)
		if err != nil {
			return nil, nil, fmt.Errorf("open psad signatures: %w", err)
		}
		res, err := ParsePsad(fh, f)
		fh.Close()
		if err != nil {
			return nil, nil, err
		}
		kept := res.Rules[:0]
		for _, r := range res.Rules {
			if o, dup := ids[r.ID]; dup {
				res.Skipped = append(res.Skipped, Skip{Line: lineOf(r.Origin), Reason: fmt.Sprintf("psad_id %d already used at %s", r.ID, o)})
				continue
			}
			ids[r.ID] = r.Origin
			kept = append(kept, r)
		}
		res.Rules = kept
		all = append(all, kept...)
		rep.Psad = append(rep.Psad, res)
		logger.Info("psad signatures loaded", "file", f, "loaded", len(res.Rules), "skipped", len(res.Skipped))
		for _, s := range res.Skipped {
			logger.Debug("psad signature skipped", "file", f, "line", s.Line, "reason", s.Reason)
		}
	}
	return New(all), rep, nil
}

// lineOf returns the line number of an Origin "file:line".
func lineOf(origin string) int {
	i := strings.LastIndexByte(origin, ':')
	n, _ := strconv.Atoi(origin[i+1:])
	return n
}

// New indexes rules (already validated by Parse or ParsePsad) into a Matcher.
func New(rules []*Rule) *Matcher {
	m := &Matcher{rules: rules}
	for _, r := range rules {
		if r.AnyProto {
			m.anyProto = append(m.anyProto, r)
			continue
		}
		b := m.protos[r.Proto]
		if b == nil {
			b = &bucket{byKey: map[uint16][]*Rule{}}
			m.protos[r.Proto] = b
		}
		keys, ok := indexKeys(r)
		if !ok {
			b.rest = append(b.rest, r)
			continue
		}
		for _, k := range keys {
			b.byKey[k] = append(b.byKey[k], r)
		}
	}
	return m
}

// indexKeys lists the keys a rule can be found under, or false when the key
// cannot narrow it.
func indexKeys(r *Rule) ([]uint16, bool) {
	if isICMP(r.Proto) {
		var keys []uint16
		for _, c := range r.Conds {
			if c.Field == FieldICMPType && !c.Not && c.Hi-c.Lo < 256 {
				for v := c.Lo; v <= c.Hi; v++ {
					keys = append(keys, uint16(v))
				}
				return keys, true
			}
		}
		return nil, false
	}
	if !hasPorts(r.Proto) || r.Bidir || r.DstPorts.Not || r.DstPorts.Any() {
		return nil, false
	}
	n := 0
	for _, rg := range r.DstPorts.Ranges {
		n += int(rg.Hi) - int(rg.Lo) + 1
	}
	if n > maxIndexedRange {
		return nil, false
	}
	keys := make([]uint16, 0, n)
	for _, rg := range r.DstPorts.Ranges {
		for p := int(rg.Lo); p <= int(rg.Hi); p++ {
			keys = append(keys, uint16(p))
		}
	}
	return keys, true
}

// Rules returns every loaded rule in load order.
func (m *Matcher) Rules() []*Rule { return m.rules }

// Match calls hit for every rule that fires on e (each at most once, in a
// fixed order: indexed rules, the protocol's other rules, then rules for
// any protocol). It allocates nothing.
func (m *Matcher) Match(e *event.Event, hit func(*Rule)) {
	if b := m.protos[e.Proto]; b != nil {
		key, keyed := uint16(0), false
		switch {
		case isICMP(e.Proto):
			key, keyed = uint16(e.ICMPType), true
		case hasPorts(e.Proto):
			key, keyed = e.DstPort, true
		}
		if keyed {
			for _, r := range b.byKey[key] {
				if r.Matches(e) {
					hit(r)
				}
			}
		}
		for _, r := range b.rest {
			if r.Matches(e) {
				hit(r)
			}
		}
	}
	for _, r := range m.anyProto {
		if r.Matches(e) {
			hit(r)
		}
	}
}
