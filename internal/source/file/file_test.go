package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/google/go-cmp/cmp"
)

// fakeParser accepts "FW <n>" (event with Seq n), rejects "BAD ..." and
// ignores everything else, like the kernel LOG parser does with firewall,
// broken firewall and other kernel lines.
type fakeParser struct{}

var (
	errNotFW = errors.New("not a firewall line")
	errBad   = errors.New("bad firewall line")
)

func (fakeParser) ParseLine(line []byte, e *event.Event) error {
	switch {
	case bytes.HasPrefix(line, []byte("FW ")):
		n, err := strconv.ParseUint(string(line[3:]), 10, 32)
		if err != nil {
			return errBad
		}
		e.Seq = uint32(n)
		e.HasSeq = true
		return nil
	case bytes.HasPrefix(line, []byte("BAD")):
		return errBad
	}
	return errNotFW
}

func classify(err error) (string, bool) {
	if errors.Is(err, errNotFW) {
		return "", true
	}
	return "bad_line", false
}

// keeper records rejected lines.
type keeper struct {
	mu sync.Mutex
	rs []source.Rejected
}

func (k *keeper) Keep(r source.Rejected) {
	k.mu.Lock()
	k.rs = append(k.rs, r)
	k.mu.Unlock()
}

func (k *keeper) lines() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, r := range k.rs {
		out = append(out, fmt.Sprintf("%d %s %s", r.Line, r.Reason, r.Raw))
	}
	return out
}

// offsets is an in-memory offset store fed by the collector, like the
// store saving Batch.Offset with the batch's events.
type offsets struct {
	mu sync.Mutex
	m  map[string]source.Offset
}

func (o *offsets) Offset(_ context.Context, key string) (source.Offset, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	off, ok := o.m[key]
	return off, ok, nil
}

func (o *offsets) save(off source.Offset) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]source.Offset{}
	}
	o.m[off.Key] = off
}

// collector plays the pipeline and store: it takes batches from an
// unbuffered channel (so the source blocks on every send), records the
// events' sequence numbers, counts them stored and saves the offsets.
type collector struct {
	out     chan source.Batch
	offsets *offsets
	delay   time.Duration
	gate    sync.Mutex // held by a test to stop taking batches

	mu      sync.Mutex
	seqs    []uint32
	batches []source.Batch // events cleared
	done    chan struct{}
}

func newCollector(o *offsets, delay time.Duration) *collector {
	c := &collector{out: make(chan source.Batch), offsets: o, delay: delay, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			c.gate.Lock()
			c.gate.Unlock()
			b, ok := <-c.out
			if !ok {
				return
			}
			if c.delay > 0 {
				time.Sleep(c.delay)
			}
			c.mu.Lock()
			for i := range b.Events {
				e := &b.Events[i]
				if !e.HasSeq || !strings.HasPrefix(e.Source, "file:") || e.Sensor != "s1" {
					panic(fmt.Sprintf("event not filled in: %+v", e.Source))
				}
				c.seqs = append(c.seqs, e.Seq)
			}
			b.Counters.AddStored(uint64(len(b.Events)))
			if b.Offset != nil && c.offsets != nil {
				c.offsets.save(*b.Offset)
			}
			n := len(b.Events)
			source.ReleaseEvents(b.Events)
			b.Events = make([]event.Event, n) // keep the count only
			c.batches = append(c.batches, b)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) close() { close(c.out); <-c.done }

func (c *collector) got() []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint32(nil), c.seqs...)
}

// waitFor polls until the collector holds n events or 5 s passed.
func (c *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if len(c.got()) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %d events, have %d: %v", n, len(c.got()), c.got())
}

func seqRange(from, to int) []uint32 {
	var s []uint32
	for i := from; i <= to; i++ {
		s = append(s, uint32(i))
	}
	return s
}

func fwLines(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "FW %d\n", i)
	}
	return b.String()
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

func checkBalance(t *testing.T, c *source.Counters, want source.Snapshot) {
	t.Helper()
	got := c.Snapshot()
	want.Source = c.Name()
	if want.Rejected == nil {
		want.Rejected = map[string]uint64{}
	}
	if want.Lost == nil {
		want.Lost = map[string]uint64{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	if !got.Balanced() {
		t.Errorf("counters do not balance: %+v", got)
	}
}

const mixed = "kernel: eth0 link up\n" + // 1 ignored
	"FW 1\n" + // 2
	"BAD SRC=\n" + // 3 rejected
	"\n" + // 4 empty: ignored
	"FW 2\r\n" + // 5 CRLF
	"FW x\n" + // 6 rejected (bad number)
	"FW 3" // 7, no final newline

func runImport(t *testing.T, path string, opts ...Option) (*collector, *source.Counters, *keeper) {
	t.Helper()
	ctr := source.NewCounters("file:" + path)
	k := &keeper{}
	f, err := New(Config{Path: path, Sensor: "s1"}, fakeParser{}, classify, k, ctr, nil, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(&offsets{}, 0)
	// Background: its Done channel is nil, and sends must still block.
	if err := f.Run(context.Background(), c.out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	c.close()
	return c, ctr, k
}

func TestImportPlainAndGzip(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "kern.log")
	if err := os.WriteFile(plain, []byte(mixed), 0o644); err != nil {
		t.Fatal(err)
	}
	// gzip detected by content, not name; two members as `cat a.gz b.gz` makes.
	var gzbuf bytes.Buffer
	for _, part := range []string{mixed[:30], mixed[30:]} {
		zw := gzip.NewWriter(&gzbuf)
		zw.Write([]byte(part))
		zw.Close()
	}
	zipped := filepath.Join(dir, "kern.log.1")
	if err := os.WriteFile(zipped, gzbuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{plain, zipped} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var lastDone, lastTotal int64
			c, ctr, k := runImport(t, path, WithProgress(func(done, total int64) { lastDone, lastTotal = done, total }))
			if diff := cmp.Diff([]uint32{1, 2, 3}, c.got()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			checkBalance(t, ctr, source.Snapshot{Received: 7, Stored: 3, Ignored: 2, Rejected: map[string]uint64{"bad_line": 2}})
			if diff := cmp.Diff([]string{"3 bad_line BAD SRC=", "6 bad_line FW x"}, k.lines()); diff != "" {
				t.Errorf("rejects (-want +got):\n%s", diff)
			}
			last := c.batches[len(c.batches)-1].Offset
			fi, _ := os.Stat(path)
			want := source.Offset{Key: "file:" + path, Inode: inodeOf(fi), Offset: int64(len(mixed)), Line: 7}
			if diff := cmp.Diff(want, *last); diff != "" {
				t.Errorf("final offset (-want +got):\n%s", diff)
			}
			if lastDone != fi.Size() || lastTotal != fi.Size() {
				t.Errorf("progress ended at %d/%d, want %d/%d", lastDone, lastTotal, fi.Size(), fi.Size())
			}
		})
	}
}

func TestImportLineTooLong(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.log")
	long := strings.Repeat("A", 1000)
	exact := "FW " + strings.Repeat("0", 97) + "1" // 101 bytes: over a 100-byte cap
	ok := "FW " + strings.Repeat("0", 96) + "2"    // exactly 100 bytes
	content := "FW 1\n" + long + "\n" + ok + "\n" + exact + "\nFW 3\n" + long
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c, ctr, k := runImport(t, path, WithMaxLine(100))
	if diff := cmp.Diff([]uint32{1, 2, 3}, c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	checkBalance(t, ctr, source.Snapshot{Received: 6, Stored: 3, Rejected: map[string]uint64{ReasonLineTooLong: 3}})
	got := k.lines()
	if len(got) != 3 {
		t.Fatalf("rejects = %q", got)
	}
	for i, line := range []int{2, 4, 6} {
		if !strings.HasPrefix(got[i], fmt.Sprintf("%d %s ", line, ReasonLineTooLong)) {
			t.Errorf("reject %d = %.40q, want line %d too long", i, got[i], line)
		}
	}
	if off := c.batches[len(c.batches)-1].Offset; off.Offset != int64(len(content)) || off.Line != 6 {
		t.Errorf("final offset %+v, want %d bytes, line 6", off, len(content))
	}
}

// TestLineReaderLongLineAcrossReads drives the splitter with a line far
// longer than its buffer, fed in small reads.
func TestLineReaderLongLineAcrossReads(t *testing.T) {
	long := strings.Repeat("x", 3*readBufSize+17)
	input := "a\n" + long + "\nb\n"
	lr := newLineReader(&slowReader{s: input, n: 4093}, 100)
	var got []string
	total := 0
	for {
		n, err := lr.fill()
		for {
			line, used, tooLong, ok := lr.next()
			if !ok {
				break
			}
			total += used
			got = append(got, fmt.Sprintf("%v:%d:%.3s", tooLong, used, line))
		}
		if n == 0 && err != nil {
			break
		}
	}
	want := []string{"false:2:a", fmt.Sprintf("true:%d:xxx", len(long)+1), "false:2:b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if total != len(input) {
		t.Errorf("bytes accounted %d, want %d", total, len(input))
	}
}

type slowReader struct {
	s string
	n int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.s) == 0 {
		return 0, errors.New("EOF")
	}
	n := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[n:]
	return n, nil
}

func TestImportBatchesAndBlocking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.log")
	const n = 3*source.BatchSize + 100
	var b strings.Builder
	ends := map[int64]int64{} // line number -> byte offset after it
	line := int64(0)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "FW %d\n", i)
		line++
		ends[line] = int64(b.Len())
		if i%500 == 0 { // ignored lines between, so lines != events
			b.WriteString("other kernel line\n")
			line++
			ends[line] = int64(b.Len())
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctr := source.NewCounters("file:" + path)
	f, err := New(Config{Path: path, Sensor: "s1"}, fakeParser{}, classify, &keeper{}, ctr, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(nil, time.Millisecond) // slow consumer, unbuffered channel
	if err := f.Run(t.Context(), c.out); err != nil {
		t.Fatal(err)
	}
	c.close()
	if diff := cmp.Diff(seqRange(1, n), c.got()); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	var prev int64
	for i, bt := range c.batches {
		if len(bt.Events) > source.BatchSize {
			t.Errorf("batch %d has %d events", i, len(bt.Events))
		}
		if bt.Offset.Offset <= prev || ends[bt.Offset.Line] != bt.Offset.Offset {
			t.Errorf("batch %d offset %+v: want the byte offset after line %d (%d), increasing", i, bt.Offset, bt.Offset.Line, ends[bt.Offset.Line])
		}
		prev = bt.Offset.Offset
	}
	ignored := uint64(n / 500)
	checkBalance(t, ctr, source.Snapshot{Received: n + ignored, Stored: n, Ignored: ignored})
}

func TestNewValidates(t *testing.T) {
	ctr := source.NewCounters("x")
	if _, err := New(Config{}, fakeParser{}, nil, &keeper{}, ctr, nil, nil); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := New(Config{Path: "x"}, nil, nil, &keeper{}, ctr, nil, nil); err == nil {
		t.Error("nil parser accepted")
	}
	if _, err := New(Config{Path: "x"}, fakeParser{}, nil, &keeper{}, nil, nil, nil); err == nil {
		t.Error("nil counters accepted")
	}
	if _, err := New(Config{Path: "x"}, fakeParser{}, nil, &keeper{}, ctr, nil, nil, WithMaxLine(-1)); err == nil {
		t.Error("negative max line accepted")
	}
	f, err := New(Config{Path: "/var/log/kern.log"}, fakeParser{}, nil, &keeper{}, ctr, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "file:/var/log/kern.log" {
		t.Errorf("Name = %q", f.Name())
	}
}

func TestImportMissingIsPermanent(t *testing.T) {
	f, err := New(Config{Path: filepath.Join(t.TempDir(), "nope")}, fakeParser{}, nil, &keeper{}, source.NewCounters("x"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Run(t.Context(), make(chan source.Batch))
	var perm *source.Permanent
	if !errors.As(err, &perm) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Run = %v, want a permanent not-exist error", err)
	}
}

func TestImportCorruptGzip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.gz")
	var gzbuf bytes.Buffer
	zw := gzip.NewWriter(&gzbuf)
	zw.Write([]byte(fwLines(1, 5000)))
	zw.Close()
	if err := os.WriteFile(path, gzbuf.Bytes()[:gzbuf.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	ctr := source.NewCounters("x")
	f, err := New(Config{Path: path, Sensor: "s1"}, fakeParser{}, classify, &keeper{}, ctr, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(nil, 0)
	err = f.Run(t.Context(), c.out)
	c.close()
	var perm *source.Permanent
	if !errors.As(err, &perm) {
		t.Fatalf("Run = %v, want a permanent error (a restart would import twice)", err)
	}
	got := c.got()
	if len(got) == 0 || cmp.Diff(seqRange(1, len(got)), got) != "" {
		t.Errorf("events before the corruption: %d, not 1..n in order", len(got))
	}
	s := ctr.Snapshot()
	if s.Received != uint64(len(got)) || s.Stored != uint64(len(got)) {
		t.Errorf("counters %+v for %d events", s, len(got))
	}
}

// TestImportFromPipe: a non-seekable reader (standard input), gzip inside.
func TestImportFromPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		zw := gzip.NewWriter(pw)
		zw.Write([]byte(mixed))
		zw.Close()
		pw.Close()
	}()
	defer pr.Close()
	ctr := source.NewCounters("file:-")
	k := &keeper{}
	f, err := New(Config{Path: "-", Sensor: "s1"}, fakeParser{}, classify, k, ctr, nil, nil, WithReader(pr))
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(nil, 0)
	if err := f.Run(t.Context(), c.out); err != nil {
		t.Fatal(err)
	}
	c.close()
	if diff := cmp.Diff([]uint32{1, 2, 3}, c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	checkBalance(t, ctr, source.Snapshot{Received: 7, Stored: 3, Ignored: 2, Rejected: map[string]uint64{"bad_line": 2}})
	if _, err := New(Config{Path: "-", Follow: true}, fakeParser{}, nil, k, ctr, nil, nil, WithReader(pr)); err == nil {
		t.Error("following a reader accepted")
	}
}
