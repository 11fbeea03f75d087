package main

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/event"
)

// TestCheckpointEngine runs the periodic checkpoint and reads the state
// file as a restarted daemon would after kill -9: every checkpoint holds
// the counts observed before it, and no temp file is left behind.
func TestCheckpointEngine(t *testing.T) {
	dir := t.TempDir()
	a := &app{logger: slog.New(slog.DiscardHandler), now: time.Now}
	a.cfg.DataDir = dir
	eng, err := detect.New(detect.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("198.51.100.7")
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	observe := func(from, to int) {
		for p := from; p < to; p++ {
			e := event.Event{Kind: event.KindPacket, Time: t0.Add(time.Duration(p) * time.Millisecond), IPVersion: 4,
				Src: src, Dst: netip.MustParseAddr("192.0.2.1"), Proto: event.ProtoTCP, SrcPort: 40000, DstPort: uint16(p),
				Flags: event.FlagSYN, Window: 1024, TTL: 50, IHL: 20, TotalLen: 44}
			e.SetTCPOptions([]byte{2, 4, 5, 0xb4})
			eng.Observe(&e, func(event.Event) {})
		}
	}
	// saved returns the packets of src in the state file (0 if none yet).
	saved := func() uint64 {
		f, err := os.Open(a.detectStatePath())
		if err != nil {
			return 0
		}
		defer f.Close()
		g, _ := detect.New(detect.DefaultConfig(), nil)
		if err := g.Load(f); err != nil {
			t.Fatalf("a checkpoint is not a complete state: %v", err)
		}
		v, _ := g.Verdict(src)
		return v.Packets
	}
	waitFor := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for saved() != n {
			if time.Now().After(deadline) {
				t.Fatalf("checkpoint holds %d packets, want %d", saved(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	observe(1, 21)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.checkpointEngine(ctx, eng, 30*time.Millisecond) }()
	waitFor(20)
	observe(21, 31)
	waitFor(30)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".detect-*"))
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(left) != 0 || strings.Join(names, ",") != "detect.state" {
		t.Errorf("data directory holds %v, want only detect.state", names)
	}
}
