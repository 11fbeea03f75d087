package firewall

import (
	"fmt"
	"net/netip"
	"strings"
)

// IptablesScript renders the closest iptables equivalent of NftScript(c) as
// iptables-restore (v4) and ip6tables-restore (v6) input, for hosts without
// nftables. Load each with `iptables-restore --noflush`. It differs from the
// nftables table (the header of each script says how): logging starts at raw
// PREROUTING (after defragmentation), there are no sets, and loading twice
// inserts the jumps from the built-in chains twice.
func IptablesScript(c RulesConfig) (v4, v6 string, err error) {
	if err := c.Validate(); err != nil {
		return "", "", err
	}
	c = c.withDefaults()
	if c.LogText && len(c.Prefix) > 29 {
		return "", "", fmt.Errorf("rules config: iptables LOG prefix is %d bytes, at most 29 allowed", len(c.Prefix))
	}
	if !c.LogText && len(c.Prefix) > 63 {
		return "", "", fmt.Errorf("rules config: iptables NFLOG prefix is %d bytes, at most 63 allowed", len(c.Prefix))
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

func iptablesFamily(c RulesConfig, v6 bool, dark []netip.Prefix) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	tool, fam := "iptables", "IPv4"
	if v6 {
		tool, fam = "ip6tables", "IPv6"
	}
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
	logComment, notrackComment := CommentLogDark4, CommentNotrackDark4
	if v6 {
		logComment, notrackComment = CommentLogDark6, CommentNotrackDark6
	}

	w("# darkscope %s ruleset (%s), mode %s. Printed by `darkscope rules`, for hosts", tool, fam, c.Mode)
	w("# without nftables. Load with `%s-restore --noflush FILE`: it fills only the", tool)
	w("# DARKSCOPE-* chains (flushing them first) and leaves every other rule alone.")
	w("# Differences from table inet darkscope (nftables):")
	w("# - the earliest iptables hook is raw PREROUTING (priority -300), after")
	w("#   defragmentation: fragments are logged reassembled. It is still before")
	w("#   conntrack, so invalid packets (backscatter, FIN/NULL/Xmas probes) are logged.")
	w("# - no sets: %s (raw) and %s (nat) start empty and take one", IptChainBlock, IptChainRedirect)
	w("#   rule per source (`-s ADDR -j DROP`, `-s ADDR -p tcp --dport %d -j REDIRECT --to-ports %d`), without timeouts.", c.SSHPort, c.HoneypotPort)
	w("# - loading again inserts the jumps from the built-in chains again; delete the old")
	w("#   ones first, e.g. `%s -t raw -D PREROUTING -j %s`.", tool, IptChainLog)

	w("*raw")
	if len(dark) > 0 {
		w(":%s - [0:0]", IptChainLog)
	}
	w(":%s - [0:0]", IptChainBlock)
	if c.Notrack && len(dark) > 0 {
		w(":%s - [0:0]", IptChainNotrack)
	}
	if len(dark) > 0 {
		w("# %s: log every packet to a dark prefix.", IptChainLog)
		for _, p := range dark {
			w("-A %s -d %s%s %s", IptChainLog, p, iif, target(logComment))
		}
	}
	if c.Notrack && len(dark) > 0 {
		w("# %s: no conntrack entries for the darknet, so floods cannot fill the table.", IptChainNotrack)
		for _, p := range dark {
			w("-A %s -d %s%s -m comment --comment %q -j CT --notrack", IptChainNotrack, p, iif, notrackComment)
		}
	}
	pos := 1
	for _, ch := range []struct {
		name string
		on   bool
	}{{IptChainLog, len(dark) > 0}, {IptChainBlock, true}, {IptChainNotrack, c.Notrack && len(dark) > 0}} {
		if ch.on {
			w("-I PREROUTING %d -j %s", pos, ch.name)
			pos++
		}
	}
	w("COMMIT")

	if c.Mode == ModeHost {
		w("# %s (host mode): log invalid packets and new attempts on ports with no socket", IptChainHost)
		w("# (closed ports) on the host's own unicast addresses; see table inet darkscope chain %s.", ChainLogInput)
		w("*mangle")
		w(":%s - [0:0]", IptChainHost)
		w("-A %s -i lo -j RETURN", IptChainHost)
		if iface != "" {
			w("-A %s ! -i %s -j RETURN", IptChainHost, iface)
		}
		w("-A %s -m pkttype ! --pkt-type unicast -j RETURN", IptChainHost)
		for _, p := range dark {
			w("-A %s -d %s -j RETURN", IptChainHost, p)
		}
		if v6 {
			// Neighbour discovery and multicast listener messages (RFC 4861, 2710, 3810).
			for _, typ := range []int{130, 131, 132, 133, 134, 135, 136, 137, 143} {
				w("-A %s -p ipv6-icmp -m icmp6 --icmpv6-type %d -j RETURN", IptChainHost, typ)
			}
		}
		w("-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN", IptChainHost)
		w("-A %s -m conntrack --ctstate INVALID %s", IptChainHost, target(CommentLogInvalid))
		w("-A %s -m conntrack --ctstate INVALID -j RETURN", IptChainHost)
		w("-A %s -m socket --nowildcard -j RETURN", IptChainHost)
		w("-A %s %s", IptChainHost, target(CommentLogClosed))
		w("-I INPUT 1 -j %s", IptChainHost)
		w("COMMIT")
	}

	w("*nat")
	w(":%s - [0:0]", IptChainRedirect)
	w("-I PREROUTING 1 -j %s", IptChainRedirect)
	w("COMMIT")
	return b.String()
}
