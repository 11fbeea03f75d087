package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/firewall"
	"github.com/darkscope/darkscope/internal/respond"
)

func newBlockCmd(a *app) *cobra.Command { return newSetCmd(a, firewall.Block) }

func newRedirectCmd(a *app) *cobra.Command { return newSetCmd(a, firewall.Redirect) }

// kernelSets is what the set commands need of a firewall variant's
// run-time sets: *firewall.Sets (nft) or *firewall.Ipsets (iptables).
type kernelSets interface {
	respond.SetManager
	Close() error
}

// openKernelSets opens the run-time sets of a firewall variant (nft or
// iptables) in the current network namespace or the named one.
func (a *app) openKernelSets(variant, netns string) (kernelSets, error) {
	var opts []firewall.SetsOption
	if netns != "" {
		opts = append(opts, firewall.WithSetsNetNS(filepath.Join("/var/run/netns", netns)))
	}
	switch variant {
	case variantNft:
		return firewall.NewSets(a.logger, opts...)
	case variantIptables:
		return firewall.NewIpsets(a.logger, opts...)
	}
	return nil, fmt.Errorf("--variant %q: want %s or %s", variant, variantNft, variantIptables)
}

// setEnv opens the kernel sets of the variant in the current network
// namespace (or netns) and the respond state file of the data directory.
func (a *app) setEnv(variant, netns string) (kernelSets, *respond.StateFile, func(), error) {
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return nil, nil, nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := respond.NewStateFile(respond.StatePath(a.cfg.DataDir))
	if err != nil {
		return nil, nil, nil, err
	}
	if variant == "" {
		variant = a.cfg.Rules.Variant
	}
	sets, err := a.openKernelSets(variant, netns)
	if err != nil {
		return nil, nil, nil, err
	}
	return sets, st, func() { _ = sets.Close() }, nil
}

// newSetCmd builds `darkscope block` or `darkscope redirect`.
func newSetCmd(a *app, kind firewall.SetKind) *cobra.Command {
	name := kind.String()
	var what, setNames, netns, variant string
	switch kind {
	case firewall.Block:
		what, setNames = "dropped by the kernel", firewall.SetBlock4+"/"+firewall.SetBlock6
	default:
		what, setNames = "whose SSH connections go to the honeypot", firewall.SetRedirect4+"/"+firewall.SetRedirect6
	}
	cmd := &cobra.Command{
		Use:   name + " list|add|del",
		Short: fmt.Sprintf("List, add or delete sources %s (sets %s)", what, setNames),
		Long: fmt.Sprintf(`List, add or delete the sources %s: the elements of the sets
%s in table inet darkscope. The commands act on the kernel directly (with
or without the daemon running) and record what they do in the respond state file of
the data directory, so that a restarted daemon puts back a lost element with the time
it had left. Needs root (CAP_NET_ADMIN) and the table: darkscope rules --apply.
With --variant iptables they act on the ipsets darkscope-%s instead (created by
darkscope rules --variant iptables --apply); ipset keeps only the time left of an element,
in whole seconds, so TIMEOUT shows that too.`, what, setNames, strings.ReplaceAll(setNames, "/", "/darkscope-")),
	}

	cmd.PersistentFlags().StringVar(&netns, "netns", "", "act in this network namespace (ip netns NAME) instead of the current one")
	cmd.PersistentFlags().StringVar(&variant, "variant", "", "firewall variant whose sets to use: nft (table inet darkscope) or iptables (ipsets darkscope-*) (default: rules.variant of the config, nft)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the elements with their remaining time and the reason darkscope recorded",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sets, st, done, err := a.setEnv(variant, netns)
			if err != nil {
				return err
			}
			defer done()
			rows, err := respond.List(cmd.Context(), sets, st, kind, a.now())
			if err != nil {
				return err
			}
			return printRows(a, rows, "PREFIX\tTIMEOUT\tEXPIRES\tLEVEL\tBY\tREASON", func(w io.Writer, i int) {
				r := rows[i]
				by := "auto"
				switch {
				case r.DryRun:
					by = "dry-run (not in kernel)"
				case !r.InKernel:
					by = "recorded, not in kernel"
				case r.Manual:
					by = "manual"
				case r.Reason == "":
					by = "other (nft)"
				}
				reason := r.Reason
				if reason == "" {
					reason = r.Comment
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Prefix, blockDur(r.Timeout), blockDur(r.Expires), blockLevel(r.Level), by, reason)
			})
		},
	}

	var timeout time.Duration
	var reason string
	add := &cobra.Command{
		Use:     "add PREFIX",
		Short:   "Add an address or prefix with a timeout",
		Example: fmt.Sprintf("  darkscope %s add 192.0.2.7 --timeout 2h --reason \"abuse report\"\n  darkscope %s add 2001:db8:bad::/64", name, name),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := firewall.ParseElementPrefix(args[0])
			if err != nil {
				return fmt.Errorf("%s add %q: %w", name, args[0], err)
			}
			if timeout < 0 {
				return fmt.Errorf("--timeout %s: want 0 (none) or more", timeout)
			}
			sets, st, done, err := a.setEnv(variant, netns)
			if err != nil {
				return err
			}
			defer done()
			if err := respond.AddManual(cmd.Context(), sets, st, kind, p, timeout, reason, a.now()); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s (timeout %s)\n", blockVerb(kind), p, blockDur(timeout))
			return nil
		},
	}
	add.Flags().DurationVar(&timeout, "timeout", time.Hour, "time until the kernel removes it (0: never)")
	add.Flags().StringVar(&reason, "reason", "manual", "reason recorded in the state file and the element comment")

	del := &cobra.Command{
		Use:   "del PREFIX",
		Short: "Delete an element (exactly as listed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := firewall.ParseElementPrefix(args[0])
			if err != nil {
				return fmt.Errorf("%s del %q: %w", name, args[0], err)
			}
			sets, st, done, err := a.setEnv(variant, netns)
			if err != nil {
				return err
			}
			defer done()
			if err := respond.DelManual(cmd.Context(), sets, st, kind, p, a.now()); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deleted %s from the %s sets\n", p, name)
			return nil
		},
	}
	cmd.AddCommand(list, add, del)

	if kind == firewall.Block {
		var format string
		export := &cobra.Command{
			Use:   "export",
			Short: "Print the blocked prefixes as a plain-text blocklist for border firewalls",
			Long: `Print every prefix in force in the block sets, one per line (CIDR notation, IPv4
first), with no comments: the format border firewalls and ipset/nft scripts read.`,
			Example: "  darkscope block export > /srv/www/blocklist.txt",
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if format != "plain" {
					return fmt.Errorf("--format %q: only plain is supported", format)
				}
				sets, _, done, err := a.setEnv(variant, netns)
				if err != nil {
					return err
				}
				defer done()
				els, err := sets.List(cmd.Context(), firewall.Block)
				if err != nil {
					return err
				}
				for _, e := range els {
					if _, err := fmt.Fprintln(a.stdout, e.Prefix); err != nil {
						return err
					}
				}
				return nil
			},
		}
		export.Flags().StringVar(&format, "format", "plain", "output format: plain (one prefix per line)")
		cmd.AddCommand(export)
	}
	return cmd
}

func blockVerb(k firewall.SetKind) string {
	if k == firewall.Block {
		return "blocked"
	}
	return "redirected"
}

func blockDur(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Truncate(time.Second).String()
}

func blockLevel(l int) string {
	if l == 0 {
		return "-"
	}
	return fmt.Sprint(l)
}
