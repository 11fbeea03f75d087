//go:build linux

package firewall

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/nstest"
)

// Root integration tests of the iptables variant (iptables-nft, as Debian
// 12 ships it, and ipset) in throw-away namespaces. The witnesses are the
// tools' own listings: iptables-save, `iptables -L -v -x -n` counters and
// `ipset save`.

// saved is the rules of `TOOL-save` in ns, one "table line" per rule or
// user chain (and built-in chain whose policy is not ACCEPT), without
// counters: two calls give equal strings when the rules are the same.
// Empty tables that iptables-nft creates on first use and leaves behind
// (a table has no rules of its own) do not count.
func saved(t *testing.T, ns *nstest.NS, tool string) string {
	t.Helper()
	var b strings.Builder
	table := ""
	for line := range strings.Lines(ns.MustRun(tool + "-save")) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, "-A "):
			fmt.Fprintf(&b, "%s %s\n", table, line)
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line)
			if len(f) >= 2 && f[1] != "ACCEPT" {
				fmt.Fprintf(&b, "%s %s %s\n", table, f[0], f[1])
			}
		}
	}
	return b.String()
}

// ipsetNamesIn lists the ipsets of ns, sorted.
func ipsetNamesIn(t *testing.T, ns *nstest.NS) []string {
	t.Helper()
	names := strings.Fields(ns.MustRun("ipset", "list", "-n"))
	slices.Sort(names)
	return names
}

// iptCount reads the packet counter of the rule in TOOL -t TABLE -L CHAIN
// whose line matches re (iptables' own listing, not our parser).
func iptCount(t *testing.T, ns *nstest.NS, tool, table, chain, re string) uint64 {
	t.Helper()
	out := ns.MustRun(tool, "-t", table, "-L", chain, "-v", "-x", "-n")
	rx := regexp.MustCompile(re)
	for line := range strings.Lines(out) {
		if rx.MatchString(line) {
			f := strings.Fields(line)
			n, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				t.Fatalf("counter in %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no rule matching %q in %s -t %s %s:\n%s", re, tool, table, chain, out)
	return 0
}

func newIptLab(t *testing.T) (*lab, *IptablesApplier) {
	t.Helper()
	nstest.Require(t, "ipset", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save")
	l := newLab(t)
	ap, err := NewIptablesApplier(nil, WithNetNS(l.sensor.Name))
	if err != nil {
		t.Fatal(err)
	}
	return l, ap
}

// TestIptablesApplyRemove loads the iptables variant of every golden config
// with IptablesApplier into a namespace that already has rules and an
// ipset of its own: every rule of the printed scripts reads back verbatim
// from iptables-save, re-applying changes nothing (no duplicate jumps),
// switching configs leaves no stale chain, and Remove restores the
// namespace exactly as it was, twice in a row. In darknet mode real packets
// hit the NFLOG rules; in host mode an nmap scan hits the closed-port rule.
func TestIptablesApplyRemove(t *testing.T) {
	for _, tc := range goldenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			l, ap := newIptLab(t)
			s := l.sensor
			s.MustRun("iptables", "-t", "raw", "-A", "PREROUTING", "-s", "10.99.9.9", "-j", "ACCEPT")
			s.MustRun("ip6tables", "-t", "raw", "-A", "PREROUTING", "-s", "fd99:9::9", "-j", "ACCEPT")
			s.MustRun("iptables", "-t", "nat", "-A", "PREROUTING", "-s", "10.99.9.8", "-j", "RETURN")
			s.MustRun("ipset", "create", "other", "hash:ip", "timeout", "0")
			s.MustRun("ipset", "add", "other", "10.99.9.7", "timeout", "3600")
			s.MustRun("iptables", "-A", "INPUT", "-m", "set", "--match-set", "other", "src", "-j", "DROP")
			base4, base6, baseSets := saved(t, s, "iptables"), saved(t, s, "ip6tables"), ipsetNamesIn(t, s)

			// The printed scripts load by hand as their headers say: the ipsets
			// with `ipset -exist restore` (twice: idempotent), then each rules
			// script passes iptables-restore --test.
			v4, v6, err := IptablesScript(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			sets, err := IpsetScript(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct{ argv, script string }{
				{"ipset -exist restore", sets}, {"ipset -exist restore", sets},
				{"iptables-restore --test --noflush", v4}, {"ip6tables-restore --test --noflush", v6},
			} {
				cmd := s.Command(ctx(t), strings.Fields(f.argv)...)
				cmd.Stdin = strings.NewReader(f.script)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v: %s\n%s", f.argv, err, out, f.script)
				}
			}

			if err := ap.Apply(ctx(t), tc.cfg); err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct{ tool, script, own string }{
				{"iptables", v4, "-A PREROUTING -s 10.99.9.9/32 -j ACCEPT"},
				{"ip6tables", v6, "-A PREROUTING -s fd99:9::9/128 -j ACCEPT"},
			} {
				all := saved(t, s, f.tool)
				if !strings.Contains(all, f.own) {
					t.Errorf("%s: own rule %q lost:\n%s", f.tool, f.own, all)
				}
				// Every -A line of the script reads back verbatim from the kernel.
				missing := 0
				for line := range strings.SplitSeq(f.script, "\n") {
					if strings.HasPrefix(line, "-A ") && !strings.Contains(all, line+"\n") {
						t.Errorf("%s: rule not read back: %s", f.tool, line)
						missing++
					}
				}
				if missing > 0 {
					t.Logf("%s-save:\n%s", f.tool, all)
				}
			}
			got := ipsetNamesIn(t, s)
			want := append(slices.Clone(baseSets), ipsetNames[:]...)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("ipsets after apply = %v, want %v", got, want)
			}

			after4, after6 := saved(t, s, "iptables"), saved(t, s, "ip6tables")
			if err := ap.Apply(ctx(t), tc.cfg); err != nil {
				t.Fatalf("re-apply: %v", err)
			}
			if a4, a6 := saved(t, s, "iptables"), saved(t, s, "ip6tables"); a4 != after4 || a6 != after6 {
				t.Errorf("re-apply changed the rules:\nfirst:\n%s%s\nsecond:\n%s%s", after4, after6, a4, a6)
			}

			switch {
			case tc.name == "host":
				iptablesHostTraffic(t, l)
			case len(tc.cfg.Dark) > 0 && tc.cfg.Iface == "" && !tc.cfg.LogText:
				// Real packets: 3 UDP datagrams to a dark address hit the NFLOG rule.
				l.attack(t, "timeout", "30", "hping3", "-q", "-2", "-c", "3", "-i", "u20000", "-p", "53", "10.99.200.7")
				if n := iptCount(t, s, "iptables", "raw", IptChainLog, `NFLOG .*10\.99\.200\.0/24`); n != 3 {
					t.Errorf("NFLOG rule counted %d packets, want 3", n)
				}
			}

			// Another mode: no chain of the first one is left.
			other := RulesConfig{Mode: ModeHost}
			if tc.cfg.Mode == ModeHost {
				other = RulesConfig{Dark: prefixes(dark4)}
			}
			if err := ap.Apply(ctx(t), other); err != nil {
				t.Fatalf("apply %+v: %v", other, err)
			}
			o4, o6, _ := IptablesScript(other)
			for _, f := range []struct{ tool, script string }{{"iptables", o4}, {"ip6tables", o6}} {
				all := saved(t, s, f.tool)
				for _, ch := range []string{IptChainLog, IptChainBlock, IptChainNotrack, IptChainHost, IptChainRedirect} {
					if strings.Contains(all, ":"+ch+" ") != strings.Contains(f.script, ":"+ch+" ") {
						t.Errorf("%s after mode switch: chain %s present=%v, script has it=%v:\n%s",
							f.tool, ch, strings.Contains(all, ":"+ch+" "), strings.Contains(f.script, ":"+ch+" "), all)
					}
					if n := strings.Count(all, "-j "+ch+"\n"); n > 1 {
						t.Errorf("%s: %d jumps to %s", f.tool, n, ch)
					}
				}
			}

			for i := range 2 {
				if err := ap.Remove(ctx(t)); err != nil {
					t.Fatalf("remove #%d: %v", i+1, err)
				}
			}
			if a4, a6 := saved(t, s, "iptables"), saved(t, s, "ip6tables"); a4 != base4 || a6 != base6 {
				t.Errorf("remove left a trace:\nbefore:\n%s%s\nafter:\n%s%s", base4, base6, a4, a6)
			}
			if got := ipsetNamesIn(t, s); !slices.Equal(got, baseSets) {
				t.Errorf("ipsets after remove = %v, want %v", got, baseSets)
			}
			if out := s.MustRun("ipset", "save", "other"); !strings.Contains(out, "add other 10.99.9.7 timeout") {
				t.Errorf("own ipset lost its element:\n%s", out)
			}
		})
	}
}

// iptablesHostTraffic: with the host-mode iptables rules loaded, an nmap
// SYN scan of ports 8079-8081 with a listener on 8080 is counted by the
// closed-port rule twice (8079, 8081), for IPv4 and IPv6.
func iptablesHostTraffic(t *testing.T, l *lab) {
	nstest.Require(t, "nmap", "python3", "timeout")
	listen(t, l.sensor, 8080)
	for _, f := range []struct{ tool, dst string }{{"iptables", sensor4}, {"ip6tables", sensor6}} {
		args := []string{"timeout", "30", "nmap", "-n", "-Pn", "-sS", "-p", "8079-8081", "--max-retries", "0", f.dst}
		if f.tool == "ip6tables" {
			args = append(args[:3], append([]string{"-6"}, args[3:]...)...)
		}
		l.attack(t, args...)
		if n := iptCount(t, l.sensor, f.tool, "mangle", IptChainHost, `NFLOG .*/\* log closed port \*/`); n != 2 {
			t.Errorf("%s: closed-port rule counted %d, want 2 (8079, 8081; 8080 listens)", f.tool, n)
		}
	}
}

// TestIptablesSetsTraffic: with the iptables variant applied (notrack on),
// sources put into the ipsets with Ipsets behave as in table inet
// darkscope. Blocked sources are dropped and the drop rule counts exactly
// the packets sent (none reach the notrack rule behind it); an allowlisted
// source in the block set is not dropped; a redirect-set member keeps
// tcp/22, which reaches the honeypot port; an expired timeout unblocks;
// re-applying (also with another set size) keeps the elements with their
// running timeouts; Remove leaves no trace.
func TestIptablesSetsTraffic(t *testing.T) {
	nstest.Require(t, "hping3", "ping", "curl", "python3", "timeout")
	l, ap := newIptLab(t)
	s, a := l.sensor, l.attacker
	const allowed4 = "10.99.1.3" // a second attacker address, allowlisted
	aif := strings.Fields(a.MustRun("ip", "-o", "-4", "addr", "show", "to", attacker4+"/32"))
	if len(aif) < 2 {
		t.Fatalf("attacker interface of %s not found", attacker4)
	}
	a.MustRun("ip", "addr", "add", allowed4+"/24", "dev", aif[1])
	// A permanent neighbour entry for the sensor: no neighbour solicitation
	// from the blocked IPv6 source adds to the drop counter.
	mac := strings.Fields(s.MustRun("cat", "/sys/class/net/"+l.sensorIf+"/address"))
	a.MustRun("ip", "-6", "neigh", "replace", sensor6, "lladdr", mac[0], "dev", aif[1], "nud", "permanent")
	s.MustRun("iptables", "-A", "INPUT", "-s", "10.99.9.9", "-j", "DROP")
	base4, base6 := saved(t, s, "iptables"), saved(t, s, "ip6tables")

	cfg := RulesConfig{Dark: prefixes(dark4, dark6), Notrack: true, SetSize: 1000}
	if err := ap.Apply(ctx(t), cfg); err != nil {
		t.Fatal(err)
	}
	sets, err := NewIpsets(nil, WithSetsNetNS(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	drop4 := func() uint64 { return iptCount(t, s, "iptables", "raw", IptChainBlock, `DROP .*drop block4`) }
	drop6 := func() uint64 { return iptCount(t, s, "ip6tables", "raw", IptChainBlock, `DROP .*drop block6`) }
	untracked4 := func() uint64 { return iptCount(t, s, "iptables", "raw", IptChainNotrack, `CT .*notrack dark4`) }
	hping := func(n int, extra ...string) {
		t.Helper()
		args := append([]string{"timeout", "30", "hping3", "-q", "-c", fmt.Sprint(n), "-i", "u20000"}, extra...)
		l.attack(t, append(args, "10.99.200.7")...)
	}

	if err := sets.Add(c, Block, netip.MustParsePrefix(attacker4+"/32"), time.Hour, "darkscope: test"); err != nil {
		t.Fatal(err)
	}
	if err := sets.Add(c, Block, netip.MustParsePrefix(attacker6+"/128"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	d0, u0 := drop4(), untracked4()
	hping(5, "-2", "-p", "53")
	if d, u := drop4(), untracked4(); d-d0 != 5 || u != u0 {
		t.Errorf("blocked source: drop counter +%d, notrack counter +%d; want +5 and +0", d-d0, u-u0)
	}
	d60 := drop6()
	_, _ = a.Run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", "fd99:200::7")
	if d := drop6(); d-d60 != 3 {
		t.Errorf("blocked IPv6 source: drop counter +%d, want +3", d-d60)
	}

	// Allowlisted: in the block set too, but never dropped.
	for _, kind := range []SetKind{Block, Allow} {
		if err := sets.Add(c, kind, netip.MustParsePrefix(allowed4+"/32"), time.Hour, ""); err != nil {
			t.Fatal(err)
		}
	}
	d0, u0 = drop4(), untracked4()
	hping(4, "-2", "-p", "53", "-a", allowed4)
	if d, u := drop4(), untracked4(); d != d0 || u-u0 != 4 {
		t.Errorf("allowlisted source: drop counter +%d, notrack counter +%d; want +0 and +4", d-d0, u-u0)
	}

	// Redirect: the blocked attacker keeps tcp/22, which goes to the honeypot.
	listen(t, s, 2222)
	if l.connect(sensor4, 22) || l.connect(sensor4, 2222) {
		t.Fatal("blocked attacker reaches the sensor before any redirect")
	}
	if err := sets.Add(c, Redirect, netip.MustParsePrefix(attacker4+"/32"), 30*time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	r0 := iptCount(t, s, "iptables", "nat", IptChainRedirect, `REDIRECT .*redirect4 to honeypot`)
	if !l.connect(sensor4, 22) {
		t.Error("redirected attacker: port 22 does not reach the honeypot")
	}
	if l.connect(sensor4, 2222) {
		t.Error("redirected attacker is no longer blocked except port 22")
	}
	if r := iptCount(t, s, "iptables", "nat", IptChainRedirect, `REDIRECT .*redirect4 to honeypot`); r-r0 != 1 {
		t.Errorf("redirect counter +%d, want +1 (one connection)", r-r0)
	}

	// Re-apply with another size cap: the sets are rebuilt, the elements kept.
	before := s.MustRun("ipset", "save", IpsetPrefix+SetBlock4)
	cfg.SetSize = 2000
	if err := ap.Apply(ctx(t), cfg); err != nil {
		t.Fatal(err)
	}
	after := s.MustRun("ipset", "save", IpsetPrefix+SetBlock4)
	if !strings.Contains(after, "maxelem 2000") || strings.Contains(strings.Join(ipsetNamesIn(t, s), " "), ipsetResizeSuffix) {
		t.Errorf("block4 not resized:\n%s", after)
	}
	els, err := sets.List(c, Block)
	if err != nil {
		t.Fatal(err)
	}
	if len(els) != 3 || els[0].Prefix.String() != attacker4+"/32" || els[0].Comment != "darkscope: test" ||
		els[0].Expires < 59*time.Minute || els[0].Expires > time.Hour {
		t.Errorf("block set after re-apply: %+v\nbefore:\n%s\nafter:\n%s", els, before, after)
	}
	d0 = drop4()
	hping(3, "-2", "-p", "53")
	if d := drop4(); d-d0 != 3 {
		t.Errorf("after re-apply: drop counter +%d, want +3", d-d0)
	}
	// Counters (iptables-save -c) agrees with iptables' own listing.
	cs, err := ap.Counters(c)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rc := range cs {
		if rc.Comment == CommentDropBlock4 {
			found = true
			if rc.Chain != IptChainBlock || rc.Packets != drop4() {
				t.Errorf("Counters: %+v, iptables -L counts %d", rc, drop4())
			}
		}
	}
	if !found {
		t.Errorf("Counters lacks %q: %+v", CommentDropBlock4, cs)
	}

	// A timeout runs out: the source is no longer dropped.
	if err := sets.Del(c, Block, netip.MustParsePrefix(attacker4+"/32")); err != nil {
		t.Fatal(err)
	}
	if err := sets.Add(c, Block, netip.MustParsePrefix(attacker4+"/32"), time.Second, ""); err != nil {
		t.Fatal(err)
	}
	d0 = drop4()
	hping(2, "-2", "-p", "53")
	if d := drop4(); d-d0 != 2 {
		t.Errorf("1s block: drop counter +%d before it expired, want +2", d-d0)
	}
	time.Sleep(1500 * time.Millisecond)
	d0 = drop4()
	hping(3, "-2", "-p", "53")
	if d := drop4(); d != d0 {
		t.Errorf("expired block: drop counter +%d, want +0", d-d0)
	}

	if err := ap.Remove(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if a4, a6 := saved(t, s, "iptables"), saved(t, s, "ip6tables"); a4 != base4 || a6 != base6 {
		t.Errorf("remove left a trace:\nbefore:\n%s%s\nafter:\n%s%s", base4, base6, a4, a6)
	}
	if got := ipsetNamesIn(t, s); len(got) != 0 {
		t.Errorf("ipsets after remove: %v", got)
	}
}

// BenchmarkIptablesApply re-applies the iptables variant over a block
// ipset holding 10,000 elements with timeouts: the cost of one apply
// (ipset, iptables-save and iptables-restore processes for both families
// included), and the elements are all still there afterwards.
func BenchmarkIptablesApply(b *testing.B) {
	nstest.Require(b, "ipset", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save")
	s := nstest.New(b, "iptbench")
	ap, err := NewIptablesApplier(nil, WithNetNS(s.Name))
	if err != nil {
		b.Fatal(err)
	}
	cfg := RulesConfig{Dark: prefixes(dark4, dark6), Notrack: true}
	if err := ap.Apply(b.Context(), cfg); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "add %s%s 10.99.%d.%d timeout 3600\n", IpsetPrefix, SetBlock4, i/250, 1+i%250)
	}
	cmd := s.Command(b.Context(), "ipset", "restore")
	cmd.Stdin = strings.NewReader(sb.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("add %d elements: %v: %s", n, err, out)
	}
	applies := 0
	for b.Loop() {
		if err := ap.Apply(b.Context(), cfg); err != nil {
			b.Fatal(err)
		}
		applies++
	}
	b.ReportMetric(float64(applies)/b.Elapsed().Seconds(), "applies/s")
	b.StopTimer()
	out := s.MustRun("ipset", "list", "-t", IpsetPrefix+SetBlock4)
	if !strings.Contains(out, fmt.Sprintf("Number of entries: %d\n", n)) {
		b.Fatalf("block4 after %d applies:\n%s", applies, out)
	}
}
