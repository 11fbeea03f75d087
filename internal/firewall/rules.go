// Package firewall sits in front of every source in the flow: it writes the
// kernel rules that make packets reach darkscope at all (nftables `log`
// statements feeding NFLOG or the kernel LOG text), and it owns the sets the
// respond stage fills (allow, block, redirect to the honeypot).
//
// darkscope only ever touches its own `table inet darkscope`. NftScript
// renders that table as an nft script which is one atomic transaction;
// Applier loads or removes it with the nft tool. IptablesScript renders the
// closest iptables-restore equivalent for hosts without nftables.
//
// # Table layout
//
//	sets    allow4/allow6        sources never blocked or redirected (interval, timeout, size cap)
//	        block4/block6        sources dropped (interval, timeout, size cap)
//	        redirect4/redirect6  sources whose TCP/SSHPort goes to the honeypot (interval, timeout, size cap)
//	        dark4/dark6          darknet prefixes, rewritten from the config on every apply
//	chains  log_prerouting  prerouting -450  log every packet to a dark prefix (before defrag and conntrack)
//	        notrack_dark    prerouting -300  optional: no conntrack entries for dark prefixes
//	        block           prerouting -350  drop block-set sources (after defrag, before conntrack)
//	        log_input       input      -150  host mode: log invalid packets and attempts on closed ports
//	        redirect_nat    nat prerouting dstnat  redirect-set sources' TCP/SSHPort to HoneypotPort
//
// Why -450: TCP backscatter (SYN-ACK, RST), ICMP errors and FIN/NULL/Xmas
// probes are `ct state invalid`, so a `ct state new` log rule misses them.
// Logging before defragmentation (-400) and conntrack (-200) sees every
// packet, fragments as they arrive.
//
// Re-applying keeps set elements: sets are declared with `add set` (a no-op
// when the set exists; its size may change, its type and flags may not), and
// only the chains are rebuilt (all rules flushed, every darkscope chain
// deleted and created again), all in one transaction.
package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Mode selects what the log rules cover.
type Mode string

const (
	// ModeDarknet logs every packet sent to the darknet prefixes.
	ModeDarknet Mode = "darknet"
	// ModeHost logs what a normal host does not expect: invalid packets
	// (backscatter, stealth scans) and new connection attempts to ports
	// without a socket, on the host's own unicast addresses. Dark prefixes,
	// if given, are logged as in darknet mode as well.
	ModeHost Mode = "host"
)

// Defaults used when a RulesConfig field is zero.
const (
	DefaultGroup        uint16 = 5
	DefaultPrefix              = "darkscope: "
	DefaultSetSize      uint32 = 65536
	DefaultHoneypotPort uint16 = 2222
	DefaultSSHPort      uint16 = 22
)

// Table is the name of darkscope's nftables table (family inet).
const Table = "darkscope"

// Set names in table inet darkscope, for the respond stage.
const (
	SetAllow4    = "allow4"
	SetAllow6    = "allow6"
	SetBlock4    = "block4"
	SetBlock6    = "block6"
	SetRedirect4 = "redirect4"
	SetRedirect6 = "redirect6"
	SetDark4     = "dark4"
	SetDark6     = "dark6"
)

// Chain names in table inet darkscope. Every apply deletes all of them and
// creates those the config needs, so a mode change leaves no stale chain.
const (
	ChainLogPrerouting = "log_prerouting"
	ChainNotrack       = "notrack_dark"
	ChainBlock         = "block"
	ChainLogInput      = "log_input"
	ChainRedirect      = "redirect_nat"
)

// allChains lists every chain darkscope has ever created, in creation order.
var allChains = [...]string{ChainLogPrerouting, ChainBlock, ChainNotrack, ChainLogInput, ChainRedirect}

// Rule comments that name the counted rules (see Applier.Counters).
const (
	CommentLogDark4     = "log dark4"
	CommentLogDark6     = "log dark6"
	CommentLogInvalid   = "log invalid"
	CommentLogClosed    = "log closed port"
	CommentDropBlock4   = "drop block4"
	CommentDropBlock6   = "drop block6"
	CommentRedirect4    = "redirect4 to honeypot"
	CommentRedirect6    = "redirect6 to honeypot"
	CommentNotrackDark4 = "notrack dark4"
	CommentNotrackDark6 = "notrack dark6"
)

// RulesConfig describes the ruleset `darkscope rules` prints and applies.
// Zero values take the defaults above.
type RulesConfig struct {
	Mode Mode // ModeDarknet (default) or ModeHost
	// Dark are the darknet prefixes; every packet to them is logged. Required
	// in darknet mode.
	Dark []netip.Prefix
	// Iface restricts logging (and notrack) to packets arriving on this
	// interface; a trailing '*' is a wildcard. Block and redirect apply to
	// every interface.
	Iface string
	// Group is the NFLOG group (default 5; group 0 cannot be chosen).
	Group uint16
	// LogText logs kernel LOG text (`log prefix … flags all`, read from
	// /dev/kmsg or syslog) instead of NFLOG.
	LogText bool
	// Prefix is the log prefix (default "darkscope: "), at most 127 bytes of
	// printable ASCII without '"' or '\'.
	Prefix string
	// Notrack exempts packets to dark prefixes from connection tracking, so
	// floods do not fill the conntrack table (sources in a redirect set keep
	// tracking for TCP/SSHPort, which NAT needs).
	Notrack bool
	// CopyRange (nft snaplen) and Threshold (nft queue-threshold) are set on
	// the NFLOG rules when non-zero.
	CopyRange uint16
	Threshold uint16
	// SetSize caps the allow, block and redirect sets (default 65536 each).
	SetSize uint32
	// HoneypotPort (default 2222) receives SSHPort (default 22) from sources
	// in a redirect set.
	HoneypotPort uint16
	SSHPort      uint16
}

// withDefaults returns c with zero fields set to their defaults.
func (c RulesConfig) withDefaults() RulesConfig {
	if c.Mode == "" {
		c.Mode = ModeDarknet
	}
	if c.Group == 0 {
		c.Group = DefaultGroup
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.SetSize == 0 {
		c.SetSize = DefaultSetSize
	}
	if c.HoneypotPort == 0 {
		c.HoneypotPort = DefaultHoneypotPort
	}
	if c.SSHPort == 0 {
		c.SSHPort = DefaultSSHPort
	}
	return c
}

// Validate reports every problem with c (after defaults), joined.
func (c RulesConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	switch c.Mode {
	case ModeDarknet:
		if len(c.Dark) == 0 {
			errs = append(errs, errors.New("darknet mode needs at least one dark prefix (--dark)"))
		}
	case ModeHost:
	default:
		errs = append(errs, fmt.Errorf("mode %q: want %q or %q", c.Mode, ModeDarknet, ModeHost))
	}
	if err := checkPrefixes(c.Dark); err != nil {
		errs = append(errs, err)
	}
	if c.Iface != "" {
		if err := checkIface(c.Iface); err != nil {
			errs = append(errs, err)
		}
	}
	if err := checkLogPrefix(c.Prefix); err != nil {
		errs = append(errs, err)
	}
	if c.Notrack && len(c.Dark) == 0 {
		errs = append(errs, errors.New("notrack applies to dark prefixes: give at least one (--dark)"))
	}
	if c.LogText && (c.CopyRange != 0 || c.Threshold != 0) {
		errs = append(errs, errors.New("copy range and queue threshold apply to NFLOG only, not to LOG text"))
	}
	if c.HoneypotPort == c.SSHPort {
		errs = append(errs, fmt.Errorf("honeypot port %d equals the redirected SSH port", c.HoneypotPort))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("rules config: %w", errors.Join(errs...))
}

func checkPrefixes(ps []netip.Prefix) error {
	var errs []error
	for i, p := range ps {
		switch {
		case !p.IsValid():
			errs = append(errs, fmt.Errorf("dark prefix #%d is not a valid prefix", i+1))
			continue
		case p.Addr().Is4In6():
			errs = append(errs, fmt.Errorf("dark prefix %s: IPv4-mapped IPv6; write it as IPv4", p))
			continue
		case p.Addr().Zone() != "":
			errs = append(errs, fmt.Errorf("dark prefix %s: zones are not allowed", p))
			continue
		case p != p.Masked():
			errs = append(errs, fmt.Errorf("dark prefix %s has host bits set (did you mean %s?)", p, p.Masked()))
			continue
		}
		for _, q := range ps[:i] {
			if q.IsValid() && q.Addr().Is4() == p.Addr().Is4() && q.Overlaps(p) {
				errs = append(errs, fmt.Errorf("dark prefix %s overlaps %s", p, q))
			}
		}
	}
	return errors.Join(errs...)
}

func checkIface(name string) error {
	base := strings.TrimSuffix(name, "*")
	if base == "" || len(name) > 15 || name == "." || name == ".." {
		return fmt.Errorf("interface %q: want 1-15 characters", name)
	}
	for _, r := range base {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@:", r)
		if !ok {
			return fmt.Errorf("interface %q: character %q not allowed", name, r)
		}
	}
	return nil
}

func checkLogPrefix(p string) error {
	if len(p) > 127 {
		return fmt.Errorf("log prefix is %d bytes, at most 127 allowed", len(p))
	}
	for _, r := range p {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return fmt.Errorf("log prefix %q: character %q not allowed (printable ASCII without '\"' and '\\')", p, r)
		}
	}
	return nil
}

// split returns the IPv4 and IPv6 prefixes of ps, sorted.
func split(ps []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	cmp := func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	}
	slices.SortFunc(v4, cmp)
	slices.SortFunc(v6, cmp)
	return v4, v6
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// NftScript renders c as the nft script `darkscope rules` prints and
// Applier.Apply loads: one transaction touching only table inet darkscope.
func NftScript(c RulesConfig) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	c = c.withDefaults()
	v4, v6 := split(c.Dark)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	t := "inet " + Table

	w("#!/usr/sbin/nft -f")
	w("# darkscope ruleset, mode %s. Printed by `darkscope rules`; load it with", c.Mode)
	w("# `darkscope rules --apply` or `nft -f FILE`. The file is one atomic transaction")
	w("# that touches only table %s. Re-loading keeps the elements of the allow,", t)
	w("# block and redirect sets and rebuilds the chains (their counters restart at 0).")
	w("add table %s", t)
	w("")
	w("# Sets filled at run time by darkscope (or by hand: nft add element %s block4", t)
	w("# { 192.0.2.1 timeout 1h }). Elements may be prefixes with their own timeout; each")
	w("# set holds at most %d. Only the size depends on the configuration (a changed size", c.SetSize)
	w("# is applied in place), so loading another configuration keeps the elements.")
	for _, s := range []struct{ name, typ, comment string }{
		{SetAllow4, "ipv4_addr", "sources never blocked or redirected"},
		{SetAllow6, "ipv6_addr", "sources never blocked or redirected"},
		{SetBlock4, "ipv4_addr", "sources dropped in chain block"},
		{SetBlock6, "ipv6_addr", "sources dropped in chain block"},
		{SetRedirect4, "ipv4_addr", "sources whose SSH connections go to the honeypot"},
		{SetRedirect6, "ipv6_addr", "sources whose SSH connections go to the honeypot"},
	} {
		w("add set %s %s { type %s; flags interval, timeout; size %d; comment %q; }", t, s.name, s.typ, c.SetSize, s.comment)
	}
	w("")
	w("# Darknet prefixes, rewritten from the configuration on every load.")
	for _, s := range []struct {
		name, typ string
		ps        []netip.Prefix
	}{{SetDark4, "ipv4_addr", v4}, {SetDark6, "ipv6_addr", v6}} {
		w("add set %s %s { type %s; flags interval; comment %q; }", t, s.name, s.typ, "darknet prefixes (rules --dark)")
		w("flush set %s %s", t, s.name)
		if len(s.ps) > 0 {
			w("add element %s %s { %s }", t, s.name, joinPrefixes(s.ps))
		}
	}
	w("")
	w("# Rebuild the chains: drop every rule (sets keep their elements), then delete")
	w("# every darkscope chain (the add makes the delete safe when it is absent).")
	w("flush table %s", t)
	for _, ch := range allChains {
		w("add chain %s %s", t, ch)
		w("delete chain %s %s", t, ch)
	}

	iif := ""
	if c.Iface != "" {
		iif = fmt.Sprintf("iifname %q ", c.Iface)
	}
	logStmt := func(comment string) string {
		if c.LogText {
			return fmt.Sprintf("counter log prefix %q level warn flags all comment %q", c.Prefix, comment)
		}
		s := fmt.Sprintf("counter log prefix %q group %d", c.Prefix, c.Group)
		if c.CopyRange != 0 {
			s += fmt.Sprintf(" snaplen %d", c.CopyRange)
		}
		if c.Threshold != 0 {
			s += fmt.Sprintf(" queue-threshold %d", c.Threshold)
		}
		return s + fmt.Sprintf(" comment %q", comment)
	}

	if len(c.Dark) > 0 {
		w("")
		w("# log_prerouting: log every packet to a dark prefix. Priority -450 runs before")
		w("# defragmentation (-400) and conntrack (-200): backscatter (SYN-ACK, RST), ICMP")
		w("# errors and FIN/NULL/Xmas probes are `ct state invalid` and would be missed later;")
		w("# fragments are logged one by one as they arrive.")
		w("add chain %s %s { type filter hook prerouting priority -450; policy accept; comment %q; }",
			t, ChainLogPrerouting, "log every packet to the darknet, before defrag and conntrack")
		if len(v4) > 0 {
			w("add rule %s %s %sip daddr @%s %s", t, ChainLogPrerouting, iif, SetDark4, logStmt(CommentLogDark4))
		}
		if len(v6) > 0 {
			w("add rule %s %s %sip6 daddr @%s %s", t, ChainLogPrerouting, iif, SetDark6, logStmt(CommentLogDark6))
		}
	}

	w("")
	w("# block: drop sources in the block sets. Priority -350 is after defragmentation")
	w("# (ports are visible) and before conntrack (a blocked flood creates no entries).")
	w("# Allow-set sources are never dropped; redirect-set sources keep tcp/%d, which", c.SSHPort)
	w("# chain %s sends to the honeypot.", ChainRedirect)
	w("add chain %s %s { type filter hook prerouting priority -350; policy accept; comment %q; }",
		t, ChainBlock, "drop block-set sources; allow set exempt; redirect set keeps the honeypot port")
	w("add rule %s %s ip saddr @%s return", t, ChainBlock, SetAllow4)
	w("add rule %s %s ip6 saddr @%s return", t, ChainBlock, SetAllow6)
	w("add rule %s %s ip saddr @%s tcp dport %d return", t, ChainBlock, SetRedirect4, c.SSHPort)
	w("add rule %s %s ip6 saddr @%s tcp dport %d return", t, ChainBlock, SetRedirect6, c.SSHPort)
	w("add rule %s %s ip saddr @%s counter drop comment %q", t, ChainBlock, SetBlock4, CommentDropBlock4)
	w("add rule %s %s ip6 saddr @%s counter drop comment %q", t, ChainBlock, SetBlock6, CommentDropBlock6)

	if c.Notrack {
		w("")
		w("# notrack_dark: packets to dark prefixes get no conntrack entry, so floods cannot")
		w("# fill the table (raw priority -300, before conntrack). Redirect-set sources keep")
		w("# tracking for tcp/%d: the honeypot redirect needs NAT.", c.SSHPort)
		w("add chain %s %s { type filter hook prerouting priority raw; policy accept; comment %q; }",
			t, ChainNotrack, "no conntrack for the darknet")
		w("add rule %s %s ip saddr @%s tcp dport %d return", t, ChainNotrack, SetRedirect4, c.SSHPort)
		w("add rule %s %s ip6 saddr @%s tcp dport %d return", t, ChainNotrack, SetRedirect6, c.SSHPort)
		if len(v4) > 0 {
			w("add rule %s %s %sip daddr @%s counter notrack comment %q", t, ChainNotrack, iif, SetDark4, CommentNotrackDark4)
		}
		if len(v6) > 0 {
			w("add rule %s %s %sip6 daddr @%s counter notrack comment %q", t, ChainNotrack, iif, SetDark6, CommentNotrackDark6)
		}
	}

	if c.Mode == ModeHost {
		w("")
		w("# log_input (host mode): log what a host does not expect on its own unicast")
		w("# addresses: invalid packets (backscatter, FIN/NULL/Xmas probes) and new attempts")
		w("# on ports with no socket (closed ports, what a scan probes). Not logged: loopback,")
		w("# broadcast/multicast, neighbour discovery, replies (established, related),")
		w("# connections to listening services, and dark prefixes (logged in %s).", ChainLogPrerouting)
		w("# Priority -150 runs before the host's own filter chains (priority 0), so their")
		w("# policy does not hide packets; packets arrive here defragmented.")
		w("add chain %s %s { type filter hook input priority -150; policy accept; comment %q; }",
			t, ChainLogInput, "host mode: log invalid packets and attempts on closed ports")
		w("add rule %s %s iifname \"lo\" return", t, ChainLogInput)
		if c.Iface != "" {
			w("add rule %s %s iifname != %q return", t, ChainLogInput, c.Iface)
		}
		w("add rule %s %s meta pkttype != host return", t, ChainLogInput)
		if len(v4) > 0 {
			w("add rule %s %s ip daddr @%s return", t, ChainLogInput, SetDark4)
		}
		if len(v6) > 0 {
			w("add rule %s %s ip6 daddr @%s return", t, ChainLogInput, SetDark6)
		}
		w("add rule %s %s icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect, mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report } return", t, ChainLogInput)
		w("add rule %s %s ct state established,related return", t, ChainLogInput)
		w("add rule %s %s ct state invalid %s", t, ChainLogInput, logStmt(CommentLogInvalid))
		w("add rule %s %s ct state invalid return", t, ChainLogInput)
		w("# A socket exists (listening or connected): an open port, not a probe of a closed one.")
		w("add rule %s %s socket transparent 0 return", t, ChainLogInput)
		w("add rule %s %s socket transparent 1 return", t, ChainLogInput)
		w("add rule %s %s %s", t, ChainLogInput, logStmt(CommentLogClosed))
	}

	w("")
	w("# redirect_nat: sources in a redirect set reach the honeypot: their tcp/%d is", c.SSHPort)
	w("# redirected to local port %d. Allow-set sources are never redirected.", c.HoneypotPort)
	w("add chain %s %s { type nat hook prerouting priority dstnat; policy accept; comment %q; }",
		t, ChainRedirect, "honeypot redirect")
	w("add rule %s %s ip saddr @%s return", t, ChainRedirect, SetAllow4)
	w("add rule %s %s ip6 saddr @%s return", t, ChainRedirect, SetAllow6)
	w("add rule %s %s ip saddr @%s tcp dport %d counter redirect to :%d comment %q",
		t, ChainRedirect, SetRedirect4, c.SSHPort, c.HoneypotPort, CommentRedirect4)
	w("add rule %s %s ip6 saddr @%s tcp dport %d counter redirect to :%d comment %q",
		t, ChainRedirect, SetRedirect6, c.SSHPort, c.HoneypotPort, CommentRedirect6)
	return b.String(), nil
}

// RemoveScript is the nft script that deletes table inet darkscope and
// nothing else; it succeeds when the table is absent.
func RemoveScript() string {
	return fmt.Sprintf("add table inet %s\ndelete table inet %s\n", Table, Table)
}
