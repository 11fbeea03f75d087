package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/detect/signature"
	"github.com/darkscope/darkscope/internal/enrich/p0f"
	"github.com/darkscope/darkscope/internal/enrich/tool"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
	"github.com/darkscope/darkscope/internal/web"
)

func (a *app) detectStatePath() string { return filepath.Join(a.cfg.DataDir, "detect.state") }

// newEngine builds the detect stage from the config and loads the saved
// state of the data directory, so counts continue across restarts. opts
// are added after the annotators (e.g. detect.WithOrigin).
func (a *app) newEngine(opts ...detect.Option) (*detect.Engine, error) {
	dc := a.cfg.Detect
	sigs, rep, err := signature.Load(signature.Config{Files: dc.Signatures, PsadFiles: dc.PsadSignatures}, a.logger)
	if err != nil {
		return nil, fmt.Errorf("detect: signatures: %w", err)
	}
	for _, pr := range rep.Psad {
		a.logger.Info("psad signatures", "loaded", len(pr.Rules), "skipped", len(pr.Skipped))
	}
	var db *p0f.DB
	if dc.P0f != "" {
		if _, serr := os.Stat(dc.P0f); serr == nil {
			if db, err = p0f.Load(dc.P0f); err != nil {
				return nil, fmt.Errorf("detect: %w", err)
			}
		} else {
			a.logger.Debug("no p0f fingerprint file; OS fingerprints off", "path", dc.P0f)
		}
	}
	tools, err := tool.New(tool.Config{})
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	opts = append([]detect.Option{detect.WithAnnotator(detect.NewAnnotators(sigs, db, tools))}, opts...)
	eng, err := detect.New(dc.Engine, a.logger, opts...)
	if err != nil {
		return nil, err
	}
	if err := loadEngineState(eng, a.detectStatePath()); err != nil {
		return nil, err
	}
	return eng, nil
}

func loadEngineState(eng *detect.Engine, path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detect state: %w", err)
	}
	defer f.Close()
	if err := eng.Load(f); err != nil {
		return fmt.Errorf("detect state %s: %w (move it away to start afresh)", path, err)
	}
	return nil
}

// saveEngine writes the detector state atomically (temp file + rename).
func (a *app) saveEngine(eng *detect.Engine) error {
	path := a.detectStatePath()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".detect-*.state")
	if err != nil {
		return fmt.Errorf("save detect state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := eng.Save(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("save detect state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save detect state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save detect state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save detect state: %w", err)
	}
	// The rename is durable once the directory is synced.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// defaultCheckpointInterval is detect.checkpoint_interval's default.
const defaultCheckpointInterval = 60 * time.Second

// checkpointEngine saves the detector state every interval (0: 60 s) until
// ctx is done, so a daemon killed with -9 loses at most one interval of
// counts: each save is a complete state written to a temp file and renamed
// over the previous one, never a half-written file. A failed save is
// logged and retried at the next tick. The final save at shutdown is the
// caller's. In run.go:
//
//	g.Go(func() error { return a.checkpointEngine(gctx, eng, a.cfg.Detect.CheckpointInterval) })
func (a *app) checkpointEngine(ctx context.Context, eng *detect.Engine, every time.Duration) error {
	if every <= 0 {
		every = defaultCheckpointInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			start := time.Now()
			if err := a.saveEngine(eng); err != nil {
				a.logger.Warn("detect state checkpoint", "err", err)
				continue
			}
			a.logger.Debug("detect state checkpoint", "path", a.detectStatePath(), "took", time.Since(start))
		}
	}
}

// tagImport tags the events of src (one imported file) with a new import
// id in eng (nil: detection off), so the verdicts and alerts they produce
// carry it (Verdict.Origin, event.Alert.Origin); untag ends the tagging
// once the file is done. In importcmd.go and the daemon's Import:
//
//	id, untag := tagImport(eng, src, path, a.now())
//	defer untag()
func tagImport(eng *detect.Engine, src interface{ Name() string }, path string, now time.Time) (id string, untag func()) {
	id = detect.ImportID(now, path)
	if eng == nil {
		return id, func() {}
	}
	eng.TagSource(src.Name(), id)
	return id, func() { eng.UntagSource(src.Name()) }
}

// intel answers detection reports: the daemon's engine through its API, or
// the saved state of the data directory.
type intel interface {
	Verdicts(ctx context.Context, f detect.VerdictFilter) ([]detect.Verdict, error)
	Victims(ctx context.Context) ([]detect.Victim, error)
	Explain(ctx context.Context, a netip.Addr) (detect.Explanation, error)
}

type savedIntel struct{ eng *detect.Engine }

func (s savedIntel) Verdicts(_ context.Context, f detect.VerdictFilter) ([]detect.Verdict, error) {
	return s.eng.Verdicts(f), nil
}
func (s savedIntel) Victims(context.Context) ([]detect.Victim, error) { return s.eng.Victims(), nil }
func (s savedIntel) Explain(_ context.Context, a netip.Addr) (detect.Explanation, error) {
	x, ok := s.eng.Explain(a)
	if !ok {
		return x, fmt.Errorf("no verdict about %s", a)
	}
	return x, nil
}

func (a *app) intel(ctx context.Context) (intel, error) {
	if c, err := web.Dial(ctx, a.socketPath()); err == nil {
		return c, nil
	}
	eng, err := detect.New(detect.DefaultConfig(), a.logger)
	if err != nil {
		return nil, err
	}
	path := a.detectStatePath()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no detection state in %s: run `darkscope run` or `darkscope import` first", a.cfg.DataDir)
	}
	if err := loadEngineState(eng, path); err != nil {
		return nil, err
	}
	return savedIntel{eng}, nil
}

func newScansCmd(a *app) *cobra.Command {
	var since string
	var minLevel int
	cmd := &cobra.Command{
		Use:   "scans",
		Short: "Sources with a verdict: danger level, scan types, signatures, OS and tool fingerprints, backscatter",
		Example: `  darkscope scans --min-level 3
  darkscope scans --since 24h --json | jq 'select(.tool != null)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := report.ParseTime(since, a.now())
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			in, err := a.intel(cmd.Context())
			if err != nil {
				return err
			}
			vs, err := in.Verdicts(cmd.Context(), detect.VerdictFilter{Since: t, MinLevel: event.DangerLevel(minLevel)})
			if err != nil {
				return err
			}
			return printRows(a, vs, "SOURCE\tDL\tPATTERN\tSCANS\tPORTS\tPACKETS\tSIGNATURES\tTOOL\tOS\tLAST SEEN", func(w io.Writer, i int) {
				v := vs[i]
				toolName := "-"
				if v.Tool != nil {
					toolName = fmt.Sprintf("%s (%.0f%%)", v.Tool.Name, v.Tool.Confidence*100)
				}
				src := v.Src
				if v.Backscatter {
					src += " [backscatter]"
				}
				if v.Origin != "" {
					src += " [imported]"
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", src, v.DangerLevel, v.Pattern,
					strings.Join(v.ScanTypes, ","), portsText(v.DstPorts), v.Packets, dash(strings.Join(v.Signatures, "; ")),
					toolName, dash(v.OS), fmtTime(v.LastSeen))
			})
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "sources last seen since: RFC 3339 or a duration back from now")
	cmd.Flags().IntVar(&minLevel, "min-level", 1, "minimum danger level (1-5); sources with signatures, a tool or backscatter are always listed")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func portsText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+":"+m[k])
	}
	return dash(strings.Join(parts, " "))
}

func newBackscatterCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "backscatter",
		Short:   "DoS victims seen through backscatter: attack start, end, packets and rate",
		Example: "  darkscope backscatter --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := a.intel(cmd.Context())
			if err != nil {
				return err
			}
			vs, err := in.Victims(cmd.Context())
			if err != nil {
				return err
			}
			return printRows(a, vs, "VICTIM\tSTART\tEND\tPACKETS\tRATE/S\tKINDS\tPORTS", func(w io.Writer, i int) {
				v := vs[i]
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%.1f\t%s\t%s\n", v.Addr, fmtTime(v.Start), fmtTime(v.End), v.Packets, v.Rate,
					strings.Join(v.Kinds, ","), dash(v.Ports))
			})
		},
	}
}

func newExplainCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "explain ADDR",
		Short:   "Every verdict about one source and the evidence behind it",
		Example: "  darkscope explain 203.0.113.7",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := netip.ParseAddr(args[0])
			if err != nil {
				return fmt.Errorf("explain: %w", err)
			}
			in, err := a.intel(cmd.Context())
			if err != nil {
				return err
			}
			x, err := in.Explain(cmd.Context(), addr)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return jsonLine(a.stdout, x)
			}
			v := x.Verdict
			fmt.Fprintf(a.stdout, "%s: danger level %d, pattern %s, %d packets, %s .. %s\n", v.Src, v.DangerLevel, v.Pattern,
				v.Packets, fmtTime(v.FirstSeen), fmtTime(v.LastSeen))
			if v.Origin != "" {
				fmt.Fprintf(a.stdout, "  origin: %s (latest packets imported, not live)\n", v.Origin)
			}
			fmt.Fprintf(a.stdout, "  scan types: %s\n  ports: %s\n  signatures: %s\n  os: %s\n",
				dash(strings.Join(v.ScanTypes, ", ")), portsText(v.DstPorts), dash(strings.Join(v.Signatures, "; ")), dash(v.OS))
			if v.Tool != nil {
				fmt.Fprintf(a.stdout, "  tool: %s (confidence %.2f): %s\n", v.Tool.Name, v.Tool.Confidence, strings.Join(v.Tool.Evidence, "; "))
			}
			if x.Victim != nil {
				fmt.Fprintf(a.stdout, "  backscatter victim: %d packets %s .. %s\n", x.Victim.Packets, fmtTime(x.Victim.Start), fmtTime(x.Victim.End))
			}
			if x.NeverBlock {
				fmt.Fprintln(a.stdout, "  never blocked (a backscatter sender is a victim)")
			}
			for _, e := range x.Evidence {
				fmt.Fprintf(a.stdout, "  - %s\n", e)
			}
			return nil
		},
	}
}
