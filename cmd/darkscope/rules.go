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
		dark                []string
		group, hpPort       uint16
		notrack, logText    bool
		apply, remove, ipt  bool
	)
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Print, apply or remove darkscope's own nftables table (table inet darkscope)",
		Long: `Print (default), apply (--apply) or remove (--remove) darkscope's own nftables table,
"table inet darkscope". It never touches other tables, and applying is one atomic,
idempotent transaction: re-applying keeps the elements of its sets.

Packets are logged in a prerouting chain at priority -450, before defragmentation and
conntrack: TCP backscatter (SYN-ACK, RST), ICMP errors and FIN/NULL/Xmas probes are
"ct state invalid" and a "ct state new" rule would miss them; fragments are logged as
they arrive. --notrack keeps dark-prefix floods out of the conntrack table.
The table also holds the allow, block and redirect sets (IPv4 and IPv6, with timeouts
and size caps), a block chain and a nat chain that sends redirect-set members' SSH
connections to the honeypot port.`,
		Example: `  darkscope rules --dark 192.0.2.0/24 --dark 2001:db8:dead::/48           # print
  darkscope rules --dark 192.0.2.0/24 --group 5 --apply                     # apply, then: darkscope run --nflog 5
  darkscope rules --mode host --iface eth0 --apply
  darkscope rules --iptables --dark 192.0.2.0/24                           # iptables-restore text for older hosts
  darkscope rules --remove`,
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
				LogText: logText, Prefix: prefix, Notrack: rc.Notrack, HoneypotPort: rc.HoneypotPort,
			}
			if remove {
				ap, err := firewall.NewApplier(a.logger)
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
			if ipt {
				if apply {
					return fmt.Errorf("--iptables prints iptables-restore text only; apply it with iptables-restore")
				}
				v4, v6, err := firewall.IptablesScript(fc)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "# iptables-restore --noflush\n%s\n# ip6tables-restore --noflush\n%s", v4, v6)
				return err
			}
			if apply {
				ap, err := firewall.NewApplier(a.logger)
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
	f.BoolVar(&apply, "apply", false, "apply the table (one atomic transaction)")
	f.BoolVar(&remove, "remove", false, "delete the table")
	f.BoolVar(&ipt, "iptables", false, "print iptables-restore/ip6tables-restore text instead")
	cmd.MarkFlagsMutuallyExclusive("apply", "remove")
	return cmd
}
