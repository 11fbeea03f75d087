package detect

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// TestOriginTagsImports checks import tagging: an engine built WithOrigin
// tags the verdicts and alerts of the sources it sees; TagSource tags only
// the events of one source name; live packets later clear the tag; the tag
// survives Save and Load.
func TestOriginTagsImports(t *testing.T) {
	const id = "import:2026-11-23T10:00:00Z:kern.log"
	scan := func(src string, at time.Duration) []pkt {
		var ps []pkt
		for p := uint16(1); p <= 20; p++ {
			ps = append(ps, synTo(src, "192.0.2.1", p, at+time.Duration(p)*time.Millisecond))
		}
		return ps
	}
	g := newEngine(t, nil, WithOrigin(id))
	al := run(g, scan("198.51.100.7", 0), 2*time.Minute)
	if len(al) == 0 || al[0].Origin != id {
		t.Fatalf("alerts of an import engine: %v", al)
	}
	if v, ok := g.Verdict(netip.MustParseAddr("198.51.100.7")); !ok || v.Origin != id {
		t.Fatalf("verdict origin %q, want %q", v.Origin, id)
	}
	var buf bytes.Buffer
	if err := g.Save(&buf); err != nil {
		t.Fatal(err)
	}
	live := newEngine(t, nil)
	if err := live.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if v, _ := live.Verdict(netip.MustParseAddr("198.51.100.7")); v.Origin != id {
		t.Fatalf("origin after Save/Load %q, want %q", v.Origin, id)
	}
	// The same source seen live: its latest packets are no longer imported.
	e := synTo("198.51.100.7", "192.0.2.1", 80, 3*time.Minute).ev()
	live.Observe(&e, func(event.Event) {})
	if v, _ := live.Verdict(netip.MustParseAddr("198.51.100.7")); v.Origin != "" {
		t.Errorf("origin after a live packet %q, want live (empty)", v.Origin)
	}

	// TagSource: only events of the tagged source name carry the id.
	d := newEngine(t, nil)
	d.TagSource("file:/var/log/old.log", id)
	var alerts []*event.Alert
	emit := func(e event.Event) { alerts = append(alerts, e.Alert) }
	for i, p := range append(scan("203.0.113.5", 0), scan("203.0.113.6", 0)...) {
		e := p.ev()
		if i < 20 {
			e.Source = "file:/var/log/old.log"
		} else {
			e.Source = "nflog:5"
		}
		d.Observe(&e, emit)
	}
	d.UntagSource("file:/var/log/old.log")
	e = synTo("203.0.113.7", "192.0.2.1", 1, time.Second).ev()
	e.Source = "file:/var/log/old.log"
	d.Observe(&e, emit)
	d.Advance(t0.Add(5*time.Minute), emit)
	got := map[string]string{}
	for _, a := range alerts {
		got[a.Src.String()] = a.Origin
	}
	if got["203.0.113.5"] != id || got["203.0.113.6"] != "" {
		t.Errorf("alert origins %v: want only 203.0.113.5 tagged", got)
	}
	if v, _ := d.Verdict(netip.MustParseAddr("203.0.113.7")); v.Origin != "" {
		t.Errorf("an event after UntagSource is tagged %q", v.Origin)
	}
	if got := ImportID(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), "/var/log/kern.log"); got != id {
		t.Errorf("ImportID = %q, want %q", got, id)
	}
}

// TestSummary checks the detector's summary on a small known population.
func TestSummary(t *testing.T) {
	g := newEngine(t, nil)
	var ps []pkt
	// Two sources scan ports 1-20 of one host (level 2 each), a third only port 22 once.
	for _, src := range []string{"198.51.100.1", "198.51.100.2"} {
		for p := uint16(1); p <= 20; p++ {
			ps = append(ps, synTo(src, "192.0.2.1", p, time.Duration(p)*time.Millisecond))
		}
	}
	ps = append(ps, synTo("198.51.100.3", "192.0.2.1", 22, time.Second))
	ps = append(ps, pkt{src: "198.51.100.9", dst: "192.0.2.5", proto: event.ProtoTCP, sport: 443, dport: 40000,
		flags: event.FlagSYN | event.FlagACK, win: 29200, at: time.Second})
	run(g, ps, time.Minute)
	sm := g.Summary(3)
	if sm.Sources != 4 || sm.ByLevel[2] != 2 || sm.ByLevel[0] != 2 || sm.Backscatter != 1 {
		t.Errorf("counts: sources %d by level %v backscatter %d", sm.Sources, sm.ByLevel, sm.Backscatter)
	}
	if len(sm.TopPorts) != 3 || sm.TopPorts[0] != (PortCount{"1/tcp", 2}) || sm.TopPorts[2] != (PortCount{"3/tcp", 2}) {
		t.Errorf("top ports %v", sm.TopPorts)
	}
	if len(sm.TopSources) != 3 || sm.TopSources[0].DangerLevel != 2 {
		t.Errorf("top sources %v", sm.TopSources)
	}
	if sm.Victims != 1 || len(sm.TopVictims) != 1 || sm.TopVictims[0].Addr.String() != "198.51.100.9" {
		t.Errorf("victims %d %v", sm.Victims, sm.TopVictims)
	}
}

// BenchmarkObserveImportTagged: BenchmarkObserve's mix read by an import
// running through a daemon's engine (TagSource): the per-event cost of the
// origin lookup.
func BenchmarkObserveImportTagged(b *testing.B) {
	evs := benchEvents(1<<16, 10_000)
	for i := range evs {
		evs[i].Source = "file:/var/log/kern.log.1"
	}
	g, err := New(DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	g.TagSource("file:/var/log/kern.log.1", ImportID(time.Unix(0, 0), "/var/log/kern.log.1"))
	emit := func(event.Event) {}
	shift := evs[len(evs)-1].Time.Sub(evs[0].Time) + time.Millisecond
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		e := &evs[n&(len(evs)-1)]
		if n&(len(evs)-1) == 0 && n > 0 {
			for k := range evs {
				evs[k].Time = evs[k].Time.Add(shift)
			}
		}
		g.Observe(e, emit)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// icmpSigAnnotator names every ICMP packet with an odd code, as the default
// "... with undefined code" signatures do (level 2).
type icmpSigAnnotator struct{}

func (icmpSigAnnotator) Annotate(e *event.Event, v *SourceView) {
	if e.Proto == event.ProtoICMP && e.ICMPCode != 0 {
		v.AddSignature("ICMP undefined code", 2)
	}
}

// TestBackscatterSignatureRaisesNoLevel: a signature on a backscatter
// packet (an echo reply with code 1) is named, but the sender — a victim —
// keeps level 0; the same signature on a probe (echo request code 1)
// raises the level.
func TestBackscatterSignatureRaisesNoLevel(t *testing.T) {
	g := newEngine(t, nil, WithAnnotator(icmpSigAnnotator{}))
	run(g, []pkt{
		{src: "198.51.100.7", dst: "192.0.2.1", proto: event.ProtoICMP, icmpType: 0, icmpCd: 1},
		{src: "198.51.100.8", dst: "192.0.2.1", proto: event.ProtoICMP, icmpType: 8, icmpCd: 1},
	}, time.Minute)
	v, _ := g.Verdict(netip.MustParseAddr("198.51.100.7"))
	if v.DangerLevel != 0 || !v.Backscatter || len(v.Signatures) != 1 {
		t.Errorf("backscatter sender: level %d backscatter %v signatures %v", v.DangerLevel, v.Backscatter, v.Signatures)
	}
	v, _ = g.Verdict(netip.MustParseAddr("198.51.100.8"))
	if v.DangerLevel != 2 || v.Backscatter {
		t.Errorf("prober: level %d backscatter %v", v.DangerLevel, v.Backscatter)
	}
}
