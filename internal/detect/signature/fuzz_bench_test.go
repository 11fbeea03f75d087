package signature

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/darkscope/darkscope/internal/event"
)

// FuzzSignatureFile feeds arbitrary text to both rules parsers: they must
// not panic, every loaded rule must be valid, and a Matcher built from them
// must match a packet without panicking.
func FuzzSignatureFile(f *testing.F) {
	// Small seeds keep the fuzzer fast (it minimises every new input): a
	// few lines of each real file rather than the whole files.
	for _, l := range strings.SplitAfter(string(defaultRules), "\n") {
		if strings.HasPrefix(l, "rule ") {
			f.Add([]byte(l))
		}
	}
	if b, err := os.ReadFile(psadFile); err == nil {
		for i, l := range strings.SplitAfter(string(b), "\n") {
			if strings.HasPrefix(l, "alert ") && i%15 == 0 {
				f.Add([]byte(l))
			}
		}
	}
	f.Add([]byte(`rule id=1 name="x" level=1 proto=udp content="|00 01|ab" offset=3 nocase dport=[1:5,9]`))
	f.Add([]byte(`alert tcp any 1: <> [1.2.3.4,10.0.0.0/8] !80 (msg:"a;b"; flags:!SF*,12; ttl:<3; psad_id:1; psad_dl:5;)`))
	e := pkt(event.ProtoTCP, func(e *event.Event) { e.SetPayload([]byte("abcdefgh"), 8) })
	f.Fuzz(func(t *testing.T, b []byte) {
		var rules []*Rule
		if rs, err := Parse(bytes.NewReader(b), "f"); err == nil {
			rules = append(rules, rs...)
		}
		res, err := ParsePsad(bytes.NewReader(b), "p")
		if err == nil {
			rules = append(rules, res.Rules...)
			for _, s := range res.Skipped {
				if s.Line < 1 || s.Reason == "" {
					t.Fatalf("bad skip %+v", s)
				}
			}
		}
		for _, r := range rules {
			if r.ID == 0 || r.Name == "" || r.Level < 1 || r.Level > 5 || !strings.Contains(r.Origin, ":") {
				t.Fatalf("invalid rule %+v", r)
			}
			for _, c := range r.Conds {
				if c.Lo > c.Hi || c.Field == 0 || c.Field >= fieldEnd {
					t.Fatalf("invalid cond %+v", c)
				}
			}
			for _, c := range r.Contents {
				if len(c.Bytes) == 0 || len(c.Bytes) > event.MaxPayload || c.Offset < 0 {
					t.Fatalf("invalid content %+v", c)
				}
			}
		}
		m := New(rules)
		for _, p := range []event.Proto{event.ProtoTCP, event.ProtoUDP, event.ProtoICMP, 0} {
			e.Proto = p
			m.Match(e, func(*Rule) {})
		}
	})
}

// benchEvents is a mix shaped like a telescope's traffic: mostly TCP SYNs to
// many ports, some UDP and ICMP, a few odd flag combinations.
func benchEvents(n int) []event.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	evs := make([]event.Event, n)
	for i := range evs {
		e := &evs[i]
		e.IPVersion, e.IHL, e.TTL = 4, 20, uint8(30+rng.IntN(220))
		e.Src = netip.AddrFrom4([4]byte{byte(rng.IntN(223) + 1), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		e.Dst = netip.AddrFrom4([4]byte{10, 99, byte(rng.IntN(256)), byte(rng.IntN(256))})
		e.SrcPort, e.DstPort = uint16(rng.IntN(65536)), uint16(rng.IntN(65536))
		switch r := rng.IntN(100); {
		case r < 80:
			e.Proto, e.Flags, e.TotalLen, e.Window = event.ProtoTCP, event.FlagSYN, 44, 1024
			if r < 3 {
				e.Flags = event.TCPFlags(rng.IntN(256))
			}
		case r < 93:
			e.Proto, e.TotalLen, e.UDPLen = event.ProtoUDP, uint16(28+rng.IntN(500)), 8
		default:
			e.Proto, e.ICMPType, e.TotalLen = event.ProtoICMP, uint8(rng.IntN(20)), 84
		}
	}
	return evs
}

func BenchmarkMatchDefaults(b *testing.B) { benchMatch(b, Config{}) }

func BenchmarkMatchDefaultsAndPsad(b *testing.B) {
	if _, err := os.Stat(psadFile); err != nil {
		b.Skip("needs psad's signatures file")
	}
	benchMatch(b, Config{PsadFiles: []string{psadFile}})
}

func benchMatch(b *testing.B, cfg Config) {
	m, _, err := Load(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	evs := benchEvents(4096)
	hits := 0
	hit := func(*Rule) { hits++ }
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		m.Match(&evs[n%len(evs)], hit)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	if hits == 0 {
		b.Fatal("no rule ever fired")
	}
}

func TestMatchAllocs(t *testing.T) {
	m, _, err := Load(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := benchEvents(256)
	hit := func(*Rule) {}
	if a := testing.AllocsPerRun(10, func() {
		for i := range evs {
			m.Match(&evs[i], hit)
		}
	}); a != 0 {
		t.Fatalf("Match allocates %.1f times per 256 events", a)
	}
}
