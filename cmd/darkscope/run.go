package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/darkscope/darkscope/internal/alert"
	"github.com/darkscope/darkscope/internal/config"
	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/pipeline"
	"github.com/darkscope/darkscope/internal/sink/jsonl"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/source/file"
	"github.com/darkscope/darkscope/internal/source/honeypot"
	"github.com/darkscope/darkscope/internal/source/kmsg"
	"github.com/darkscope/darkscope/internal/source/nflog"
	"github.com/darkscope/darkscope/internal/source/syslog"
	"github.com/darkscope/darkscope/internal/store"
	"github.com/darkscope/darkscope/internal/web"
)

func newRunCmd(a *app) *cobra.Command {
	var (
		groups       []uint
		follow       []string
		followFormat string
		fromStart    bool
		useKmsg      bool
		syslogUDP    []string
		syslogTCP    []string
		honeypotAddr string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the capture daemon: sources → store, with the local API",
		Long: `Run the capture daemon. Sources come from the configuration file and from the flags
(flags add to the file, so a user can start without any file). The daemon owns the data
directory's database and answers reports, queries and imports on its API socket
(<data>/darkscope.sock, mode 0600) while it writes.`,
		Example: `  darkscope run --nflog 5                         # after: darkscope rules --dark PREFIX --group 5 --apply
  darkscope run --kmsg                            # kernel LOG lines straight from /dev/kmsg
  darkscope run --follow /var/log/kern.log        # follow a log file (rotation-safe)
  darkscope run --syslog :514 --syslog-tcp :514   # receive from remote sensors
  darkscope run --nflog 5 --honeypot :2222        # with the SSH credential honeypot
  darkscope run -c /etc/darkscope/darkscope.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := &a.cfg
			for _, g := range groups {
				if g > 65535 {
					return fmt.Errorf("--nflog: group %d out of range", g)
				}
				cfg.Sources.NFLOG = append(cfg.Sources.NFLOG, config.NFLOGConfig{Group: uint16(g)})
			}
			for _, f := range follow {
				cfg.Sources.Files = append(cfg.Sources.Files, config.FileConfig{Path: f, Format: followFormat, FromStart: fromStart})
			}
			if useKmsg {
				cfg.Sources.Kmsg.Enabled = true
			}
			cfg.Sources.Syslog.UDP = append(cfg.Sources.Syslog.UDP, syslogUDP...)
			cfg.Sources.Syslog.TCP = append(cfg.Sources.Syslog.TCP, syslogTCP...)
			if honeypotAddr != "" {
				cfg.Sources.Honeypot.Listen = honeypotAddr
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			return runDaemon(cmd.Context(), a)
		},
	}
	f := cmd.Flags()
	f.UintSliceVar(&groups, "nflog", nil, "read this NFLOG group (repeatable)")
	f.StringArrayVar(&follow, "follow", nil, "follow this log file (repeatable)")
	f.StringVar(&followFormat, "follow-format", "kernlog", "format of --follow files: kernlog or ulogd")
	f.BoolVar(&fromStart, "from-start", false, "read --follow files from their start the first time (default: from their end)")
	f.BoolVar(&useKmsg, "kmsg", false, "read kernel LOG lines from /dev/kmsg")
	f.StringArrayVar(&syslogUDP, "syslog", nil, "receive syslog over UDP on this address (repeatable), e.g. :514")
	f.StringArrayVar(&syslogTCP, "syslog-tcp", nil, "receive syslog over TCP on this address (repeatable)")
	f.StringVar(&honeypotAddr, "honeypot", "", "also run the SSH credential honeypot on this address, e.g. :2222")
	return cmd
}

// prepareDataDir creates the data directory and checks it is writable.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data directory %s: %w (use --data DIR or data_dir in the config)", dir, err)
	}
	probe := filepath.Join(dir, ".write-test")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return fmt.Errorf("data directory %s is not writable: %w (use --data DIR or run as a user who may write it)", dir, err)
	}
	return os.Remove(probe)
}

// openWriter opens the store read-write with the pieces every writer needs.
func openWriter(ctx context.Context, a *app) (*store.Store, *source.Registry, *source.RejectFile, error) {
	if err := prepareDataDir(a.cfg.DataDir); err != nil {
		return nil, nil, nil, err
	}
	st, err := store.Open(ctx, a.cfg.DataDir, a.storeOptions(false))
	if err != nil {
		return nil, nil, nil, err
	}
	rej, err := source.OpenRejectFile(filepath.Join(a.cfg.DataDir, "rejected.jsonl"))
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	reg := source.NewRegistry()
	saved, err := st.Counters(ctx)
	if err != nil {
		st.Close()
		rej.Close()
		return nil, nil, nil, fmt.Errorf("load saved counters: %w", err)
	}
	for _, s := range saved {
		reg.Get(s.Source).Merge(s)
	}
	return st, reg, rej, nil
}

func secondarySinks(a *app) ([]pipeline.Secondary, error) {
	var out []pipeline.Secondary
	for i, o := range a.cfg.Outputs {
		format := o.Format
		if format == "" {
			format = string(jsonl.FormatNative)
		}
		f, err := jsonl.ParseFormat(format)
		if err != nil {
			return nil, fmt.Errorf("outputs[%d]: %w", i, err)
		}
		s, err := jsonl.New(o.Path, f)
		if err != nil {
			return nil, fmt.Errorf("outputs[%d]: %w", i, err)
		}
		out = append(out, pipeline.Secondary{Name: "jsonl:" + o.Path, Sink: s})
	}
	if ac := a.cfg.Alerts; len(ac.Files)+len(ac.Syslog)+len(ac.Webhooks)+len(ac.Email) > 0 {
		s, err := alert.New(ac, a.logger)
		if err != nil {
			return nil, err
		}
		out = append(out, pipeline.Secondary{Name: "alerts", Sink: s})
	}
	return out, nil
}

func runDaemon(ctx context.Context, a *app) error {
	st, reg, rej, err := openWriter(ctx, a)
	if err != nil {
		return err
	}
	defer st.Close()
	defer rej.Close()
	sinks, err := secondarySinks(a)
	if err != nil {
		return err
	}
	if out := a.cfg.Sources.Honeypot.Output; out != "" && a.cfg.Sources.Honeypot.Listen != "" {
		pw, err := honeypot.NewPshittWriter(out)
		if err != nil {
			return err
		}
		sinks = append(sinks, pipeline.Secondary{Name: "pshitt:" + out, Sink: pw})
	}
	resp, err := a.openResponse(ctx, false)
	if err != nil {
		return err
	}
	defer resp.Close()
	sinks = append(sinks, resp.secondaries()...)
	pcfg := pipeline.Config{
		QueueBatches: a.cfg.Pipeline.QueueBatches, FlushInterval: a.cfg.Pipeline.FlushInterval,
		MaxBatch: a.cfg.Pipeline.MaxBatch, CountersEvery: 10 * time.Second,
	}
	var eng *detect.Engine
	if a.cfg.Detect.Enabled {
		if eng, err = a.newEngine(); err != nil {
			return err
		}
		pcfg.Detect = eng
	}
	p, err := pipeline.New(pcfg, st, sinks, reg, a.logger)
	if err != nil {
		return err
	}
	b, err := newBuilder(a, reg, rej, st)
	if err != nil {
		return err
	}
	srcs, err := daemonSources(a, b)
	if err != nil {
		return err
	}
	if eng != nil {
		srcs = append(srcs, newDetectClock(eng, reg.Get(detectClockName)))
	}
	if src, err := a.eveSource(resp, b); err != nil {
		return err
	} else if src != nil {
		srcs = append(srcs, src)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	var fatal error
	var fatalOnce sync.Once
	for _, src := range srcs {
		res := p.Go(gctx, src)
		g.Go(func() error {
			if err := <-res; err != nil {
				// A source that cannot work at all (permission, bad address) stops the daemon.
				fatalOnce.Do(func() { fatal = err })
				cancel()
			}
			return nil
		})
	}
	ing := &daemonIngester{a: a, b: b, p: p, reg: reg, eng: eng}
	g.Go(func() error {
		srv := web.NewServer(st, ing, a.logger).WithLiveCounters(reg.Snapshots)
		if eng != nil {
			srv.WithIntel(eng)
		}
		err := srv.Serve(gctx, a.socketPath())
		if err != nil {
			fatalOnce.Do(func() { fatal = err })
			cancel()
		}
		return nil
	})
	if eng != nil {
		g.Go(func() error { return a.checkpointEngine(gctx, eng, a.cfg.Detect.CheckpointInterval) })
	}
	if keep := a.cfg.Store.Retention; keep > 0 {
		g.Go(func() error {
			t := time.NewTicker(time.Hour)
			defer t.Stop()
			for {
				if n, err := st.Retain(gctx, keep); err != nil {
					a.logger.Warn("retention", "err", err)
				} else if n > 0 {
					a.logger.Info("retention removed days", "days", n)
				}
				select {
				case <-gctx.Done():
					return nil
				case <-t.C:
				}
			}
		})
	}
	a.logger.Info("darkscope running", "data", a.cfg.DataDir, "sources", len(srcs), "api", a.socketPath())
	perr := p.Run(gctx)
	cancel()
	_ = g.Wait()
	if eng != nil {
		if err := a.saveEngine(eng); err != nil {
			perr = errors.Join(perr, err)
		}
	}
	for _, s := range reg.Snapshots() {
		a.logger.Info("source counters", "source", s.Source, "received", s.Received, "stored", s.Stored,
			"rejected", s.RejectedTotal(), "ignored", s.Ignored, "lost", s.LostTotal())
	}
	return errors.Join(fatal, perr)
}

func daemonSources(a *app, b *builder) ([]source.Source, error) {
	var srcs []source.Source
	cfg := a.cfg.Sources
	for _, n := range cfg.NFLOG {
		src, err := nflog.New(nflog.Config{
			Group: n.Group, CopyRange: n.CopyRange, Threshold: n.Threshold,
			FlushTimeout: n.FlushTimeout, RcvBuf: n.RcvBuf, Sensor: b.sensor,
		}, b.reg.Get("nflog:"+strconv.Itoa(int(n.Group))), a.logger, nflog.WithRejects(b.rejects))
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	if cfg.Kmsg.Enabled {
		p, err := b.kernlogParser()
		if err != nil {
			return nil, err
		}
		src, err := kmsg.New(kmsg.Config{Path: cfg.Kmsg.Path, FromStart: cfg.Kmsg.FromStart, Sensor: b.sensor},
			p, classify, b.rejects, b.reg.Get("kmsg"), a.logger)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	for _, f := range cfg.Files {
		src, err := b.fileSource(f.Path, f.Format, true, f.FromStart, nil)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	sl := cfg.Syslog
	if len(sl.UDP)+len(sl.TCP)+len(sl.TLS) > 0 {
		allow, err := a.cfg.SyslogAllow()
		if err != nil {
			return nil, err
		}
		p, err := b.kernlogParser()
		if err != nil {
			return nil, err
		}
		src, err := syslog.New(syslog.Config{
			UDP: sl.UDP, TCP: sl.TCP, TLS: sl.TLS, CertFile: sl.CertFile, KeyFile: sl.KeyFile,
			Allow: allow, Location: b.loc,
		}, p, classify, b.rejects, b.reg.Get("syslog"), a.logger)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	if hc := cfg.Honeypot; hc.Listen != "" {
		src, err := honeypot.New(honeypot.Config{
			Listen: hc.Listen, Legacy: hc.Legacy, Sensor: b.sensor,
			KeyDir: filepath.Join(a.cfg.DataDir, "honeypot"),
		}, b.reg.Get("honeypot:ssh"), a.logger)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	if len(srcs) == 0 {
		return nil, errors.New("no sources: give --nflog, --kmsg, --follow or --syslog, or list sources in the config (darkscope config sample)")
	}
	return srcs, nil
}

// daemonIngester runs imports inside the daemon's pipeline.
type daemonIngester struct {
	a   *app
	b   *builder
	p   *pipeline.Pipeline
	reg *source.Registry
	eng *detect.Engine // nil: detection off
}

func (d *daemonIngester) Import(ctx context.Context, path, format string) ([]source.Snapshot, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("import through the daemon needs an absolute path, got %q", path)
	}
	c := source.NewCounters("import:" + path)
	src, _, err := d.b.importSource(path, format, c, nil)
	if err != nil {
		return nil, err
	}
	// Verdicts of the imported packets carry the import's id: alert
	// channels and the responder leave them alone.
	_, untag := tagImport(d.eng, src, path, time.Now())
	defer untag()
	return d.runFinite(ctx, src, c)
}

// runFinite runs a finite source through the daemon's pipeline, waits until
// its events are committed, and adds its counts to the registry.
func (d *daemonIngester) runFinite(ctx context.Context, src source.Source, c *source.Counters) ([]source.Snapshot, error) {
	if err := <-d.p.Go(ctx, src); err != nil {
		return nil, err
	}
	if err := d.p.Sync(ctx); err != nil {
		return nil, err
	}
	snap := c.Snapshot()
	d.reg.Get(c.Name()).Merge(snap)
	return []source.Snapshot{snap}, nil
}

func (d *daemonIngester) Ingest(ctx context.Context, r io.Reader, format, name string) ([]source.Snapshot, error) {
	if format == "" {
		format = formatKernlog
	}
	if format != formatKernlog && format != formatULOGD {
		return nil, fmt.Errorf("ingest format %q: want kernlog or ulogd", format)
	}
	if name == "" {
		name = "api"
	}
	c := source.NewCounters("ingest:" + name)
	src, err := d.b.fileSource("ingest:"+name, format, false, true, c, file.WithReader(io.LimitReader(r, 1<<30)))
	if err != nil {
		return nil, err
	}
	return d.runFinite(ctx, src, c)
}

// detectClockName is the counters name of the detect clock in `stats`.
const detectClockName = "detect:clock"

// detectClock closes the detector's report intervals while live traffic is
// quiet: detection runs on event time, so without it the last interval of a
// scan would wait for the next packet from anyone. Every tick it moves the
// engine's event time to the wall clock if the engine follows live traffic
// (detect.Engine.AdvanceLive) and sends the alerts that closes through the
// pipeline, to be stored and delivered like any other.
type detectClock struct {
	eng      *detect.Engine
	counters *source.Counters
	every    time.Duration
}

// newDetectClock ticks twice per report interval, at most every 5 s.
func newDetectClock(eng *detect.Engine, c *source.Counters) *detectClock {
	every := min(5*time.Second, max(eng.Config().ReportInterval/2, 100*time.Millisecond))
	return &detectClock{eng: eng, counters: c, every: every}
}

func (c *detectClock) Name() string { return detectClockName }

func (c *detectClock) Run(ctx context.Context, out chan<- source.Batch) error {
	t := time.NewTicker(c.every)
	defer t.Stop()
	// Live: the latest event is at most an interval and two ticks old.
	within := c.eng.Config().ReportInterval + 2*c.every
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			var alerts []event.Event
			c.eng.AdvanceLive(now, within, func(e event.Event) { alerts = append(alerts, e) })
			if len(alerts) == 0 {
				continue
			}
			c.counters.AddReceived(uint64(len(alerts)))
			if !source.Send(ctx.Done(), true, out, source.Batch{Counters: c.counters, Events: alerts}) {
				return nil
			}
		}
	}
}
