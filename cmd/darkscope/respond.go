package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/darkscope/darkscope/internal/alert"
	"github.com/darkscope/darkscope/internal/firewall"
	"github.com/darkscope/darkscope/internal/pipeline"
	"github.com/darkscope/darkscope/internal/respond"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/source/eve"
)

// responseParts are the pieces of the respond stage a command opened: the
// kernel sets (nil when nothing needs them) and the responder (nil when
// auto-block and native redirect are both off).
type responseParts struct {
	sets kernelSets // *firewall.Sets (nft) or *firewall.Ipsets (rules.variant iptables)
	resp *respond.Responder
}

func (r *responseParts) Close() {
	if r.sets != nil {
		_ = r.sets.Close()
	}
}

// secondaries is the responder as a pipeline sink (none when it is off).
func (r *responseParts) secondaries() []pipeline.Secondary {
	if r.resp == nil {
		return nil
	}
	return []pipeline.Secondary{{Name: "respond", Sink: r.resp}}
}

// openResponse opens the kernel sets when auto-block, native redirect or
// DOM mode is configured and starts the responder, restoring the blocks and
// redirects of its state file with their remaining timeouts. imports lets
// the responder act on verdicts of imported logs (import --respond).
func (a *app) openResponse(ctx context.Context, imports bool) (*responseParts, error) {
	rc := a.cfg.Respond
	active := rc.Block.Enabled || rc.Redirect.Enabled
	parts := &responseParts{}
	if !active && !a.cfg.Sources.Eve.Enabled() {
		return parts, nil
	}
	sets, err := a.openKernelSets(a.cfg.Rules.Variant, "")
	if err != nil {
		return nil, fmt.Errorf("respond: %w", err)
	}
	parts.sets = sets
	if !active {
		return parts, nil
	}
	var opts []respond.Option
	if imports {
		opts = append(opts, respond.WithImports())
	}
	r, err := respond.New(rc, sets, respond.StatePath(a.cfg.DataDir), a.logger, opts...)
	if err != nil {
		parts.Close()
		return nil, err
	}
	n, err := r.Restore(ctx)
	if err != nil {
		parts.Close()
		return nil, fmt.Errorf("respond: restore: %w", err)
	}
	if n > 0 {
		a.logger.Info("respond: restored set elements from the state file", "elements", n)
	}
	parts.resp = r
	return parts, nil
}

// eveSource is DOM mode: the EVE follower adding matching SSH clients to
// the redirect set (nil when sources.eve is not configured).
func (a *app) eveSource(parts *responseParts, b *builder) (source.Source, error) {
	ec := a.cfg.Sources.Eve
	if !ec.Enabled() {
		return nil, nil
	}
	redirect := eve.RedirectFunc(func(ctx context.Context, p netip.Prefix, ttl time.Duration, why string) error {
		return parts.sets.Add(ctx, firewall.Redirect, p, ttl, why)
	})
	return eve.New(ec, redirect, b.reg.Get(eve.SourceName(ec.Path)), b.rejects, a.logger)
}

// importResponse is what `import --respond` adds to the import's pipeline:
// the responder and the alert channels, both told to act on the verdicts
// of imported logs, which they leave alone otherwise.
func (a *app) importResponse(ctx context.Context) ([]pipeline.Secondary, func(), error) {
	parts, err := a.openResponse(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	out := parts.secondaries()
	if ac := a.cfg.Alerts; len(ac.Files)+len(ac.Syslog)+len(ac.Webhooks)+len(ac.Email) > 0 {
		s, err := alert.New(ac, a.logger, alert.WithImports())
		if err != nil {
			parts.Close()
			return nil, nil, err
		}
		out = append(out, pipeline.Secondary{Name: "alerts", Sink: s})
	}
	return out, parts.Close, nil
}
