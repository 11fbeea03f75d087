package respond

import (
	"net/netip"
	"testing"

	"github.com/darkscope/darkscope/internal/event"
)

// BenchmarkWrite: a batch of 1024 events, 1 in 16 an alert below the
// block level (the common case: most verdicts ask for no action).
func BenchmarkWrite(b *testing.B) {
	h := newHarness(b)
	cfg := DefaultConfig()
	cfg.Block.Enabled = true
	r, err := New(cfg, h.sets, h.state, nil, WithLocalDiscovery(func() ([]netip.Prefix, error) { return nil, nil }))
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]event.Event, 1024)
	for i := range batch {
		batch[i].Kind = event.KindPacket
		if i%16 == 0 {
			batch[i] = event.Event{Kind: event.KindAlert, Alert: alert("203.0.113.1", 2)}
		}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := r.Write(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
		n += len(batch)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
