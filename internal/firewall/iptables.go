package firewall

import (
	"fmt"
	"net/netip"
	"strings"
)

// The iptables variant: the closest equivalent of table inet darkscope for
// hosts without nftables. The run-time sets become ipsets (hash:net with
// timeouts, comments and a size cap) named IpsetPrefix+set name, and the
// chains become DARKSCOPE-* chains in the raw, mangle and nat tables, with
// one jump each from a built-in chain.
//
//	ipsets  darkscope-allow4/6, darkscope-block4/6, darkscope-redirect4/6
//	raw     DARKSCOPE-LOG      log every packet to a dark prefix
//	        DARKSCOPE-BLOCK    drop block-set sources (allow set exempt, redirect set keeps SSHPort)
//	        DARKSCOPE-NOTRACK  optional: no conntrack for dark prefixes
//	mangle  DARKSCOPE-HOST     host mode: log invalid packets and attempts on closed ports
//	nat     DARKSCOPE-REDIRECT redirect-set sources' TCP/SSHPort to HoneypotPort
//
// IpsetScript and IptablesScript print the variant; IptablesApplier loads
// it idempotently (keeping set elements) and removes it.

// IpsetPrefix starts the name of every ipset darkscope creates; the rest
// is the nftables set name (block4, ...). ipset names have at most 31
// characters.
const IpsetPrefix = "darkscope-"

// IpsetName returns the ipset of kind for IPv4 (v6 false) or IPv6.
func IpsetName(kind SetKind, v6 bool) (string, error) {
	n, err := kind.SetName(v6)
	if err != nil {
		return "", err
	}
	return IpsetPrefix + n, nil
}

// ipsetNames lists darkscope's ipsets in creation order.
var ipsetNames = [...]string{
	IpsetPrefix + SetAllow4, IpsetPrefix + SetAllow6,
	IpsetPrefix + SetBlock4, IpsetPrefix + SetBlock6,
	IpsetPrefix + SetRedirect4, IpsetPrefix + SetRedirect6,
}

// ipsetCreate is the `create` line (ipset restore syntax) of one of
// darkscope's ipsets: hash:net (addresses and prefixes), a timeout per
// element (default 0: none), a comment per element and a size cap.
func ipsetCreate(name string, size uint32) string {
	fam := "inet"
	if strings.HasSuffix(name, "6") {
		fam = "inet6"
	}
	return fmt.Sprintf("create %s hash:net family %s maxelem %d timeout 0 comment", name, fam, size)
}

// IpsetScript renders the ipsets of the iptables variant as `ipset
// -exist restore` input: loading it creates the missing sets and leaves
// existing ones, and their elements, alone. A set whose size cap differs
// is left as it is by ipset; IptablesApplier.Apply resizes it.
func IpsetScript(c RulesConfig) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	c = c.withDefaults()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# darkscope ipsets for the iptables variant. Printed by `darkscope rules --variant iptables`;")
	w("# load with `ipset -exist restore < FILE` BEFORE the iptables scripts (their rules match")
	w("# these sets). -exist makes it idempotent: existing sets keep their elements. Elements are")
	w("# addresses or prefixes, each with its own timeout (0: none) and comment, at most %d per set:", c.SetSize)
	w("#   ipset add %s%s 192.0.2.1 timeout 3600 comment \"abuse\" -exist", IpsetPrefix, SetBlock4)
	for _, n := range ipsetNames {
		w("%s", ipsetCreate(n, c.SetSize))
	}
	return b.String(), nil
}

// IptablesScript renders the closest iptables equivalent of NftScript(c) as
// iptables-restore (v4) and ip6tables-restore (v6) input, for hosts without
// nftables. Its rules match the ipsets of IpsetScript, which must be loaded
// first. Each script declares (and so flushes) only the DARKSCOPE-* chains
// and leaves every other rule alone; it inserts the jumps from the built-in
// chains, so loading it by hand twice inserts them twice:
// IptablesApplier.Apply deletes the old jumps first.
func IptablesScript(c RulesConfig) (v4, v6 string, err error) {
	t4, t6, err := iptablesTables(c)
	if err != nil {
		return "", "", err
	}
	c = c.withDefaults()
	return iptablesHeader(c, false) + renderIptables(t4, nil), iptablesHeader(c, true) + renderIptables(t6, nil), nil
}

// iptablesTables validates c and returns the tables of both scripts.
func iptablesTables(c RulesConfig) (t4, t6 []iptTable, err error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	c = c.withDefaults()
	if c.LogText && len(c.Prefix) > 29 {
		return nil, nil, fmt.Errorf("rules config: iptables LOG prefix is %d bytes, at most 29 allowed", len(c.Prefix))
	}
	if !c.LogText && len(c.Prefix) > 63 {
		return nil, nil, fmt.Errorf("rules config: iptables NFLOG prefix is %d bytes, at most 63 allowed", len(c.Prefix))
	}
	d4, d6 := split(c.Dark)
	return iptablesFamily(c, false, d4), iptablesFamily(c, true, d6), nil
}

// Chain names of the iptables variant.
const (
	IptChainLog      = "DARKSCOPE-LOG"
	IptChainBlock    = "DARKSCOPE-BLOCK"
	IptChainNotrack  = "DARKSCOPE-NOTRACK"
	IptChainHost     = "DARKSCOPE-HOST"
	IptChainRedirect = "DARKSCOPE-REDIRECT"
)

// IptChainPrefix starts the name of every chain of the iptables variant.
const IptChainPrefix = "DARKSCOPE-"

// iptTables are the tables the variant may use, in script order.
var iptTables = [...]string{"raw", "mangle", "nat"}

// iptTable is one table's part of an iptables-restore script.
type iptTable struct {
	name   string
	intro  []string // comment lines before the table
	chains []string // DARKSCOPE-* chains declared (and so flushed) by the script
	lines  []string // comments, -A rules, then -I jumps from built-in chains
}

// renderIptables writes tables as iptables-restore input. cleanup holds,
// per table, lines that run right after the chain declarations (Apply
// deletes old jumps and stale chains there); a table with only cleanup
// lines is written too.
func renderIptables(tables []iptTable, cleanup map[string][]string) string {
	var b strings.Builder
	for _, name := range iptTables {
		var t *iptTable
		for i := range tables {
			if tables[i].name == name {
				t = &tables[i]
			}
		}
		if t == nil && len(cleanup[name]) == 0 {
			continue
		}
		if t != nil {
			for _, l := range t.intro {
				b.WriteString(l + "\n")
			}
		}
		b.WriteString("*" + name + "\n")
		if t != nil {
			for _, ch := range t.chains {
				fmt.Fprintf(&b, ":%s - [0:0]\n", ch)
			}
		}
		for _, l := range cleanup[name] {
			b.WriteString(l + "\n")
		}
		if t != nil {
			for _, l := range t.lines {
				b.WriteString(l + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

func iptablesHeader(c RulesConfig, v6 bool) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	tool, fam, allow, block, redirect := "iptables", "IPv4", SetAllow4, SetBlock4, SetRedirect4
	if v6 {
		tool, fam, allow, block, redirect = "ip6tables", "IPv6", SetAllow6, SetBlock6, SetRedirect6
	}
	w("# darkscope %s ruleset (%s), mode %s. Printed by `darkscope rules --variant iptables`,", tool, fam, c.Mode)
	w("# for hosts without nftables; `darkscope rules --variant iptables --apply` loads it idempotently.")
	w("# By hand: load the ipsets first (`ipset -exist restore`), then `%s-restore --noflush FILE`:", tool)
	w("# it fills only the DARKSCOPE-* chains (flushing them first) and leaves every other rule alone.")
	w("# Sets: ipsets %s%s (never blocked or redirected), %s%s (dropped) and", IpsetPrefix, allow, IpsetPrefix, block)
	w("# %s%s (tcp/%d goes to local port %d), each hash:net with per-element timeouts.", IpsetPrefix, redirect, c.SSHPort, c.HoneypotPort)
	w("# Differences from table inet darkscope (nftables):")
	w("# - the earliest iptables hook is raw PREROUTING (priority -300), after")
	w("#   defragmentation: fragments are logged reassembled. It is still before")
	w("#   conntrack, so invalid packets (backscatter, FIN/NULL/Xmas probes) are logged.")
	w("# - loading this file again by hand inserts the jumps from the built-in chains again;")
	w("#   delete the old ones first, e.g. `%s -t raw -D PREROUTING -j %s`.", tool, IptChainLog)
	return b.String()
}

func iptablesFamily(c RulesConfig, v6 bool, dark []netip.Prefix) []iptTable {
	iface := strings.TrimSuffix(c.Iface, "*")
	if iface != c.Iface {
		iface += "+" // iptables spells the interface wildcard '+'
	}
	iif := "" // after -d: the order iptables-save prints, so a loaded rule reads back verbatim
	if iface != "" {
		iif = " -i " + iface
	}
	target := func(comment string) string {
		if c.LogText {
			return fmt.Sprintf("-m comment --comment %q -j LOG --log-prefix %q "+
				"--log-tcp-sequence --log-tcp-options --log-ip-options --log-macdecode", comment, c.Prefix)
		}
		s := fmt.Sprintf("-m comment --comment %q -j NFLOG --nflog-prefix %q --nflog-group %d", comment, c.Prefix, c.Group)
		if c.CopyRange != 0 {
			s += fmt.Sprintf(" --nflog-size %d", c.CopyRange)
		}
		if c.Threshold != 0 {
			s += fmt.Sprintf(" --nflog-threshold %d", c.Threshold)
		}
		return s
	}
	logComment, notrackComment, dropComment, redirComment := CommentLogDark4, CommentNotrackDark4, CommentDropBlock4, CommentRedirect4
	if v6 {
		logComment, notrackComment, dropComment, redirComment = CommentLogDark6, CommentNotrackDark6, CommentDropBlock6, CommentRedirect6
	}
	allow, _ := IpsetName(Allow, v6)
	block, _ := IpsetName(Block, v6)
	redirect, _ := IpsetName(Redirect, v6)
	// Sources in the redirect set keep tcp/SSHPort (not dropped, still tracked for NAT).
	keepSSH := fmt.Sprintf("-p tcp -m set --match-set %s src -m tcp --dport %d -j RETURN", redirect, c.SSHPort)
	notrack := c.Notrack && len(dark) > 0

	raw := iptTable{name: "raw"}
	add := func(t *iptTable, format string, args ...any) { t.lines = append(t.lines, fmt.Sprintf(format, args...)) }
	if len(dark) > 0 {
		raw.chains = append(raw.chains, IptChainLog)
	}
	raw.chains = append(raw.chains, IptChainBlock)
	if notrack {
		raw.chains = append(raw.chains, IptChainNotrack)
	}
	if len(dark) > 0 {
		add(&raw, "# %s: log every packet to a dark prefix.", IptChainLog)
		for _, p := range dark {
			add(&raw, "-A %s -d %s%s %s", IptChainLog, p, iif, target(logComment))
		}
	}
	add(&raw, "# %s: drop block-set sources, after defragmentation and before conntrack. Allow-set", IptChainBlock)
	add(&raw, "# sources are never dropped; redirect-set sources keep tcp/%d for %s.", c.SSHPort, IptChainRedirect)
	add(&raw, "-A %s -m set --match-set %s src -j RETURN", IptChainBlock, allow)
	add(&raw, "-A %s %s", IptChainBlock, keepSSH)
	add(&raw, "-A %s -m set --match-set %s src -m comment --comment %q -j DROP", IptChainBlock, block, dropComment)
	if notrack {
		add(&raw, "# %s: no conntrack entries for the darknet, so floods cannot fill the table;", IptChainNotrack)
		add(&raw, "# redirect-set sources keep tracking for tcp/%d (the honeypot redirect needs NAT).", c.SSHPort)
		add(&raw, "-A %s %s", IptChainNotrack, keepSSH)
		for _, p := range dark {
			add(&raw, "-A %s -d %s%s -m comment --comment %q -j CT --notrack", IptChainNotrack, p, iif, notrackComment)
		}
	}
	for i, ch := range raw.chains {
		add(&raw, "-I PREROUTING %d -j %s", i+1, ch)
	}
	tables := []iptTable{raw}

	if c.Mode == ModeHost {
		h := iptTable{name: "mangle", chains: []string{IptChainHost}, intro: []string{
			fmt.Sprintf("# %s (host mode): log invalid packets and new attempts on ports with no socket", IptChainHost),
			fmt.Sprintf("# (closed ports) on the host's own unicast addresses; see table inet darkscope chain %s.", ChainLogInput),
		}}
		add(&h, "-A %s -i lo -j RETURN", IptChainHost)
		if iface != "" {
			add(&h, "-A %s ! -i %s -j RETURN", IptChainHost, iface)
		}
		add(&h, "-A %s -m pkttype ! --pkt-type unicast -j RETURN", IptChainHost)
		for _, p := range dark {
			add(&h, "-A %s -d %s -j RETURN", IptChainHost, p)
		}
		if v6 {
			// Neighbour discovery and multicast listener messages (RFC 4861, 2710, 3810).
			for _, typ := range []int{130, 131, 132, 133, 134, 135, 136, 137, 143} {
				add(&h, "-A %s -p ipv6-icmp -m icmp6 --icmpv6-type %d -j RETURN", IptChainHost, typ)
			}
		}
		add(&h, "-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN", IptChainHost)
		add(&h, "-A %s -m conntrack --ctstate INVALID %s", IptChainHost, target(CommentLogInvalid))
		add(&h, "-A %s -m conntrack --ctstate INVALID -j RETURN", IptChainHost)
		add(&h, "-A %s -m socket --nowildcard -j RETURN", IptChainHost)
		add(&h, "-A %s %s", IptChainHost, target(CommentLogClosed))
		add(&h, "-I INPUT 1 -j %s", IptChainHost)
		tables = append(tables, h)
	}

	nat := iptTable{name: "nat", chains: []string{IptChainRedirect}}
	add(&nat, "# %s: redirect-set sources' tcp/%d goes to local port %d (the honeypot);", IptChainRedirect, c.SSHPort, c.HoneypotPort)
	add(&nat, "# allow-set sources are never redirected.")
	add(&nat, "-A %s -m set --match-set %s src -j RETURN", IptChainRedirect, allow)
	add(&nat, "-A %s -p tcp -m set --match-set %s src -m tcp --dport %d -m comment --comment %q -j REDIRECT --to-ports %d",
		IptChainRedirect, redirect, c.SSHPort, redirComment, c.HoneypotPort)
	add(&nat, "-I PREROUTING 1 -j %s", IptChainRedirect)
	return append(tables, nat)
}
