//go:build linux

package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"

	"github.com/darkscope/darkscope/internal/nstest"
)

// setListing is `nft list set inet darkscope NAME` in s: the independent
// witness (nft's own netlink decoding) for what Sets wrote.
func setListing(t *testing.T, s *nstest.NS, name string) string {
	t.Helper()
	return s.MustRun("nft", "list", "set", "inet", Table, name)
}

// TestSetsKernel adds, lists and deletes elements with timeouts in a real
// table inet darkscope (in a throw-away namespace) and checks each step
// against nft's listing of the same set.
func TestSetsKernel(t *testing.T) {
	nstest.Require(t, "nft")
	s := nstest.New(t, "sets")
	sets, err := NewSets(nil, WithSetsNetNS(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sets.Close() })
	c := ctx(t)

	// No table yet: an actionable error, for every operation.
	p1 := netip.MustParsePrefix("10.99.50.0/24")
	if err := sets.Add(c, Block, p1, time.Hour, ""); !errors.Is(err, ErrNoTable) || !strings.Contains(err.Error(), "rules --apply") {
		t.Fatalf("Add without table: err = %v, want ErrNoTable", err)
	}
	if _, err := sets.List(c, Redirect); !errors.Is(err, ErrNoTable) {
		t.Fatalf("List without table: err = %v, want ErrNoTable", err)
	}

	ap, err := NewApplier(nil, WithNetNS(s.Name))
	if err != nil {
		t.Fatal(err)
	}
	if err := ap.Apply(c, goldenConfigs[0].cfg); err != nil {
		t.Fatal(err)
	}

	adds := []struct {
		kind    SetKind
		p       string
		timeout time.Duration
		comment string
		set     string
		nft     string // how nft lists the element
	}{
		{Block, "10.99.50.0/24", time.Hour, "scan level 4", SetBlock4, `10.99.50.0/24 timeout 1h expires [0-9hms]+ comment "scan level 4"`},
		{Block, "10.99.51.1/32", 10 * time.Minute, "", SetBlock4, `10.99.51.1 timeout 10m expires [0-9ms]+`},
		{Block, "10.99.52.1/32", 0, "manual", SetBlock4, `10.99.52.1 comment "manual"`},
		{Block, "255.255.255.254/31", 5 * time.Minute, "", SetBlock4, `255.255.255.254/31 timeout 5m expires [0-9ms]+`},
		{Block, "fd99:50::/64", 2 * time.Hour, "", SetBlock6, `fd99:50::/64 timeout 2h expires [0-9hms]+`},
		{Redirect, "10.99.53.1/32", 30 * time.Minute, "ssh scanner", SetRedirect4, `10.99.53.1 timeout 30m expires [0-9ms]+ comment "ssh scanner"`},
		{Redirect, "fd99:53::7/128", 30 * time.Minute, "", SetRedirect6, `fd99:53::7 timeout 30m expires [0-9ms]+`},
		{Allow, "10.99.1.0/24", 0, "", SetAllow4, `10.99.1.0/24`},
	}
	for _, a := range adds {
		if err := sets.Add(c, a.kind, netip.MustParsePrefix(a.p), a.timeout, a.comment); err != nil {
			t.Fatalf("Add(%s, %s): %v", a.kind, a.p, err)
		}
	}
	for _, a := range adds {
		got := setListing(t, s, a.set)
		if !regexp.MustCompile(`(?m)[{,]\s*` + a.nft + `\s*[,}]`).MatchString(got) {
			t.Errorf("nft does not list %s as %q:\n%s", a.p, a.nft, got)
		}
	}

	// nft merges ranges added by hand; List covers them with prefixes.
	s.MustRun("nft", "add element inet darkscope block4 { 10.99.60.0-10.99.60.10 timeout 1h }")

	got, err := sets.List(c, Block)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		p       string
		timeout time.Duration
		comment string
	}{
		{"10.99.50.0/24", time.Hour, "scan level 4"},
		{"10.99.51.1/32", 10 * time.Minute, ""},
		{"10.99.52.1/32", 0, "manual"},
		{"10.99.60.0/29", time.Hour, ""},
		{"10.99.60.8/31", time.Hour, ""},
		{"10.99.60.10/32", time.Hour, ""},
		{"255.255.255.254/31", 5 * time.Minute, ""},
		{"fd99:50::/64", 2 * time.Hour, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("List(Block) = %+v, want %d elements", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Prefix.String() != w.p || g.Timeout != w.timeout || g.Comment != w.comment {
			t.Errorf("element %d = %+v, want %s timeout %s comment %q", i, g, w.p, w.timeout, w.comment)
		}
		switch {
		case w.timeout == 0 && g.Expires != 0:
			t.Errorf("%s: permanent element expires in %s", w.p, g.Expires)
		case w.timeout != 0 && (g.Expires > w.timeout || g.Expires < w.timeout-time.Minute):
			t.Errorf("%s: expires in %s, want just under %s", w.p, g.Expires, w.timeout)
		}
	}
	red, err := sets.List(c, Redirect)
	if err != nil {
		t.Fatal(err)
	}
	if len(red) != 2 || red[0].Prefix.String() != "10.99.53.1/32" || red[1].Prefix.String() != "fd99:53::7/128" {
		t.Errorf("List(Redirect) = %+v", red)
	}

	// An element overlapping one in the set is refused.
	if err := sets.Add(c, Block, netip.MustParsePrefix("10.99.50.7/32"), time.Hour, ""); err == nil {
		t.Error("Add of 10.99.50.7 inside 10.99.50.0/24: want an error")
	}

	// Two ranges sharing an end: the kernel would take it, Add refuses.
	if err := sets.Add(c, Block, netip.MustParsePrefix("10.99.52.0/31"), time.Hour, ""); err == nil || !strings.Contains(err.Error(), "overlaps element 10.99.52.1/32") {
		t.Errorf("Add of 10.99.52.0/31 over 10.99.52.1: err = %v", err)
	}
	// Re-adding the same element is allowed and sets its timeout.
	if err := sets.Add(c, Block, netip.MustParsePrefix("10.99.52.1/32"), 0, "manual"); err != nil {
		t.Errorf("re-add: %v", err)
	}

	// Del removes exactly the element; a second Del fails.
	del := netip.MustParsePrefix("10.99.51.1/32")
	if err := sets.Del(c, Block, del); err != nil {
		t.Fatal(err)
	}
	if l := setListing(t, s, SetBlock4); strings.Contains(l, "10.99.51.1 ") || !strings.Contains(l, "10.99.52.1") {
		t.Errorf("after Del 10.99.51.1:\n%s", l)
	}
	if err := sets.Del(c, Block, del); err == nil {
		t.Error("second Del: want an error")
	}
	if err := sets.Del(c, Block, netip.MustParsePrefix("fd99:50::/64")); err != nil {
		t.Fatal(err)
	}
	if l := setListing(t, s, SetBlock6); strings.Contains(l, "fd99:50::") {
		t.Errorf("after Del fd99:50::/64:\n%s", l)
	}

	// The kernel expires elements by their timeout.
	short := netip.MustParsePrefix("10.99.70.1/32")
	if err := sets.Add(c, Block, short, 1500*time.Millisecond, ""); err != nil {
		t.Fatal(err)
	}
	if l := setListing(t, s, SetBlock4); !strings.Contains(l, "10.99.70.1 timeout 1s500ms") {
		t.Fatalf("short element missing:\n%s", l)
	}
	time.Sleep(2500 * time.Millisecond)
	if l := setListing(t, s, SetBlock4); strings.Contains(l, "10.99.70.1") {
		t.Errorf("element with a 1.5s timeout still listed after 2.5s:\n%s", l)
	}
	got, err = sets.List(c, Block)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if e.Prefix == short {
			t.Errorf("List still has expired %s", short)
		}
	}

	// Bad input never reaches the kernel.
	for _, p := range []string{"10.99.50.1/24"} {
		if err := sets.Add(c, Block, netip.MustParsePrefix(p), time.Hour, ""); err == nil || !strings.Contains(err.Error(), "host bits") {
			t.Errorf("Add(%s): err = %v, want host bits error", p, err)
		}
	}
	if err := sets.Add(c, Block, netip.MustParsePrefix("10.99.80.1/32"), -time.Second, ""); err == nil {
		t.Error("negative timeout: want an error")
	}
}

// TestPairIntervals: the kernel's interval elements in dump order (rbtree:
// descending), including two starts sharing one end as the kernel accepts
// them from other tools, read the way nft lists them.
func TestPairIntervals(t *testing.T) {
	el := func(a string, end bool, timeout time.Duration) nftables.SetElement {
		return nftables.SetElement{Key: netip.MustParseAddr(a).AsSlice(), IntervalEnd: end, Timeout: timeout}
	}
	raw := []nftables.SetElement{
		el("255.255.255.0", false, 0),
		el("192.0.2.8", true, 0), el("192.0.2.7", false, 2*time.Hour), el("192.0.2.6", false, time.Hour),
		el("10.0.1.0", true, 0), el("10.0.0.0", false, time.Minute),
		el("0.0.0.0", true, 0), // the kernel's own marker end
	}
	got, err := pairIntervals(raw, false)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range got {
		s = append(s, fmt.Sprintf("%s %s", e.Prefix, e.Timeout))
	}
	want := []string{"10.0.0.0/24 1m0s", "192.0.2.6/32 1h0m0s", "192.0.2.7/32 2h0m0s", "255.255.255.0/24 0s"}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// BenchmarkSetsAddDel: one netlink Add and one Del of a /32 with a timeout
// in a real table (root, own namespace): the cost of one block, with the
// set empty and holding 10,000 elements (Add lists the set to refuse
// overlaps).
func BenchmarkSetsAddDel(b *testing.B) {
	nstest.Require(b, "nft")
	for _, size := range []int{0, 10000} {
		b.Run(fmt.Sprintf("elements=%d", size), func(b *testing.B) {
			s := nstest.New(b, "bench")
			ap, err := NewApplier(nil, WithNetNS(s.Name))
			if err != nil {
				b.Fatal(err)
			}
			if err := ap.Apply(b.Context(), goldenConfigs[0].cfg); err != nil {
				b.Fatal(err)
			}
			if size > 0 {
				var els []string
				for i := range size {
					els = append(els, fmt.Sprintf("10.%d.%d.1 timeout 1h", 100+i/256, i%256))
				}
				s.Nft("add element inet darkscope block4 { " + strings.Join(els, ", ") + " }")
			}
			sets, err := NewSets(nil, WithSetsNetNS(s.Path()))
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = sets.Close() }()
			p := netip.MustParsePrefix("10.99.50.1/32")
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if err := sets.Add(b.Context(), Block, p, time.Hour, "bench"); err != nil {
					b.Fatal(err)
				}
				if err := sets.Del(b.Context(), Block, p); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}
