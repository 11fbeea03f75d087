package store

import (
	"context"
	"math/rand/v2"
	"strconv"
	"syscall"
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

// BenchmarkAppendAuth measures the append path with honeypot attempts
// (every event carries an Auth payload, so the payload columns are written).
func BenchmarkAppendAuth(b *testing.B) {
	const size = 16384
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{MemoryLimit: "1GB"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	batch := make([]event.Event, size)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			e := benchEvent(r, base.Add(time.Duration(n+i)*time.Microsecond), 1000)
			e.Kind, e.DstPort = event.KindAuth, 22
			e.Auth = &event.Auth{Kind: event.AuthPassword, Session: uint64(i / 6), Attempt: uint16(i%6 + 1), Try: uint16(i%6 + 1),
				User: "root", UserLen: 4, Secret: "pass" + strconv.Itoa(i%500), SecretLen: 7, ClientVersion: "SSH-2.0-libssh_0.9.6",
				HASSH: "92674389fa1e47a27ddd8d9b63ecd42b", Client: event.KexLists{Kex: "curve25519-sha256,ecdh-sha2-nistp256,", EncC2S: "aes128-ctr", MACC2S: "hmac-sha2-256", CompC2S: "none"}}
			batch[i] = e
		}
		b.StartTimer()
		if err := s.Append(ctx, batch, nil); err != nil {
			b.Fatal(err)
		}
		n += size
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendDays measures the append path with the shape of a
// month-long import (bench/import.sh): 65536-event batches from 1M sources,
// ~72k events per UTC day, so writing moves to a new day file (attach,
// rollup refresh, checkpoint) about once per batch.
func BenchmarkAppendDays(b *testing.B) {
	for _, size := range []int{65536, 262144} {
		b.Run("batch="+strconv.Itoa(size), func(b *testing.B) { benchAppendDays(b, size) })
	}
}

func benchAppendDays(b *testing.B, size int) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{MemoryLimit: "1GB", Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	step := 24 * time.Hour / 72000
	batch := make([]event.Event, size)
	off := []source.Offset{{Key: "file:/bench"}}
	n := 0
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			batch[i] = benchEvent(r, base.Add(time.Duration(n+i)*step), 1000000)
		}
		c0 := cpuTime(b)
		b.StartTimer()
		off[0].Offset += int64(size)
		if err := s.Append(ctx, batch, off); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime(b) - c0
		b.StartTimer()
		n += size
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	// CPU time is what a shared machine does not distort much: the
	// process's user+system time (every DuckDB and Go thread) per event.
	b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDuckDBInsertColumns is DuckDB copying the same stored rows into
// a table with all 64 version-2 event columns (decoded from a packed day)
// and into one with the packed layout (22 columns: the typed ones reports
// use, rare, payload_ref), checkpoint included: the ceiling of each layout.
func BenchmarkDuckDBInsertColumns(b *testing.B) {
	for _, v := range []struct{ name, setup, ddl, ins string }{
		{"columns=64", "CREATE TABLE memory.main.wide AS SELECT * FROM " + decodeSelectFrom("d20261123.events"),
			"CREATE OR REPLACE TABLE d20261124.t AS SELECT * FROM memory.main.wide LIMIT 0", "INSERT INTO d20261124.t SELECT * FROM memory.main.wide"},
		{"columns=22", "SELECT 1",
			"CREATE OR REPLACE TABLE d20261124.t AS SELECT * FROM d20261123.events LIMIT 0", "INSERT INTO d20261124.t SELECT * FROM d20261123.events"},
		// The same without the rare BLOB's bytes: what the BLOB itself costs.
		{"columns=22/rare=NULL", "SELECT 1",
			"CREATE OR REPLACE TABLE d20261124.t AS SELECT * FROM d20261123.events LIMIT 0", "INSERT INTO d20261124.t SELECT * REPLACE (NULL::BLOB AS rare) FROM d20261123.events"},
	} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, b.TempDir(), Options{MemoryLimit: "1GB", Threads: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := rand.New(rand.NewPCG(1, 2))
			base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
			const size = 131072
			batch := make([]event.Event, size)
			for i := range batch {
				batch[i] = benchEvent(r, base.Add(time.Duration(i)*time.Microsecond), 1000000)
			}
			batch = append(batch, benchEvent(r, base.Add(24*time.Hour), 10))
			if err := s.Append(ctx, batch, nil); err != nil {
				b.Fatal(err)
			}
			if _, err := s.db.ExecContext(ctx, v.setup); err != nil {
				b.Fatal(err)
			}
			n := 0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				if _, err := s.db.ExecContext(ctx, v.ddl); err != nil {
					b.Fatal(err)
				}
				c0 := cpuTime(b)
				b.StartTimer()
				for _, q := range []string{v.ins, "CHECKPOINT d20261124"} {
					if _, err := s.db.ExecContext(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				cpu += cpuTime(b) - c0
				b.StartTimer()
				n += size
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(n)/cpu.Seconds(), "rows/cpu-s")
		})
	}
}
