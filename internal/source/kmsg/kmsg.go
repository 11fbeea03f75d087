// Package kmsg is the /dev/kmsg source at the left edge of the flow: it reads
// the kernel's printk ring buffer record by record, hands each record to the
// kernel LOG parser and sends batches of events to the pipeline. It is how
// darkscope sees iptables/nftables LOG lines on a host without journald or
// rsyslog.
//
// Every read of /dev/kmsg returns one record, "PRI,SEQ,USEC,FLAGS;message\n"
// followed by optional " KEY=value" lines. SEQ numbers are consecutive; a
// jump means the ring buffer overwrote records before we read them (the read
// then fails once with EPIPE). Skipped records are counted as received and
// lost (source.LostKmsgGap); records that are simply not firewall lines are
// received and ignored.
//
// The source starts at the next record to be written (or, with FromStart, at
// the oldest record in the ring). A run the supervisor restarts after a
// failure reads the ring from its start and skips the sequence numbers seen
// before, so it loses only what the ring no longer holds, counted as a gap.
// Events the pipeline does not take when the run ends are counted lost
// (queue_full): /dev/kmsg cannot be re-read from a saved position.
//
// Event time. USEC is the printk time stamp, taken from the kernel's
// local_clock(): like CLOCK_MONOTONIC it starts at boot and stops during
// suspend. The source turns it into wall time as boot + USEC, where boot is
// time.Now() minus CLOCK_MONOTONIC, sampled together and refreshed every few
// seconds (so an NTP step or a resume from suspend is followed). The residual
// error is the drift between local_clock (sched_clock) and CLOCK_MONOTONIC,
// typically well under a millisecond per hour; the raw stamp is kept in
// Event.Uptime.
package kmsg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// Reasons this package rejects records with, besides the classifier's.
const (
	ReasonHeader = "kmsg_header" // a record without a "PRI,SEQ,USEC,...;" header
	ReasonParse  = "parse_error" // the default classification of a parser error
)

// Defaults.
const (
	DefaultPath          = "/dev/kmsg"
	DefaultFlushInterval = 200 * time.Millisecond
	recordBufSize        = 16 << 10 // a record is at most 8 KiB (CONSOLE_EXT_LOG_MAX)
	maxIdleWait          = 100 * time.Millisecond
	recalibrateEvery     = 5 * time.Second
	maxRawKept           = 4096
	maxBatchRecords      = 16 * source.BatchSize
)

// Parser turns one /dev/kmsg record into an event. Its seq and usec results
// are not used: the source reads them from the record header itself, so gap
// accounting and event time do not depend on the parser accepting the record.
type Parser interface {
	ParseKmsg(rec []byte, e *event.Event) (seq uint64, usec uint64, err error)
}

// Config configures the kmsg source.
type Config struct {
	Path          string        // default /dev/kmsg
	FromStart     bool          // read the whole ring buffer first instead of only new records
	Sensor        string        // sensor name of the events; default the host name
	FlushInterval time.Duration // longest time a partial batch waits (default 200 ms)
}

// recordReader is one open /dev/kmsg: Read returns one record, errNoData
// when none is ready and errOverrun when records were overwritten.
type recordReader interface {
	Read(p []byte) (int, error)
	Wait(d time.Duration) error // until readable or d passed
	Close() error
}

var (
	errNoData  = errors.New("no record ready")
	errOverrun = errors.New("records overwritten before they were read")
)

// Kmsg is the /dev/kmsg source.
type Kmsg struct {
	cfg      Config
	parser   Parser
	classify func(error) (string, bool)
	rejects  source.Rejects
	counters *source.Counters
	logger   *slog.Logger

	// Test seams: opening the device, the wall clock and CLOCK_MONOTONIC.
	open      func(path string, fromStart bool) (recordReader, error)
	now       func() time.Time
	monotonic func() (time.Duration, error)

	// The last sequence number read, kept across runs: when the supervisor
	// restarts a failed run, the new one reads the ring from its start and
	// skips what was read before, so a restart loses nothing still in the
	// ring (and counts what it lost as a gap).
	last     uint64
	haveLast bool
}

// New validates cfg and returns the source. classify may be nil (every
// parser error is then rejected as "parse_error"). The device is opened by
// Run.
func New(cfg Config, p Parser, classify func(error) (string, bool), rejects source.Rejects, counters *source.Counters, logger *slog.Logger) (*Kmsg, error) {
	if p == nil {
		return nil, errors.New("kmsg source: parser is nil")
	}
	if rejects == nil {
		return nil, errors.New("kmsg source: rejects keeper is nil")
	}
	if counters == nil {
		return nil, errors.New("kmsg source: counters are nil")
	}
	if cfg.FlushInterval < 0 {
		return nil, errors.New("kmsg source: negative flush interval")
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.Sensor == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("kmsg source: sensor name: %w", err)
		}
		cfg.Sensor = h
	}
	if classify == nil {
		classify = func(error) (string, bool) { return ReasonParse, false }
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Kmsg{
		cfg: cfg, parser: p, classify: classify, rejects: rejects, counters: counters,
		logger: logger.With("source", "kmsg"),
		open:   openDevice, now: time.Now, monotonic: monotonicNow,
	}, nil
}

// Name returns "kmsg".
func (k *Kmsg) Name() string { return "kmsg" }

// batch is the pending batch and the accounting of every record it covers.
type batch struct {
	events   []event.Event
	records  int
	received uint64
	ignored  uint64
	lost     uint64 // kmsg_gap
	rejects  []source.Rejected
	since    time.Time
}

// Run reads records until ctx is done (returns nil). It blocks while the
// pipeline is full; records the ring buffer overwrites meanwhile are counted
// as kmsg_gap. Runs of one Kmsg must not overlap.
func (k *Kmsg) Run(ctx context.Context, out chan<- source.Batch) error {
	rr, err := k.open(k.cfg.Path, k.cfg.FromStart || k.haveLast)
	if err != nil {
		return err
	}
	defer rr.Close()
	boot, err := k.bootTime()
	if err != nil {
		return err
	}
	calibrated := k.now()
	buf := make([]byte, recordBufSize)
	b := &batch{}
	for i := 0; ; i++ {
		if i%256 == 0 && ctx.Err() != nil { // Err takes a lock: not per record
			k.finalFlush(out, b)
			return nil
		}
		n, err := rr.Read(buf)
		switch {
		case err == nil:
		case errors.Is(err, errNoData):
			if b.records > 0 && k.now().Sub(b.since) >= k.cfg.FlushInterval {
				if !k.flush(ctx, out, b) {
					k.finalFlush(out, b)
					return nil
				}
			}
			if now := k.now(); now.Sub(calibrated) >= recalibrateEvery {
				if boot, err = k.bootTime(); err != nil {
					k.finalFlush(out, b)
					return err
				}
				calibrated = now
			}
			wait := maxIdleWait
			if b.records > 0 {
				wait = min(wait, max(k.cfg.FlushInterval-k.now().Sub(b.since), time.Millisecond))
			}
			if err := rr.Wait(wait); err != nil {
				k.finalFlush(out, b)
				return fmt.Errorf("poll %s: %w", k.cfg.Path, err)
			}
			if ctx.Err() != nil {
				k.finalFlush(out, b)
				return nil
			}
			continue
		case errors.Is(err, errOverrun):
			// The next read returns the oldest record still in the ring;
			// its sequence number tells how many were lost.
			k.logger.Debug("kmsg ring buffer overrun")
			continue
		default:
			k.finalFlush(out, b)
			return fmt.Errorf("read %s: %w", k.cfg.Path, err)
		}
		rec := buf[:n]
		seq, usec, ok := parseHeader(rec)
		if ok && k.haveLast && seq <= k.last {
			continue // read by an earlier run
		}
		if b.records == 0 {
			b.since = k.now()
		}
		b.records++
		b.received++
		if !ok {
			k.reject(b, rec, ReasonHeader)
		} else {
			if k.haveLast && seq > k.last+1 {
				gap := seq - k.last - 1
				b.received += gap
				b.lost += gap
			}
			k.last, k.haveLast = seq, true
			k.take(b, rec, boot, usec)
		}
		if len(b.events) >= source.BatchSize || b.records >= maxBatchRecords {
			if !k.flush(ctx, out, b) {
				k.finalFlush(out, b)
				return nil
			}
		}
	}
}

// take parses one record with a valid header into the pending batch.
func (k *Kmsg) take(b *batch, rec []byte, boot time.Time, usec uint64) {
	if b.events == nil {
		b.events = source.NewEvents()
	}
	i := len(b.events)
	b.events = b.events[:i+1]
	e := &b.events[i]
	e.Reset()
	if _, _, err := k.parser.ParseKmsg(rec, e); err != nil {
		b.events = b.events[:i]
		reason, ignored := k.classify(err)
		if ignored {
			b.ignored++
			return
		}
		k.reject(b, rec, reason)
		return
	}
	up := time.Duration(usec) * time.Microsecond
	e.Time = boot.Add(up).UTC()
	if e.Uptime == 0 {
		e.Uptime = up
	}
	e.Source = "kmsg"
	if e.Sensor == "" {
		e.Sensor = k.cfg.Sensor
	}
}

func (k *Kmsg) reject(b *batch, rec []byte, reason string) {
	if len(rec) > maxRawKept {
		rec = rec[:maxRawKept]
	}
	for len(rec) > 0 && rec[len(rec)-1] == '\n' {
		rec = rec[:len(rec)-1]
	}
	b.rejects = append(b.rejects, source.Rejected{Time: k.now().UTC(), Source: "kmsg", Reason: reason, Raw: string(rec)})
}

// flush hands the pending batch over, blocking until it is taken or ctx is
// done, then applies its counts. It reports whether the batch was taken.
func (k *Kmsg) flush(ctx context.Context, out chan<- source.Batch, b *batch) bool {
	return k.send(ctx.Done(), true, out, b)
}

// send hands the pending batch over, waiting for done when block is set.
func (k *Kmsg) send(done <-chan struct{}, block bool, out chan<- source.Batch, b *batch) bool {
	if b.records == 0 {
		return true
	}
	sb := source.Batch{Counters: k.counters}
	if len(b.events) > 0 {
		sb.Events = b.events
	}
	if !source.Send(done, block, out, sb) {
		return false
	}
	if sb.Events != nil {
		b.events = nil
	}
	k.apply(b)
	return true
}

// apply adds the batch's counts to the counters and keeps its rejects.
func (k *Kmsg) apply(b *batch) {
	k.counters.AddReceived(b.received)
	if b.ignored > 0 {
		k.counters.AddIgnored(b.ignored)
	}
	if b.lost > 0 {
		k.counters.AddLost(source.LostKmsgGap, b.lost)
	}
	for _, r := range b.rejects {
		k.counters.AddRejected(r.Reason, 1)
		k.rejects.Keep(r)
	}
	clear(b.rejects)
	b.rejects = b.rejects[:0]
	b.records, b.received, b.ignored, b.lost = 0, 0, 0, 0
}

// finalFlush offers the pending batch once more without blocking when the
// run ends. /dev/kmsg cannot be re-read from a saved position, so events the
// pipeline does not take are counted lost (queue_full), never dropped
// silently.
func (k *Kmsg) finalFlush(out chan<- source.Batch, b *batch) {
	if k.send(nil, false, out, b) {
		return
	}
	n := uint64(len(b.events))
	if n > 0 {
		k.logger.Warn("pipeline did not take the last kmsg events at shutdown", "events", n)
		k.counters.AddLost(source.LostQueueFull, n)
		source.ReleaseEvents(b.events)
		b.events = nil
	}
	k.apply(b)
}

// bootTime is the wall-clock time of CLOCK_MONOTONIC zero.
func (k *Kmsg) bootTime() (time.Time, error) {
	t0 := k.now()
	mono, err := k.monotonic()
	if err != nil {
		return time.Time{}, fmt.Errorf("read CLOCK_MONOTONIC: %w", err)
	}
	t1 := k.now()
	mid := t0.Add(t1.Sub(t0) / 2)
	return mid.Add(-mono), nil
}

// parseHeader reads SEQ and USEC from "PRI,SEQ,USEC,FLAGS[,...];".
func parseHeader(rec []byte) (seq, usec uint64, ok bool) {
	i := 0
	field := 0
	var v uint64
	digits := 0
	for ; i < len(rec); i++ {
		c := rec[i]
		switch {
		case c >= '0' && c <= '9' && field < 3:
			if digits >= 19 {
				return 0, 0, false
			}
			v = v*10 + uint64(c-'0')
			digits++
		case c == ',' || c == ';':
			if field < 3 && (digits == 0 || c == ';') {
				return 0, 0, false
			}
			switch field {
			case 1:
				seq = v
			case 2:
				usec = v
			}
			field++
			v, digits = 0, 0
			if c == ';' {
				return seq, usec, field >= 3
			}
		case field >= 3:
			// flags and later fields: anything up to ';'
		default:
			return 0, 0, false
		}
	}
	return 0, 0, false
}
