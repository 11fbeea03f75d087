package alert

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/darkscope/darkscope/internal/event"
)

type discard struct{}

func (discard) Send(context.Context, *Message) error { return nil }
func (discard) Close() error                         { return nil }

// BenchmarkWrite measures Sink.Write on 64k-event batches where one event
// in a thousand is an alert (distinct sources, so dedup passes them), with
// two channels: one without limits and one with dedup and a rate limit.
func BenchmarkWrite(b *testing.B) {
	for _, every := range []int{1000, 0} {
		name := "alerts=0.1%"
		if every == 0 {
			name = "alerts=0"
		}
		b.Run(name, func(b *testing.B) {
			const n = 65536
			batch := make([]event.Event, n)
			for i := range batch {
				batch[i] = event.Event{Kind: event.KindPacket, Src: netip.AddrFrom4([4]byte{10, 99, byte(i >> 8), byte(i)}), Proto: event.ProtoTCP, DstPort: uint16(i)}
				if every > 0 && i%every == 0 {
					batch[i] = scanAlert(fmt.Sprintf("10.98.%d.%d", i>>8&255, i&255), 3)
				}
			}
			s, err := New(Config{QueueSize: 1 << 16}, nil,
				WithDeliverer(ChannelConfig{Name: "plain"}, discard{}),
				WithDeliverer(ChannelConfig{Name: "limited", RatePerMinute: 60, DedupWindow: 60e9}, discard{}))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			b.ReportAllocs()
			events := 0
			for b.Loop() {
				if err := s.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
				events += n
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
