//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/firewall"
	"github.com/darkscope/darkscope/internal/nstest"
	"github.com/darkscope/darkscope/internal/respond"
)

// runCLI runs darkscope in-process with args and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&out, r); close(done) }()
	cmd := newRootCmd()
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	os.Stdout = saved
	_ = w.Close()
	<-done
	return out.String(), err
}

// TestBlockRedirectCommands drives `darkscope block|redirect` against a real
// table inet darkscope in a throw-away namespace; nft's listing is the witness.
func TestBlockRedirectCommands(t *testing.T) {
	nstest.Require(t, "nft")
	ns := nstest.New(t, "cli")
	data := t.TempDir()
	cli := func(args ...string) (string, error) {
		return runCLI(t, append(args, "--netns", ns.Name, "--data", data, "--log-level", "error")...)
	}
	if _, err := cli("block", "list"); err == nil || !strings.Contains(err.Error(), "rules --apply") {
		t.Fatalf("block list without the table: err = %v, want a hint to apply the rules", err)
	}
	ap, err := firewall.NewApplier(nil, firewall.WithNetNS(ns.Name))
	if err != nil {
		t.Fatal(err)
	}
	if err := ap.Apply(t.Context(), firewall.RulesConfig{Dark: []netip.Prefix{netip.MustParsePrefix("10.99.200.0/24")}}); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"block", "add", "10.99.50.1", "--timeout", "1h", "--reason", "abuse report"},
		{"block", "add", "fd99:50::/64", "--timeout", "0"},
		{"redirect", "add", "10.99.53.1", "--timeout", "30m"},
	} {
		if out, err := cli(args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	block4 := ns.MustRun("nft", "list", "set", "inet", "darkscope", "block4")
	block6 := ns.MustRun("nft", "list", "set", "inet", "darkscope", "block6")
	redirect4 := ns.MustRun("nft", "list", "set", "inet", "darkscope", "redirect4")
	if !strings.Contains(block4, `10.99.50.1 timeout 1h expires`) || !strings.Contains(block4, `comment "darkscope: abuse report"`) ||
		!strings.Contains(block6, "fd99:50::/64") || strings.Contains(block6, "fd99:50::/64 timeout") ||
		!strings.Contains(redirect4, "10.99.53.1 timeout 30m expires") {
		t.Fatalf("kernel sets after add:\n%s\n%s\n%s", block4, block6, redirect4)
	}

	out, err := cli("block", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []respond.Listed
	for line := range strings.Lines(out) {
		var r respond.Listed
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 || rows[0].Prefix.String() != "10.99.50.1/32" || rows[0].Reason != "abuse report" || !rows[0].Manual ||
		rows[0].TimeoutS != 3600 || rows[0].ExpiresS > 3600 || rows[0].ExpiresS < 3500 || rows[1].Prefix.String() != "fd99:50::/64" || rows[1].TimeoutS != 0 {
		t.Errorf("block list --json:\n%s", out)
	}
	if out, err := cli("block", "export"); err != nil || out != "10.99.50.1/32\nfd99:50::/64\n" {
		t.Errorf("block export = %q, %v", out, err)
	}
	if out, err := cli("redirect", "list"); err != nil || !strings.Contains(out, "10.99.53.1/32") || strings.Contains(out, "10.99.50.1") {
		t.Errorf("redirect list = %q, %v", out, err)
	}

	if _, err := cli("block", "del", "10.99.50.1"); err != nil {
		t.Fatal(err)
	}
	if l := ns.MustRun("nft", "list", "set", "inet", "darkscope", "block4"); strings.Contains(l, "10.99.50.1") {
		t.Errorf("block del left the element:\n%s", l)
	}
	if _, err := cli("block", "del", "10.99.50.1"); err == nil {
		t.Error("second block del: want an error")
	}
	st, _ := respond.NewStateFile(respond.StatePath(data))
	s, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Entries) != 2 {
		t.Errorf("state after del: %+v", s.Entries)
	}
	if _, err := cli("block", "add", "10.99.50.1/24"); err == nil || !strings.Contains(err.Error(), "host bits") {
		t.Errorf("host bits: err = %v", err)
	}
	if _, err := cli("block", "export", "--format", "csv"); err == nil {
		t.Error("export --format csv: want an error")
	}
}
