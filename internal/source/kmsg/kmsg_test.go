package kmsg

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var errNotFW = errors.New("not a firewall record")

// stubParser accepts records whose message starts with marker (recording
// the record's sequence number in Event.Seq for the test), rejects those
// starting with "BAD" and ignores the rest.
type stubParser struct{ marker []byte }

func (p stubParser) ParseKmsg(rec []byte, e *event.Event) (uint64, uint64, error) {
	seq, usec, ok := parseHeader(rec)
	if !ok {
		return 0, 0, errors.New("no header")
	}
	msg := rec[bytes.IndexByte(rec, ';')+1:]
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	switch {
	case bytes.HasPrefix(msg, p.marker):
		e.Seq = uint32(seq)
		e.HasSeq = true
		e.Prefix = string(msg)
		return seq, usec, nil
	case bytes.HasPrefix(msg, []byte("BAD")):
		return seq, usec, errors.New("broken firewall record")
	}
	return seq, usec, errNotFW
}

func classify(err error) (string, bool) {
	if errors.Is(err, errNotFW) {
		return "", true
	}
	return "bad_record", false
}

type keeper struct {
	mu sync.Mutex
	rs []source.Rejected
}

func (k *keeper) Keep(r source.Rejected) {
	k.mu.Lock()
	k.rs = append(k.rs, r)
	k.mu.Unlock()
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		in        string
		seq, usec uint64
		ok        bool
	}{
		{"6,339,5140900,-;NET: Registered\n SUBSYSTEM=net\n", 339, 5140900, true},
		{"4,1234,99,c,caller=T42;x", 1234, 99, true},
		{"12,0,0,-;", 0, 0, true},
		{"6,18446744073709551615,1,-;x", 0, 0, false}, // 20 digits
		{"6,,1,-;x", 0, 0, false},
		{"6,1,2;x", 0, 0, false},
		{"6,1,2,-", 0, 0, false},
		{"hello", 0, 0, false},
		{"", 0, 0, false},
		{"6,1a,2,-;x", 0, 0, false},
	}
	for _, tt := range tests {
		seq, usec, ok := parseHeader([]byte(tt.in))
		if seq != tt.seq || usec != tt.usec || ok != tt.ok {
			t.Errorf("parseHeader(%q) = %d, %d, %v; want %d, %d, %v", tt.in, seq, usec, ok, tt.seq, tt.usec, tt.ok)
		}
	}
}

// fakeDevice replays scripted reads: a record, errOverrun or errNoData.
type fakeDevice struct {
	mu    sync.Mutex
	reads []any // string record or error
}

func (d *fakeDevice) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.reads) == 0 {
		return 0, errNoData
	}
	r := d.reads[0]
	d.reads = d.reads[1:]
	if err, ok := r.(error); ok {
		return 0, err
	}
	return copy(p, r.(string)), nil
}

func (d *fakeDevice) Wait(time.Duration) error { time.Sleep(time.Millisecond); return nil }
func (d *fakeDevice) Close() error             { return nil }

func rec(seq, usec int, msg string) string {
	return "4," + strconv.Itoa(seq) + "," + strconv.Itoa(usec) + ",-;" + msg + "\n"
}

func TestRunGapsTimeAndCounters(t *testing.T) {
	dev := &fakeDevice{reads: []any{
		rec(10, 5_000_000, "DS one"),
		rec(11, 5_100_000, "eth0: link up"), // not a firewall record: ignored, no gap
		errOverrun,
		rec(15, 6_000_000, "DS two"), // 12, 13, 14 overwritten
		rec(16, 6_000_001, "BAD SRC="),
		"garbage without header",
		rec(17, 7_000_000, "DS three"),
		rec(20, 7_000_001, "usb 1-1: new device"), // 18, 19 lost
	}}
	wall := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ctr := source.NewCounters("kmsg")
	k := &keeper{}
	src, err := New(Config{Sensor: "s1", FlushInterval: 10 * time.Millisecond}, stubParser{marker: []byte("DS ")}, classify, k, ctr, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.open = func(string, bool) (recordReader, error) { return dev, nil }
	start := time.Now()
	src.now = func() time.Time { return wall.Add(time.Since(start)) }
	src.monotonic = func() (time.Duration, error) { return 100*time.Second + time.Since(start), nil } // booted at wall-100s

	out := make(chan source.Batch) // unbuffered: the source blocks
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, out) }()
	type got struct {
		Seq    uint32
		Time   time.Time
		Uptime time.Duration
		Sensor string
		Source string
	}
	var events []got
	for len(events) < 3 {
		select {
		case b := <-out:
			for _, e := range b.Events {
				events = append(events, got{e.Seq, e.Time, e.Uptime, e.Sensor, e.Source})
			}
			b.Counters.AddStored(uint64(len(b.Events)))
			source.ReleaseEvents(b.Events)
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out; have %v", events)
		}
	}
	// The trailing ignored record may still be pending: let it flush.
	deadline := time.Now().Add(5 * time.Second)
	for ctr.Snapshot().Received < 12 && time.Now().Before(deadline) {
		select {
		case b := <-out:
			b.Counters.AddStored(uint64(len(b.Events)))
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	boot := wall.Add(-100 * time.Second)
	want := []got{
		{10, boot.Add(5 * time.Second), 5 * time.Second, "s1", "kmsg"},
		{15, boot.Add(6 * time.Second), 6 * time.Second, "s1", "kmsg"},
		{17, boot.Add(7 * time.Second), 7 * time.Second, "s1", "kmsg"},
	}
	if diff := cmp.Diff(want, events, cmpopts.EquateApproxTime(time.Millisecond)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	wantCtr := source.Snapshot{
		Source: "kmsg", Received: 12, Stored: 3, Ignored: 2, // 7 records read + 5 skipped
		Rejected: map[string]uint64{"bad_record": 1, ReasonHeader: 1},
		Lost:     map[string]uint64{source.LostKmsgGap: 5},
	}
	gotCtr := ctr.Snapshot()
	if diff := cmp.Diff(wantCtr, gotCtr); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	if !gotCtr.Balanced() {
		t.Errorf("counters do not balance: %+v", gotCtr)
	}
	if len(k.rs) != 2 || k.rs[0].Raw != "4,16,6000001,-;BAD SRC=" || k.rs[1].Reason != ReasonHeader {
		t.Errorf("rejects = %+v", k.rs)
	}
}

// TestShutdownCountsUntakenEventsLost: kmsg cannot be re-read, so events
// pending when ctx ends and the pipeline does not take them are lost, counted.
func TestShutdownCountsUntakenEventsLost(t *testing.T) {
	dev := &fakeDevice{reads: []any{rec(1, 1, "DS a"), rec(2, 2, "DS b"), rec(3, 3, "other")}}
	ctr := source.NewCounters("kmsg")
	src, err := New(Config{Sensor: "s1", FlushInterval: time.Hour}, stubParser{marker: []byte("DS ")}, classify, &keeper{}, ctr, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.open = func(string, bool) (recordReader, error) { return dev, nil }
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, make(chan source.Batch)) }() // nobody reads
	for {
		dev.mu.Lock()
		n := len(dev.reads)
		dev.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	want := source.Snapshot{Source: "kmsg", Received: 3, Ignored: 1, Rejected: map[string]uint64{},
		Lost: map[string]uint64{source.LostQueueFull: 2}}
	if diff := cmp.Diff(want, ctr.Snapshot()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestNewValidates(t *testing.T) {
	ctr := source.NewCounters("kmsg")
	if _, err := New(Config{}, nil, nil, &keeper{}, ctr, nil); err == nil {
		t.Error("nil parser accepted")
	}
	if _, err := New(Config{}, stubParser{}, nil, &keeper{}, nil, nil); err == nil {
		t.Error("nil counters accepted")
	}
	k, err := New(Config{}, stubParser{}, nil, &keeper{}, ctr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name() != "kmsg" || k.cfg.Path != DefaultPath || k.cfg.Sensor == "" {
		t.Errorf("defaults not applied: %+v", k.cfg)
	}
}

// TestRestartResumesAfterLastSeq: after a failed run, the next one reads
// the ring from its start and skips what the failed run already read.
func TestRestartResumesAfterLastSeq(t *testing.T) {
	ctr := source.NewCounters("kmsg")
	src, err := New(Config{Sensor: "s1", FlushInterval: time.Millisecond}, stubParser{marker: []byte("DS ")}, classify, &keeper{}, ctr, nil)
	if err != nil {
		t.Fatal(err)
	}
	devs := []*fakeDevice{
		{reads: []any{rec(1, 1, "DS a"), rec(2, 2, "DS b"), errors.New("EIO")}},
		{reads: []any{rec(1, 1, "DS a"), rec(2, 2, "DS b"), rec(5, 5, "DS c")}}, // 3, 4 gone meanwhile
	}
	var fromStart []bool
	src.open = func(_ string, fs bool) (recordReader, error) {
		fromStart = append(fromStart, fs)
		d := devs[0]
		devs = devs[1:]
		return d, nil
	}
	out := make(chan source.Batch, 16)
	if err := src.Run(context.Background(), out); err == nil {
		t.Fatal("first run: want the read error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, out) }()
	var seqs []uint32
	for len(seqs) < 3 {
		select {
		case b := <-out:
			for _, e := range b.Events {
				seqs = append(seqs, e.Seq)
			}
			b.Counters.AddStored(uint64(len(b.Events)))
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out, have %v", seqs)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint32{1, 2, 5}, seqs); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{false, true}, fromStart); diff != "" {
		t.Errorf("fromStart per run (-want +got):\n%s", diff)
	}
	want := source.Snapshot{Source: "kmsg", Received: 5, Stored: 3, Rejected: map[string]uint64{},
		Lost: map[string]uint64{source.LostKmsgGap: 2}}
	if diff := cmp.Diff(want, ctr.Snapshot()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}
