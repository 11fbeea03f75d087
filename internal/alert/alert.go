// Package alert is the alerting end of the flow: a secondary sink after
// detect that picks the alert events out of every batch and delivers them
// to channels — a JSON lines file, syslog (RFC 5424), a webhook and e-mail
// (SMTP) — each with its own minimum danger level, token-bucket rate limit,
// deduplication and counters.
//
// Write never blocks on a channel: it filters, deduplicates and rate-limits
// in the caller, then hands each alert to the channel's bounded queue (a
// full queue is counted queue_full). A worker per channel adds the reverse
// DNS name of the source (optional, cached) and delivers, retrying with
// backoff; failures are counted and logged, never returned to the pipeline.
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/darkscope/darkscope/internal/enrich/tool"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/sink"
)

// Counters are one channel's delivery counts. Every alert that reaches a
// channel ends in exactly one of them.
type Counters struct {
	Sent        uint64 `json:"sent"`         // delivered
	Failed      uint64 `json:"failed"`       // delivery failed after all retries
	RateLimited uint64 `json:"rate_limited"` // dropped: the token bucket was empty
	Deduped     uint64 `json:"deduped"`      // suppressed: same source and content within the dedup window
	QueueFull   uint64 `json:"queue_full"`   // dropped: the channel's queue was full
	Filtered    uint64 `json:"filtered"`     // below the channel's min_level
	Benign      uint64 `json:"benign"`       // dropped: forward-confirmed reverse DNS names a known research scanner
}

// Skipped counts alerts no channel saw.
type Skipped struct {
	Benign uint64 `json:"benign"` // known research scanners (include_benign off)
	Import uint64 `json:"import"` // verdicts of imported logs (without import --respond)
}

// Deliverer sends one message somewhere. Send is called from one worker
// goroutine at a time. An error wrapped with Permanent is not retried.
type Deliverer interface {
	Send(ctx context.Context, m *Message) error
	Close() error
}

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying (a 4xx answer, a rejected recipient).
func Permanent(err error) error { return permanentError{err} }

// Option is a test seam for New.
type Option func(*options)

type options struct {
	imports bool
	now     func() time.Time
	dial    DialFunc
	benign  *tool.Benign
	extra   []namedDeliverer
	sleep   func(ctx context.Context, d time.Duration) error
}

type namedDeliverer struct {
	cfg ChannelConfig
	d   Deliverer
}

// WithClock replaces time.Now for rate limits, dedup windows and the rDNS cache.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithDial replaces the dialer of every network channel and the resolver.
func WithDial(d DialFunc) Option { return func(o *options) { o.dial = d } }

// WithImports delivers the verdicts of imported logs too (import
// --respond); by default alerts whose Origin names an import are skipped.
func WithImports() Option { return func(o *options) { o.imports = true } }

// WithBenign replaces the embedded list of known research scanners.
func WithBenign(b *tool.Benign) Option { return func(o *options) { o.benign = b } }

// WithDeliverer adds a channel with a caller-made deliverer (tests, or a
// channel kind defined elsewhere).
func WithDeliverer(cfg ChannelConfig, d Deliverer) Option {
	return func(o *options) { o.extra = append(o.extra, namedDeliverer{cfg, d}) }
}

// withSleep replaces the retry backoff wait.
func withSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = f }
}

// Sink delivers the alert events of each batch to the configured channels.
// It implements sink.Sink and is safe for concurrent use.
type Sink struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	benign   *tool.Benign
	rdns     *Resolver
	channels []*channel
	sleep    func(ctx context.Context, d time.Duration) error

	imports       bool
	skippedBenign atomic.Uint64
	skippedImport atomic.Uint64

	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeMu sync.RWMutex
	closed  bool
}

type channel struct {
	name    string
	cfg     ChannelConfig
	retries int
	d       Deliverer
	q       chan *Message

	mu     sync.Mutex // guards bucket and dedup
	bucket bucket
	dedup  deduper

	sent, failed, rateLimited, deduped, queueFull, filtered, benign atomic.Uint64
}

// New validates cfg (after filling defaults), opens every channel and
// starts one delivery worker per channel.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Sink, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.sleep == nil {
		o.sleep = sleepCtx
	}
	if o.benign == nil {
		b, err := tool.DefaultBenign()
		if err != nil {
			return nil, fmt.Errorf("alerts: benign scanner list: %w", err)
		}
		o.benign = b
	}
	s := &Sink{cfg: cfg, log: logger, now: o.now, benign: o.benign, sleep: o.sleep, imports: o.imports}
	if cfg.RDNS.Enabled {
		r, err := NewResolver(cfg.RDNS, o.dial, o.now)
		if err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
		s.rdns = r
	}
	var opened []Deliverer
	fail := func(err error) (*Sink, error) {
		for _, d := range opened {
			_ = d.Close()
		}
		return nil, err
	}
	add := func(kind string, i int, ch ChannelConfig, d Deliverer) {
		name := ch.Name
		if name == "" {
			name = fmt.Sprintf("%s[%d]", kind, i)
		}
		opened = append(opened, d)
		s.channels = append(s.channels, &channel{
			name: name, cfg: ch, retries: derefOr(ch.Retries, 0), d: d, q: make(chan *Message, cfg.QueueSize),
			bucket: newBucket(ch.RatePerMinute, ch.Burst), dedup: newDeduper(ch.DedupWindow),
		})
	}
	for i, c := range cfg.Files {
		d, err := newFileChannel(c)
		if err != nil {
			return fail(fmt.Errorf("alerts.files[%d]: %w", i, err))
		}
		add("file", i, c.ChannelConfig, d)
	}
	hostname, _ := os.Hostname()
	for i, c := range cfg.Syslog {
		d, err := newSyslogChannel(c, hostname, o.dial)
		if err != nil {
			return fail(fmt.Errorf("alerts.syslog[%d]: %w", i, err))
		}
		add("syslog", i, c.ChannelConfig, d)
	}
	for i, c := range cfg.Webhooks {
		add("webhook", i, c.ChannelConfig, newWebhookChannel(c, o.dial))
	}
	for i, c := range cfg.Email {
		d, err := newEmailChannel(c, hostname, o.dial, o.now)
		if err != nil {
			return fail(fmt.Errorf("alerts.email[%d]: %w", i, err))
		}
		add("email", i, c.ChannelConfig, d)
	}
	for i, x := range o.extra {
		add("custom", i, x.cfg, x.d)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, ch := range s.channels {
		s.wg.Add(1)
		go s.work(ch)
	}
	return s, nil
}

// Write picks the alert events out of batch and queues them for every
// channel that wants them. It never blocks on delivery and does not keep
// batch. It returns an error only after Close.
func (s *Sink) Write(ctx context.Context, batch []event.Event) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return errors.New("alerts: sink closed")
	}
	for i := range batch {
		if batch[i].Kind != event.KindAlert || batch[i].Alert == nil {
			continue
		}
		s.route(&batch[i])
	}
	return nil
}

func (s *Sink) route(ev *event.Event) {
	a := ev.Alert
	if a.Origin != "" && !s.imports {
		s.skippedImport.Add(1)
		return
	}
	if !s.cfg.IncludeBenign && s.isBenign(a) {
		s.skippedBenign.Add(1)
		return
	}
	var m *Message
	var h uint64
	now := s.now()
	for _, ch := range s.channels {
		if int(a.Level) < ch.cfg.MinLevel {
			ch.filtered.Add(1)
			continue
		}
		if m == nil {
			m = newMessage(ev)
			h = contentHash(a)
		}
		key := a.Prefix
		if !key.IsValid() {
			key = netip.PrefixFrom(a.Src, a.Src.BitLen())
		}
		ch.mu.Lock()
		switch {
		case ch.dedup.duplicate(key, h, now):
			ch.deduped.Add(1)
		case !ch.bucket.take(now):
			ch.rateLimited.Add(1)
		default:
			select {
			case ch.q <- m:
				// Only an alert that goes out starts a dedup window.
				ch.dedup.remember(key, h, now)
			default:
				ch.queueFull.Add(1)
			}
		}
		ch.mu.Unlock()
	}
}

// isBenign reports whether a's source is a known research scanner: on the
// benign list, or tagged so by the tool fingerprinter's evidence.
func (s *Sink) isBenign(a *event.Alert) bool {
	if _, ok := s.benign.Lookup(a.Src); ok {
		return true
	}
	if a.Tool != nil {
		for _, e := range a.Tool.Evidence {
			if strings.HasPrefix(e, "known research scanner") {
				return true
			}
		}
	}
	return false
}

// benignName reports whether m's reverse DNS name is on the benign list
// and resolves back to the source.
func (s *Sink) benignName(m *Message) bool {
	if _, ok := s.benign.LookupName(m.RDNS); !ok {
		return false
	}
	ok, err := s.rdns.Confirmed(s.ctx, m.Event.Alert.Src, m.RDNS)
	if err != nil {
		s.log.Debug("alert rdns forward confirmation failed", "src", m.Event.Alert.Src, "name", m.RDNS, "err", err)
	}
	return ok
}

// work delivers ch's queue until it is closed.
func (s *Sink) work(ch *channel) {
	defer s.wg.Done()
	for m := range ch.q {
		if s.rdns != nil && m.RDNS == "" {
			// Messages are shared between channels: resolve into a copy.
			name, err := s.rdns.Lookup(s.ctx, m.Event.Alert.Src)
			if err != nil {
				s.log.Debug("alert rdns failed", "channel", ch.name, "src", m.Event.Alert.Src, "err", err)
			}
			if name != "" {
				c := *m
				c.RDNS = name
				m = &c
				if !s.cfg.IncludeBenign && s.benignName(m) {
					ch.benign.Add(1)
					continue
				}
			}
		}
		if err := s.deliver(ch, m); err != nil {
			ch.failed.Add(1)
			s.log.Warn("alert delivery failed", "channel", ch.name, "src", m.Event.Alert.Src, "err", err)
			continue
		}
		ch.sent.Add(1)
	}
}

func (s *Sink) deliver(ch *channel, m *Message) error {
	wait := ch.cfg.Backoff
	var err error
	for attempt := 0; ; attempt++ {
		if cerr := s.ctx.Err(); cerr != nil {
			if err == nil {
				return fmt.Errorf("not sent: %w", cerr)
			}
			return err
		}
		err = ch.d.Send(s.ctx, m)
		var p permanentError
		if err == nil || errors.As(err, &p) || attempt >= ch.retries {
			return err
		}
		s.log.Debug("alert delivery retry", "channel", ch.name, "attempt", attempt+1, "err", err)
		if serr := s.sleep(s.ctx, wait); serr != nil {
			return fmt.Errorf("%w (gave up: %v)", err, serr)
		}
		wait *= 2
	}
}

func derefOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Counters returns each channel's counters by channel name.
func (s *Sink) Counters() map[string]Counters {
	out := make(map[string]Counters, len(s.channels))
	for _, ch := range s.channels {
		out[ch.name] = Counters{
			Sent: ch.sent.Load(), Failed: ch.failed.Load(), RateLimited: ch.rateLimited.Load(),
			Deduped: ch.deduped.Load(), QueueFull: ch.queueFull.Load(), Filtered: ch.filtered.Load(),
			Benign: ch.benign.Load(),
		}
	}
	return out
}

// Skipped returns the counts of alerts no channel saw.
func (s *Sink) Skipped() Skipped {
	return Skipped{Benign: s.skippedBenign.Load(), Import: s.skippedImport.Load()}
}

// RDNS returns the reverse DNS counters (zero when rdns is off).
func (s *Sink) RDNS() RDNSCounters {
	if s.rdns == nil {
		return RDNSCounters{}
	}
	return s.rdns.Counters()
}

// Channels lists the channel names in configuration order.
func (s *Sink) Channels() []string {
	names := make([]string, len(s.channels))
	for i, ch := range s.channels {
		names[i] = ch.name
	}
	return names
}

// Close stops taking alerts, waits up to close_timeout for the queues to
// drain (then abandons in-flight deliveries, counting what is left as
// failed) and closes every channel.
func (s *Sink) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	for _, ch := range s.channels {
		close(ch.q)
	}
	s.closeMu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(s.cfg.CloseTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("alert channels did not drain in time; abandoning queued alerts", "timeout", s.cfg.CloseTimeout)
		s.cancel()
		<-done
	}
	s.cancel()
	var errs []error
	for _, ch := range s.channels {
		if err := ch.d.Close(); err != nil {
			errs = append(errs, fmt.Errorf("alerts channel %s: %w", ch.name, err))
		}
	}
	return errors.Join(errs...)
}

var _ sink.Sink = (*Sink)(nil)
