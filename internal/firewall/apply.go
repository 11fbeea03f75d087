package firewall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// Applier loads and removes table inet darkscope with the nft tool, each
// change one `nft -f -` transaction.
type Applier struct {
	logger *slog.Logger
	nft    string
	netns  string
}

// Option configures an Applier.
type Option func(*Applier)

// WithNetNS runs nft inside the named network namespace (`ip netns exec
// NAME nft …`); tests use it.
func WithNetNS(name string) Option { return func(a *Applier) { a.netns = name } }

// WithNft sets the nft binary (default: "nft" from PATH).
func WithNft(path string) Option { return func(a *Applier) { a.nft = path } }

// NewApplier returns an Applier after checking that nft (and ip, with
// WithNetNS) can be found.
func NewApplier(logger *slog.Logger, opts ...Option) (*Applier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Applier{logger: logger, nft: "nft"}
	for _, o := range opts {
		o(a)
	}
	p, err := exec.LookPath(a.nft)
	if err != nil {
		return nil, fmt.Errorf("find nft (package nftables): %w", err)
	}
	a.nft = p
	if a.netns != "" {
		if _, err := exec.LookPath("ip"); err != nil {
			return nil, fmt.Errorf("find ip for netns %s: %w", a.netns, err)
		}
	}
	return a, nil
}

func (a *Applier) command(ctx context.Context, args ...string) *exec.Cmd {
	if a.netns != "" {
		return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", a.netns, a.nft}, args...)...)
	}
	return exec.CommandContext(ctx, a.nft, args...)
}

func (a *Applier) run(ctx context.Context, stdin string, args ...string) ([]byte, error) {
	cmd := a.command(ctx, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "Operation not permitted") {
			msg += " (nft needs CAP_NET_ADMIN: run as root)"
		}
		return nil, fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// Apply loads the ruleset for c as one transaction. Nothing changes when it
// fails. Set elements already in table inet darkscope are kept.
func (a *Applier) Apply(ctx context.Context, c RulesConfig) error {
	script, err := NftScript(c)
	if err != nil {
		return err
	}
	if _, err := a.run(ctx, script, "-f", "-"); err != nil {
		if strings.Contains(err.Error(), "File exists") {
			err = fmt.Errorf("%w (a set or chain in table inet %s has other properties than this version creates: "+
				"`darkscope rules --remove` then apply again; removing drops set elements)", err, Table)
		}
		return fmt.Errorf("apply table inet %s: %w", Table, err)
	}
	a.logger.Info("firewall rules applied", "table", "inet "+Table, "mode", string(c.withDefaults().Mode),
		"dark_prefixes", len(c.Dark), "netns", a.netns)
	return nil
}

// Remove deletes table inet darkscope (and nothing else); it is not an
// error when the table is absent.
func (a *Applier) Remove(ctx context.Context) error {
	if _, err := a.run(ctx, RemoveScript(), "-f", "-"); err != nil {
		return fmt.Errorf("remove table inet %s: %w", Table, err)
	}
	a.logger.Info("firewall rules removed", "table", "inet "+Table, "netns", a.netns)
	return nil
}

// List returns `nft list table inet darkscope` as nft prints it.
func (a *Applier) List(ctx context.Context) (string, error) {
	out, err := a.run(ctx, "", "list", "table", "inet", Table)
	if err != nil {
		return "", fmt.Errorf("list table inet %s: %w", Table, err)
	}
	return string(out), nil
}

// RuleCounter is the counter of one commented rule in table inet darkscope.
type RuleCounter struct {
	Chain   string
	Comment string // one of the Comment* constants
	Packets uint64
	Bytes   uint64
}

// Counters returns the counters of the commented rules (log, drop,
// redirect, notrack), in listing order.
func (a *Applier) Counters(ctx context.Context) ([]RuleCounter, error) {
	out, err := a.run(ctx, "", "-j", "list", "table", "inet", Table)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	return parseCounters(out)
}

// parseCounters reads the rules with a comment and a counter from
// `nft -j list table` output.
func parseCounters(js []byte) ([]RuleCounter, error) {
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Chain   string            `json:"chain"`
				Comment string            `json:"comment"`
				Expr    []json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("decode nft json: %w", err)
	}
	var out []RuleCounter
	for _, item := range doc.Nftables {
		r := item.Rule
		if r == nil || r.Comment == "" {
			continue
		}
		for _, raw := range r.Expr {
			var e struct {
				Counter *struct {
					Packets uint64 `json:"packets"`
					Bytes   uint64 `json:"bytes"`
				} `json:"counter"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				return nil, fmt.Errorf("decode rule in chain %s: %w", r.Chain, err)
			}
			if e.Counter != nil {
				out = append(out, RuleCounter{Chain: r.Chain, Comment: r.Comment, Packets: e.Counter.Packets, Bytes: e.Counter.Bytes})
				break
			}
		}
	}
	if out == nil {
		return nil, errors.New("no counted rules in table inet " + Table)
	}
	return out, nil
}
