package respond

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/firewall"
)

// fakeSets is an in-memory SetManager with kernel-like timeouts on a
// settable clock; the root tests use the real kernel instead.
type fakeSets struct {
	now   *time.Time
	els   map[firewall.SetKind]map[netip.Prefix]fakeEl
	calls []string
}

type fakeEl struct {
	timeout time.Duration
	added   time.Time
}

func newFakeSets(now *time.Time) *fakeSets {
	return &fakeSets{now: now, els: map[firewall.SetKind]map[netip.Prefix]fakeEl{
		firewall.Allow: {}, firewall.Block: {}, firewall.Redirect: {},
	}}
}

func (f *fakeSets) live(k firewall.SetKind) map[netip.Prefix]fakeEl {
	for p, e := range f.els[k] {
		if e.timeout != 0 && !f.now.Before(e.added.Add(e.timeout)) {
			delete(f.els[k], p)
		}
	}
	return f.els[k]
}

func (f *fakeSets) Add(_ context.Context, k firewall.SetKind, p netip.Prefix, timeout time.Duration, _ string) error {
	f.calls = append(f.calls, fmt.Sprintf("add %s %s %s", k, p, timeout))
	for q := range f.live(k) {
		if q.Overlaps(p) && q != p {
			return errors.New("overlap")
		}
	}
	f.els[k][p] = fakeEl{timeout: timeout, added: *f.now}
	return nil
}

func (f *fakeSets) Del(_ context.Context, k firewall.SetKind, p netip.Prefix) error {
	f.calls = append(f.calls, fmt.Sprintf("del %s %s", k, p))
	if _, ok := f.live(k)[p]; !ok {
		return errors.New("no such element")
	}
	delete(f.els[k], p)
	return nil
}

func (f *fakeSets) List(_ context.Context, k firewall.SetKind) ([]firewall.Element, error) {
	var out []firewall.Element
	for p, e := range f.live(k) {
		el := firewall.Element{Prefix: p, Timeout: e.timeout}
		if e.timeout != 0 {
			el.Expires = e.added.Add(e.timeout).Sub(*f.now)
		}
		out = append(out, el)
	}
	return out, nil
}

type harness struct {
	t     testing.TB
	now   time.Time
	sets  *fakeSets
	state string
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), state: filepath.Join(t.TempDir(), StateFileName)}
	h.sets = newFakeSets(&h.now)
	return h
}

func (h *harness) responder(cfg Config) *Responder {
	h.t.Helper()
	r, err := New(cfg, h.sets, h.state, nil, WithClock(func() time.Time { return h.now }),
		WithLocalDiscovery(func() ([]netip.Prefix, error) {
			return []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::1/128")}, nil
		}))
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func alert(src string, level int) *event.Alert {
	a := netip.MustParseAddr(src)
	return &event.Alert{Src: a, Prefix: netip.PrefixFrom(a, a.BitLen()), Level: event.DangerLevel(level), Pattern: "horizontal", ScanTypes: []string{"-sS"}}
}

func TestBlockDecisions(t *testing.T) {
	h := newHarness(t)
	h.sets.els[firewall.Allow][netip.MustParsePrefix("198.51.100.0/24")] = fakeEl{} // kernel allow set member
	cfg := DefaultConfig()
	cfg.Block.Enabled = true
	cfg.Allow = []string{"10.0.0.0/8", "2001:db8:1::5"}
	r := h.responder(cfg)
	ctx := t.Context()

	benignTool := alert("203.0.113.9", 5)
	benignTool.Tool = &event.Tool{Name: "zmap", Confidence: 1, Evidence: []string{"benign: Example-Research"}}
	backscatter := alert("203.0.113.10", 5)
	backscatter.Backscatter = true
	agg := alert("2001:db8:2::", 4)
	agg.Prefix = netip.MustParsePrefix("2001:db8:2::/64")
	aggAllowed := alert("2001:db8:1::", 4)
	aggAllowed.Prefix = netip.MustParsePrefix("2001:db8:1::/64")

	tests := []struct {
		name string
		a    *event.Alert
		want Outcome
		p    string
	}{
		{"below level", alert("203.0.113.1", 2), OutcomeNone, ""},
		{"level 3 blocks", alert("203.0.113.1", 3), OutcomeDone, "203.0.113.1/32"},
		{"again: already", alert("203.0.113.1", 5), OutcomeAlready, "203.0.113.1/32"},
		{"backscatter victim", backscatter, OutcomeBackscatter, "203.0.113.10/32"},
		{"benign by tool tag", benignTool, OutcomeBenign, "203.0.113.9/32"},
		{"benign by list (Censys)", alert("162.142.125.7", 5), OutcomeBenign, "162.142.125.7/32"},
		{"config allow prefix", alert("10.1.2.3", 5), OutcomeAllowlisted, "10.1.2.3/32"},
		{"own gateway", alert("192.0.2.1", 5), OutcomeAllowlisted, "192.0.2.1/32"},
		{"kernel allow set", alert("198.51.100.77", 5), OutcomeAllowlisted, "198.51.100.77/32"},
		{"IPv6 aggregate blocks the /64", agg, OutcomeDone, "2001:db8:2::/64"},
		{"aggregate holding an allowed host", aggAllowed, OutcomeAllowlisted, "2001:db8:1::/64"},
	}
	for _, tc := range tests {
		d := r.Observe(ctx, tc.a)
		if d.Block != tc.want || (tc.p != "" && d.Prefix.String() != tc.p) {
			t.Errorf("%s: decision %+v, want %q on %s", tc.name, d, tc.want, tc.p)
		}
	}
	wantCalls := []string{"add block 203.0.113.1/32 1h0m0s", "add block 2001:db8:2::/64 1h0m0s"}
	if diff := cmp.Diff(wantCalls, h.sets.calls); diff != "" {
		t.Errorf("kernel calls (-want +got):\n%s", diff)
	}
	c := r.Counters()
	want := Counters{Alerts: 11, Blocked: 2, BelowLevel: 1, Backscatter: 1, Benign: 2, Allowlisted: 4, Already: 1}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	st, err := NewStateFile(h.state)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Entries) != 2 || s.Entries[0].Reason != "level 3; horizontal; -sS" || !s.Entries[0].Expires.Equal(h.now.Add(time.Hour)) {
		t.Errorf("state = %+v", s)
	}
}

func TestCapAndExpiry(t *testing.T) {
	h := newHarness(t)
	cfg := DefaultConfig()
	cfg.Block.Enabled, cfg.Block.Max, cfg.Block.Timeout = true, 2, 10*time.Minute
	r := h.responder(cfg)
	ctx := t.Context()
	for i, want := range []Outcome{OutcomeDone, OutcomeDone, OutcomeCapped, OutcomeCapped} {
		if d := r.Observe(ctx, alert(fmt.Sprintf("203.0.113.%d", i+1), 4)); d.Block != want {
			t.Errorf("alert %d: %q, want %q", i+1, d.Block, want)
		}
	}
	if got := r.Counters().Capped; got != 2 {
		t.Errorf("capped = %d, want 2", got)
	}
	h.now = h.now.Add(10 * time.Minute) // both blocks expire: room again
	if d := r.Observe(ctx, alert("203.0.113.3", 4)); d.Block != OutcomeDone {
		t.Errorf("after expiry: %q, want done", d.Block)
	}
	if d := r.Observe(ctx, alert("203.0.113.1", 4)); d.Block != OutcomeDone {
		t.Errorf("expired block again: %q, want done", d.Block)
	}
}

func TestDryRun(t *testing.T) {
	h := newHarness(t)
	cfg := DefaultConfig()
	cfg.Block.Enabled, cfg.Redirect.Enabled, cfg.DryRun = true, true, true
	r := h.responder(cfg)
	d := r.Observe(t.Context(), alert("203.0.113.5", 5))
	if d.Block != OutcomeDryRun || d.Redirect != OutcomeDryRun {
		t.Fatalf("decision %+v", d)
	}
	if d := r.Observe(t.Context(), alert("203.0.113.5", 5)); d.Block != OutcomeAlready {
		t.Errorf("dry run repeated: %+v", d)
	}
	if len(h.sets.calls) != 0 {
		t.Errorf("dry run changed the kernel: %v", h.sets.calls)
	}
	c := r.Counters()
	if c.WouldBlock != 1 || c.WouldRedirect != 1 || c.Blocked != 0 {
		t.Errorf("counters %+v", c)
	}
	st, _ := NewStateFile(h.state)
	s, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Entries) != 2 || !s.Entries[0].DryRun || !s.Entries[1].DryRun {
		t.Errorf("state %+v", s.Entries)
	}
	// A restart never turns a dry-run record into a block.
	cfg.DryRun = false
	r2 := h.responder(cfg)
	if n, err := r2.Restore(t.Context()); err != nil || n != 0 || len(h.sets.calls) != 0 {
		t.Errorf("restore after dry run: n=%d err=%v calls=%v", n, err, h.sets.calls)
	}
}

func TestRedirectDecisions(t *testing.T) {
	h := newHarness(t)
	cfg := DefaultConfig()
	cfg.Redirect.Enabled, cfg.Redirect.MinLevel = true, 4
	r := h.responder(cfg)
	withTool := func(src string, level int, name string, conf float64, tcp string) *event.Alert {
		a := alert(src, level)
		if name != "" {
			a.Tool = &event.Tool{Name: name, Confidence: conf}
		}
		a.DstPorts = map[string]string{"tcp": tcp}
		return a
	}
	tests := []struct {
		name string
		a    *event.Alert
		want Outcome
	}{
		{"bare hit on 22: off by default", withTool("203.0.113.1", 1, "", 0, "22"), OutcomeNone},
		{"ssh scanner fingerprint", withTool("203.0.113.2", 1, "custom-scanner", 0.8, "21-23"), OutcomeDone},
		{"tool that never probed 22", withTool("203.0.113.3", 2, "nmap", 0.9, "80,443"), OutcomeNone},
		{"weak fingerprint", withTool("203.0.113.4", 2, "masscan", 0.2, "22"), OutcomeNone},
		{"kernel connect is no scanner", withTool("203.0.113.5", 2, "kernel-connect", 1, "22"), OutcomeNone},
		{"level reaches min", withTool("203.0.113.6", 4, "", 0, "80"), OutcomeDone},
		{"allowlisted gateway", withTool("192.0.2.1", 5, "custom-scanner", 1, "22"), OutcomeAllowlisted},
	}
	for _, tc := range tests {
		if d := r.Observe(t.Context(), tc.a); d.Redirect != tc.want || d.Block != OutcomeNone {
			t.Errorf("%s: %+v, want redirect %q and no block", tc.name, d, tc.want)
		}
	}
	cfg.Redirect.BareHits = true
	h2 := newHarness(t)
	r2 := h2.responder(cfg)
	if d := r2.Observe(t.Context(), withTool("203.0.113.1", 1, "", 0, "1-1024")); d.Redirect != OutcomeDone {
		t.Errorf("bare_hits on: %+v", d)
	}
	if diff := cmp.Diff([]string{"add redirect 203.0.113.1/32 24h0m0s"}, h2.sets.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// TestRestoreRemaining: after a crash the kernel lost one element; the
// restarted responder puts it back with what it had left, leaves the one
// still present alone, and forgets expired entries.
func TestRestoreRemaining(t *testing.T) {
	h := newHarness(t)
	cfg := DefaultConfig()
	cfg.Block.Enabled, cfg.Redirect.Enabled, cfg.Redirect.MinLevel = true, true, 5
	r := h.responder(cfg)
	for _, src := range []string{"203.0.113.1", "203.0.113.2"} {
		r.Observe(t.Context(), alert(src, 5))
	}
	h.now = h.now.Add(20*time.Minute + 1500*time.Microsecond)
	r.cfg.Block.Timeout = 5 * time.Minute // a short-lived third block, expired before the restart
	r.Observe(t.Context(), alert("203.0.113.3", 4))
	delete(h.sets.els[firewall.Block], netip.MustParsePrefix("203.0.113.1/32")) // lost: nft flush, reboot, …
	h.now = h.now.Add(10 * time.Minute)
	h.sets.calls = nil

	r2 := h.responder(cfg)
	n, err := r2.Restore(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Restore = %d, %v; want 1", n, err)
	}
	// 1h - 30m0.0015s, rounded down to the millisecond.
	if diff := cmp.Diff([]string{"add block 203.0.113.1/32 29m59.998s"}, h.sets.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	st, _ := NewStateFile(h.state)
	s, _ := st.Load()
	for _, e := range s.Entries {
		if e.Prefix.String() == "203.0.113.3/32" {
			t.Errorf("expired entry kept: %+v", e)
		}
	}
	if len(s.Entries) != 4 { // 2 blocks + 2 redirects
		t.Errorf("state has %d entries, want 4: %+v", len(s.Entries), s.Entries)
	}
	// A second restore finds everything in place.
	h.sets.calls = nil
	if n, err := r2.Restore(t.Context()); err != nil || n != 0 || len(h.sets.calls) != 0 {
		t.Errorf("second Restore = %d, %v, %v", n, err, h.sets.calls)
	}
}

func TestManual(t *testing.T) {
	h := newHarness(t)
	st, err := NewStateFile(h.state)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("203.0.113.0/24")
	if err := AddManual(t.Context(), h.sets, st, firewall.Block, p, time.Hour, "abuse report", h.now); err != nil {
		t.Fatal(err)
	}
	ls, err := List(t.Context(), h.sets, st, firewall.Block, h.now)
	if err != nil || len(ls) != 1 || !ls[0].Manual || ls[0].Reason != "abuse report" || !ls[0].InKernel {
		t.Fatalf("List = %+v, %v", ls, err)
	}
	if err := DelManual(t.Context(), h.sets, st, firewall.Block, p, h.now); err != nil {
		t.Fatal(err)
	}
	if err := DelManual(t.Context(), h.sets, st, firewall.Block, p, h.now); err == nil {
		t.Error("second DelManual: want error")
	}
	if ls, _ := List(t.Context(), h.sets, st, firewall.Block, h.now); len(ls) != 0 {
		t.Errorf("after del: %+v", ls)
	}

	// A manual block neither counts against the cap nor is re-added by a verdict.
	host := netip.MustParsePrefix("203.0.113.50/32")
	if err := AddManual(t.Context(), h.sets, st, firewall.Block, host, time.Hour, "", h.now); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Block.Enabled, cfg.Block.Max = true, 1
	r := h.responder(cfg)
	h.sets.calls = nil
	if d := r.Observe(t.Context(), alert("203.0.113.50", 5)); d.Block != OutcomeAlready {
		t.Errorf("verdict on a manual block: %+v", d)
	}
	if d := r.Observe(t.Context(), alert("203.0.113.51", 5)); d.Block != OutcomeDone {
		t.Errorf("first auto-block with a manual one present: %+v", d)
	}
	if diff := cmp.Diff([]string{"add block 203.0.113.51/32 1h0m0s"}, h.sets.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestInRanges(t *testing.T) {
	for _, tc := range []struct {
		list string
		port int
		want bool
	}{{"22", 22, true}, {"1-1024,3389", 22, true}, {"23-80", 22, false}, {"", 22, false}, {"2222", 22, false}, {"x,22", 22, true}} {
		if got := inRanges(tc.list, tc.port); got != tc.want {
			t.Errorf("inRanges(%q, %d) = %v", tc.list, tc.port, got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config (defaults): %v", err)
	}
	bad := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"level", func(c *Config) { c.Block.MinLevel = 6 }, "block.min_level 6"},
		{"timeout", func(c *Config) { c.Redirect.Timeout = time.Millisecond }, "redirect.timeout"},
		{"max", func(c *Config) { c.Block.Max = -1 }, "block.max"},
		{"allow", func(c *Config) { c.Allow = []string{"10.0.0.1/8"} }, "host bits"},
		{"confidence", func(c *Config) { c.Redirect.MinConfidence = 2 }, "min_confidence"},
		{"port", func(c *Config) { c.Redirect.SSHPort = 70000 }, "ssh_port"},
	}
	for _, tc := range bad {
		c := DefaultConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestTargetWidth(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{{"203.0.113.1/32", true}, {"203.0.113.0/24", false}, {"2001:db8::/64", true}, {"2001:db8::/48", false}, {"2001:db8::1/128", true}} {
		p := netip.MustParsePrefix(tc.prefix)
		_, err := target(&event.Alert{Src: p.Addr(), Prefix: p})
		if (err == nil) != tc.ok {
			t.Errorf("target(%s): err = %v, want ok=%v", tc.prefix, err, tc.ok)
		}
	}
	if p, err := target(&event.Alert{Src: netip.MustParseAddr("::ffff:203.0.113.9")}); err != nil || p.String() != "203.0.113.9/32" {
		t.Errorf("mapped source: %s, %v", p, err)
	}
}

func TestImportedVerdicts(t *testing.T) {
	h := newHarness(t)
	cfg := DefaultConfig()
	cfg.Block.Enabled = true
	a := alert("203.0.113.8", 5)
	a.Origin = "import:2026-11-23T12:00:00Z:/var/log/kern.log"
	r := h.responder(cfg)
	if d := r.Observe(t.Context(), a); d.Block != OutcomeNone || r.Counters().Imported != 1 || len(h.sets.calls) != 0 {
		t.Errorf("imported verdict acted on by default: %+v %+v", d, r.Counters())
	}
	r2, err := New(cfg, h.sets, h.state, nil, WithImports(), WithLocalDiscovery(func() ([]netip.Prefix, error) { return nil, nil }))
	if err != nil {
		t.Fatal(err)
	}
	if d := r2.Observe(t.Context(), a); d.Block != OutcomeDone {
		t.Errorf("import --respond: %+v", d)
	}
}
