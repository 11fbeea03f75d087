// Package pipeline wires the flow: supervised sources send batches into one
// bounded queue; a writer coalesces them and runs the detect stage, and a
// second goroutine commits each coalesced batch to the primary store (with
// file offsets in the same transaction), credits each source's `stored`
// counter, then hands it to the best-effort secondary sinks.
// Shutdown is ordered: stop sources, drain the queue, flush, close.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/sink"
	"github.com/darkscope/darkscope/internal/source"
)

// Primary is the authoritative store.
type Primary interface {
	// Append commits events and the given source offsets in one transaction.
	Append(ctx context.Context, events []event.Event, offs []source.Offset) error
	SaveCounters(ctx context.Context, snaps []source.Snapshot) error
}

// Stage is the detect stage: it sees every event in order before the store
// and may emit new events (alerts), which are stored and sent to the sinks
// with the batch. detect.Engine implements it.
type Stage interface {
	ObserveBatch(evs []event.Event, emit func(event.Event))
}

// Secondary is a named best-effort sink.
type Secondary struct {
	Name string
	Sink sink.Sink
}

// Config sizes the pipeline.
type Config struct {
	QueueBatches  int           // capacity of the queue, in batches
	FlushInterval time.Duration // write at least this often while events wait
	MaxBatch      int           // write when this many events wait
	CountersEvery time.Duration // persist source counters this often (0: only at the end)
	DrainTimeout  time.Duration // bound on the final drain and flush at shutdown
	Detect        Stage         // optional detect stage
}

// Pipeline moves batches from sources to sinks.
type Pipeline struct {
	cfg      Config
	primary  Primary
	sinks    []Secondary
	registry *source.Registry
	logger   *slog.Logger

	queue     chan source.Batch
	producers sync.WaitGroup
	closing   atomic.Bool

	sinkErrs   []atomic.Uint64
	writes     atomic.Uint64
	alertsLost atomic.Uint64
}

// New validates cfg and returns a pipeline. registry may be nil when
// counters need not be persisted.
func New(cfg Config, primary Primary, sinks []Secondary, registry *source.Registry, logger *slog.Logger) (*Pipeline, error) {
	if primary == nil {
		return nil, errors.New("pipeline: no primary store")
	}
	if cfg.QueueBatches <= 0 {
		cfg.QueueBatches = 256
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 500 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 65536
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{
		cfg: cfg, primary: primary, sinks: sinks, registry: registry, logger: logger,
		queue:    make(chan source.Batch, cfg.QueueBatches),
		sinkErrs: make([]atomic.Uint64, len(sinks)),
	}, nil
}

// Queue is where sources send batches.
func (p *Pipeline) Queue() chan<- source.Batch { return p.queue }

// Go runs src under a supervisor until ctx is done or src finishes. It may be
// called before or during Run, but not after Run's context is done. The
// returned channel yields the supervisor's result once.
func (p *Pipeline) Go(ctx context.Context, src source.Source) <-chan error {
	res := make(chan error, 1)
	if p.closing.Load() {
		res <- fmt.Errorf("pipeline is shutting down; source %s not started", src.Name())
		return res
	}
	p.producers.Add(1)
	go func() {
		defer p.producers.Done()
		res <- source.Supervise(ctx, src, p.queue, p.logger, 30*time.Second)
	}()
	return res
}

// Run writes until ctx is done and every source started with Go has
// returned, then drains the queue and flushes. Call it once.
func (p *Pipeline) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		<-ctx.Done()
		p.closing.Store(true)
		p.producers.Wait()
		close(p.queue)
		close(done)
	}()
	err := p.write(ctx)
	<-done
	return err
}

// RunUntilDone is Run for finite sources: it returns once every source
// started with Go has finished and everything is written (or ctx ends).
func (p *Pipeline) RunUntilDone(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		p.producers.Wait()
		cancel()
	}()
	return p.Run(ctx)
}

type pending struct {
	events  []event.Event
	alerts  []event.Event
	credits map[*source.Counters]uint64
	offs    map[string]source.Offset
	order   []string
	flushed []chan struct{} // Sync calls answered once this batch is committed
	final   bool            // the last batch: write it within DrainTimeout
}

func (p *Pipeline) newPending() *pending {
	return &pending{
		// Room for the batch's alerts after its events (see flush).
		events:  make([]event.Event, 0, min(p.cfg.MaxBatch, 1<<18)+alertRoom(p.cfg.MaxBatch)),
		credits: map[*source.Counters]uint64{},
		offs:    map[string]source.Offset{},
	}
}

// write runs the two stages of the writer: this goroutine collects source
// batches into a write buffer and runs the detect stage on them; a second
// goroutine (store) commits full buffers, credits the sources and feeds the
// secondary sinks. Two buffers alternate, so detection of the next batch
// overlaps the commit of the previous one (on two cores the import ran
// ~40% of its time in detection with the store idle). Each buffer holds
// MaxBatch events plus the alerts and is reused; a buffer is handed over
// before a source batch would overflow it, so it never grows by
// reallocation (each reallocation of ~600-byte events was tens of MB of
// fresh memory).
func (p *Pipeline) write(ctx context.Context) error {
	free := make(chan *pending, 2)
	free <- p.newPending()
	free <- p.newPending()
	full := make(chan *pending, 1)
	storeDone := make(chan error, 1)
	go func() { storeDone <- p.store(ctx, full, free) }()

	pend := <-free
	handOver := func() {
		full <- pend
		pend = <-free
	}
	tick := time.NewTicker(p.cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-p.queue:
			if !ok {
				pend.final = true
				full <- pend
				close(full)
				return <-storeDone
			}
			if len(pend.events) > 0 && len(pend.events)+len(b.Events) > p.cfg.MaxBatch {
				handOver()
			}
			n := len(pend.events)
			pend.add(b)
			if p.cfg.Detect != nil && len(pend.events) > n {
				p.cfg.Detect.ObserveBatch(pend.events[n:], pend.emit)
			}
			if b.Flushed != nil {
				pend.flushed = append(pend.flushed, b.Flushed)
				handOver()
			} else if len(pend.events) >= p.cfg.MaxBatch {
				handOver()
			}
		case <-tick.C:
			if len(pend.events) > 0 || len(pend.alerts) > 0 || len(pend.offs) > 0 {
				handOver()
			}
		}
	}
}

// store is the writer's second stage: it commits the buffers write hands
// over, in order, and returns them for reuse; it also persists the source
// counters every CountersEvery (checked every FlushInterval, also while no
// events flow). When full is closed it saves the counters and closes the
// secondary sinks.
func (p *Pipeline) store(ctx context.Context, full <-chan *pending, free chan<- *pending) error {
	var countersAt time.Time
	saveDue := func(wctx context.Context) {
		if p.registry == nil || p.cfg.CountersEvery <= 0 || time.Since(countersAt) < p.cfg.CountersEvery {
			return
		}
		countersAt = time.Now()
		if err := p.primary.SaveCounters(wctx, p.registry.Snapshots()); err != nil {
			p.logger.Warn("save counters", "err", err)
		}
	}
	tick := time.NewTicker(p.cfg.FlushInterval)
	defer tick.Stop()
	var firstErr error
	for {
		var pd *pending
		select {
		case <-tick.C:
			saveDue(context.WithoutCancel(ctx))
			continue
		case x, ok := <-full:
			if !ok {
				for _, s := range p.sinks {
					if err := s.Sink.Close(); err != nil {
						p.logger.Warn("close sink", "sink", s.Name, "err", err)
					}
				}
				return firstErr
			}
			pd = x
		}
		wctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
		if pd.final {
			wctx, cancel = context.WithTimeout(wctx, p.cfg.DrainTimeout)
		}
		if err := p.flush(wctx, pd); err != nil && firstErr == nil {
			firstErr = err
		}
		for _, c := range pd.flushed {
			close(c)
		}
		pd.flushed = pd.flushed[:0]
		if pd.final {
			if p.registry != nil {
				if err := p.primary.SaveCounters(wctx, p.registry.Snapshots()); err != nil {
					p.logger.Warn("save counters", "err", err)
				}
			}
		} else {
			saveDue(wctx)
		}
		cancel()
		free <- pd
	}
}

func (pd *pending) emit(e event.Event) { pd.alerts = append(pd.alerts, e) }

func (pd *pending) add(b source.Batch) {
	pd.events = append(pd.events, b.Events...)
	if b.Counters != nil {
		pd.credits[b.Counters] += uint64(len(b.Events))
	}
	if b.Offset != nil {
		if _, ok := pd.offs[b.Offset.Key]; !ok {
			pd.order = append(pd.order, b.Offset.Key)
		}
		pd.offs[b.Offset.Key] = *b.Offset
	}
	source.ReleaseEvents(b.Events)
}

// alertRoom is the capacity a write buffer keeps after MaxBatch events for
// the alerts the detect stage emits while it fills.
func alertRoom(maxBatch int) int { return min(maxBatch, 1<<18) / 4 }

// flush commits a buffer. Its alerts normally go after its events in the
// buffer's spare capacity, so events, alerts and offsets are one Append
// (one transaction per day): an alert is stamped with the end of a report
// interval the watermark has passed, so its day is one the buffer (or the
// previous one) wrote, and the store files it by day. Alerts that do not
// fit (a burst of more than alertRoom) are committed first in their own
// Append, which keeps the days the store writes in order; committing them
// after the events could make it go back to a finished day.
func (p *Pipeline) flush(ctx context.Context, pd *pending) error {
	var aerr error
	npk := len(pd.events)
	if len(pd.alerts) > 0 && len(pd.alerts) <= cap(pd.events)-len(pd.events) {
		pd.events = append(pd.events, pd.alerts...)
	} else {
		aerr = p.flushAlerts(ctx, pd.alerts)
	}
	clear(pd.alerts)
	pd.alerts = pd.alerts[:0]
	if len(pd.events) == 0 && len(pd.offs) == 0 {
		return aerr
	}
	offs := make([]source.Offset, 0, len(pd.order))
	for _, k := range pd.order {
		offs = append(offs, pd.offs[k])
	}
	err := p.primary.Append(ctx, pd.events, offs)
	if err != nil {
		p.logger.Error("store write failed; events counted as lost", "events", npk, "alerts", len(pd.events)-npk, "err", err)
		for c, n := range pd.credits {
			c.AddLost(source.LostStoreError, n)
		}
		p.alertsLost.Add(uint64(len(pd.events) - npk))
		err = fmt.Errorf("store append: %w", err)
	} else {
		p.writes.Add(1)
		for c, n := range pd.credits {
			c.AddStored(n)
		}
		p.toSinks(ctx, pd.events)
	}
	clear(pd.events[npk:]) // drop the alerts' references
	pd.events = pd.events[:0]
	clear(pd.credits)
	clear(pd.offs)
	pd.order = pd.order[:0]
	if err == nil {
		err = aerr
	}
	return err
}

// flushAlerts stores the detect stage's alerts and hands them to the
// secondary sinks. Alerts belong to no source: a failed write is logged
// and counted (AlertsLost), like a source's store_error.
func (p *Pipeline) flushAlerts(ctx context.Context, alerts []event.Event) error {
	if len(alerts) == 0 {
		return nil
	}
	if err := p.primary.Append(ctx, alerts, nil); err != nil {
		p.alertsLost.Add(uint64(len(alerts)))
		p.logger.Error("store write failed; alerts lost", "alerts", len(alerts), "err", err)
		return fmt.Errorf("store append alerts: %w", err)
	}
	p.writes.Add(1)
	p.toSinks(ctx, alerts)
	return nil
}

func (p *Pipeline) toSinks(ctx context.Context, evs []event.Event) {
	for i, s := range p.sinks {
		if serr := s.Sink.Write(ctx, evs); serr != nil {
			if p.sinkErrs[i].Add(1) == 1 || p.sinkErrs[i].Load()%1000 == 0 {
				p.logger.Warn("secondary sink write failed", "sink", s.Name, "failures", p.sinkErrs[i].Load(), "err", serr)
			}
		}
	}
}

// AlertsLost is how many detect-stage alerts the store failed to write.
func (p *Pipeline) AlertsLost() uint64 { return p.alertsLost.Load() }

// Sync returns once everything queued before the call is committed (or ctx
// ends). It must not be called after Run has returned.
func (p *Pipeline) Sync(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case p.queue <- source.Batch{Flushed: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SinkFailures returns the failed-write count of each secondary sink.
func (p *Pipeline) SinkFailures() map[string]uint64 {
	m := make(map[string]uint64, len(p.sinks))
	for i, s := range p.sinks {
		m[s.Name] = p.sinkErrs[i].Load()
	}
	return m
}
