package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/config"
	"github.com/darkscope/darkscope/internal/report"
	"github.com/darkscope/darkscope/internal/store"
	"github.com/darkscope/darkscope/internal/web"
)

// app holds what every subcommand shares: global flags and the loaded config.
type app struct {
	configPath string
	dataDir    string
	jsonOut    bool
	logLevel   string

	cfg    config.Config
	logger *slog.Logger
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
}

func newRootCmd() *cobra.Command {
	a := &app{stdout: os.Stdout, stderr: os.Stderr, now: time.Now}
	root := &cobra.Command{
		Use:   "darkscope",
		Short: "Network telescope and attack-intelligence sensor for Linux firewalls",
		Long: `darkscope records every packet your firewall logs (NFLOG, kernel LOG lines, remote
syslog, ulogd2 JSON, pcap) as typed events in an embedded database, and reports on them.

A darknet sensor in three steps:
  darkscope rules --dark 192.0.2.0/24 --apply     # log everything sent to the dark prefix
  darkscope run --nflog 5                          # capture it (daemon)
  darkscope top sources --since 24h               # see who knocks`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.load(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&a.configPath, "config", "c", config.DefaultPath, "configuration file (missing default file = built-in defaults)")
	pf.StringVar(&a.dataDir, "data", "", "data directory (default from config: "+config.DefaultDataDir+")")
	pf.BoolVar(&a.jsonOut, "json", false, "print JSON Lines instead of a table")
	pf.StringVar(&a.logLevel, "log-level", "", "debug, info, warn or error (default from config)")

	root.AddCommand(
		newRunCmd(a),
		newImportCmd(a),
		newExportCmd(a),
		newTopCmd(a),
		newHistogramCmd(a),
		newEventsCmd(a),
		newQueryCmd(a),
		newStatsCmd(a),
		newConfigCmd(a),
		newRulesCmd(a),
		newHoneypotCmd(a),
		newScansCmd(a),
		newBackscatterCmd(a),
		newExplainCmd(a),
		newSummaryCmd(a),
		newCredsCmd(a),
		newBlockCmd(a),
		newRedirectCmd(a),
	)
	return root
}

// load reads the configuration and applies global flags over it.
func (a *app) load(cmd *cobra.Command) error {
	optional := !cmd.Flags().Changed("config")
	cfg, err := config.Load(a.configPath, optional)
	if err != nil {
		return err
	}
	if a.dataDir != "" {
		cfg.DataDir = a.dataDir
	}
	if a.logLevel != "" {
		cfg.LogLevel = a.logLevel
	}
	a.cfg = cfg
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	a.logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lvl}))
	return nil
}

func (a *app) socketPath() string {
	if a.cfg.API.Socket != "" {
		return a.cfg.API.Socket
	}
	return filepath.Join(a.cfg.DataDir, "darkscope.sock")
}

func (a *app) storeOptions(readOnly bool) store.Options {
	threads, closeThreads := a.cfg.Store.Threads, 0
	if threads == 0 {
		// The writer (run, import) inserts from one thread anyway, and
		// more DuckDB threads cost it lock contention: a 2M-line import
		// took 13.7-16.6 CPU-s with 1 thread, 17.7-19.6 with 2. Reports
		// opened read-only scan in parallel, and so does the writer's
		// close (the all-time rollups of a 10M-line import: 4.2 s on
		// one thread).
		threads = 2
		if !readOnly {
			threads, closeThreads = 1, min(runtime.NumCPU(), 4)
		}
	}
	return store.Options{
		ReadOnly:     readOnly,
		MemoryLimit:  a.cfg.Store.MemoryLimit,
		Threads:      threads,
		CloseThreads: closeThreads,
		Logger:       a.logger,
	}
}

// reader returns the running daemon's API when one answers, else the store
// opened read-only. close releases it.
// openReport parses the filter flags ff and opens the reports of kind R
// (report.Reader, report.CredReader, report.SessionReader): the daemon's
// API when one answers, else the store read-only.
func openReport[R any](ctx context.Context, a *app, ff *filterFlags) (R, report.Filter, func(), error) {
	var zero R
	f, err := ff.filter(a.now())
	if err != nil {
		return zero, f, nil, err
	}
	rd, done, err := a.reader(ctx)
	if err != nil {
		return zero, f, nil, err
	}
	r, ok := any(rd).(R)
	if !ok {
		done()
		return zero, f, nil, fmt.Errorf("%T has no such report", rd)
	}
	return r, f, done, nil
}

func (a *app) reader(ctx context.Context) (rd report.Reader, close func(), err error) {
	if c, err := web.Dial(ctx, a.socketPath()); err == nil {
		a.logger.Debug("using daemon API", "socket", a.socketPath())
		return c, func() {}, nil
	}
	st, err := store.Open(ctx, a.cfg.DataDir, a.storeOptions(true))
	if err != nil {
		return nil, nil, err
	}
	return st, func() { _ = st.Close() }, nil
}
