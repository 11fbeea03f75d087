package kmsg

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// genDevice produces n kernel LOG records with consecutive sequence numbers,
// then reports no data.
type genDevice struct {
	seq, n uint64
	tail   []byte
}

func (d *genDevice) Read(p []byte) (int, error) {
	if d.n == 0 {
		return 0, errNoData
	}
	d.n--
	d.seq++
	b := p[:0]
	b = append(b, "4,"...)
	b = strconv.AppendUint(b, d.seq, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, 1000000+d.seq, 10)
	b = append(b, ",-;"...)
	b = append(b, d.tail...)
	return len(b), nil
}

func (d *genDevice) Wait(time.Duration) error { time.Sleep(time.Millisecond); return nil }
func (d *genDevice) Close() error             { return nil }

type trivialParser struct{}

func (trivialParser) ParseKmsg(rec []byte, e *event.Event) (uint64, uint64, error) {
	e.TotalLen = uint16(len(rec))
	return 0, 0, nil
}

// BenchmarkKmsgRecords measures the source's own path per record (header,
// gap check, time, batching, send) with a trivial parser.
func BenchmarkKmsgRecords(b *testing.B) {
	const n = 200_000
	b.ReportAllocs()
	var total uint64
	for b.Loop() {
		ctr := source.NewCounters("kmsg")
		src, err := New(Config{Sensor: "s1", FlushInterval: time.Millisecond}, trivialParser{}, nil, source.DiscardRejects{}, ctr, nil)
		if err != nil {
			b.Fatal(err)
		}
		dev := &genDevice{n: n, tail: []byte("DARK IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=198.51.100.7 DST=10.0.0.1 LEN=44 TOS=0x00 PREC=0x00 TTL=50 ID=1 PROTO=TCP SPT=40000 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0\n")}
		src.open = func(string, bool) (recordReader, error) { return dev, nil }
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan source.Batch, 4)
		errc := make(chan error, 1)
		go func() { errc <- src.Run(ctx, out) }()
		var got uint64
		for got < n {
			bt := <-out
			got += uint64(len(bt.Events))
			source.ReleaseEvents(bt.Events)
		}
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		total += got
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
}
