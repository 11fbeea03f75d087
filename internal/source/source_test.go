package source

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCountersBalance(t *testing.T) {
	c := NewCounters("x")
	c.AddReceived(10)
	c.AddStored(5)
	c.AddRejected("bad_src", 2)
	c.AddIgnored(1)
	c.AddLost(LostQueueFull, 2)
	s := c.Snapshot()
	if !s.Balanced() || s.RejectedTotal() != 2 || s.LostTotal() != 2 {
		t.Fatalf("snapshot %+v", s)
	}
	c.AddReceived(1)
	if c.Snapshot().Balanced() {
		t.Fatal("unbalanced counters reported balanced")
	}
	c2 := NewCounters("x")
	c2.Merge(s)
	c2.Merge(s)
	m := c2.Snapshot()
	if m.Received != 20 || m.Rejected["bad_src"] != 4 || m.Lost[LostQueueFull] != 4 || !m.Balanced() {
		t.Fatalf("merged %+v", m)
	}
}

type flaky struct {
	fails atomic.Int32
	runs  atomic.Int32
	err   error
}

func (f *flaky) Name() string { return "flaky" }
func (f *flaky) Run(ctx context.Context, _ chan<- Batch) error {
	f.runs.Add(1)
	if f.fails.Add(-1) >= 0 {
		return f.err
	}
	return nil
}

func TestSuperviseRestartsThenFinishes(t *testing.T) {
	f := &flaky{err: errors.New("boom")}
	f.fails.Store(3)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Now()
	if err := Supervise(context.Background(), f, nil, logger, time.Second); err != nil {
		t.Fatal(err)
	}
	if f.runs.Load() != 4 {
		t.Errorf("runs = %d, want 4", f.runs.Load())
	}
	if d := time.Since(start); d < 700*time.Millisecond { // 100+200+400 ms backoff
		t.Errorf("no backoff: %v", d)
	}
}

func TestSupervisePermanent(t *testing.T) {
	f := &flaky{err: &Permanent{Err: errors.New("no CAP_NET_ADMIN")}}
	f.fails.Store(100)
	err := Supervise(context.Background(), f, nil, slog.New(slog.DiscardHandler), time.Second)
	if err == nil || !strings.Contains(err.Error(), "CAP_NET_ADMIN") || f.runs.Load() != 1 {
		t.Fatalf("err=%v runs=%d", err, f.runs.Load())
	}
}

func TestRejectFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rejected.jsonl")
	w, err := OpenRejectFile(p)
	if err != nil {
		t.Fatal(err)
	}
	w.Keep(Rejected{Source: "file:/x", Line: 7, Reason: "bad_src", Raw: "SRC=999.1.1.1 \"quoted\"\n"})
	w.Keep(Rejected{Source: "kmsg", Reason: "line_too_long", Raw: strings.Repeat("a", 10000)})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"line":7`) || !strings.Contains(lines[0], `\"quoted\"\n`) || len(lines[1]) > 4300 {
		t.Fatalf("rejected file:\n%s", b)
	}
}
