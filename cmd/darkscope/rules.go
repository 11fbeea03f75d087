package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/config"
	"github.com/darkscope/darkscope/internal/firewall"
)

func newRulesCmd(a *app) *cobra.Command {
	var (
		mode, iface, prefix string
		variant, netns      string
		dark                []string
		group, hpPort       uint16
		setSize             uint32
		notrack, logText    bool
		apply, remove, ipt  bool
	)
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Print, apply or remove darkscope's own nftables table (or its iptables+ipset variant)",
		Long: `Print (default), apply (--apply) or remove (--remove) darkscope's own nftables table,
"table inet darkscope". It never touches other tables, and applying is one atomic,
idempotent transaction: re-applying keeps the elements of its sets.

Packets are logged in a prerouting chain at priority -450, before defragmentation and
conntrack: TCP backscatter (SYN-ACK, RST), ICMP errors and FIN/NULL/Xmas probes are
"ct state invalid" and a "ct state new" rule would miss them; fragments are logged as
they arrive. --notrack keeps dark-prefix floods out of the conntrack table.
The table also holds the allow, block and redirect sets (IPv4 and IPv6, with timeouts
and size caps), a block chain and a nat chain that sends redirect-set members' SSH
connections to the honeypot port.

--variant iptables is the same for hosts without nftables: ipsets darkscope-allow4/6,
darkscope-block4/6 and darkscope-redirect4/6 (hash:net, per-element timeouts, size cap)
and DARKSCOPE-* chains in the raw, mangle and nat tables. Printed, it is three scripts
(ipset -exist restore, iptables-restore --noflush, ip6tables-restore --noflush); --apply
loads them idempotently (set elements and their timeouts are kept, old jumps replaced)
and --remove deletes the chains, the jumps to them and the ipsets, nothing else.`,
		Example: `  darkscope rules --dark 192.0.2.0/24 --dark 2001:db8:dead::/48           # print
  darkscope rules --dark 192.0.2.0/24 --group 5 --apply                     # apply, then: darkscope run --nflog 5
  darkscope rules --mode host --iface eth0 --apply
  darkscope rules --variant iptables --dark 192.0.2.0/24                   # ipset + iptables-restore text
  darkscope rules --variant iptables --dark 192.0.2.0/24 --apply           # hosts without nftables
  darkscope rules --remove                                                  # (--variant iptables: its chains and ipsets)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc := a.cfg.Rules
			fl := cmd.Flags()
			if fl.Changed("mode") {
				rc.Mode = mode
			}
			if fl.Changed("dark") {
				rc.Dark = dark
			}
			if fl.Changed("iface") {
				rc.Iface = iface
			}
			if fl.Changed("group") {
				rc.Group = group
			}
			if fl.Changed("notrack") {
				rc.Notrack = notrack
			}
			if fl.Changed("honeypot-port") {
				rc.HoneypotPort = hpPort
			}
			if !fl.Changed("variant") {
				variant = a.cfg.Rules.Variant
			}
			if ipt {
				if fl.Changed("variant") && variant != variantIptables {
					return fmt.Errorf("--iptables contradicts --variant %s", variant)
				}
				variant = variantIptables
			}
			if variant != variantNft && variant != variantIptables {
				return fmt.Errorf("--variant %q: want %s or %s", variant, variantNft, variantIptables)
			}
			var prefixes []netip.Prefix
			for i, s := range rc.Dark {
				p, err := config.ParsePrefix(s)
				if err != nil {
					return fmt.Errorf("--dark[%d]: %w", i, err)
				}
				prefixes = append(prefixes, p)
			}
			fc := firewall.RulesConfig{
				Mode: firewall.Mode(rc.Mode), Dark: prefixes, Iface: rc.Iface, Group: rc.Group,
				LogText: logText, Prefix: prefix, Notrack: rc.Notrack, HoneypotPort: rc.HoneypotPort, SetSize: setSize,
			}
			var apOpts []firewall.Option
			if netns != "" {
				apOpts = append(apOpts, firewall.WithNetNS(netns))
			}
			if variant == variantIptables {
				return rulesIptables(cmd, a, fc, apply, remove, apOpts)
			}
			if remove {
				ap, err := firewall.NewApplier(a.logger, apOpts...)
				if err != nil {
					return err
				}
				if err := ap.Remove(cmd.Context()); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "removed table inet darkscope")
				return nil
			}
			if err := fc.Validate(); err != nil {
				return err
			}
			if apply {
				ap, err := firewall.NewApplier(a.logger, apOpts...)
				if err != nil {
					return err
				}
				if err := ap.Apply(cmd.Context(), fc); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "applied table inet darkscope")
				return nil
			}
			s, err := firewall.NftScript(fc)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(a.stdout, s)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&mode, "mode", "darknet", "darknet: log all traffic to the dark prefixes; host: log what reaches this host's closed ports")
	f.StringArrayVar(&dark, "dark", nil, "dark prefix (repeatable), e.g. 192.0.2.0/24")
	f.StringVar(&iface, "iface", "", "only packets arriving on this interface")
	f.Uint16Var(&group, "group", 5, "NFLOG group the log rules send to")
	f.StringVar(&prefix, "prefix", "darkscope: ", "log prefix")
	f.BoolVar(&logText, "log-text", false, "log as kernel LOG text (for kmsg/syslog) instead of NFLOG")
	f.BoolVar(&notrack, "notrack", false, "skip conntrack for dark prefixes")
	f.Uint16Var(&hpPort, "honeypot-port", 2222, "port the nat chain redirects redirect-set SSH clients to")
	f.BoolVar(&apply, "apply", false, "apply the table (one atomic transaction; iptables variant: ipset restore, then iptables-restore per family)")
	f.BoolVar(&remove, "remove", false, "delete the table (iptables variant: the DARKSCOPE-* chains, the jumps to them and the darkscope-* ipsets)")
	f.Uint32Var(&setSize, "set-size", firewall.DefaultSetSize, "size cap of each allow, block and redirect set")
	f.StringVar(&variant, "variant", variantNft, "nft: table inet darkscope; iptables: ipsets + iptables/ip6tables chains for hosts without nftables (default: rules.variant of the config)")
	f.StringVar(&netns, "netns", "", "act in this network namespace (ip netns NAME) instead of the current one")
	f.BoolVar(&ipt, "iptables", false, "same as --variant iptables")
	_ = f.MarkDeprecated("iptables", "use --variant iptables")
	cmd.MarkFlagsMutuallyExclusive("apply", "remove")
	return cmd
}

// The firewall variants of `rules` and of the set commands.
const (
	variantNft      = "nft"
	variantIptables = "iptables"
)

// rulesIptables prints, applies or removes the iptables variant.
func rulesIptables(cmd *cobra.Command, a *app, fc firewall.RulesConfig, apply, remove bool, opts []firewall.Option) error {
	if remove || apply {
		ap, err := firewall.NewIptablesApplier(a.logger, opts...)
		if err != nil {
			return err
		}
		if remove {
			if err := ap.Remove(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "removed the DARKSCOPE-* iptables/ip6tables chains and the darkscope-* ipsets")
			return nil
		}
		if err := ap.Apply(cmd.Context(), fc); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, "applied the darkscope-* ipsets and the DARKSCOPE-* iptables/ip6tables chains")
		return nil
	}
	sets, err := firewall.IpsetScript(fc)
	if err != nil {
		return err
	}
	v4, v6, err := firewall.IptablesScript(fc)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "# ipset -exist restore\n%s\n# iptables-restore --noflush\n%s\n# ip6tables-restore --noflush\n%s", sets, v4, v6)
	return err
}
