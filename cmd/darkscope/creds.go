package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/report"
)

func newCredsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "creds top passwords|usernames|pairs | clients | sessions | timeline ADDR",
		Short: "What the SSH honeypot recorded: most tried passwords, usernames and pairs; client versions and HASSH; sessions; scan-to-brute-force timelines",
	}
	var ff filterFlags
	var user string
	var limit int
	top := &cobra.Command{
		Use:   "top passwords|usernames|pairs",
		Short: "Most tried passwords, usernames or username/password pairs",
		Example: `  darkscope creds top passwords --user root
  darkscope creds top pairs --since 24h --json`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{report.CredPasswords, report.CredUsernames, report.CredPairs},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case report.CredPasswords, report.CredUsernames, report.CredPairs:
			default:
				return fmt.Errorf("creds top %q: want passwords, usernames or pairs", args[0])
			}
			cr, f, done, err := openReport[report.CredReader](cmd.Context(), a, &ff)
			if err != nil {
				return err
			}
			defer done()
			rows, err := cr.CredTop(cmd.Context(), args[0], user, f, limit)
			if err != nil {
				return err
			}
			return printRows(a, rows, "USERNAME\tPASSWORD\tATTEMPTS\tSOURCES\tFIRST\tLAST", func(w io.Writer, i int) {
				r := rows[i]
				fmt.Fprintf(w, "%q\t%q\t%d\t%d\t%s\t%s\n", r.Username, r.Password, r.Count, r.Sources, fmtTime(r.First), fmtTime(r.Last))
			})
		},
	}
	ff.register(top, true)
	top.Flags().StringVar(&user, "user", "", "only attempts for this username")
	top.Flags().IntVar(&limit, "limit", 10, "rows to print")

	var cff filterFlags
	var climit int
	clients := &cobra.Command{
		Use:     "clients",
		Short:   "SSH client versions and HASSH fingerprints with connection and attempt counts",
		Example: "  darkscope creds clients --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cr, f, done, err := openReport[report.CredReader](cmd.Context(), a, &cff)
			if err != nil {
				return err
			}
			defer done()
			rows, err := cr.CredClients(cmd.Context(), f, climit)
			if err != nil {
				return err
			}
			return printRows(a, rows, "CLIENT\tHASSH\tSESSIONS\tATTEMPTS\tSOURCES\tLAST", func(w io.Writer, i int) {
				r := rows[i]
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\n", dash(r.ClientVersion), dash(r.HASSH), r.Sessions, r.Attempts, r.Sources, fmtTime(r.Last))
			})
		},
	}
	cff.register(clients, true)
	clients.Flags().IntVar(&climit, "limit", 10, "rows to print")
	cmd.AddCommand(top, clients, newCredsSessionsCmd(a), newCredsTimelineCmd(a))
	return cmd
}

func newCredsSessionsCmd(a *app) *cobra.Command {
	var ff filterFlags
	var limit int
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "One row per honeypot connection: source, times, attempts, usernames tried, client version and HASSH",
		Example: `  darkscope creds sessions --src 192.0.2.7
  darkscope creds sessions --since 24h --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sr, f, done, err := openReport[report.SessionReader](cmd.Context(), a, &ff)
			if err != nil {
				return err
			}
			defer done()
			rows, err := sr.CredSessions(cmd.Context(), f, limit)
			if err != nil {
				return err
			}
			return printRows(a, rows, "START\tEND\tSENSOR\tSESSION\tSOURCE\tATTEMPTS\tPASSWORDS\tUSERNAMES\tCLIENT\tHASSH\tEND REASON", func(w io.Writer, i int) {
				r := rows[i]
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", fmtTime(r.Start), fmtTime(r.End), dash(r.Sensor), r.Session,
					netip.AddrPortFrom(r.Src, r.SrcPort), r.Attempts, r.Passwords, usernamesText(r.Usernames), dash(safeText(r.ClientVersion)), dash(r.HASSH), dash(r.EndReason))
			})
		},
	}
	ff.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 100, "rows to print (oldest first)")
	return cmd
}

// safeText returns s, or s quoted when it holds anything but printable
// characters (client versions are attacker-chosen).
func safeText(s string) string {
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return strconv.Quote(s)
		}
	}
	return s
}

// usernamesText quotes the usernames (attacker-chosen), at most five.
func usernamesText(us []string) string {
	if len(us) == 0 {
		return "-"
	}
	parts := make([]string, 0, 6)
	for i, u := range us {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("+%d", len(us)-5))
			break
		}
		parts = append(parts, strconv.Quote(u))
	}
	return strings.Join(parts, ",")
}

func newCredsTimelineCmd(a *app) *cobra.Command {
	var ff filterFlags
	var limit int
	cmd := &cobra.Command{
		Use:   "timeline ADDR",
		Short: "The darknet correlation of one source: its scan, the verdicts, then its honeypot sessions and attempts, in time order",
		Example: `  darkscope creds timeline 192.0.2.7
  darkscope creds timeline 2001:db8::7 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := netip.ParseAddr(args[0])
			if err != nil {
				return fmt.Errorf("creds timeline: %q is not an address", args[0])
			}
			sr, f, done, err := openReport[report.SessionReader](cmd.Context(), a, &ff)
			if err != nil {
				return err
			}
			defer done()
			tl, err := sr.CredTimeline(cmd.Context(), src, f, limit)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return jsonLine(a.stdout, tl)
			}
			return printTimeline(a.stdout, tl)
		},
	}
	ff.register(cmd, false)
	cmd.Flags().IntVar(&limit, "limit", 1000, "attempts to list")
	return cmd
}

func printTimeline(w io.Writer, tl report.Timeline) error {
	d := tl.Darknet
	fmt.Fprintf(w, "source %s\n", tl.Src)
	if d.Packets > 0 {
		fmt.Fprintf(w, "darknet: %d packets from %s to %s, protocols %s\n", d.Packets, fmtTime(d.First), fmtTime(d.Last), strings.Join(d.Protocols, ","))
	} else {
		fmt.Fprintln(w, "darknet: no packets")
	}
	fmt.Fprintf(w, "verdicts: %d, honeypot sessions: %d, attempts: %d\n", len(tl.Scans), len(tl.Sessions), tl.AttemptsTotal)
	switch {
	case tl.ScanFirst:
		fmt.Fprintf(w, "the scan preceded the brute force by %s (scan %s, first attempt %s)\n", tl.Lead.Round(time.Millisecond), fmtTime(tl.ScanStart), fmtTime(tl.BruteForceStart))
	case !tl.ScanStart.IsZero() && !tl.BruteForceStart.IsZero():
		fmt.Fprintf(w, "no scan before the brute force (first attempt %s, scan %s)\n", fmtTime(tl.BruteForceStart), fmtTime(tl.ScanStart))
	case tl.BruteForceStart.IsZero():
		fmt.Fprintln(w, "no honeypot attempts")
	default:
		fmt.Fprintln(w, "no scan seen before the brute force")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWHAT\tDETAIL")
	for _, e := range tl.Entries() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Time.UTC().Format("2006-01-02 15:04:05.000"), e.What, e.Text)
	}
	if n := uint64(len(tl.Attempts)); n < tl.AttemptsTotal {
		fmt.Fprintf(tw, "\t\t(%d more attempts: raise --limit)\n", tl.AttemptsTotal-n)
	}
	return tw.Flush()
}
