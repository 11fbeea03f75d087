package eve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/source/file"
)

// Redirector puts a source into the redirect set for ttl (the firewall's
// redirect set, whose members' tcp/22 goes to the honeypot). reason is a
// short printable comment for the set element.
type Redirector interface {
	Redirect(ctx context.Context, p netip.Prefix, ttl time.Duration, reason string) error
}

// RedirectFunc adapts a function to Redirector, e.g.
//
//	eve.RedirectFunc(func(ctx context.Context, p netip.Prefix, ttl time.Duration, why string) error {
//		return sets.Add(ctx, firewall.Redirect, p, ttl, why)
//	})
type RedirectFunc func(ctx context.Context, p netip.Prefix, ttl time.Duration, reason string) error

// Redirect implements Redirector.
func (f RedirectFunc) Redirect(ctx context.Context, p netip.Prefix, ttl time.Duration, reason string) error {
	return f(ctx, p, ttl, reason)
}

// LostRedirect is the lost reason of a match the Redirector refused.
const LostRedirect = "redirect_failed"

// maxRecent bounds the addresses remembered as redirected (to spare the
// firewall repeated adds); beyond it expired entries are dropped, then all.
const maxRecent = 1 << 16

// redirectTimeout bounds one Redirect call, also during shutdown.
const redirectTimeout = 5 * time.Second

// Option is a test seam.
type Option func(*Follower)

// WithClock replaces time.Now (the redirect-set timeouts are wall-clock).
func WithClock(now func() time.Time) Option { return func(f *Follower) { f.now = now } }

// WithFileOptions passes options to the file follower (rotation grace, line cap).
func WithFileOptions(opts ...file.Option) Option {
	return func(f *Follower) { f.fileOpts = append(f.fileOpts, opts...) }
}

// Follower is DOM mode: it follows the EVE file and redirects the selected
// clients. It implements source.Source but never sends a batch.
type Follower struct {
	cfg      Config
	m        *Matcher
	r        Redirector
	counters *source.Counters
	logger   *slog.Logger
	f        *file.File
	now      func() time.Time
	fileOpts []file.Option
	name     string

	// recent maps an address to when its set element expires (as far as
	// this follower knows); only Run's goroutine touches it.
	recent map[netip.Addr]time.Time
}

// New validates cfg (defaults applied) and returns DOM mode's follower.
// counters receive the line accounting (register them where `stats` sees
// them); rejects keeps rejected lines (nil: discarded).
func New(cfg Config, r Redirector, counters *source.Counters, rejects source.Rejects, logger *slog.Logger, opts ...Option) (*Follower, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("eve: redirector is nil")
	}
	if counters == nil {
		return nil, errors.New("eve: counters are nil")
	}
	if rejects == nil {
		rejects = source.DiscardRejects{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := NewMatcher(cfg)
	if err != nil {
		return nil, err
	}
	fw := &Follower{cfg: cfg, m: m, r: r, counters: counters, now: time.Now, recent: map[netip.Addr]time.Time{}, name: SourceName(cfg.Path)}
	for _, o := range opts {
		o(fw)
	}
	fw.logger = logger.With("source", fw.name)
	f, err := file.New(file.Config{Path: cfg.Path, Follow: true, FromStart: cfg.FromStart, PollInterval: cfg.PollInterval},
		m, classify, rejects, counters, nil, logger, fw.fileOpts...)
	if err != nil {
		return nil, fmt.Errorf("eve: %w", err)
	}
	fw.f = f
	return fw, nil
}

// Name returns "eve:<path>" (SourceName).
func (fw *Follower) Name() string { return fw.name }

// SourceName is the name of the follower of path: the key of its counters.
func SourceName(path string) string { return "eve:" + path }

// Run follows the file until ctx is done (returns nil) or the follower
// fails. It sends nothing on out: DOM mode's output is redirections. Runs
// must not overlap.
func (fw *Follower) Run(ctx context.Context, _ chan<- source.Batch) error {
	ch := make(chan source.Batch, 4)
	errc := make(chan error, 1)
	go func() {
		errc <- fw.f.Run(ctx, ch)
		close(ch)
	}()
	for b := range ch {
		fw.handle(ctx, b)
	}
	return <-errc
}

// handle redirects the sources of one batch of selected lines and
// completes their accounting (the file follower counted received, ignored
// and rejected lines when it handed the batch over).
func (fw *Follower) handle(ctx context.Context, b source.Batch) {
	if b.Flushed != nil {
		close(b.Flushed)
	}
	var stored, lost uint64
	for i := range b.Events {
		e := &b.Events[i]
		if fw.redirect(ctx, e.Src, e.SrcPort, e.DstPort, clientVersion(e.Auth)) {
			stored++
		} else {
			lost++
		}
		e.Auth = nil
	}
	if stored > 0 {
		fw.counters.AddStored(stored)
	}
	if lost > 0 {
		fw.counters.AddLost(LostRedirect, lost)
	}
	if b.Events != nil {
		source.ReleaseEvents(b.Events)
	}
}

func clientVersion(a *event.Auth) string {
	if a == nil {
		return ""
	}
	return a.ClientVersion
}

// redirect adds src to the redirect set unless it was added recently with
// more than half of its timeout left. It reports whether src is in the set.
func (fw *Follower) redirect(ctx context.Context, src netip.Addr, sport, dport uint16, version string) bool {
	now := fw.now()
	if until, ok := fw.recent[src]; ok && until.Sub(now) > fw.cfg.Timeout/2 {
		return true
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redirectTimeout)
	defer cancel()
	p := netip.PrefixFrom(src, src.BitLen())
	if err := fw.r.Redirect(rctx, p, fw.cfg.Timeout, reasonFor(fw.cfg.Field, version)); err != nil {
		fw.logger.Warn("redirect failed", "src", src, "err", err)
		return false
	}
	fw.remember(src, now.Add(fw.cfg.Timeout))
	fw.logger.Info("redirected to the honeypot", "src", src, "src_port", sport, "dst_port", dport,
		"client_version", printable(version, maxVersionInReason), "timeout", fw.cfg.Timeout)
	return true
}

func (fw *Follower) remember(src netip.Addr, until time.Time) {
	if len(fw.recent) >= maxRecent {
		now := fw.now()
		for a, u := range fw.recent {
			if !u.After(now) {
				delete(fw.recent, a)
			}
		}
		if len(fw.recent) >= maxRecent {
			clear(fw.recent)
		}
	}
	fw.recent[src] = until
}
