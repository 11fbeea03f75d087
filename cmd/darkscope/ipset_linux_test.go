//go:build linux

package main

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/darkscope/darkscope/internal/firewall"
	"github.com/darkscope/darkscope/internal/nstest"
	"github.com/darkscope/darkscope/internal/respond"
)

// TestRulesVariantPrint: `rules --variant iptables` prints the ipset,
// iptables and ip6tables scripts of the firewall package, in that order;
// the deprecated --iptables prints the same; a wrong variant is refused.
func TestRulesVariantPrint(t *testing.T) {
	args := []string{"rules", "--variant", "iptables", "--dark", "10.99.200.0/24", "--dark", "fd99:200::/64", "--set-size", "1000", "--log-level", "error"}
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	sets, err := firewall.IpsetScript(firewall.RulesConfig{Dark: prefixesOf(t, "10.99.200.0/24", "fd99:200::/64"), SetSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	v4, v6, err := firewall.IptablesScript(firewall.RulesConfig{Dark: prefixesOf(t, "10.99.200.0/24", "fd99:200::/64")})
	if err != nil {
		t.Fatal(err)
	}
	want := "# ipset -exist restore\n" + sets + "\n# iptables-restore --noflush\n" + v4 + "\n# ip6tables-restore --noflush\n" + v6
	if out != want {
		t.Errorf("rules --variant iptables printed:\n%s\nwant:\n%s", out, want)
	}
	old, err := runCLI(t, "rules", "--iptables", "--dark", "10.99.200.0/24", "--dark", "fd99:200::/64", "--set-size", "1000", "--log-level", "error")
	if err != nil || old != out {
		t.Errorf("--iptables differs from --variant iptables (err %v):\n%s", err, old)
	}
	if _, err := runCLI(t, "rules", "--variant", "pf", "--dark", "10.99.200.0/24"); err == nil || !strings.Contains(err.Error(), `--variant "pf"`) {
		t.Errorf("--variant pf: err = %v", err)
	}
	if _, err := runCLI(t, "block", "list", "--variant", "pf"); err == nil || !strings.Contains(err.Error(), `--variant "pf"`) {
		t.Errorf("block list --variant pf: err = %v", err)
	}
}

func prefixesOf(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// TestBlockCommandsIptables drives `rules --variant iptables --apply` and
// `block|redirect … --variant iptables` in a throw-away namespace; `ipset
// save` and iptables-save are the witnesses. Re-applying keeps the
// elements; `rules --variant iptables --remove` leaves no chain or set.
func TestBlockCommandsIptables(t *testing.T) {
	nstest.Require(t, "ipset", "iptables-restore", "ip6tables-restore")
	ns := nstest.New(t, "clipt")
	data := t.TempDir()
	cli := func(args ...string) (string, error) {
		return runCLI(t, append(args, "--netns", ns.Name, "--data", data, "--log-level", "error")...)
	}
	if _, err := cli("block", "list", "--variant", "iptables"); err == nil || !strings.Contains(err.Error(), "rules --variant iptables --apply") {
		t.Fatalf("block list without the ipsets: err = %v, want a hint to apply the rules", err)
	}
	apply := []string{"rules", "--variant", "iptables", "--dark", "10.99.200.0/24", "--apply"}
	if out, err := cli(apply...); err != nil {
		t.Fatalf("%v: %v\n%s", apply, err, out)
	}
	for _, args := range [][]string{
		{"block", "add", "10.99.50.1", "--timeout", "1h", "--reason", "abuse report"},
		{"block", "add", "fd99:50::/64", "--timeout", "0"},
		{"redirect", "add", "10.99.53.1", "--timeout", "30m"},
	} {
		if out, err := cli(append(args, "--variant", "iptables")...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	block4 := ns.MustRun("ipset", "save", "darkscope-block4")
	block6 := ns.MustRun("ipset", "save", "darkscope-block6")
	redirect4 := ns.MustRun("ipset", "save", "darkscope-redirect4")
	if !strings.Contains(block4, `add darkscope-block4 10.99.50.1 timeout 3`) || !strings.Contains(block4, `comment "darkscope: abuse report"`) ||
		!strings.Contains(block6, "add darkscope-block6 fd99:50::/64 timeout 0") || !strings.Contains(redirect4, "add darkscope-redirect4 10.99.53.1 timeout 1") {
		t.Fatalf("ipsets after add:\n%s\n%s\n%s", block4, block6, redirect4)
	}
	if l := ns.MustRun("nft", "list", "tables"); strings.Contains(l, "inet darkscope") {
		t.Errorf("the iptables variant created table inet darkscope:\n%s", l)
	}

	// Re-applying keeps the elements.
	if out, err := cli(apply...); err != nil {
		t.Fatalf("re-apply: %v\n%s", err, out)
	}
	out, err := cli("block", "list", "--json", "--variant", "iptables")
	if err != nil {
		t.Fatal(err)
	}
	var rows []respond.Listed
	for line := range strings.Lines(out) {
		var r respond.Listed
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 || rows[0].Prefix.String() != "10.99.50.1/32" || rows[0].Reason != "abuse report" || !rows[0].Manual || !rows[0].InKernel ||
		rows[0].ExpiresS > 3600 || rows[0].ExpiresS < 3500 || rows[1].Prefix.String() != "fd99:50::/64" || rows[1].TimeoutS != 0 {
		t.Errorf("block list --json after re-apply:\n%s", out)
	}
	if out, err := cli("block", "export", "--variant", "iptables"); err != nil || out != "10.99.50.1/32\nfd99:50::/64\n" {
		t.Errorf("block export = %q, %v", out, err)
	}
	if out, err := cli("redirect", "list", "--variant", "iptables"); err != nil || !strings.Contains(out, "10.99.53.1/32") || strings.Contains(out, "10.99.50.1") {
		t.Errorf("redirect list = %q, %v", out, err)
	}
	if _, err := cli("block", "del", "10.99.50.1", "--variant", "iptables"); err != nil {
		t.Fatal(err)
	}
	if l := ns.MustRun("ipset", "save", "darkscope-block4"); strings.Contains(l, "10.99.50.1") {
		t.Errorf("block del left the element:\n%s", l)
	}
	if _, err := cli("block", "del", "10.99.50.1", "--variant", "iptables"); err == nil {
		t.Error("second block del: want an error")
	}

	for range 2 {
		if out, err := cli("rules", "--variant", "iptables", "--remove"); err != nil {
			t.Fatalf("remove: %v\n%s", err, out)
		}
	}
	if sets := strings.Fields(ns.MustRun("ipset", "list", "-n")); len(sets) != 0 {
		t.Errorf("ipsets left after remove: %v", sets)
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		if s := ns.MustRun(tool); strings.Contains(s, "DARKSCOPE") {
			t.Errorf("%s after remove:\n%s", tool, s)
		}
	}
	// The state file keeps the records; the nft variant's sets are separate.
	st, _ := respond.NewStateFile(respond.StatePath(data))
	s, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{}
	for _, e := range s.Entries {
		kinds = append(kinds, e.Kind+" "+e.Prefix.String())
	}
	slices.Sort(kinds)
	if strings.Join(kinds, ",") != "block fd99:50::/64,redirect 10.99.53.1/32" {
		t.Errorf("state entries: %v", kinds)
	}
}
