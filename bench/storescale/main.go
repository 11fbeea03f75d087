// Command storescale measures darkscope's embedded store at scale: it
// appends N synthetic darknet events through store.Append (the same path the
// daemon and import use), then times the reports the issue sets targets for
// (top-10 sources, top-10 ports, hourly histogram: each < 1 s on 100M
// events), on the writer and after a read-only reopen.
//
// Data shape (stated in the output): events spread evenly over -days UTC
// days; sources drawn from -sources distinct IPv4 addresses with a Zipf
// distribution (s=1.1, so a few scanners dominate and a long tail appears
// once or twice); destinations uniform over a /16 darknet; 80% TCP SYNs to
// Zipf-distributed ports out of 2000, 15% UDP, 5% ICMP echo; 3 sensors.
//
//	go run ./bench/storescale -n 10000000 -dir /var/tmp/ds-scale
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/store"
)

func main() {
	n := flag.Int("n", 10_000_000, "events to generate")
	days := flag.Int("days", 30, "UTC days the events span")
	sources := flag.Int("sources", 1_000_000, "distinct source addresses")
	batch := flag.Int("batch", 131072, "events per Append")
	dir := flag.String("dir", "", "data directory (default: a new temporary directory, removed at the end)")
	keep := flag.Bool("keep", false, "keep the data directory")
	mem := flag.String("memory", "2GB", "DuckDB memory_limit")
	threads := flag.Int("threads", 0, "DuckDB threads (0: one per core)")
	reportOnly := flag.Bool("report-only", false, "skip generation: time the reports on an existing -dir")
	debug := flag.Bool("debug", false, "log the store's debug messages (query plans, rollup refreshes)")
	flag.Parse()
	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	if err := run(*n, *days, *sources, *batch, *dir, *keep, *mem, *threads, *reportOnly, level); err != nil {
		fmt.Fprintln(os.Stderr, "storescale:", err)
		os.Exit(1)
	}
}

func run(n, days, nsrc, batchSize int, dir string, keep bool, mem string, threads int, reportOnly bool, level slog.Level) error {
	ctx := context.Background()
	if dir == "" {
		d, err := os.MkdirTemp("", "darkscope-storescale-")
		if err != nil {
			return err
		}
		dir = d
		if !keep {
			defer os.RemoveAll(dir)
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts := store.Options{MemoryLimit: mem, Threads: threads, Logger: logger}
	if !reportOnly {
		fmt.Printf("shape: %d events over %d UTC days, %d distinct IPv4 sources (Zipf s=1.1), /16 darknet, 80%% TCP SYN to 2000 Zipf ports, 15%% UDP, 5%% ICMP, 3 sensors\n", n, days, nsrc)
	}

	if !reportOnly {
		s, err := store.Open(ctx, dir, opts)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := generate(ctx, s, n, days, nsrc, batchSize); err != nil {
			s.Close()
			return err
		}
		appendDur := time.Since(start)
		fmt.Printf("append: %d events in %s = %.0f events/s (batches of %d, incl. rollups of finished days)\n",
			n, appendDur.Round(time.Millisecond), float64(n)/appendDur.Seconds(), batchSize)
		// The running daemon's view: the last day is still being written
		// (raw), the others come from rollups.
		if err := timeReports(ctx, s, "writer"); err != nil {
			s.Close()
			return err
		}
		cstart := time.Now()
		if err := s.Close(); err != nil {
			return err
		}
		fmt.Printf("close (last rollups, all-time rollups, checkpoint): %s\n", time.Since(cstart).Round(time.Millisecond))
	} else {
		// A restarted daemon: open writable (migrations, rollups), append a
		// little to the newest day, answer reports as the writer, close.
		t0 := time.Now()
		s, err := store.Open(ctx, dir, opts)
		if err != nil {
			return err
		}
		st, err := s.Stats(ctx)
		if err != nil {
			s.Close()
			return err
		}
		r := rand.New(rand.NewPCG(1, 1))
		evs := make([]event.Event, 1000)
		for i := range evs {
			evs[i] = event.Event{Time: st.Last.Add(time.Duration(i+1) * time.Microsecond), Sensor: "sensor-a", IPVersion: 4,
				Src: netip.AddrFrom4([4]byte{203, 0, 113, byte(r.IntN(256))}), Dst: netip.AddrFrom4([4]byte{10, 99, 0, 1}), Proto: event.ProtoTCP, DstPort: 23}
		}
		if err := s.Append(ctx, evs, nil); err != nil {
			s.Close()
			return err
		}
		fmt.Printf("writable open + append of 1000 events to the newest day: %s\n", time.Since(t0).Round(time.Millisecond))
		if err := timeReports(ctx, s, "writer"); err != nil {
			s.Close()
			return err
		}
		t0 = time.Now()
		if err := s.Close(); err != nil {
			return err
		}
		fmt.Printf("close: %s\n", time.Since(t0).Round(time.Millisecond))
	}

	s, err := store.Open(ctx, dir, store.Options{ReadOnly: true, MemoryLimit: mem, Threads: threads, Logger: logger})
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("stored: %d events, %d days, %.2f GB on disk (%.1f bytes/event), %s .. %s\n",
		st.Events, st.Days, float64(st.Bytes)/1e9, float64(st.Bytes)/float64(max(st.Events, 1)),
		st.First.Format(time.RFC3339), st.Last.Format(time.RFC3339))

	if err := timeReports(ctx, s, "read-only"); err != nil {
		return err
	}
	fmt.Println("data directory:", filepath.Clean(dir))
	return nil
}

func timeReports(ctx context.Context, s *store.Store, mode string) error {
	st, err := s.Stats(ctx)
	if err != nil {
		return err
	}
	all := store.NoFilter()
	tcp := store.NoFilter()
	tcp.Proto = 6
	last7 := store.NoFilter()
	last7.Since = st.Last.Truncate(24*time.Hour).AddDate(0, 0, -6)
	type job struct {
		name string
		fn   func() (int, error)
	}
	jobs := []job{
		{"top-10 sources", func() (int, error) { r, err := s.Top(ctx, store.Sources, all, 10); return len(r), err }},
		{"top-10 ports", func() (int, error) { r, err := s.Top(ctx, store.Ports, all, 10); return len(r), err }},
		{"hourly histogram", func() (int, error) { r, err := s.Histogram(ctx, time.Hour, all); return len(r), err }},
		{"top-10 destinations", func() (int, error) { r, err := s.Top(ctx, store.Destinations, all, 10); return len(r), err }},
		{"top-10 sources, last 7 days", func() (int, error) { r, err := s.Top(ctx, store.Sources, last7, 10); return len(r), err }},
		{"top-10 sources, proto=tcp (raw scan)", func() (int, error) { r, err := s.Top(ctx, store.Sources, tcp, 10); return len(r), err }},
		{"hourly histogram, proto=tcp (raw scan)", func() (int, error) { r, err := s.Histogram(ctx, time.Hour, tcp); return len(r), err }},
	}
	for _, j := range jobs {
		var times []time.Duration
		rows := 0
		for range 3 {
			t0 := time.Now()
			k, err := j.fn()
			if err != nil {
				return fmt.Errorf("%s: %w", j.name, err)
			}
			times = append(times, time.Since(t0))
			rows = k
		}
		fmt.Printf("%-10s %-40s first %8s  then %8s %8s  (%d rows)\n", mode, j.name+":", times[0].Round(time.Millisecond), times[1].Round(time.Millisecond), times[2].Round(time.Millisecond), rows)
	}
	return nil
}

func generate(ctx context.Context, s *store.Store, n, days, nsrc, batchSize int) error {
	r := rand.New(rand.NewPCG(2026, 11))
	srcZipf := rand.NewZipf(r, 1.1, 1, uint64(nsrc-1))
	portZipf := rand.NewZipf(r, 1.2, 1, 1999)
	// A fixed random permutation so heavy sources are not all 1.0.0.x.
	perm := func(i uint64) uint32 { return uint32(i*2654435761+0x01000000) | 0x01000000 }
	ports := make([]uint16, 2000)
	for i := range ports {
		ports[i] = uint16(r.IntN(65535) + 1)
	}
	ports[0], ports[1], ports[2], ports[3] = 23, 445, 22, 3389
	sensors := []string{"sensor-a", "sensor-b", "sensor-c"}
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	span := time.Duration(days) * 24 * time.Hour
	step := span / time.Duration(n)
	buf := make([]event.Event, 0, batchSize)
	opts := []byte{2, 4, 5, 180, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7}
	next := time.Now()
	for i := range n {
		var e event.Event
		e.Time = start.Add(time.Duration(i)*step + time.Duration(r.Int64N(int64(max(step, 1)))))
		e.Sensor = sensors[i%3]
		e.Source, e.Prefix, e.InIface, e.Group, e.Hook = "nflog:5", "darkscope", "eth0", 5, event.HookPrerouting
		e.IPVersion = 4
		a := perm(srcZipf.Uint64())
		e.Src = netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
		e.Dst = netip.AddrFrom4([4]byte{10, 99, byte(r.IntN(256)), byte(r.IntN(256))})
		e.IHL, e.TTL, e.IPID = 20, uint8(32+r.IntN(200)), r.Uint32()&0xffff
		switch p := r.IntN(100); {
		case p < 80:
			e.Proto, e.TotalLen, e.IPFlags = event.ProtoTCP, 60, event.IPFlagDF
			e.SrcPort, e.DstPort = uint16(1024+r.IntN(64000)), ports[portZipf.Uint64()]
			e.HasSeq, e.Seq, e.Window, e.Flags = true, r.Uint32(), 65535, event.FlagSYN
			e.SetTCPOptions(opts)
		case p < 95:
			e.Proto, e.TotalLen = event.ProtoUDP, 60
			e.SrcPort, e.DstPort = uint16(1024+r.IntN(64000)), ports[portZipf.Uint64()]
			e.UDPLen, e.HasUDPChecksum, e.UDPChecksum = 40, true, uint16(r.Uint32())
			e.SetPayload(opts, 32)
		default:
			e.Proto, e.TotalLen, e.ICMPType, e.ICMPID, e.ICMPSeq = event.ProtoICMP, 84, 8, uint16(r.Uint32()), uint16(i)
		}
		buf = append(buf, e)
		if len(buf) == batchSize || i == n-1 {
			if err := s.Append(ctx, buf, nil); err != nil {
				return err
			}
			buf = buf[:0]
			if time.Now().After(next) {
				fmt.Fprintf(os.Stderr, "\rappended %d/%d", i+1, n)
				next = time.Now().Add(5 * time.Second)
			}
		}
	}
	fmt.Fprintln(os.Stderr)
	return nil
}
