package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/store"
	"github.com/darkscope/darkscope/internal/web"
)

// respondStateNames are the responder's state file names in the data
// directory, newest first (internal/respond writes respond-state.json).
var respondStateNames = []string{"respond-state.json", "respond.state"}

// blockEntry is one active block or redirect of the responder's state file.
type blockEntry struct {
	Kind    string       `json:"kind"`
	Prefix  netip.Prefix `json:"prefix"`
	Reason  string       `json:"reason"`
	Level   int          `json:"level"`
	Added   time.Time    `json:"added"`
	Expires time.Time    `json:"expires,omitzero"`
	Manual  bool         `json:"manual,omitempty"`
	DryRun  bool         `json:"dry_run,omitempty"`
}

// summaryReport is `darkscope summary --json`.
type summaryReport struct {
	web.Summary
	AutoBlock bool         `json:"auto_block"` // the responder's state file exists
	Blocks    []blockEntry `json:"blocks"`     // its entries that have not expired
}

// readBlocks reads the responder's state file: ok is false when there is
// none (auto-block off).
func readBlocks(dataDir string, now time.Time) (entries []blockEntry, ok bool, err error) {
	for _, name := range respondStateNames {
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("responder state: %w", err)
		}
		var st struct {
			Entries []blockEntry `json:"entries"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, false, fmt.Errorf("responder state %s: %w", name, err)
		}
		out := []blockEntry{}
		for _, e := range st.Entries {
			if e.Expires.IsZero() || now.Before(e.Expires) {
				out = append(out, e)
			}
		}
		slices.SortFunc(out, func(a, b blockEntry) int {
			if c := strings.Compare(a.Kind, b.Kind); c != 0 {
				return c
			}
			return a.Prefix.Addr().Compare(b.Prefix.Addr())
		})
		return out, true, nil
	}
	return []blockEntry{}, false, nil
}

// summary computes the summary through the daemon, or from the saved
// detector state and the store.
func (a *app) summary(ctx context.Context, n int) (web.Summary, error) {
	if c, err := web.Dial(ctx, a.socketPath()); err == nil {
		return c.Summary(ctx, n)
	}
	in, err := a.intel(ctx)
	if err != nil {
		return web.Summary{}, err
	}
	saved, ok := in.(savedIntel)
	if !ok {
		return web.Summary{}, errors.New("summary: the daemon went away; try again")
	}
	st, err := store.Open(ctx, a.cfg.DataDir, a.storeOptions(true))
	if err != nil {
		return web.Summary{}, err
	}
	defer st.Close()
	return web.BuildSummary(ctx, saved.eng, st, n)
}

func newSummaryCmd(a *app) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "Overview like psad -S: sources by danger level, top ports, signatures, tools, victims, current blocks",
		Example: `  darkscope summary
  darkscope summary --limit 5 --json | jq .top_signatures`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return fmt.Errorf("--limit %d: must be at least 1", limit)
			}
			sum, err := a.summary(cmd.Context(), limit)
			if err != nil {
				return err
			}
			blocks, on, err := readBlocks(a.cfg.DataDir, a.now())
			if err != nil {
				return err
			}
			rep := summaryReport{Summary: sum, AutoBlock: on, Blocks: blocks}
			if a.jsonOut {
				return jsonLine(a.stdout, rep)
			}
			return printSummary(a, rep)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "rows per list")
	return cmd
}

func printSummary(a *app, r summaryReport) error {
	w := a.stdout
	wm := r.Watermark
	if wm == "" {
		wm = "no events yet"
	}
	fmt.Fprintf(w, "darkscope summary (event time up to %s)\n\n", wm)
	fmt.Fprintf(w, "Sources tracked: %d; backscatter senders (DoS victims): %d\n", r.Sources, r.Backscatter)
	fmt.Fprint(w, "Sources by danger level:")
	for l := len(r.ByLevel) - 1; l >= 0; l-- {
		fmt.Fprintf(w, "  DL%d: %d", l, r.ByLevel[l])
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(title string) { fmt.Fprintf(tw, "\n%s\n", title) }

	section("Top scanned ports (by scanning sources):")
	for _, p := range r.TopPorts {
		fmt.Fprintf(tw, "  %s\t%d sources\n", p.Port, p.Sources)
	}
	section("Top ports by packets:")
	for _, p := range r.PortPackets {
		fmt.Fprintf(tw, "  %s\t%d packets\n", p.Key, p.Count)
	}
	section("Top signatures:")
	for _, s := range r.TopSignatures {
		fmt.Fprintf(tw, "  %s\t%d sources\n", s.Name, s.Sources)
	}
	section("Top tools:")
	for _, s := range r.TopTools {
		fmt.Fprintf(tw, "  %s\t%d sources\n", s.Name, s.Sources)
	}
	section("Top sources:")
	for _, v := range r.TopSources {
		tl := "-"
		if v.Tool != nil {
			tl = v.Tool.Name
		}
		fmt.Fprintf(tw, "  %s\tDL %d\t%d packets\t%s\t%s\t%s\n", v.Src, v.DangerLevel, v.Packets, dash(strings.Join(v.ScanTypes, ",")), tl,
			dash(strings.Join(v.Signatures, "; ")))
	}
	section(fmt.Sprintf("Backscatter victims (%d):", r.Victims))
	for _, v := range r.TopVictims {
		fmt.Fprintf(tw, "  %s\t%d packets\t%.1f/s\t%s\t%s .. %s\n", v.Addr, v.Packets, v.Rate, strings.Join(v.Kinds, ","),
			fmtTime(v.Start), fmtTime(v.End))
	}
	if len(r.Origins) > 0 {
		section("Imports behind listed sources:")
		for _, o := range r.Origins {
			fmt.Fprintf(tw, "  %s\t%d sources\n", o.Name, o.Sources)
		}
	}
	if !r.AutoBlock {
		fmt.Fprintln(tw, "\nauto-block: off")
	} else {
		section(fmt.Sprintf("Current blocks (%d):", len(r.Blocks)))
		for _, b := range r.Blocks {
			exp := "never"
			if !b.Expires.IsZero() {
				exp = fmtTime(b.Expires)
			}
			extra := ""
			if b.DryRun {
				extra = " (dry run)"
			}
			fmt.Fprintf(tw, "  %s\t%s\tDL %d\texpires %s\t%s%s\n", b.Kind, b.Prefix, b.Level, exp, dash(b.Reason), extra)
		}
	}
	return tw.Flush()
}

var _ web.Summarizer = (*detect.Engine)(nil)
