package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/report"
)

// credReader returns the credential reports of the daemon or of the store.
func (a *app) credReader(ctx context.Context) (report.CredReader, func(), error) {
	rd, done, err := a.reader(ctx)
	if err != nil {
		return nil, nil, err
	}
	cr, ok := rd.(report.CredReader)
	if !ok {
		done()
		return nil, nil, fmt.Errorf("this reader has no credential reports")
	}
	return cr, done, nil
}

func newCredsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "creds top passwords|usernames|pairs | creds clients",
		Short: "What the SSH honeypot recorded: most tried passwords, usernames and pairs; client versions and HASSH",
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
			f, err := ff.filter(a.now())
			if err != nil {
				return err
			}
			cr, done, err := a.credReader(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			rows, err := cr.CredTop(cmd.Context(), args[0], user, f, limit)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return jsonLines(a.stdout, rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tPASSWORD\tATTEMPTS\tSOURCES\tFIRST\tLAST")
			for _, r := range rows {
				fmt.Fprintf(tw, "%q\t%q\t%d\t%d\t%s\t%s\n", r.Username, r.Password, r.Count, r.Sources, fmtTime(r.First), fmtTime(r.Last))
			}
			return tw.Flush()
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
			f, err := cff.filter(a.now())
			if err != nil {
				return err
			}
			cr, done, err := a.credReader(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			rows, err := cr.CredClients(cmd.Context(), f, climit)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return jsonLines(a.stdout, rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT\tHASSH\tSESSIONS\tATTEMPTS\tSOURCES\tLAST")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", dash(r.ClientVersion), dash(r.HASSH), r.Sessions, r.Attempts, r.Sources, fmtTime(r.Last))
			}
			return tw.Flush()
		},
	}
	cff.register(clients, true)
	clients.Flags().IntVar(&climit, "limit", 10, "rows to print")
	cmd.AddCommand(top, clients)
	return cmd
}
