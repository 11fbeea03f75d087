// Command darkscope turns a Linux firewall into a network telescope: it
// captures firewall-logged packets (NFLOG, kernel LOG lines, syslog, ulogd
// JSON, pcap) into an embedded database and reports on them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCmd()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "darkscope:", err)
		stop()
		os.Exit(1)
	}
}
