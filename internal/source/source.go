// Package source holds the contract every capture source implements (the left
// edge of the flow: nflog, kernlog, syslog, ulogd JSON, pcap), the per-source
// loss-accounting counters, the keeper of rejected lines, and the supervisor
// that restarts a failed source with backoff.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// Batch is what a source hands to the pipeline: events from that one source.
// Ownership of Events passes with the send; the source must not touch the
// slice afterwards. Done, when set, is called once every sink has taken the
// batch (file sources use it to save their offset with the events).
type Batch struct {
	Counters *Counters
	Events   []event.Event
	// Offset is the source position after the last event of the batch
	// (file sources), saved by the store in the same transaction as the events.
	Offset *Offset
	// Flushed, when set, is closed by the pipeline once this batch and every
	// batch before it are committed to the store (a flush barrier).
	Flushed chan struct{}
}

// Offset is a file source's resume position.
type Offset struct {
	Key    string // e.g. "file:/var/log/kern.log"
	Inode  uint64
	Offset int64
	Line   int64
}

// Source produces batches of events.
type Source interface {
	Name() string
	// Run sends batches until ctx is done (returns nil) or a finite input ends
	// (returns nil). It returns errors instead of retrying; the supervisor
	// restarts it. It never closes out.
	Run(ctx context.Context, out chan<- Batch) error
}

// Permanent marks an error that restarting cannot fix (bad configuration,
// missing permission): the supervisor gives up at once.
type Permanent struct{ Err error }

func (p *Permanent) Error() string { return p.Err.Error() }
func (p *Permanent) Unwrap() error { return p.Err }

// Supervise runs src until ctx is done or src finishes, restarting it with
// exponential backoff (from 100 ms up to max) when it fails.
func Supervise(ctx context.Context, src Source, out chan<- Batch, logger *slog.Logger, max time.Duration) error {
	if max <= 0 {
		max = 30 * time.Second
	}
	delay := 100 * time.Millisecond
	for {
		start := time.Now()
		err := src.Run(ctx, out)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		var perm *Permanent
		if errors.As(err, &perm) {
			return fmt.Errorf("source %s: %w", src.Name(), err)
		}
		if time.Since(start) > 2*max {
			delay = 100 * time.Millisecond
		}
		logger.Warn("source failed, restarting", "source", src.Name(), "err", err, "backoff", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay *= 2
		if delay > max {
			delay = max
		}
	}
}

// BatchSize is the number of events a source puts in one batch at most.
const BatchSize = 1024

var batchPool = sync.Pool{New: func() any {
	s := make([]event.Event, 0, BatchSize)
	return &s
}}

// NewEvents returns an empty event slice with capacity BatchSize, reused from
// a pool when possible.
func NewEvents() []event.Event {
	return (*batchPool.Get().(*[]event.Event))[:0]
}

// ReleaseEvents returns a slice obtained from NewEvents once nobody reads it.
func ReleaseEvents(s []event.Event) {
	if cap(s) != BatchSize {
		return
	}
	s = s[:0]
	batchPool.Put(&s)
}

// Send hands b to out. With block it waits until out takes it or done is
// closed; without, it gives up at once when out is full. It reports whether
// out took the batch.
func Send(done <-chan struct{}, block bool, out chan<- Batch, b Batch) bool {
	if !block {
		select {
		case out <- b:
			return true
		default:
			return false
		}
	}
	select {
	case out <- b:
		return true
	case <-done:
		return false
	}
}
