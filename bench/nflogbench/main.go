// Command nflogbench is the reader side of bench/nflog.sh: it runs
// darkscope's NFLOG source on one group (optionally inside a network
// namespace) with a sink that only counts, until SIGINT/SIGTERM or -duration,
// then prints one JSON line with the source's counters and the process's
// CPU time, so the script can report events per CPU-second.
//
// With -send HOST:PORT it is the traffic generator instead: a rate-limited
// UDP sender (token bucket, sendmmsg batches) bounded by -count and
// -duration, which prints one JSON line with what it sent. bench/nflog.sh
// OVERLOAD=1 runs it in the attacker namespace to offer a known rate.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/source/nflog"
)

type result struct {
	source.Snapshot
	Overruns   uint64  `json:"enobufs"`
	Seconds    float64 `json:"seconds"`
	UserCPU    float64 `json:"user_cpu_s"`
	SystemCPU  float64 `json:"system_cpu_s"`
	MaxRSSKiB  int64   `json:"max_rss_kib"`
	EventsPerS float64 `json:"events_per_cpu_s"`
}

func main() {
	group := flag.Uint("group", 0, "NFLOG group")
	netns := flag.String("netns", "", "network namespace path (e.g. /var/run/netns/NAME); empty = current")
	duration := flag.Duration("duration", time.Hour, "stop after this long")
	copyRange := flag.Uint("copy-range", 0, "bytes copied per packet (0 = default)")
	threshold := flag.Uint("threshold", 0, "kernel queue threshold (0 = default)")
	rcvbuf := flag.Int("rcvbuf", 0, "socket receive buffer bytes (0 = default)")
	ready := flag.String("ready", "", "file to create once the group is bound")
	sendTo := flag.String("send", "", "generator mode: send UDP datagrams to this IPv4 HOST:PORT")
	rate := flag.Float64("rate", 0, "generator: datagrams per second (0 = as fast as possible)")
	count := flag.Uint64("count", 1_000_000, "generator: datagrams at most")
	flag.Parse()
	if *sendTo != "" {
		if err := generate(*sendTo, *rate, *count, *duration); err != nil {
			fmt.Fprintln(os.Stderr, "nflogbench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(uint16(*group), *netns, *duration, uint32(*copyRange), uint32(*threshold), *rcvbuf, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "nflogbench:", err)
		os.Exit(1)
	}
}

func run(group uint16, netns string, d time.Duration, copyRange, threshold uint32, rcvbuf int, ready string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := nflog.Config{Group: group, CopyRange: copyRange, Threshold: threshold, RcvBuf: rcvbuf, Sensor: "bench"}
	if netns != "" {
		f, err := os.Open(netns)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	counters := source.NewCounters(fmt.Sprintf("nflog:%d", group))
	src, err := nflog.New(cfg, counters, logger)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	out := make(chan source.Batch, 256)
	done := make(chan struct{})
	go func() { // the "store": count and recycle
		for b := range out {
			b.Counters.AddStored(uint64(len(b.Events)))
			source.ReleaseEvents(b.Events)
		}
		close(done)
	}()
	if ready != "" {
		go func() {
			// Run binds within milliseconds; the script also checks
			// /proc/net/netfilter/nfnetlink_log.
			time.Sleep(300 * time.Millisecond)
			_ = os.WriteFile(ready, nil, 0o644)
		}()
	}
	start := time.Now()
	err = src.Run(ctx, out)
	close(out)
	<-done
	if err != nil {
		return err
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	r := result{
		Snapshot:  counters.Snapshot(),
		Overruns:  src.Overruns(),
		Seconds:   time.Since(start).Seconds(),
		UserCPU:   time.Duration(ru.Utime.Nano()).Seconds(),
		SystemCPU: time.Duration(ru.Stime.Nano()).Seconds(),
		MaxRSSKiB: ru.Maxrss,
	}
	if cpu := r.UserCPU + r.SystemCPU; cpu > 0 {
		r.EventsPerS = float64(r.Stored) / cpu
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
