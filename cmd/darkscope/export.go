package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/sink/jsonl"
)

func newExportCmd(a *app) *cobra.Command {
	var ff filterFlags
	var format, out string
	var limit int
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write stored events as JSON Lines: native, ulogd (ulogd2-json keys) or ecs (Elastic Common Schema)",
		Long: `Write stored events as JSON Lines for Logstash, Splunk, Elastic or any JSON tool.
  native  darkscope's own keys (src_ip, dst_ip, src_port, dst_port, ...; docs/json.md)
  ulogd   the keys, types and timestamp ulogd2's JSON output writes, so existing
          ulogd pipelines keep working (export --format ulogd | import round-trips)
  ecs     Elastic Common Schema 8.x with @timestamp in RFC 3339 UTC`,
		Example: `  darkscope export --since 24h > today.json
  darkscope export --format ecs --port 22 -o ssh.ecs.json
  darkscope export --format ulogd --src 203.0.113.0/24`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := jsonl.ParseFormat(format)
			if err != nil {
				return err
			}
			flt, err := ff.filter(a.now())
			if err != nil {
				return err
			}
			var w io.Writer = a.stdout
			if out != "" && out != "-" {
				fh, err := os.Create(out)
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				defer fh.Close()
				w = fh
			}
			bw := bufio.NewWriterSize(w, 1<<16)
			enc, err := jsonl.NewEncoder(bw, f)
			if err != nil {
				return err
			}
			rd, done, err := a.reader(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if err := rd.Events(cmd.Context(), flt, limit, enc.Encode); err != nil {
				return err
			}
			if err := enc.Flush(); err != nil {
				return err
			}
			return bw.Flush()
		},
	}
	ff.register(cmd, true)
	cmd.Flags().StringVar(&format, "format", "native", "native, ulogd or ecs")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many events (0 = all)")
	return cmd
}
