// Package file is the line-oriented file source at the left edge of the flow:
// it reads a log file (kern.log, syslog, ulogd JSON lines, ...) line by line,
// hands each line to a parser that fills an event.Event, and sends batches of
// events to the pipeline together with the file position after the batch, so
// the store can save that offset in the same transaction as the events.
//
// Two modes:
//
//   - import (Follow=false): the whole file, plain or gzip (detected by its
//     magic bytes, not its name), is read once and Run returns nil at EOF;
//   - follow (Follow=true): the file is tailed by polling. A new file starts at
//     the end of its last complete line (unless FromStart, or the file
//     appeared while we waited for it: then at 0), a known one at the offset
//     saved for it. A partial last line is held until its newline arrives.
//
// Rotation while following:
//
//   - rename ("create"): when another inode appears at the path, the old
//     descriptor is still read for a grace period (writers append to it until
//     they reopen), its unterminated last line is parsed as is, then the new
//     file is read from its start;
//   - copytruncate: when the file shrinks below our position, the lines
//     written after our last read are read from logrotate's copy (the file
//     beside ours whose bytes before our position match what we read), then
//     the file is read from 0. Only logrotate's own window (lines written
//     between its copy and its truncate) is lost. A file truncated and grown
//     past our position between two polls is caught by comparing the last
//     bytes read with the file;
//   - while stopped: a saved offset whose inode now sits in a renamed file
//     beside ours (kern.log.1, kern.log-DATE, uncompressed) is finished there
//     first; a shrunk file is read from 0.
//
// File sources block when the pipeline is full; they never drop. Every line
// taken in is counted as received, and as exactly one of: an event sent (the
// store counts it stored), ignored (not a firewall line) or rejected (a
// firewall line that did not parse, kept with file name and line number).
// Counters are applied when the batch holding the line is handed over, so a
// cancelled run that re-reads from its saved offset counts nothing twice.
// A batch may hold no events at all (only ignored or rejected lines): it is
// still sent, so the saved offset and the counters advance.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// Reasons this package rejects lines with, besides the classifier's.
const (
	ReasonLineTooLong = "line_too_long" // a line longer than the cap (default 64 KiB)
	ReasonParse       = "parse_error"   // the default classification of a parser error
)

// Defaults.
const (
	DefaultPollInterval  = 250 * time.Millisecond
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultMaxLine       = 64 << 10
	readBufSize          = 256 << 10
	maxRawKept           = 4096 // bytes of a rejected line kept
	// maxBatchLines bounds the lines (ignored and rejected ones included) one
	// batch covers, so a file of non-firewall lines still advances the saved
	// offset and pending rejects stay bounded.
	maxBatchLines = 16 * source.BatchSize
)

// LineParser turns one line (without its newline) into an event. It returns
// an error for lines that are not events; the Classifier decides whether the
// error means "ignored" or "rejected".
type LineParser interface {
	ParseLine(line []byte, e *event.Event) error
}

// Classifier maps a parser error to a rejected reason, or reports that the
// line is simply not a firewall record (ignored).
type Classifier func(err error) (reason string, ignored bool)

// OffsetStore returns the position saved for key ("file:<path>").
type OffsetStore interface {
	Offset(ctx context.Context, key string) (source.Offset, bool, error)
}

// Config configures one file source.
type Config struct {
	Path          string
	Follow        bool          // tail the file instead of importing it once
	FromStart     bool          // follow: start a file without saved offset at 0 instead of its end
	Sensor        string        // sensor name for events whose parser left Sensor empty
	PollInterval  time.Duration // follow: how often to look for new data (default 250 ms)
	FlushInterval time.Duration // follow: longest time a partial batch waits (default 200 ms)
}

// Option is a test seam or an optional behaviour.
type Option func(*options)

type options struct {
	reader      io.Reader
	progress    func(done, total int64)
	maxLine     int
	rotateGrace time.Duration
}

// WithProgress calls fn with the bytes read so far and the file size (both
// of the file on disk, so compressed bytes for gzip; total is 0 when unknown,
// as for a pipe) as the import advances, and once more at the end. For the
// CLI progress bar; import mode only.
func WithProgress(fn func(done, total int64)) Option {
	return func(o *options) { o.progress = fn }
}

// WithReader imports from r (standard input, an API upload) instead of
// opening Config.Path, which then only names the source. Import mode only;
// plain or gzip, detected from the first bytes. Offsets carry inode 0.
func WithReader(r io.Reader) Option {
	return func(o *options) { o.reader = r }
}

// WithMaxLine sets the longest accepted line in bytes (default 64 KiB);
// longer lines are rejected with reason "line_too_long".
func WithMaxLine(n int) Option {
	return func(o *options) { o.maxLine = n }
}

// WithRotateGrace sets how long, after a new file appeared at the path, the
// old file descriptor is still read before switching (default 1 s, at least
// two poll intervals): writers keep appending to the renamed file until they
// reopen the path.
func WithRotateGrace(d time.Duration) Option {
	return func(o *options) { o.rotateGrace = d }
}

// File is a file source.
type File struct {
	cfg      Config
	name     string
	parser   LineParser
	classify Classifier
	rejects  source.Rejects
	counters *source.Counters
	offsets  OffsetStore
	logger   *slog.Logger
	opts     options

	// resume is the position after the last batch handed over, for a run
	// the supervisor restarts when the offset store has none (or there is
	// no store). Runs of one File must not overlap.
	resume    source.Offset
	hasResume bool

	hook func(state string) // test seam: "waiting" for the file, "positioned" in it
}

// New validates cfg and returns a file source. classify may be nil (every
// parser error is then rejected as "parse_error"); offsets may be nil (no
// resume). The file itself is opened by Run, so a followed file may not
// exist yet.
func New(cfg Config, parser LineParser, classify Classifier, rejects source.Rejects, counters *source.Counters, offsets OffsetStore, logger *slog.Logger, opts ...Option) (*File, error) {
	if cfg.Path == "" {
		return nil, errors.New("file source: path is empty")
	}
	if parser == nil {
		return nil, errors.New("file source: parser is nil")
	}
	if rejects == nil {
		return nil, errors.New("file source: rejects keeper is nil")
	}
	if counters == nil {
		return nil, errors.New("file source: counters are nil")
	}
	if cfg.PollInterval < 0 || cfg.FlushInterval < 0 {
		return nil, errors.New("file source: negative poll or flush interval")
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if classify == nil {
		classify = func(error) (string, bool) { return ReasonParse, false }
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := options{maxLine: DefaultMaxLine}
	for _, opt := range opts {
		opt(&o)
	}
	if o.reader != nil && cfg.Follow {
		return nil, errors.New("file source: a reader can be imported, not followed")
	}
	if o.maxLine <= 0 || o.maxLine > 16<<20 {
		return nil, fmt.Errorf("file source: max line %d out of range (1..16 MiB)", o.maxLine)
	}
	if o.rotateGrace <= 0 {
		o.rotateGrace = max(time.Second, 2*cfg.PollInterval)
	}
	name := "file:" + cfg.Path
	return &File{
		cfg: cfg, name: name, parser: parser, classify: classify, rejects: rejects,
		counters: counters, offsets: offsets, logger: logger.With("source", name), opts: o,
	}, nil
}

// Name returns "file:<path>", also the key of its saved offset.
func (f *File) Name() string { return f.name }

// Run imports the file (returns nil at its end) or follows it until ctx is
// done (returns nil). It never closes out.
func (f *File) Run(ctx context.Context, out chan<- source.Batch) error {
	if f.cfg.Follow {
		return f.follow(ctx, out)
	}
	return f.importFile(ctx, out)
}

// batch is the pending batch: its events, the accounting of every line it
// covers and the file position after its last line.
type batch struct {
	events   []event.Event
	received uint64
	ignored  uint64
	lines    int // lines covered, including ignored and rejected ones
	rejects  []source.Rejected
	since    time.Time // when the first line of the batch was taken
	inode    uint64
	pos      int64 // byte offset after the last line taken
	line     int64 // 1-based number of the last line taken
}

func (b *batch) empty() bool { return b.lines == 0 }

// take parses one complete line (already stripped of its newline) into the
// pending batch. n is the number of input bytes the line used.
func (f *File) take(b *batch, line []byte, n int, tooLong bool) {
	if b.lines == 0 {
		b.since = time.Now()
	}
	b.lines++
	b.received++
	b.line++
	b.pos += int64(n)
	if tooLong {
		f.reject(b, line, ReasonLineTooLong)
		return
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) == 0 {
		b.ignored++
		return
	}
	if b.events == nil {
		b.events = source.NewEvents()
	}
	k := len(b.events)
	b.events = b.events[:k+1]
	e := &b.events[k]
	e.Reset()
	if err := f.parser.ParseLine(line, e); err != nil {
		b.events = b.events[:k]
		reason, ignored := f.classify(err)
		if ignored {
			b.ignored++
			return
		}
		f.reject(b, line, reason)
		return
	}
	e.Source = f.name
	if e.Sensor == "" {
		e.Sensor = f.cfg.Sensor
	}
}

func (f *File) reject(b *batch, line []byte, reason string) {
	if len(line) > maxRawKept {
		line = line[:maxRawKept]
	}
	b.rejects = append(b.rejects, source.Rejected{
		Time: time.Now().UTC(), Source: f.name, Line: b.line, Reason: reason, Raw: string(line),
	})
}

// full reports whether the pending batch must be sent now.
func (b *batch) full() bool {
	return len(b.events) >= source.BatchSize || b.lines >= maxBatchLines
}

// flush hands the pending batch to the pipeline, blocking until it is taken
// or ctx is done, then applies its counts and keeps its rejected lines.
func (f *File) flush(ctx context.Context, out chan<- source.Batch, b *batch) error {
	if !f.send(ctx.Done(), true, out, b) {
		return ctx.Err()
	}
	return nil
}

// send hands the pending batch over, waiting for done when block is set. It
// reports whether the batch was taken (an empty batch counts as taken).
func (f *File) send(done <-chan struct{}, block bool, out chan<- source.Batch, b *batch) bool {
	if b.empty() {
		return true
	}
	sb := source.Batch{
		Counters: f.counters,
		Offset:   &source.Offset{Key: f.name, Inode: b.inode, Offset: b.pos, Line: b.line},
	}
	if len(b.events) > 0 {
		sb.Events = b.events
	}
	if !source.Send(done, block, out, sb) {
		return false
	}
	if sb.Events != nil {
		b.events = nil
	}
	f.resume, f.hasResume = *sb.Offset, true
	f.counters.AddReceived(b.received)
	if b.ignored > 0 {
		f.counters.AddIgnored(b.ignored)
	}
	for _, r := range b.rejects {
		f.counters.AddRejected(r.Reason, 1)
		f.rejects.Keep(r)
	}
	clear(b.rejects)
	b.rejects = b.rejects[:0]
	b.received, b.ignored, b.lines = 0, 0, 0
	return true
}

// drop forgets the pending batch (ctx ended before it could be sent): none
// of its lines is counted and its offset is not saved, so the next run
// reads them again.
func (b *batch) drop() {
	if b.events != nil {
		source.ReleaseEvents(b.events)
		b.events = nil
	}
	b.rejects = b.rejects[:0]
	b.received, b.ignored, b.lines = 0, 0, 0
}

// permanentOpenError wraps errors no restart can fix.
func permanentOpenError(path string, err error) error {
	err = fmt.Errorf("open %s: %w", path, err)
	if errors.Is(err, os.ErrPermission) {
		return &source.Permanent{Err: fmt.Errorf("%w (run as root or grant read access to the log file)", err)}
	}
	return err
}
