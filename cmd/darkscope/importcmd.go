package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/pipeline"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/web"
)

func newImportCmd(a *app) *cobra.Command {
	var format string
	var noProgress, respond bool
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import log files or captures into the store (format detected)",
		Long: `Import files once, to their end: kernel LOG text (kern.log, syslog, journalctl
short-iso, /dev/kmsg dumps), ulogd2 JSON lines, pcap or pcapng. Gzip files (.gz
rotations) are read directly. Lines that do not parse are counted by reason and kept in
<data>/rejected.jsonl with file and line number; nothing stops the import.

With a daemon running, the daemon reads the files (by absolute path) into its store.

Detection runs over the imported packets with the daemon's detector state, and the
verdicts it stores carry the import's id (origin in scans --json). They never alert and
never block unless --respond (without a running daemon): then the alert channels and
the responder of the configuration act on them as on live traffic.`,
		Example: `  darkscope import /var/log/kern.log /var/log/kern.log.2.gz
  darkscope import --format ulogd /var/log/ulog/ulogd.json
  darkscope import capture.pcapng --json
  darkscope import --respond /var/log/kern.log     # alert and block on what it finds`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "", formatKernlog, formatULOGD, formatPcap:
			default:
				return fmt.Errorf("--format %q: want kernlog, ulogd or pcap (or leave it out to detect)", format)
			}
			ctx := cmd.Context()
			paths := make([]string, len(args))
			for i, p := range args {
				abs, err := filepath.Abs(p)
				if err != nil {
					return err
				}
				if _, err := os.Stat(abs); err != nil {
					return fmt.Errorf("import: %w", err)
				}
				paths[i] = abs
			}
			if c, err := web.Dial(ctx, a.socketPath()); err == nil {
				if respond {
					return errors.New("import --respond needs the daemon stopped: the daemon's alert channels and responder act on live verdicts only (import without --respond, or stop `darkscope run`)")
				}
				for _, p := range paths {
					snaps, err := c.Import(ctx, p, format)
					if err != nil {
						return fmt.Errorf("import %s through the daemon: %w", p, err)
					}
					for _, s := range snaps {
						if err := a.printImport(s, 0); err != nil {
							return err
						}
					}
				}
				return nil
			}
			return a.importDirect(ctx, paths, format, !noProgress && term.IsTerminal(int(os.Stderr.Fd())), respond)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "kernlog, ulogd or pcap (default: detect)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar even on a terminal")
	cmd.Flags().BoolVar(&respond, "respond", false, "let this import's verdicts alert and block (the config's alerts and respond sections)")
	return cmd
}

// importQueueBatches caps the import's queue (source batches of up to
// source.BatchSize events).
const importQueueBatches = 64

// importDirect writes the store itself (no daemon running).
func (a *app) importDirect(ctx context.Context, paths []string, format string, progress, respond bool) error {
	st, reg, rej, err := openWriter(ctx, a)
	if err != nil {
		return err
	}
	defer st.Close()
	defer rej.Close()
	b, err := newBuilder(a, reg, rej, st)
	if err != nil {
		return err
	}
	pcfg := pipeline.Config{
		// File sources wait for room rather than drop, and parsing outruns
		// the store: a short queue decouples them as well as a long one,
		// without holding 150 MB of parsed events.
		QueueBatches: min(a.cfg.Pipeline.QueueBatches, importQueueBatches), FlushInterval: a.cfg.Pipeline.FlushInterval,
		MaxBatch: a.cfg.Pipeline.MaxBatch,
	}
	var eng *detect.Engine
	if a.cfg.Detect.Enabled {
		// The same detector state as the daemon's: the same packets give the
		// same verdicts imported or live.
		eng, err = a.newEngine()
		if err != nil {
			return err
		}
		pcfg.Detect = eng
		defer func() {
			if serr := a.saveEngine(eng); serr != nil {
				a.logger.Error("save detect state", "err", serr)
			}
		}()
	}
	for _, path := range paths {
		// The pipeline closes its sinks when its file is done: each file
		// gets its own alert channels and responder.
		var sinks []pipeline.Secondary
		if respond {
			rs, done, err := a.importResponse(ctx)
			if err != nil {
				return err
			}
			defer done()
			sinks = rs
		}
		p, err := pipeline.New(pcfg, st, sinks, nil, a.logger)
		if err != nil {
			return err
		}
		c := source.NewCounters("import:" + path)
		var bar *progressBar
		var cb func(done, total int64)
		if progress {
			bar = newProgressBar(a, filepath.Base(path), c)
			cb = bar.update
		}
		src, _, err := b.importSource(path, format, c, cb)
		if err != nil {
			return err
		}
		_, untag := tagImport(eng, src, path, a.now())
		start := time.Now()
		res := p.Go(ctx, src)
		perr := p.RunUntilDone(ctx)
		serr := <-res
		untag()
		if bar != nil {
			bar.finish()
		}
		snap := c.Snapshot()
		reg.Get(c.Name()).Merge(snap)
		if err := st.SaveCounters(context.WithoutCancel(ctx), reg.Snapshots()); err != nil {
			a.logger.Warn("save counters", "err", err)
		}
		if err := a.printImport(snap, time.Since(start)); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		if perr != nil {
			return perr
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func (a *app) printImport(s source.Snapshot, took time.Duration) error {
	if a.jsonOut {
		return jsonLine(a.stdout, struct {
			source.Snapshot
			Seconds float64 `json:"seconds,omitempty"`
		}{s, took.Seconds()})
	}
	rate := ""
	if took > 0 {
		rate = fmt.Sprintf(" in %.2fs (%.0f/s)", took.Seconds(), float64(s.Received)/took.Seconds())
	}
	fmt.Fprintf(a.stdout, "%s: received %d, stored %d, rejected %d, ignored %d, lost %d%s\n",
		strings.TrimPrefix(s.Source, "import:"), s.Received, s.Stored, s.RejectedTotal(), s.Ignored, s.LostTotal(), rate)
	if d := detail(s); d != "" {
		fmt.Fprintf(a.stdout, "  %s\n", d)
	}
	return nil
}

// progressBar draws one line on stderr, at most every 200 ms.
type progressBar struct {
	a     *app
	name  string
	c     *source.Counters
	start time.Time
	last  atomic.Int64
}

func newProgressBar(a *app, name string, c *source.Counters) *progressBar {
	return &progressBar{a: a, name: name, c: c, start: time.Now()}
}

func (p *progressBar) update(done, total int64) {
	now := time.Now().UnixNano()
	if now-p.last.Load() < int64(200*time.Millisecond) {
		return
	}
	p.last.Store(now)
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	n := int(frac * width)
	el := time.Since(p.start).Seconds()
	rate := float64(p.c.Snapshot().Received) / max(el, 0.001)
	fmt.Fprintf(p.a.stderr, "\r%-20.20s [%s%s] %5.1f%%  %s/%s  %.0f lines/s ",
		p.name, strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, human(done), human(total), rate)
}

func (p *progressBar) finish() { fmt.Fprint(p.a.stderr, "\r\033[K") }

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprint(n)
}
