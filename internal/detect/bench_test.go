package detect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// benchEvents builds a darknet-like mix: nsrc sources, each probing a few
// ports on a few hosts (raw SYNs, some UDP and ICMP, some IPv6, some
// backscatter), in time order.
func benchEvents(n, nsrc int) []event.Event { return benchEventsEvery(n, nsrc, 50*time.Microsecond) }

// benchEventsEvery is benchEvents with the events step apart in time.
func benchEventsEvery(n, nsrc int, step time.Duration) []event.Event {
	evs := make([]event.Event, n)
	base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for i := range evs {
		e := &evs[i]
		e.Kind = event.KindPacket
		s := uint32(i*2654435761) % uint32(nsrc)
		e.Time = base.Add(time.Duration(i) * step)
		e.IPVersion, e.IHL, e.TTL = 4, 20, 48
		e.Src = netip.AddrFrom4([4]byte{11, byte(s >> 16), byte(s >> 8), byte(s)})
		e.Dst = netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 7)})
		switch i % 10 {
		case 7:
			e.Proto, e.DstPort, e.UDPLen = event.ProtoUDP, uint16(i%50), 8
			e.TotalLen = 28
		case 8:
			e.Proto, e.ICMPType, e.TotalLen = event.ProtoICMP, 8, 28
		case 9:
			if i%20 == 9 {
				e.IPVersion, e.IHL = 6, 40
				e.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, byte(s), 15: byte(i % 4)})
				e.Dst = netip.MustParseAddr("2001:db8:ffff::1")
				e.Proto, e.Flags, e.Window, e.DstPort, e.TotalLen = event.ProtoTCP, event.FlagSYN, 1024, 22, 64
			} else {
				e.Proto, e.Flags, e.SrcPort, e.TotalLen = event.ProtoTCP, event.FlagSYN|event.FlagACK, 443, 44
			}
		default:
			e.Proto, e.Flags, e.Window = event.ProtoTCP, event.FlagSYN, 1024
			e.SrcPort, e.DstPort, e.TotalLen = 40000, uint16(i%1000), 44
			e.SetTCPOptions([]byte(optNmapMSS))
		}
	}
	return evs
}

func benchObserve(b *testing.B, nsrc int, opts ...Option) {
	benchObserveEvents(b, benchEvents(1<<16, nsrc), opts...)
}

func benchObserveEvents(b *testing.B, evs []event.Event, opts ...Option) {
	g, err := New(DefaultConfig(), nil, opts...)
	if err != nil {
		b.Fatal(err)
	}
	emit := func(event.Event) {}
	// Events keep their order; time moves on every round so intervals close.
	shift := evs[len(evs)-1].Time.Sub(evs[0].Time) + time.Millisecond
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		e := &evs[n&(len(evs)-1)]
		if n&(len(evs)-1) == 0 && n > 0 {
			for k := range evs {
				evs[k].Time = evs[k].Time.Add(shift)
			}
		}
		g.Observe(e, emit)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkObserveSparse: the darknet mix at one event per 100 ms, as a
// replayed kern.log with a line or a few per second: report intervals
// close every few hundred events while thousands of sources and
// backscatter victims are held.
func BenchmarkObserveSparse(b *testing.B) {
	benchObserveEvents(b, benchEventsEvery(1<<16, 1_000_000, 100*time.Millisecond))
}

// BenchmarkObserveOnePerSecond: the darknet mix at one event per second
// (bench/'s generated 2M-line kern.log has this rate).
func BenchmarkObserveOnePerSecond(b *testing.B) {
	benchObserveEvents(b, benchEventsEvery(1<<16, 1_000_000, time.Second))
}

// BenchmarkObserve: 10,000 active sources (darknet mix).
func BenchmarkObserve(b *testing.B) { benchObserve(b, 10_000) }

// BenchmarkObserveManySources: 1,000,000 sources, so nearly every event
// creates or finds a cold source.
func BenchmarkObserveManySources(b *testing.B) { benchObserve(b, 1_000_000) }

// BenchmarkClassify: the per-packet classification alone.
func BenchmarkClassify(b *testing.B) {
	evs := benchEvents(1024, 100)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		_ = classify(&evs[n&1023])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
