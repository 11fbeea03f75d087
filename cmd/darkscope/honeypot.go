package main

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/darkscope/darkscope/internal/pipeline"
	"github.com/darkscope/darkscope/internal/source/honeypot"
)

// newHoneypotCmd is `darkscope honeypot`: the SSH credential honeypot on its
// own, writing its attempts into the store (and optionally pshitt JSON lines).
func newHoneypotCmd(a *app) *cobra.Command {
	var (
		cfg    honeypot.Config
		output string
	)
	cmd := &cobra.Command{
		Use:   "honeypot",
		Short: "Run the SSH credential honeypot: every login attempt → store (and pshitt JSON lines)",
		Long: `Run a fake SSH server that never grants access and records every authentication
attempt (password, keyboard-interactive answer, offered public key, "none") with the client's
version, HASSH fingerprint and KEXINIT algorithm lists, into the data directory's store.
Host keys (ed25519, ECDSA P-256, RSA 3072) are created on first start in <data>/honeypot/.
See docs/honeypot.md for the limits and the fingerprint the honeypot gives away.`,
		Example: `  darkscope honeypot                                   # listen on :2222
  darkscope honeypot --listen :22 --output /var/log/pshitt.json
  darkscope honeypot --legacy                          # also offer SHA-1 key exchange and CBC ciphers`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
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
			if output != "" {
				pw, err := honeypot.NewPshittWriter(output)
				if err != nil {
					return err
				}
				sinks = append(sinks, pipeline.Secondary{Name: "pshitt:" + output, Sink: pw})
			}
			cfg.KeyDir = filepath.Join(a.cfg.DataDir, "honeypot")
			cfg.Sensor = a.cfg.Sensor
			if cfg.Sensor == "" {
				cfg.Sensor, _ = os.Hostname()
			}
			hp, err := honeypot.New(cfg, reg.Get("honeypot:ssh"), a.logger)
			if err != nil {
				return err
			}
			p, err := pipeline.New(pipeline.Config{
				QueueBatches: a.cfg.Pipeline.QueueBatches, FlushInterval: a.cfg.Pipeline.FlushInterval,
				MaxBatch: a.cfg.Pipeline.MaxBatch, CountersEvery: 10 * time.Second,
			}, st, sinks, reg, a.logger)
			if err != nil {
				return err
			}
			g, gctx := errgroup.WithContext(ctx)
			res := p.Go(gctx, hp)
			var srcErr error
			g.Go(func() error {
				srcErr = <-res
				return srcErr // a source that cannot listen stops the command
			})
			a.logger.Info("honeypot running", "listen", cfg.Listen, "data", a.cfg.DataDir, "output", output)
			perr := p.Run(gctx)
			_ = g.Wait()
			s := hp.Stats()
			a.logger.Info("honeypot stopped", "accepted", s.Accepted, "attempts", s.Attempts,
				"refused_global", s.RefusedGlobal, "refused_source", s.RefusedSource)
			return errors.Join(srcErr, perr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", ":2222", "TCP address to listen on")
	f.StringVar(&output, "output", "", "also write password attempts as pshitt JSON lines to this file")
	f.StringVar(&cfg.ServerVersion, "server-version", honeypot.DefaultServerVersion, "SSH version line to announce")
	f.BoolVar(&cfg.Legacy, "legacy", false, "also offer x/crypto's insecure algorithms (SHA-1 key exchange, CBC ciphers): a fingerprint, see docs/honeypot.md")
	f.IntVar(&cfg.MaxConns, "max-conns", 4096, "connections at once")
	f.IntVar(&cfg.MaxPerSource, "max-per-source", 16, "connections at once from one address")
	f.IntVar(&cfg.MaxAttempts, "max-attempts", 100, "authentication requests per connection (at most 127)")
	f.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", 10*time.Second, "deadline for version exchange and key exchange")
	f.DurationVar(&cfg.AuthTimeout, "auth-timeout", 60*time.Second, "deadline for a whole connection")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 20*time.Second, "deadline between client bytes")
	return cmd
}
