package tool

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/darkscope/darkscope/internal/event"
)

// syn builds a TCP SYN from src to dst:dport.
func syn(src, dst string, sport, dport uint16, mod func(e *event.Event)) *event.Event {
	e := &event.Event{
		IPVersion: 4, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		Proto: event.ProtoTCP, IHL: 20, TotalLen: 40, TTL: 50, IPID: 1234,
		SrcPort: sport, DstPort: dport, Flags: event.FlagSYN, Window: 29200, HasSeq: true, Seq: 77,
	}
	if mod != nil {
		mod(e)
	}
	return e
}

func dstU32(e *event.Event) uint32 {
	b := e.Dst.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

var linuxOpts = []byte{2, 4, 5, 180, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7}

// craft returns n probes of one source shaped by mod(i, e).
func craft(n int, mod func(i int, rng *rand.Rand, e *event.Event)) []*event.Event {
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	var evs []*event.Event
	for i := 0; i < n; i++ {
		dst := netip.AddrFrom4([4]byte{10, 99, byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		e := syn("198.51.100.7", dst.String(), uint16(30000+rng.IntN(30000)), uint16(1+rng.IntN(65535)), nil)
		e.IPID, e.Seq, e.TTL = uint32(rng.IntN(65536)), rng.Uint32(), uint8(40+rng.IntN(20))
		mod(i, rng, e)
		evs = append(evs, e)
	}
	return evs
}

func verdict(evs []*event.Event) (Tool, bool) {
	var s State
	for _, e := range evs {
		s.Observe(e)
	}
	return s.Verdict()
}

// TestCraftedTools feeds probes built from each tool's documented
// invariants (sources in docs/fingerprints.md) and checks the name; each
// tool also has near-miss cases that must not be named.
func TestCraftedTools(t *testing.T) {
	tests := []struct {
		name string
		evs  []*event.Event
		want string // "" = no verdict
	}{
		{"zmap tcp: IP ID 54321, TTL 255, window 65535", craft(5, func(_ int, _ *rand.Rand, e *event.Event) {
			e.IPID, e.TTL, e.Window = 54321, 250, 65535
		}), NameZMap},
		{"zmap udp: IP ID 54321, TTL 255, checksum 0", craft(4, func(_ int, _ *rand.Rand, e *event.Event) {
			e.Proto, e.Flags, e.IPID, e.TTL, e.HasUDPChecksum, e.UDPChecksum = event.ProtoUDP, 0, 54321, 249, true, 0
		}), NameZMap},
		{"one IP ID 54321 by chance is not zmap", craft(6, func(i int, _ *rand.Rand, e *event.Event) {
			if i == 0 {
				e.IPID, e.TTL = 54321, 250
			}
		}), ""},
		{"IP ID 54321 but TTL 64 (not initial 255) is not zmap", craft(6, func(_ int, _ *rand.Rand, e *event.Event) {
			e.IPID, e.TTL = 54321, 60
		}), ""},
		{"masscan 1.3: IP ID = dst^dport^seq, window 1024, fixed sport", craft(6, func(_ int, _ *rand.Rand, e *event.Event) {
			e.Window, e.SrcPort, e.TTL = 1024, 61000, 250
			e.IPID = (dstU32(e) ^ uint32(e.DstPort) ^ e.Seq) & 0xffff
		}), NameMasscan},
		{"masscan new: window 1025 + MSS", craft(4, func(_ int, _ *rand.Rand, e *event.Event) {
			e.Window, e.SrcPort = 1025, 61000
			e.SetTCPOptions([]byte{2, 4, 5, 180})
			e.IPID = (dstU32(e) ^ uint32(e.DstPort) ^ e.Seq) & 0xffff
		}), NameMasscan},
		{"one masscan-like IP ID by chance is not masscan", craft(8, func(i int, _ *rand.Rand, e *event.Event) {
			if i == 3 {
				e.IPID = (dstU32(e) ^ uint32(e.DstPort) ^ e.Seq) & 0xffff
			}
		}), ""},
		{"mirai: seq == dst", craft(3, func(_ int, rng *rand.Rand, e *event.Event) {
			e.Seq, e.DstPort, e.Window = dstU32(e), 23, uint16(rng.IntN(65536))
		}), NameMirai},
		{"nmap -sS: window 1024, MSS 1460 only, fixed sport and seq, TTL varies", craft(6, func(i int, _ *rand.Rand, e *event.Event) {
			e.Window, e.SrcPort, e.Seq, e.TTL = 1024, 62265, 1691346271, uint8(37+i*4)
			e.SetTCPOptions([]byte{2, 4, 5, 180})
		}), NameNmap},
		{"window 1024 with a Linux option layout is not nmap", craft(6, func(_ int, _ *rand.Rand, e *event.Event) {
			e.Window = 1024
			e.SetTCPOptions(linuxOpts)
		}), ""},
		// Unicornscan: its -W help lists profile 0 ("cisco") as the default;
		// that profile is TTL 255, DF clear, window 4128, MSS-only options
		// (unicornscan docs, github.com/robertelee78/unicornscan, OS
		// fingerprint quick reference). Not packaged in Debian: crafted only.
		{"unicornscan default profile", craft(5, func(_ int, _ *rand.Rand, e *event.Event) {
			e.Window, e.TTL = 4128, 251
			e.SetTCPOptions([]byte{2, 4, 5, 180})
		}), NameUnicornscan},
		{"hping3 defaults: window 512, no options, sport +1", craft(4, func(i int, _ *rand.Rand, e *event.Event) {
			e.Window, e.SrcPort, e.TTL = 512, uint16(2763+i), 64
		}), NameHping3},
		{"kernel connect: DF and Linux layout", craft(4, func(_ int, _ *rand.Rand, e *event.Event) {
			e.IPFlags, e.Window, e.TTL = event.IPFlagDF, 64240, 64
			e.SetTCPOptions(linuxOpts)
		}), NameKernel},
		{"windows connect: DF and mss,nop,ws,nop,nop,sok", craft(4, func(_ int, _ *rand.Rand, e *event.Event) {
			e.IPFlags, e.Window, e.TTL = event.IPFlagDF, 64240, 128
			e.SetTCPOptions([]byte{2, 4, 5, 180, 1, 3, 3, 8, 1, 1, 4, 2})
		}), NameKernel},
		{"ssh scanner: sport 6000, window 16384 to many hosts", craft(8, func(_ int, _ *rand.Rand, e *event.Event) {
			e.SrcPort, e.Window, e.DstPort = 6000, 16384, 22
		}), NameCustom},
		{"too few probes for the generic rule", craft(3, func(_ int, _ *rand.Rand, e *event.Event) {
			e.SrcPort, e.Window = 6000, 16384
		}), ""},
		{"random noise", craft(20, func(_ int, rng *rand.Rand, e *event.Event) {
			e.Window = uint16(rng.IntN(65536))
		}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := verdict(tt.evs)
			if tt.want == "" {
				if ok {
					t.Fatalf("got %s, want no verdict", v)
				}
				return
			}
			if !ok || v.Name != tt.want {
				t.Fatalf("got %v (ok %v), want %s", v, ok, tt.want)
			}
			if v.Confidence <= 0 || v.Confidence > 1 || len(v.Evidence) == 0 {
				t.Fatalf("bad verdict %s", v)
			}
			t.Log(v)
		})
	}
}

// TestMasscanChance checks the rate of false masscan verdicts on random
// SYNs: with two or more agreeing packets required it must be ~0.
func TestMasscanChance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	hits := 0
	for src := 0; src < 20000; src++ {
		var s State
		for i := 0; i < 4; i++ {
			e := syn("198.51.100.1", "10.99.0.1", uint16(rng.IntN(65536)), uint16(rng.IntN(65536)), nil)
			e.IPID, e.Seq, e.Window = uint32(rng.IntN(65536)), rng.Uint32(), uint16(rng.IntN(65536))
			s.Observe(e)
		}
		if v, ok := s.Verdict(); ok {
			hits++
			t.Logf("false verdict %s", v)
		}
	}
	if hits > 0 {
		t.Fatalf("%d false verdicts on 20000 random 4-packet sources", hits)
	}
}

func TestTrackerBound(t *testing.T) {
	tr, err := New(Config{MaxSources: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100000; i++ {
		e := syn(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String(), "10.99.0.1", 1, 2, nil)
		tr.Observe(e)
		if tr.Len() > 1000 {
			t.Fatalf("tracking %d sources, bound 1000", tr.Len())
		}
	}
	// A recent source keeps its state across a generation switch.
	zm := craft(3, func(_ int, _ *rand.Rand, e *event.Event) { e.IPID, e.TTL, e.Window = 54321, 250, 65535 })
	for _, e := range zm {
		tr.Observe(e)
	}
	for i := 0; i < 400; i++ {
		tr.Observe(syn(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}).String(), "10.99.0.1", 1, 2, nil))
	}
	if v, ok := tr.Verdict(zm[0].Src); !ok || v.Name != NameZMap {
		t.Fatalf("verdict after churn %v %v", v, ok)
	}
}

func TestBenign(t *testing.T) {
	b, err := DefaultBenign()
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := b.Lookup(netip.MustParseAddr("162.142.125.33")); !ok || e.Org != "Censys" || !strings.HasPrefix(e.Source, "https://") {
		t.Errorf("censys lookup %+v %v", e, ok)
	}
	if _, ok := b.Lookup(netip.MustParseAddr("162.142.126.33")); ok {
		t.Error("162.142.126.33 is not Censys")
	}
	if e, ok := b.LookupName("scan-70-00.Shadowserver.org."); !ok || e.Org != "Shadowserver" {
		t.Errorf("shadowserver %+v %v", e, ok)
	}
	if _, ok := b.LookupName("evilshadowserver.org"); ok {
		t.Error("suffix match without the dot")
	}
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := tr.Verdict(netip.MustParseAddr("141.22.28.227"))
	if !ok || v.Benign == "" {
		t.Errorf("benign verdict %+v %v", v, ok)
	}
	for _, bad := range []string{"prefix 1.2.3.0/24 Org", "prefix 1.2.3/24 Org src", "rdns example.com Org src", "net 1.0.0.0/8 a b"} {
		if _, err := ParseBenign(strings.NewReader(bad), "x"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStateAllocs(t *testing.T) {
	evs := craft(64, func(_ int, _ *rand.Rand, e *event.Event) { e.SetTCPOptions(linuxOpts) })
	var s State
	if a := testing.AllocsPerRun(10, func() {
		for _, e := range evs {
			s.Observe(e)
		}
	}); a != 0 {
		t.Fatalf("State.Observe allocates %.1f per 64 events", a)
	}
}

func BenchmarkTrackerObserve(b *testing.B) {
	tr, err := New(Config{MaxSources: 100000})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	evs := make([]event.Event, 8192)
	for i := range evs {
		evs[i] = *syn(netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(64)), byte(rng.IntN(256))}).String(), "10.99.0.1",
			uint16(rng.IntN(65536)), uint16(rng.IntN(65536)), nil)
	}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		tr.Observe(&evs[n%len(evs)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkStateObserve(b *testing.B) {
	evs := craft(1024, func(_ int, _ *rand.Rand, e *event.Event) { e.SetTCPOptions(linuxOpts) })
	var s State
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		s.Observe(evs[n%len(evs)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// TestIdentifyAllocatesNothing: the per-packet question (which tool, how
// sure) builds no evidence strings; Verdict still does, with the same answer.
func TestIdentifyAllocatesNothing(t *testing.T) {
	tests := []struct {
		name string
		evs  []*event.Event
	}{
		{NameNmap, craft(20, func(_ int, r *rand.Rand, e *event.Event) {
			e.Window, e.SrcPort, e.Seq, e.TTL = nmapWindow, 40001, 123456789, uint8(40+r.IntN(20))
			e.SetTCPOptions([]byte{2, 4, 0x05, 0xb4})
		})},
		{NameKernel, craft(20, func(_ int, _ *rand.Rand, e *event.Event) { e.SetTCPOptions(linuxOpts); e.IPFlags |= event.IPFlagDF })},
	}
	for _, tt := range tests {
		var s State
		for _, e := range tt.evs {
			s.Observe(e)
		}
		v, ok := s.Verdict()
		if !ok || v.Name != tt.name || len(v.Evidence) == 0 {
			t.Fatalf("%s: verdict %+v %v", tt.name, v, ok)
		}
		name, conf, ok := s.Identify()
		if !ok || name != v.Name || conf != v.Confidence {
			t.Errorf("%s: Identify %q %.2f %v, Verdict %q %.2f", tt.name, name, conf, ok, v.Name, v.Confidence)
		}
		if n := testing.AllocsPerRun(100, func() { s.Identify() }); n != 0 {
			t.Errorf("%s: Identify allocates %.0f times", tt.name, n)
		}
	}
}

// TestObserveIdentifyMatchesVerdict: the one-lookup per-packet path gives
// the same answer as Observe then Verdict, for a benign-listed scanner, a
// tool and an unknown source, after every packet, and allocates nothing
// once the source is tracked.
func TestObserveIdentifyMatchesVerdict(t *testing.T) {
	a, err := New(Config{MaxSources: 100})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{MaxSources: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"162.142.125.9", "198.51.100.7", "203.0.113.5"} {
		for i, e := range craft(12, func(i int, r *rand.Rand, e *event.Event) {
			if src != "203.0.113.5" {
				e.Window, e.SrcPort, e.Seq = nmapWindow, 40001, 123456789
				e.SetTCPOptions([]byte{2, 4, 0x05, 0xb4})
			}
		}) {
			e.Src = netip.MustParseAddr(src)
			name, conf, benign, ok := a.ObserveIdentify(e)
			b.Observe(e)
			v, vok := b.Verdict(e.Src)
			if ok != vok || name != v.Name || conf != v.Confidence || benign != v.Benign {
				t.Fatalf("%s packet %d: ObserveIdentify (%q %.2f %q %v), Verdict (%q %.2f %q %v)",
					src, i, name, conf, benign, ok, v.Name, v.Confidence, v.Benign, vok)
			}
		}
	}
	e := craft(1, func(int, *rand.Rand, *event.Event) {})[0]
	e.Src = netip.MustParseAddr("162.142.125.9")
	if n := testing.AllocsPerRun(100, func() { a.ObserveIdentify(e) }); n != 0 {
		t.Errorf("ObserveIdentify allocates %.0f times per packet", n)
	}
}

// TestObserveIdentifyStateMatchesTracker: the path the detection engine
// takes (a State it keeps per source, allocated at the first packet Counts
// takes, asked through ObserveIdentifyState and VerdictState) answers as
// the Tracker's own map does after every packet of the real-tool captures
// and of a benign-listed source whose first packets are not probes; same
// is true exactly when the answer repeats the previous one.
func TestObserveIdentifyStateMatchesTracker(t *testing.T) {
	inputs := map[string][]event.Event{}
	for _, f := range []string{"nmap-sS", "nmap-sT", "hping3", "mirai-hping3", "custom-sport6000", "masscan", "zmap"} {
		inputs[f] = readPcap(t, "testdata/"+f+".pcap")
	}
	var benign []event.Event
	for i, e := range craft(8, func(int, *rand.Rand, *event.Event) {}) {
		e.Src = netip.MustParseAddr("162.142.125.9")
		if i < 3 {
			e.Flags = event.FlagRST | event.FlagACK // not counted: no State yet
		}
		benign = append(benign, *e)
	}
	inputs["benign"] = benign
	// hping3 defaults whose source port starts counting up after four
	// random ones: the name stays, the confidence rises (0.7, then 0.9).
	var hping []event.Event
	for _, e := range craft(16, func(i int, _ *rand.Rand, e *event.Event) {
		e.Window = hpingWindow
		if i >= 4 {
			e.SrcPort = uint16(2000 + i)
		}
	}) {
		hping = append(hping, *e)
	}
	inputs["hping3-rising"] = hping
	for name, evs := range inputs {
		tr, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		states := map[netip.Addr]*State{}
		type answer struct {
			name string
			conf float64
			ok   bool
		}
		last := map[netip.Addr]answer{}
		labelled := false
		for i := range evs {
			e := &evs[i]
			if !e.Src.IsValid() {
				continue
			}
			src := e.Src.Unmap()
			st := states[src]
			if st == nil && Counts(e) {
				st = new(State)
				states[src] = st
			}
			n, c, b, ok, same := tr.ObserveIdentifyState(st, e)
			rn, rc, rb, rok := ref.ObserveIdentify(e)
			if n != rn || c != rc || b != rb || ok != rok {
				t.Fatalf("%s packet %d: state path (%q %.2f %q %v), tracker (%q %.2f %q %v)", name, i, n, c, b, ok, rn, rc, rb, rok)
			}
			prev, seen := last[src]
			if want := st != nil && seen && prev == (answer{n, c, ok}); same != want {
				t.Fatalf("%s packet %d: same %v, want %v", name, i, same, want)
			}
			if st != nil {
				last[src] = answer{n, c, ok}
			}
			v, vok := tr.VerdictState(st, e.Src)
			rv, rvok := ref.Verdict(e.Src)
			if vok != rvok || v.Name != rv.Name || v.Confidence != rv.Confidence || v.Benign != rv.Benign ||
				strings.Join(v.Evidence, "|") != strings.Join(rv.Evidence, "|") {
				t.Fatalf("%s packet %d: VerdictState %+v %v, Verdict %+v %v", name, i, v, vok, rv, rvok)
			}
			labelled = labelled || ok
		}
		if !labelled {
			t.Errorf("%s: no packet gave a verdict; the comparison proves little", name)
		}
		if name == "hping3-rising" {
			if v, _ := tr.VerdictState(states[evs[0].Src], evs[0].Src); v.Name != NameHping3 || v.Confidence != 0.9 {
				t.Errorf("hping3-rising ends as %q %.2f, want hping3 0.90", v.Name, v.Confidence)
			}
		}
	}
}
