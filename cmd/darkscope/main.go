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

// duckdbAllocConf is the default configuration of the jemalloc allocator
// bundled in DuckDB, read from DUCKDB_JE_MALLOC_CONF when DuckDB first
// allocates: freed pages are kept for 30 s instead of DuckDB's default
// of returning them within about a second. Appending reuses the same
// buffers batch after batch, and returning them meant faulting them in
// again: about a fifth of a 2M-line import's page faults. DuckDB's
// memory_limit still caps what it holds.
const duckdbAllocConf = "dirty_decay_ms:30000,muzzy_decay_ms:30000"

func main() {
	if _, set := os.LookupEnv("DUCKDB_JE_MALLOC_CONF"); !set {
		// Before any DuckDB call; with cgo, os.Setenv also sets the C
		// environment jemalloc reads.
		_ = os.Setenv("DUCKDB_JE_MALLOC_CONF", duckdbAllocConf)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCmd()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "darkscope:", err)
		stop()
		os.Exit(1)
	}
}
