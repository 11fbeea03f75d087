package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/darkscope/darkscope/internal/config"
)

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config sample|check",
		Short: "Print the documented sample configuration, or check a file",
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "sample",
		Short:   "Print the documented sample configuration",
		Example: "  darkscope config sample > /etc/darkscope/darkscope.yaml",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := a.stdout.Write(config.Sample())
			return err
		},
	}, &cobra.Command{
		Use:     "check",
		Short:   "Check the configuration file (-c) strictly: unknown keys and bad values are errors",
		Example: "  darkscope config check -c /etc/darkscope/darkscope.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := config.Load(a.configPath, false); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: ok\n", a.configPath)
			return nil
		},
	})
	return cmd
}
