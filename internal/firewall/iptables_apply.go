package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// IptablesApplier loads and removes the iptables variant: the ipsets with
// `ipset -exist restore`, then the rules of each family with one
// `iptables-restore --noflush` / `ip6tables-restore --noflush` run. It
// touches only the ipsets named darkscope-* and the DARKSCOPE-* chains (and
// the jumps to them); other tables, chains, rules and sets stay as they are.
type IptablesApplier struct {
	logger *slog.Logger
	netns  string
}

// iptablesTools are the programs the iptables variant runs.
var iptablesTools = [...]string{"ipset", "iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore"}

// NewIptablesApplier returns an IptablesApplier after checking that ipset
// and the iptables tools can be found. Of the options only WithNetNS
// applies.
func NewIptablesApplier(logger *slog.Logger, opts ...Option) (*IptablesApplier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o Applier
	for _, opt := range opts {
		opt(&o)
	}
	for _, tool := range iptablesTools {
		if _, err := exec.LookPath(tool); err != nil {
			pkg := "iptables"
			if tool == "ipset" {
				pkg = "ipset"
			}
			return nil, fmt.Errorf("find %s (package %s): %w", tool, pkg, err)
		}
	}
	if o.netns != "" {
		if _, err := exec.LookPath("ip"); err != nil {
			return nil, fmt.Errorf("find ip for netns %s: %w", o.netns, err)
		}
	}
	return &IptablesApplier{logger: logger, netns: o.netns}, nil
}

func (a *IptablesApplier) run(ctx context.Context, stdin string, argv ...string) (string, error) {
	var cmd *exec.Cmd
	if a.netns != "" {
		cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", a.netns}, argv...)...)
	} else {
		cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "Permission denied") || strings.Contains(msg, "not permitted") {
			msg += " (needs CAP_NET_ADMIN: run as root)"
		}
		return "", fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, msg)
	}
	return stdout.String(), nil
}

// Apply loads the iptables variant for c. It is idempotent: ipsets that
// exist keep their elements and running timeouts (a set whose size cap or
// flags differ is rebuilt with its elements and swapped in), the DARKSCOPE-*
// chains are rebuilt, old jumps to them are deleted before the new ones are
// inserted, and chains the configuration no longer needs are deleted. Each
// family's rules change in one iptables-restore run.
func (a *IptablesApplier) Apply(ctx context.Context, c RulesConfig) error {
	t4, t6, err := iptablesTables(c)
	if err != nil {
		return err
	}
	c = c.withDefaults()
	if err := a.applyIpsets(ctx, c.SetSize); err != nil {
		return err
	}
	for _, f := range []struct {
		tool   string
		tables []iptTable
	}{{"iptables", t4}, {"ip6tables", t6}} {
		saved, err := a.run(ctx, "", f.tool+"-save")
		if err != nil {
			return fmt.Errorf("apply iptables variant: %w", err)
		}
		old := parseIptablesSave(saved)
		cleanup := map[string][]string{}
		for _, name := range iptTables {
			var want []string
			for _, t := range f.tables {
				if t.name == name {
					want = t.chains
				}
			}
			o := old[name]
			cleanup[name] = append(cleanup[name], o.jumps...)
			for _, ch := range o.chains {
				if !slices.Contains(want, ch) {
					cleanup[name] = append(cleanup[name], "-F "+ch, "-X "+ch)
				}
			}
		}
		script := renderIptables(f.tables, cleanup)
		if _, err := a.run(ctx, script, f.tool+"-restore", "--noflush"); err != nil {
			return fmt.Errorf("apply iptables variant: %w", err)
		}
	}
	a.logger.Info("firewall rules applied", "variant", "iptables", "mode", string(c.Mode),
		"dark_prefixes", len(c.Dark), "netns", a.netns)
	return nil
}

// ipsetResizeSuffix names the temporary set Apply fills when it rebuilds
// one of darkscope's ipsets (at most 31 characters with the longest name).
const ipsetResizeSuffix = "-resize"

// applyIpsets creates darkscope's ipsets, or rebuilds those whose header
// differs from what this version creates, keeping every element with the
// time it has left.
func (a *IptablesApplier) applyIpsets(ctx context.Context, size uint32) error {
	out, err := a.run(ctx, "", "ipset", "list", "-t")
	if err != nil {
		return fmt.Errorf("apply ipsets: %w", err)
	}
	headers := parseIpsetTerse(out)
	var b strings.Builder
	for _, name := range ipsetNames {
		want := ipsetCreate(name, size)
		h, ok := headers[name]
		if !ok || ipsetHeaderMatches(h, want) {
			b.WriteString(want + "\n")
			continue
		}
		saved, err := a.run(ctx, "", "ipset", "save", name)
		if err != nil {
			return fmt.Errorf("apply ipsets: rebuild %s: %w", name, err)
		}
		tmp := name + ipsetResizeSuffix
		if _, ok := headers[tmp]; ok {
			fmt.Fprintf(&b, "destroy %s\n", tmp) // a leftover of an interrupted rebuild
		}
		b.WriteString(strings.Replace(want, "create "+name+" ", "create "+tmp+" ", 1) + "\n")
		for line := range strings.Lines(saved) {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "add "+name+" "); ok {
				fmt.Fprintf(&b, "add %s %s\n", tmp, rest)
			}
		}
		fmt.Fprintf(&b, "swap %s %s\ndestroy %s\n", tmp, name, tmp)
		a.logger.Info("rebuilding ipset with its elements", "set", name, "old", h, "new", want)
	}
	if _, err := a.run(ctx, b.String(), "ipset", "-exist", "restore"); err != nil {
		return fmt.Errorf("apply ipsets: %w", err)
	}
	return nil
}

// ipsetHeaderMatches reports whether an existing set's terse header
// (`Type: hash:net` + `Header: family inet hashsize 1024 maxelem …`) has
// the type, family, size cap and extensions of create line want.
func ipsetHeaderMatches(h ipsetHeader, want string) bool {
	f := strings.Fields(want) // create NAME TYPE family F maxelem N timeout 0 comment
	if h.typ != f[2] {
		return false
	}
	opts := strings.Fields(h.header)
	has := func(key, val string) bool {
		for i, o := range opts {
			if o == key && (val == "" || (i+1 < len(opts) && opts[i+1] == val)) {
				return true
			}
		}
		return false
	}
	return has("family", f[4]) && has("maxelem", f[6]) && has("timeout", "0") && has("comment", "")
}

type ipsetHeader struct{ typ, header string }

// parseIpsetTerse reads `ipset list -t`: the type and header line of
// every set, by name.
func parseIpsetTerse(out string) map[string]ipsetHeader {
	sets := map[string]ipsetHeader{}
	var name string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			name = v
			sets[name] = ipsetHeader{}
		case "Type":
			h := sets[name]
			h.typ = v
			sets[name] = h
		case "Header":
			h := sets[name]
			h.header = v
			sets[name] = h
		}
	}
	delete(sets, "")
	return sets
}

// iptSaved is what iptables-save shows of the variant in one table.
type iptSaved struct {
	chains []string // DARKSCOPE-* chains
	jumps  []string // -D commands for the rules of other chains that jump to them
}

// parseIptablesSave finds, per table, the DARKSCOPE-* chains and the rules
// of other chains whose target is one of them.
func parseIptablesSave(out string) map[string]iptSaved {
	res := map[string]iptSaved{}
	table := ""
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":"+IptChainPrefix):
			ch, _, _ := strings.Cut(line[1:], " ")
			s := res[table]
			s.chains = append(s.chains, ch)
			res[table] = s
		case strings.HasPrefix(line, "-A "):
			ch, _, _ := strings.Cut(line[3:], " ")
			if strings.HasPrefix(ch, IptChainPrefix) {
				continue
			}
			f := strings.Fields(line)
			for i := 0; i+1 < len(f); i++ {
				if (f[i] == "-j" || f[i] == "-g") && strings.HasPrefix(f[i+1], IptChainPrefix) {
					s := res[table]
					s.jumps = append(s.jumps, "-D"+line[2:])
					res[table] = s
					break
				}
			}
		}
	}
	return res
}

// Remove deletes the iptables variant: the jumps to the DARKSCOPE-* chains,
// those chains (one iptables-restore run per family), then darkscope's
// ipsets. It is not an error when they are absent. An ipset that a rule
// outside darkscope's chains still uses is not destroyed (an error says so).
func (a *IptablesApplier) Remove(ctx context.Context) error {
	for _, tool := range []string{"iptables", "ip6tables"} {
		saved, err := a.run(ctx, "", tool+"-save")
		if err != nil {
			return fmt.Errorf("remove iptables variant: %w", err)
		}
		old := parseIptablesSave(saved)
		cleanup := map[string][]string{}
		for _, name := range iptTables {
			o := old[name]
			cleanup[name] = append(cleanup[name], o.jumps...)
			for _, ch := range o.chains {
				cleanup[name] = append(cleanup[name], "-F "+ch)
			}
			for _, ch := range o.chains {
				cleanup[name] = append(cleanup[name], "-X "+ch)
			}
		}
		if script := renderIptables(nil, cleanup); script != "" {
			if _, err := a.run(ctx, script, tool+"-restore", "--noflush"); err != nil {
				return fmt.Errorf("remove iptables variant: %w", err)
			}
		}
	}
	out, err := a.run(ctx, "", "ipset", "list", "-n")
	if err != nil {
		return fmt.Errorf("remove ipsets: %w", err)
	}
	present := strings.Fields(out)
	var errs []error
	for _, name := range ipsetNames {
		for _, n := range []string{name, name + ipsetResizeSuffix} {
			if !slices.Contains(present, n) {
				continue
			}
			if _, err := a.run(ctx, "", "ipset", "destroy", n); err != nil {
				errs = append(errs, fmt.Errorf("remove ipset %s: %w", n, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	a.logger.Info("firewall rules removed", "variant", "iptables", "netns", a.netns)
	return nil
}

// Counters returns the counters of the commented rules of the DARKSCOPE-*
// chains (log, drop, redirect, notrack), IPv4 then IPv6, in save order.
func (a *IptablesApplier) Counters(ctx context.Context) ([]RuleCounter, error) {
	var out []RuleCounter
	for _, tool := range []string{"iptables", "ip6tables"} {
		saved, err := a.run(ctx, "", tool+"-save", "-c")
		if err != nil {
			return nil, fmt.Errorf("read counters: %w", err)
		}
		out = append(out, parseIptablesCounters(saved)...)
	}
	if out == nil {
		return nil, errors.New("no counted rules in the DARKSCOPE-* chains")
	}
	return out, nil
}

// parseIptablesCounters reads `iptables-save -c` lines like
// `[3:252] -A DARKSCOPE-BLOCK … -m comment --comment "drop block4" -j DROP`.
func parseIptablesCounters(saved string) []RuleCounter {
	var out []RuleCounter
	for line := range strings.Lines(saved) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[") {
			continue
		}
		cnt, rule, ok := strings.Cut(line[1:], "] -A ")
		if !ok {
			continue
		}
		chain, rest, _ := strings.Cut(rule, " ")
		if !strings.HasPrefix(chain, IptChainPrefix) {
			continue
		}
		_, after, ok := strings.Cut(rest, `--comment "`)
		if !ok {
			continue
		}
		comment, _, ok := strings.Cut(after, `"`)
		if !ok {
			continue
		}
		ps, bs, ok := strings.Cut(cnt, ":")
		if !ok {
			continue
		}
		p, err1 := strconv.ParseUint(ps, 10, 64)
		b, err2 := strconv.ParseUint(bs, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, RuleCounter{Chain: chain, Comment: comment, Packets: p, Bytes: b})
	}
	return out
}
