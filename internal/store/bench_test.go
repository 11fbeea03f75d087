package store

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// BenchmarkAppend measures the columnar append path end to end (commit
// included) with typical SYN events, per batch size.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1024, 16384, 131072} {
		b.Run("batch="+strconv.Itoa(size), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, b.TempDir(), Options{MemoryLimit: "1GB"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := rand.New(rand.NewPCG(1, 2))
			base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
			batch := make([]event.Event, size)
			off := []source.Offset{{Key: "file:/bench"}}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				for i := range batch {
					batch[i] = benchEvent(r, base.Add(time.Duration(n+i)*time.Microsecond), 100000)
				}
				b.StartTimer()
				off[0].Offset += int64(size)
				if err := s.Append(ctx, batch, off); err != nil {
					b.Fatal(err)
				}
				n += size
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDuckDBInsertFloor is the reference for BenchmarkAppend: DuckDB
// copying already-stored events from one day file into another (no Go in
// the loop), i.e. the cost of writing the 64 typed columns themselves.
func BenchmarkDuckDBInsertFloor(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{MemoryLimit: "1GB"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	const size = 131072
	batch := make([]event.Event, size)
	for i := range batch {
		batch[i] = benchEvent(r, base.Add(time.Duration(i)*time.Microsecond), 100000)
	}
	if err := s.Append(ctx, batch, nil); err != nil {
		b.Fatal(err)
	}
	// A second day file to copy into.
	if err := s.Append(ctx, []event.Event{benchEvent(r, base.Add(24*time.Hour), 10)}, nil); err != nil {
		b.Fatal(err)
	}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.db.ExecContext(ctx, "INSERT INTO d20261124.events SELECT * FROM d20261123.events"); err != nil {
			b.Fatal(err)
		}
		n += size
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
