package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/config"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
	"github.com/darkscope/darkscope/internal/sink/jsonl"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/web"
)

// filterFlags are the selection flags report commands share.
type filterFlags struct {
	since, until, src, dst, proto, sensor string
	port                                  int
}

func (ff *filterFlags) register(cmd *cobra.Command, withAddr bool) {
	f := cmd.Flags()
	f.StringVar(&ff.since, "since", "", "from this time: RFC 3339 or a duration back from now (90m, 24h, 7d); default all data")
	f.StringVar(&ff.until, "until", "", "up to this time: RFC 3339 or a duration back from now")
	f.StringVar(&ff.sensor, "sensor", "", "only this sensor")
	if withAddr {
		f.StringVar(&ff.src, "src", "", "source address or prefix")
		f.StringVar(&ff.dst, "dst", "", "destination address or prefix")
		f.IntVar(&ff.port, "port", -1, "destination port")
		f.StringVar(&ff.proto, "proto", "", "protocol name or number (tcp, udp, icmp, icmpv6, 47, ...)")
	}
}

func (ff *filterFlags) filter(now time.Time) (report.Filter, error) {
	f := report.AnyFilter()
	var err error
	if f.Since, err = report.ParseTime(ff.since, now); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = report.ParseTime(ff.until, now); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	if ff.src != "" {
		if f.Src, err = config.ParsePrefix(ff.src); err != nil {
			return f, fmt.Errorf("--src: %w", err)
		}
	}
	if ff.dst != "" {
		if f.Dst, err = config.ParsePrefix(ff.dst); err != nil {
			return f, fmt.Errorf("--dst: %w", err)
		}
	}
	if ff.port < -1 || ff.port > 65535 {
		return f, fmt.Errorf("--port: %d is not a port number", ff.port)
	}
	f.Port = ff.port
	if ff.proto != "" {
		p, ok := event.ParseProto(ff.proto)
		if !ok {
			return f, fmt.Errorf("--proto: unknown protocol %q", ff.proto)
		}
		f.Proto = int(p)
	}
	f.Sensor = ff.sensor
	return f, nil
}

func jsonLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// jsonLines writes each row as one JSON line.
func jsonLines[T any](w io.Writer, rows []T) error {
	for _, r := range rows {
		if err := jsonLine(w, r); err != nil {
			return err
		}
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func newTopCmd(a *app) *cobra.Command {
	var ff filterFlags
	var limit int
	cmd := &cobra.Command{
		Use:   "top sources|destinations|ports|protocols|sensors",
		Short: "Rank sources, destinations, ports, protocols or sensors by packets",
		Example: `  darkscope top sources --since 24h
  darkscope top ports --proto tcp --limit 20
  darkscope top destinations --src 203.0.113.0/24 --json`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"sources", "destinations", "ports", "protocols", "sensors"},
		RunE: func(cmd *cobra.Command, args []string) error {
			dim, err := report.ParseDimension(args[0])
			if err != nil {
				return err
			}
			rd, f, done, err := openReport[report.Reader](cmd.Context(), a, &ff)
			if err != nil {
				return err
			}
			defer done()
			rows, err := rd.Top(cmd.Context(), dim, f, limit)
			if err != nil {
				return err
			}
			return printRows(a, rows, fmt.Sprintf("%s\tPACKETS\tFIRST SEEN\tLAST SEEN", strings.ToUpper(strings.TrimSuffix(args[0], "s"))), func(w io.Writer, i int) {
				r := rows[i]
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", r.Key, r.Count, fmtTime(r.First), fmtTime(r.Last))
			})
		},
	}
	ff.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 10, "rows to print")
	return cmd
}

func newHistogramCmd(a *app) *cobra.Command {
	var ff filterFlags
	var by string
	cmd := &cobra.Command{
		Use:   "histogram",
		Short: "Packets per minute, hour or day",
		Example: `  darkscope histogram --by hour --since 48h
  darkscope histogram --by minute --port 23 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			width, err := report.ParseWidth(by)
			if err != nil {
				return err
			}
			rd, f, done, err := openReport[report.Reader](cmd.Context(), a, &ff)
			if err != nil {
				return err
			}
			defer done()
			bs, err := rd.Histogram(cmd.Context(), width, f)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return jsonLines(a.stdout, bs)
			}
			var peak uint64
			for _, b := range bs {
				peak = max(peak, b.Count)
			}
			w := bufio.NewWriter(a.stdout)
			for _, b := range bs {
				bar := 0
				if peak > 0 {
					bar = int(b.Count * 50 / peak)
				}
				if b.Count > 0 && bar == 0 {
					bar = 1
				}
				fmt.Fprintf(w, "%s  %10d  %s\n", fmtTime(b.Start), b.Count, strings.Repeat("#", bar))
			}
			return w.Flush()
		},
	}
	ff.register(cmd, true)
	cmd.Flags().StringVar(&by, "by", "hour", "bucket width: minute, hour or day")
	return cmd
}

func newEventsCmd(a *app) *cobra.Command {
	var ff filterFlags
	var limit int
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List stored events",
		Example: `  darkscope events --src 198.51.100.7 --limit 20
  darkscope events --port 445 --proto tcp --since 1h --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rd, f, done, err := openReport[report.Reader](cmd.Context(), a, &ff)
			if err != nil {
				return err
			}
			defer done()
			if a.jsonOut {
				enc, err := jsonl.NewEncoder(a.stdout, jsonl.FormatNative)
				if err != nil {
					return err
				}
				if err := rd.Events(cmd.Context(), f, limit, enc.Encode); err != nil {
					return err
				}
				return enc.Flush()
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tSENSOR\tPROTO\tSOURCE\tDESTINATION\tFLAGS\tLEN\tTTL\tPREFIX")
			err = rd.Events(cmd.Context(), f, limit, func(e *event.Event) error {
				_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n",
					e.Time.UTC().Format("2006-01-02 15:04:05.000000"), e.Sensor, e.Proto,
					endpoint(e, true), endpoint(e, false), flagsText(e), e.TotalLen, e.TTL, strings.TrimSpace(e.Prefix))
				return err
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		},
	}
	ff.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 100, "events to print (0 = all)")
	return cmd
}

func endpoint(e *event.Event, src bool) string {
	addr, port := e.Dst, e.DstPort
	if src {
		addr, port = e.Src, e.SrcPort
	}
	if !addr.IsValid() {
		return "-"
	}
	switch e.Proto {
	case event.ProtoTCP, event.ProtoUDP, event.ProtoSCTP, event.ProtoUDPLite:
		if addr.Is6() {
			return "[" + addr.String() + "]:" + strconv.Itoa(int(port))
		}
		return addr.String() + ":" + strconv.Itoa(int(port))
	}
	return addr.String()
}

func flagsText(e *event.Event) string {
	switch e.Proto {
	case event.ProtoTCP:
		if e.Flags == 0 {
			return "NULL"
		}
		return strings.ReplaceAll(e.Flags.String(), " ", ",")
	case event.ProtoICMP, event.ProtoICMPv6:
		return fmt.Sprintf("type=%d code=%d", e.ICMPType, e.ICMPCode)
	}
	return ""
}

func newQueryCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "query 'SELECT ...'",
		Short: "Run a read-only SQL SELECT over the events view",
		Long: `Run one read-only SQL SELECT (DuckDB dialect) over the stored events. The view
"events" has one readable column per field (src_ip, dst_ip, src_port, dst_port, proto, ...);
see docs/schema.md. Only SELECT (and WITH ... SELECT) is accepted, and file access is
confined to the data directory.`,
		Example: `  darkscope query "SELECT src_ip, count(*) n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 5"
  darkscope query --json "SELECT dst_port, count(DISTINCT src_ip) FROM events WHERE proto='tcp' GROUP BY 1"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rd, done, err := a.reader(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			err = rd.Query(cmd.Context(), args[0], func(cols []string, row []any) error {
				if a.jsonOut {
					if row == nil {
						return nil
					}
					obj := make(map[string]any, len(cols))
					for i, c := range cols {
						obj[c] = web.JSONCell(row[i])
					}
					return jsonLine(a.stdout, obj)
				}
				if row == nil {
					_, err := fmt.Fprintln(tw, strings.Join(cols, "\t"))
					return err
				}
				_, err := fmt.Fprintln(tw, strings.Join(web.RenderRow(row), "\t"))
				return err
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		},
	}
	return cmd
}

func newStatsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Stored data and per-source counters (received = stored + rejected + ignored + lost)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rd, done, err := a.reader(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			st, err := rd.Stats(cmd.Context())
			if err != nil {
				return err
			}
			cs, err := rd.Counters(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return jsonLine(a.stdout, struct {
					Store   report.Stats      `json:"store"`
					Sources []source.Snapshot `json:"sources"`
				}{st, cs})
			}
			fmt.Fprintf(a.stdout, "events: %d  days: %d  bytes: %d  first: %s  last: %s\n\n",
				st.Events, st.Days, st.Bytes, fmtTime(st.First), fmtTime(st.Last))
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tRECEIVED\tSTORED\tREJECTED\tIGNORED\tLOST\tDETAIL")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", c.Source, c.Received, c.Stored, c.RejectedTotal(), c.Ignored, c.LostTotal(), detail(c))
			}
			return tw.Flush()
		},
	}
	return cmd
}

func detail(s source.Snapshot) string {
	var parts []string
	for _, m := range []struct {
		name string
		m    map[string]uint64
	}{{"rejected", s.Rejected}, {"lost", s.Lost}} {
		for k, v := range m.m {
			if v > 0 {
				parts = append(parts, fmt.Sprintf("%s.%s=%d", m.name, k, v))
			}
		}
	}
	return strings.Join(parts, " ")
}

// printRows prints a report's rows as JSON Lines (--json) or as a table:
// header (tab-separated columns), then one line per row written by line.
func printRows[T any](a *app, rows []T, header string, line func(w io.Writer, i int)) error {
	if a.jsonOut {
		return jsonLines(a.stdout, rows)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for i := range rows {
		line(tw, i)
	}
	return tw.Flush()
}
