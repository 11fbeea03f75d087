package detect

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/google/go-cmp/cmp"
)

var netipCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func newEngine(t testing.TB, mod func(*Config), opts ...Option) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// run observes the packets and advances to end; it returns the alerts.
func run(g *Engine, ps []pkt, end time.Duration) []*event.Alert {
	var out []*event.Alert
	emit := func(e event.Event) {
		if e.Kind != event.KindAlert || e.Alert == nil {
			panic("emitted a non-alert")
		}
		out = append(out, e.Alert)
	}
	for _, p := range ps {
		e := p.ev()
		g.Observe(&e, emit)
	}
	g.Advance(t0.Add(end), emit)
	return out
}

func synTo(src, dst string, port uint16, at time.Duration) pkt {
	return pkt{src: src, dst: dst, proto: event.ProtoTCP, sport: 40000, dport: port, flags: event.FlagSYN, win: 1024, opts: optNmapMSS, at: at}
}

func TestDangerLevelsPsadModel(t *testing.T) {
	const A = "198.51.100.7"
	tests := []struct {
		name  string
		ps    func() []pkt
		level event.DangerLevel
	}{
		{"4 packets: below DANGER_LEVEL1", func() []pkt {
			var ps []pkt
			for p := 1; p <= 4; p++ {
				ps = append(ps, synTo(A, "192.0.2.1", uint16(p), 0))
			}
			return ps
		}, 0},
		{"5 packets over 5 ports: level 1", func() []pkt {
			var ps []pkt
			for p := 1; p <= 5; p++ {
				ps = append(ps, synTo(A, "192.0.2.1", uint16(p), 0))
			}
			return ps
		}, 1},
		{"20 packets to one port: range 0 < PORT_RANGE_SCAN_THRESHOLD", func() []pkt {
			var ps []pkt
			for i := 0; i < 20; i++ {
				ps = append(ps, synTo(A, "192.0.2.1", 22, time.Duration(i)*time.Second))
			}
			return ps
		}, 0},
		{"15 ports: level 2", func() []pkt {
			var ps []pkt
			for p := 1; p <= 15; p++ {
				ps = append(ps, synTo(A, "192.0.2.1", uint16(p), 0))
			}
			return ps
		}, 2},
		{"1000 ports: level 3", func() []pkt {
			var ps []pkt
			for p := 1; p <= 1000; p++ {
				ps = append(ps, synTo(A, "192.0.2.1", uint16(p), 0))
			}
			return ps
		}, 3},
		{"10 hosts, one packet each: sweep level 1", func() []pkt {
			var ps []pkt
			for h := 1; h <= 10; h++ {
				ps = append(ps, synTo(A, fmt.Sprintf("192.0.2.%d", h), 445, 0))
			}
			return ps
		}, 1},
		{"9 hosts: no sweep", func() []pkt {
			var ps []pkt
			for h := 1; h <= 9; h++ {
				ps = append(ps, synTo(A, fmt.Sprintf("192.0.2.%d", h), 445, 0))
			}
			return ps
		}, 0},
		{"100 hosts: sweep level 4", func() []pkt {
			var ps []pkt
			for h := 1; h <= 100; h++ {
				ps = append(ps, synTo(A, fmt.Sprintf("192.0.2.%d", h), 445, 0))
			}
			return ps
		}, 4},
		{"600 hosts (beyond exact records, sketch): level 5", func() []pkt {
			var ps []pkt
			for h := 0; h < 600; h++ {
				ps = append(ps, synTo(A, fmt.Sprintf("10.%d.%d.1", h/250, h%250), 445, 0))
			}
			return ps
		}, 5},
		{"5 ICMP echo to one host: range = packets", func() []pkt {
			var ps []pkt
			for i := 0; i < 5; i++ {
				ps = append(ps, pkt{src: A, dst: "192.0.2.1", proto: event.ProtoICMP, icmpType: 8})
			}
			return ps
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newEngine(t, nil)
			run(g, tc.ps(), 0)
			v, ok := g.Verdict(netip.MustParseAddr(A))
			if !ok {
				t.Fatal("no state for the source")
			}
			if event.DangerLevel(v.DangerLevel) != tc.level {
				t.Errorf("danger level %d, want %d (destinations %d)", v.DangerLevel, tc.level, v.Destinations)
			}
		})
	}
}

func TestPatternAndPorts(t *testing.T) {
	const A = "198.51.100.7"
	var vert, horiz, block, single []pkt
	for p := 20; p <= 30; p++ {
		vert = append(vert, synTo(A, "192.0.2.1", uint16(p), 0))
	}
	vert = append(vert, synTo(A, "192.0.2.1", 3389, 0), pkt{src: A, dst: "192.0.2.1", proto: event.ProtoUDP, dport: 53, udpLen: 8})
	for h := 1; h <= 8; h++ {
		horiz = append(horiz, synTo(A, fmt.Sprintf("192.0.2.%d", h), 23, 0))
	}
	for h := 1; h <= 6; h++ {
		for p := 1; p <= 6; p++ {
			block = append(block, synTo(A, fmt.Sprintf("192.0.2.%d", h), uint16(p), 0))
		}
	}
	single = []pkt{synTo(A, "192.0.2.1", 22, 0)}
	tests := []struct {
		name    string
		ps      []pkt
		pattern string
		ports   map[string]string
	}{
		{"vertical", vert, "vertical", map[string]string{"tcp": "20-30,3389", "udp": "53"}},
		{"horizontal", horiz, "horizontal", map[string]string{"tcp": "23"}},
		{"block", block, "block", map[string]string{"tcp": "1-6"}},
		{"single", single, "single", map[string]string{"tcp": "22"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newEngine(t, nil)
			run(g, tc.ps, 0)
			v, _ := g.Verdict(netip.MustParseAddr(A))
			if v.Pattern != tc.pattern {
				t.Errorf("pattern %q, want %q", v.Pattern, tc.pattern)
			}
			if diff := cmp.Diff(tc.ports, v.DstPorts); diff != "" {
				t.Errorf("dst_ports (-want +got):\n%s", diff)
			}
		})
	}
}

// osScan is the probe set nmap -O sends to one open and one closed port.
func osScan(src, dst string) []pkt {
	var ps []pkt
	for i, p := range osProbes {
		port := uint16(22)
		if i >= 10 {
			port = 1 // T5-T7 go to a closed port
		}
		ps = append(ps, pkt{src: src, dst: dst, proto: event.ProtoTCP, sport: uint16(50000 + i), dport: port, flags: p.flags, win: p.window, df: p.df, opts: p.opts, at: time.Duration(i) * 100 * time.Millisecond})
	}
	ps = append(ps,
		pkt{src: src, dst: dst, proto: event.ProtoICMP, icmpType: 8, icmpCd: 9, df: true, totLen: 148},
		pkt{src: src, dst: dst, proto: event.ProtoICMP, icmpType: 8, tos: 4, totLen: 178},
		pkt{src: src, dst: dst, proto: event.ProtoUDP, sport: 50100, dport: 33000, ipid: 0x1042, udpLen: 308})
	return ps
}

func TestScanTypesPerSource(t *testing.T) {
	const A, V = "198.51.100.7", "192.0.2.1"
	many := func(f func(port uint16) pkt) []pkt {
		var ps []pkt
		for p := uint16(1); p <= 10; p++ {
			ps = append(ps, f(p))
		}
		return ps
	}
	tcp := func(fl event.TCPFlags) func(uint16) pkt {
		return func(p uint16) pkt {
			return pkt{src: A, dst: V, proto: event.ProtoTCP, sport: 41000, dport: p, flags: fl, win: 1024}
		}
	}
	protoScan := func() []pkt {
		var ps []pkt
		for _, pr := range []event.Proto{1, 2, 4, 6, 17, 41, 47, 50, 51, 132} {
			ps = append(ps, pkt{src: A, dst: V, proto: pr, icmpType: 8, flags: event.FlagACK, win: 1024, dport: 80, udpLen: 8})
		}
		return ps
	}
	tests := []struct {
		name  string
		ps    []pkt
		types []string
	}{
		{"-sS", many(func(p uint16) pkt { return synTo(A, V, p, 0) }), []string{"-sS"}},
		{"-sT", many(func(p uint16) pkt {
			return pkt{src: A, dst: V, proto: event.ProtoTCP, sport: 50000 + p, dport: p, flags: event.FlagSYN, win: 64240, opts: optLinuxSYN, df: true}
		}), []string{"-sT"}},
		{"-sF", many(tcp(event.FlagFIN)), []string{"-sF"}},
		{"-sN", many(tcp(0)), []string{"-sN"}},
		{"-sX", many(tcp(event.FlagFIN | event.FlagPSH | event.FlagURG)), []string{"-sX"}},
		{"-sA/-sW", many(tcp(event.FlagACK)), []string{"-sA/-sW"}},
		{"-sM", many(tcp(event.FlagFIN | event.FlagACK)), []string{"-sM"}},
		{"-sU", many(func(p uint16) pkt { return pkt{src: A, dst: V, proto: event.ProtoUDP, dport: p, udpLen: 8} }), []string{"-sU"}},
		{"-O alone", osScan(A, V), []string{"-O"}},
		{"-sO (its TCP, UDP and ICMP probes are part of it)", protoScan(), []string{"-sO"}},
		{"ping sweep -PE", func() []pkt {
			var ps []pkt
			for h := 1; h <= 12; h++ {
				ps = append(ps, pkt{src: A, dst: fmt.Sprintf("192.0.2.%d", h), proto: event.ProtoICMP, icmpType: 8})
			}
			return ps
		}(), []string{"-PE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newEngine(t, nil)
			run(g, tc.ps, 0)
			v, _ := g.Verdict(netip.MustParseAddr(A))
			if diff := cmp.Diff(tc.types, v.ScanTypes); diff != "" {
				t.Errorf("scan_types (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackscatter(t *testing.T) {
	g := newEngine(t, nil)
	// A victim flooded with SYNs spoofed from our space answers with SYN-ACKs.
	var ps []pkt
	for i := 0; i < 10; i++ {
		ps = append(ps, pkt{src: "203.0.113.80", dst: fmt.Sprintf("192.0.2.%d", i+1), proto: event.ProtoTCP, sport: 443, dport: uint16(1024 + i), flags: event.FlagSYN | event.FlagACK, win: 65535, at: time.Duration(i) * time.Second})
	}
	// A router reports the victim 203.0.113.99 unreachable; the quoted packet
	// came "from" us (spoofed) and went to the victim.
	ps = append(ps, pkt{src: "203.0.113.1", dst: "192.0.2.5", proto: event.ProtoICMP, icmpType: 3, icmpCd: 1, at: 5 * time.Second,
		quoted: &event.Quoted{Src: netip.MustParseAddr("192.0.2.5"), Dst: netip.MustParseAddr("203.0.113.99"), Proto: event.ProtoUDP, SrcPort: 1234, DstPort: 53}})
	alerts := run(g, ps, 2*time.Minute)

	vs := g.Victims()
	if len(vs) != 2 {
		t.Fatalf("victims %+v, want 2", vs)
	}
	if vs[0].Addr != netip.MustParseAddr("203.0.113.80") || vs[0].Packets != 10 || vs[0].Ports != "443" ||
		!vs[0].Start.Equal(t0) || !vs[0].End.Equal(t0.Add(9*time.Second)) || vs[0].Rate < 1.1 || vs[0].Rate > 1.12 {
		t.Errorf("SYN-ACK victim %+v", vs[0])
	}
	if vs[1].Addr != netip.MustParseAddr("203.0.113.99") || vs[1].Ports != "53" || vs[1].Reported != 1 {
		t.Errorf("ICMP-quoted victim %+v", vs[1])
	}
	for _, a := range []string{"203.0.113.80", "203.0.113.99", "203.0.113.1"} {
		if !g.NeverBlock(netip.MustParseAddr(a)) {
			t.Errorf("NeverBlock(%s) = false", a)
		}
	}
	if g.NeverBlock(netip.MustParseAddr("198.51.100.7")) {
		t.Error("NeverBlock of an unknown address")
	}
	v, _ := g.Verdict(netip.MustParseAddr("203.0.113.80"))
	if !v.Backscatter || v.DangerLevel != 0 || v.Packets != 0 || v.BackscatterPackets != 10 {
		t.Errorf("victim verdict %+v", v)
	}
	// Only the victim with at least BackscatterMinPackets (5) alerts; the
	// router's single ICMP error does not, though it is never blocked.
	if len(alerts) != 1 || !alerts[0].Backscatter || alerts[0].Level != 0 || alerts[0].Src != netip.MustParseAddr("203.0.113.80") {
		t.Errorf("alerts %+v, want one backscatter alert, for 203.0.113.80", alerts)
	}
	g1 := newEngine(t, func(c *Config) { c.BackscatterMinPackets = 1 })
	if alerts := run(g1, ps, 2*time.Minute); len(alerts) != 2 || !alerts[1].Backscatter || alerts[1].Src != netip.MustParseAddr("203.0.113.1") {
		t.Errorf("alerts with backscatter_min_packets 1: %+v, want the router's too", alerts)
	}
}

func TestAlertsPerIntervalDedupAndExpiry(t *testing.T) {
	const A = "198.51.100.7"
	g := newEngine(t, func(c *Config) {
		c.ReportInterval = time.Minute
		c.ScanTimeout = 10 * time.Minute
		c.RepeatAfter = 5 * time.Minute
	})
	var ps []pkt
	for p := 1; p <= 10; p++ {
		ps = append(ps, synTo(A, "192.0.2.1", uint16(p), 10*time.Second))
	}
	al := run(g, ps, 0)
	if len(al) != 0 {
		t.Fatalf("alerts before the interval closed: %d", len(al))
	}
	al = run(g, nil, time.Minute)
	if len(al) != 1 {
		t.Fatalf("got %d alerts at the first boundary, want 1", len(al))
	}
	a := al[0]
	want := map[string]string{"tcp": "1-10"}
	if a.Level != 1 || a.Pattern != "vertical" || !reflect.DeepEqual(a.DstPorts, want) || !reflect.DeepEqual(a.NewDstPorts, want) ||
		a.Packets != 10 || a.NewPackets != 10 || !a.IntervalEnd.Equal(t0.Add(time.Minute)) || a.Src != netip.MustParseAddr(A) {
		t.Errorf("first alert %+v", a)
	}
	// Same ports again: nothing new, suppressed.
	al = run(g, []pkt{synTo(A, "192.0.2.1", 5, 70*time.Second)}, 2*time.Minute)
	if len(al) != 0 {
		t.Errorf("repeat without news alerted: %+v", al[0])
	}
	// A new port: alerted, with only the new port as new.
	al = run(g, []pkt{synTo(A, "192.0.2.1", 3389, 130*time.Second)}, 3*time.Minute)
	if len(al) != 1 || al[0].NewDstPorts["tcp"] != "3389" || al[0].DstPorts["tcp"] != "1-10,3389" || al[0].NewPackets != 2 {
		t.Fatalf("alert on news: %+v", al)
	}
	// Nothing new, but RepeatAfter passed: alerted again.
	al = run(g, []pkt{synTo(A, "192.0.2.1", 5, 9*time.Minute)}, 10*time.Minute)
	if len(al) != 1 {
		t.Errorf("RepeatAfter: %d alerts, want 1", len(al))
	}
	if st := g.Stats(); st.Suppressed != 1 || st.Sources != 1 {
		t.Errorf("stats %+v", st)
	}
	// Silent for the scan timeout: forgotten, by event time only.
	run(g, nil, 19*time.Minute+59*time.Second)
	if _, ok := g.Verdict(netip.MustParseAddr(A)); !ok {
		t.Error("expired before the timeout")
	}
	run(g, nil, 21*time.Minute)
	if _, ok := g.Verdict(netip.MustParseAddr(A)); ok {
		t.Error("not expired after the timeout")
	}
	if st := g.Stats(); st.Expired != 1 || st.Sources != 0 || st.StateBytes != 0 {
		t.Errorf("stats after expiry %+v", st)
	}
}

// TestDeterminism: the same input gives the same alerts whether it is fed
// at once or with Advance calls in between (replay versus live batches).
func TestDeterminism(t *testing.T) {
	var ps []pkt
	for i := 0; i < 3000; i++ {
		src := fmt.Sprintf("198.51.100.%d", i%37)
		ps = append(ps, synTo(src, fmt.Sprintf("192.0.2.%d", i%23), uint16(i%700), time.Duration(i)*200*time.Millisecond))
		if i%10 == 0 {
			ps = append(ps, pkt{src: "2001:db8:0:1::" + fmt.Sprint((i/10)%5+1), dst: "2001:db8:ffff::1", proto: event.ProtoUDP, dport: uint16(i % 100), udpLen: 8, at: time.Duration(i) * 200 * time.Millisecond})
		}
	}
	end := 20 * time.Minute
	a1 := run(newEngine(t, nil), ps, end)
	a2 := run(newEngine(t, nil), ps, end)
	g3 := newEngine(t, nil)
	var a3 []*event.Alert
	emit := func(e event.Event) { a3 = append(a3, e.Alert) }
	for k, p := range ps {
		e := p.ev()
		g3.Observe(&e, emit)
		if k%17 == 0 {
			g3.Advance(e.Time, emit) // a watermark never ahead of later events
		}
	}
	g3.Advance(t0.Add(end), emit)
	if len(a1) == 0 {
		t.Fatal("no alerts")
	}
	if diff := cmp.Diff(a1, a2, netipCmp); diff != "" {
		t.Errorf("two runs differ (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(a1, a3, netipCmp); diff != "" {
		t.Errorf("batched run differs (-once +batched):\n%s", diff)
	}
	g4 := newEngine(t, nil)
	var a4 []*event.Alert
	emit4 := func(e event.Event) { a4 = append(a4, e.Alert) }
	evs := make([]event.Event, len(ps))
	for k, p := range ps {
		evs[k] = p.ev()
	}
	for k := 0; k < len(evs); k += 100 {
		g4.ObserveBatch(evs[k:min(k+100, len(evs))], emit4)
	}
	g4.Advance(t0.Add(end), emit4)
	if diff := cmp.Diff(a1, a4, netipCmp); diff != "" {
		t.Errorf("ObserveBatch differs (-Observe +ObserveBatch):\n%s", diff)
	}
	agg := false
	for _, a := range a1 {
		if a.Prefix.Bits() == 64 {
			agg = true
		}
	}
	if !agg {
		t.Error("no alert for the IPv6 /64 aggregate of five addresses")
	}
}

func TestSaveLoadContinuesCounts(t *testing.T) {
	const A = "198.51.100.7"
	var first, second []pkt
	for p := 1; p <= 10; p++ {
		first = append(first, synTo(A, "192.0.2.1", uint16(p), 0))
	}
	for p := 11; p <= 15; p++ {
		second = append(second, synTo(A, "192.0.2.1", uint16(p), time.Second))
	}
	ref := newEngine(t, nil)
	want := run(ref, append(append([]pkt{}, first...), second...), 5*time.Minute)

	g := newEngine(t, nil)
	run(g, first, 0)
	var buf bytes.Buffer
	if err := g.Save(&buf); err != nil {
		t.Fatal(err)
	}
	g2 := newEngine(t, nil)
	if err := g2.Load(&buf); err != nil {
		t.Fatal(err)
	}
	got := run(g2, second, 5*time.Minute)
	if diff := cmp.Diff(want, got, netipCmp); diff != "" {
		t.Errorf("restored engine differs (-uninterrupted +restored):\n%s", diff)
	}
	if v, _ := g2.Verdict(netip.MustParseAddr(A)); v.Packets != 15 || v.DangerLevel != 2 || v.DstPorts["tcp"] != "1-15" {
		t.Errorf("restored verdict %+v", v)
	}
}

func TestCapEvictsOldest(t *testing.T) {
	g := newEngine(t, func(c *Config) { c.MaxSources = 100 })
	var ps []pkt
	for i := 0; i < 250; i++ {
		ps = append(ps, synTo(fmt.Sprintf("10.0.%d.%d", i/250, i%250), "192.0.2.1", 22, time.Duration(i)*time.Millisecond))
	}
	run(g, ps, 0)
	st := g.Stats()
	if st.Sources != 100 || st.Evicted != 150 {
		t.Errorf("stats %+v, want 100 sources and 150 evicted", st)
	}
	if _, ok := g.Verdict(netip.MustParseAddr("10.0.0.149")); ok {
		t.Error("an old source survived")
	}
	if _, ok := g.Verdict(netip.MustParseAddr("10.0.0.249")); !ok {
		t.Error("the newest source was evicted")
	}
}

type sigAnnotator struct{}

func (sigAnnotator) Annotate(e *event.Event, v *SourceView) {
	if e.Proto == event.ProtoTCP && e.Flags == event.FlagSYN|event.FlagFIN {
		v.AddSignature("SYN+FIN", 2)
		v.SetTool(event.Tool{Name: "hping3", Confidence: 0.5, Evidence: []string{"test"}})
	}
}

func TestAnnotatorRaisesLevel(t *testing.T) {
	g := newEngine(t, nil, WithAnnotator(sigAnnotator{}))
	al := run(g, []pkt{{src: "198.51.100.7", dst: "192.0.2.1", proto: event.ProtoTCP, flags: event.FlagSYN | event.FlagFIN, dport: 80}}, time.Minute)
	if len(al) != 1 || al[0].Level != 2 || len(al[0].Signatures) != 1 || al[0].Tool == nil || al[0].Tool.Name != "hping3" {
		t.Fatalf("alerts %+v", al)
	}
}

func TestExplain(t *testing.T) {
	const A, V = "198.51.100.7", "192.0.2.1"
	ps := osScan(A, V)
	// The scanner's own kernel resets our SYN-ACKs: backscatter-shaped, but
	// it must neither become a victim nor be protected from blocking.
	for i := 0; i < 4; i++ {
		ps = append(ps, pkt{src: A, dst: V, proto: event.ProtoTCP, sport: uint16(50000 + i), dport: 22, flags: event.FlagRST})
	}
	g := newEngine(t, nil)
	run(g, ps, 0)
	x, ok := g.Explain(netip.MustParseAddr(A))
	if !ok {
		t.Fatal("no explanation")
	}
	if x.NeverBlock || x.Victim != nil || len(g.Victims()) != 0 || g.NeverBlock(netip.MustParseAddr(A)) {
		t.Errorf("a scanner's RSTs made it a victim: %+v, victims %+v", x, g.Victims())
	}
	all := strings.Join(x.Evidence, "\n")
	for _, want := range []string{"-O: 16 of nmap's 16 OS-detection probes (T1/SEQ1 SEQ2 SEQ3 SEQ4 SEQ5 SEQ6 ECN T2 T3 T4 T5 T6 T7 IE1 IE2 U1)", "danger level 2", "4 backscatter packets (rst) against 16 probes: not a victim"} {
		if !strings.Contains(all, want) {
			t.Errorf("evidence lacks %q:\n%s", want, all)
		}
	}
	if _, ok := g.Explain(netip.MustParseAddr("192.0.2.200")); ok {
		t.Error("explanation for an unknown address")
	}
}

// TestAdvanceLive: a quiet live engine closes its interval on the wall
// clock; an engine whose latest events are far behind (an import of past
// logs) keeps its event time.
func TestAdvanceLive(t *testing.T) {
	var ps []pkt
	for p := uint16(1); p <= 30; p++ {
		ps = append(ps, synTo("198.51.100.9", "192.0.2.1", p, time.Duration(p)*time.Millisecond))
	}
	var got []*event.Alert
	emit := func(e event.Event) { got = append(got, e.Alert) }
	g := newEngine(t, nil)
	for _, p := range ps {
		e := p.ev()
		g.Observe(&e, emit)
	}
	iv := g.Config().ReportInterval
	if g.AdvanceLive(t0.Add(10*time.Minute), iv, emit) {
		t.Fatal("advanced from a watermark 10 min behind")
	}
	if len(got) != 0 {
		t.Fatalf("alerts before the interval closed: %v", got)
	}
	if !g.AdvanceLive(t0.Add(iv/2), iv, emit) || len(got) != 0 {
		t.Fatalf("half an interval: advanced?, alerts %v", got)
	}
	if !g.AdvanceLive(t0.Add(iv+iv/4), iv, emit) || len(got) != 1 || got[0].Src.String() != "198.51.100.9" {
		t.Fatalf("after the interval: alerts %v", got)
	}
	if g.AdvanceLive(t0.Add(iv), iv, emit) {
		t.Error("advanced backwards")
	}
	if g2 := newEngine(t, nil); g2.AdvanceLive(t0, iv, emit) {
		t.Error("advanced an engine that has seen nothing")
	}
}
