//go:build linux

package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/nstest"
)

var saveAddRE = regexp.MustCompile(`(?m)^add \S+ (\S+) timeout (\d+)(?: comment "([^"]*)")?$`)

// TestIpsetsKernel adds, lists and deletes elements of the ipsets with
// Ipsets in a throw-away namespace (entered by path and by file
// descriptor) and checks each step against `ipset save`.
func TestIpsetsKernel(t *testing.T) {
	nstest.Require(t, "ipset", "iptables-restore", "ip6tables-restore")
	s := nstest.New(t, "ipsets")
	sets, err := NewIpsets(nil, WithSetsNetNS(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	p1 := netip.MustParsePrefix("10.99.50.0/24")

	// No sets yet: an actionable error, for every operation.
	if err := sets.Add(c, Block, p1, time.Hour, ""); !errors.Is(err, ErrNoIpsets) || !strings.Contains(err.Error(), "--variant iptables --apply") {
		t.Fatalf("Add without sets: err = %v, want ErrNoIpsets", err)
	}
	if _, err := sets.List(c, Redirect); !errors.Is(err, ErrNoIpsets) {
		t.Fatalf("List without sets: err = %v, want ErrNoIpsets", err)
	}
	ap, err := NewIptablesApplier(nil, WithNetNS(s.Name))
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
	}{
		{Block, "10.99.50.0/24", time.Hour, `darkscope: "quoted" reason`},
		{Block, "10.99.51.1/32", 1500 * time.Millisecond, ""}, // rounded up to 2 s
		{Block, "10.99.52.1/32", 0, "no timeout"},
		{Block, "fd99:50::/64", 10 * time.Minute, ""},
		{Redirect, "fd99:53::1/128", time.Minute, ""},
		{Allow, "10.99.54.0/23", 0, ""},
	}
	for _, a := range adds {
		if err := sets.Add(c, a.kind, netip.MustParsePrefix(a.p), a.timeout, a.comment); err != nil {
			t.Fatalf("add %s %s: %v", a.kind, a.p, err)
		}
	}
	b4 := s.MustRun("ipset", "save", IpsetPrefix+SetBlock4)
	for _, want := range []string{
		`add darkscope-block4 10.99.50.0/24 timeout 3`, // 3600 or 3599 left
		`comment "darkscope: _quoted_ reason"`,
		`add darkscope-block4 10.99.52.1 timeout 0 comment "no timeout"`,
	} {
		if !strings.Contains(b4, want) {
			t.Errorf("ipset save lacks %q:\n%s", want, b4)
		}
	}
	if !regexp.MustCompile(`add darkscope-block4 10\.99\.51\.1 timeout [12]\n`).MatchString(b4) { // 2 s, 1 s or less left
		t.Errorf("1.5 s element:\n%s", b4)
	}
	if out := s.MustRun("ipset", "save", IpsetPrefix+SetRedirect6); !strings.Contains(out, "add darkscope-redirect6 fd99:53::1 timeout") {
		t.Errorf("redirect6:\n%s", out)
	}

	els, err := sets.List(c, Block)
	if err != nil {
		t.Fatal(err)
	}
	// The ipset tool's own decoding of the same sets is the witness:
	// the same elements, comments and remaining seconds (within 1 s).
	witness := map[string]string{}
	for _, set := range []string{SetBlock4, SetBlock6} {
		for _, m := range saveAddRE.FindAllStringSubmatch(s.MustRun("ipset", "save", IpsetPrefix+set), -1) {
			witness[m[1]] = m[3] + "|" + m[2]
		}
	}
	if len(witness) != len(els) {
		t.Errorf("List(Block) has %d elements, ipset save %d: %+v vs %v", len(els), len(witness), els, witness)
	}
	for _, e := range els {
		key := e.Prefix.String()
		if e.Prefix.IsSingleIP() {
			key = e.Prefix.Addr().String() // ipset prints hosts without /32, /128
		}
		comment, secs, _ := strings.Cut(witness[key], "|")
		n, err := strconv.Atoi(secs)
		if err != nil || comment != e.Comment || e.Timeout < time.Duration(n-1)*time.Second || e.Timeout > time.Duration(n+1)*time.Second {
			t.Errorf("List(Block) element %+v, ipset save: comment %q timeout %q", e, comment, secs)
		}
	}
	var got []string
	for _, e := range els {
		got = append(got, e.Prefix.String())
		if e.Timeout != e.Expires {
			t.Errorf("%s: Timeout %s != Expires %s", e.Prefix, e.Timeout, e.Expires)
		}
	}
	if strings.Join(got, " ") != "10.99.50.0/24 10.99.51.1/32 10.99.52.1/32 fd99:50::/64" {
		t.Errorf("List(Block) = %v", got)
	}
	if e := els[0]; e.Expires < 59*time.Minute || e.Expires > time.Hour || e.Comment != "darkscope: _quoted_ reason" {
		t.Errorf("first element %+v", e)
	}
	if e := els[2]; e.Timeout != 0 || e.Expires != 0 || e.Comment != "no timeout" {
		t.Errorf("element without timeout %+v", e)
	}

	// Re-adding an element sets its timeout anew; overlaps, /0 and
	// timeouts ipset cannot hold are refused.
	if err := sets.Add(c, Block, netip.MustParsePrefix("10.99.52.1/32"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if out := s.MustRun("ipset", "save", IpsetPrefix+SetBlock4); !strings.Contains(out, "add darkscope-block4 10.99.52.1 timeout 3") {
		t.Errorf("re-add did not set the timeout:\n%s", out)
	}
	for _, bad := range []struct {
		p       string
		timeout time.Duration
		want    string
	}{
		{"10.99.50.7/32", 0, "overlaps element 10.99.50.0/24"},
		{"10.99.0.0/16", 0, "overlaps element"},
		{"0.0.0.0/0", 0, "cannot hold /0"},
		{"10.99.60.1/32", 25 * 24 * time.Hour, "at most"},
		{"10.99.60.1/32", -time.Second, "want 0"},
	} {
		if err := sets.Add(c, Block, netip.MustParsePrefix(bad.p), bad.timeout, ""); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("add %s %s: err = %v, want %q", bad.p, bad.timeout, err, bad.want)
		}
	}

	// The 2 s element expires (the kernel stops matching it; ipset lists it no more).
	time.Sleep(2100 * time.Millisecond)
	if out := s.MustRun("ipset", "save", IpsetPrefix+SetBlock4); strings.Contains(out, "10.99.51.1 ") {
		t.Errorf("expired element still listed:\n%s", out)
	}

	// Delete exactly as listed; a part of an element or an absent one fails.
	if err := sets.Del(c, Block, netip.MustParsePrefix("10.99.50.0/24")); err != nil {
		t.Fatal(err)
	}
	if err := sets.Del(c, Block, netip.MustParsePrefix("10.99.50.0/24")); err == nil || !strings.Contains(err.Error(), "no such element") {
		t.Errorf("second delete: err = %v", err)
	}
	if err := sets.Del(c, Allow, netip.MustParsePrefix("10.99.54.1/32")); err == nil {
		t.Error("delete of a part of an element: want an error")
	}
	if out := s.MustRun("ipset", "save", IpsetPrefix+SetBlock4); strings.Contains(out, "10.99.50.0/24") {
		t.Errorf("deleted element still there:\n%s", out)
	}

	// The same through a namespace file descriptor.
	f, err := os.Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byFd, err := NewIpsets(nil, WithSetsNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	els, err = byFd.List(c, Redirect)
	if err != nil || len(els) != 1 || els[0].Prefix.String() != "fd99:53::1/128" {
		t.Errorf("List(Redirect) by fd = %+v, %v", els, err)
	}
}

// BenchmarkIpsetsAddDel measures one add and one delete of a host over
// netlink (three requests: the overlap listing, the add, the delete), with
// 1,000 other elements in the set.
func BenchmarkIpsetsAddDel(b *testing.B) {
	nstest.Require(b, "ipset", "iptables-restore", "ip6tables-restore")
	s := nstest.New(b, "ipsetbench")
	ap, err := NewIptablesApplier(nil, WithNetNS(s.Name))
	if err != nil {
		b.Fatal(err)
	}
	c := b.Context()
	if err := ap.Apply(c, goldenConfigs[0].cfg); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString("add " + IpsetPrefix + SetBlock4 + fmt.Sprintf(" 10.98.%d.%d timeout 3600\n", i/250, 1+i%250))
	}
	cmd := s.Command(c, "ipset", "restore")
	cmd.Stdin = strings.NewReader(sb.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("fill: %v: %s", err, out)
	}
	sets, err := NewIpsets(nil, WithSetsNetNS(s.Path()))
	if err != nil {
		b.Fatal(err)
	}
	p := netip.MustParsePrefix("10.99.50.1/32")
	n := 0
	for b.Loop() {
		if err := sets.Add(c, Block, p, time.Hour, "bench"); err != nil {
			b.Fatal(err)
		}
		if err := sets.Del(c, Block, p); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "adddel/s")
}
