package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/nstest"
)

// dropCount reads the packet counter of the block chain's IPv4 drop rule.
func dropCount(t *testing.T, s *nstest.NS) int {
	t.Helper()
	out := s.MustRun("nft", "list", "chain", "inet", "darkscope", "block")
	m := regexp.MustCompile(`@block4 counter packets (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no block4 drop counter in:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestDaemonAutoBlock runs the daemon with auto-block from its config: an
// attacker's SYN scan gets it into block4 and its next packets are dropped
// by the kernel; an allowlisted source scanning the same way is never
// blocked. After kill -9 and a lost set element, a restart restores the
// block with its remaining timeout and the detector's counts continue.
func TestDaemonAutoBlock(t *testing.T) {
	nstest.Require(t, "nft", "hping3")
	s := nstest.New(t, "sensor")
	a := nstest.New(t, "attacker")
	nstest.Link(t, s, a, "10.96.1.1/24", "10.96.1.2/24,10.96.1.3/24")
	a.MustRun("ip", "route", "add", "10.96.9.0/24", "via", "10.96.1.1")
	s.MustRun(bin, "rules", "--dark", "10.96.9.0/24", "--group", "14", "--apply")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "darkscope.yaml")
	if err := os.WriteFile(cfg, []byte(`detect:
  report_interval: 2s
  checkpoint_interval: 1s
respond:
  block:
    enabled: true
    min_level: 2
    timeout: 10m
  allow: [10.96.1.3]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	start := func() *exec.Cmd {
		cmd := exec.Command("ip", "netns", "exec", s.Name, bin, "run", "--data", data, "-c", cfg, "--nflog", "14")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(data, "darkscope.sock")); err == nil {
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("daemon did not start:\n%s", out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	d := start()

	// Two sources scan 40 ports of one dark host: 40 packets to one
	// destination is psad danger level 2 (DANGER_LEVEL2 = 15).
	for _, src := range []string{"10.96.1.2", "10.96.1.3"} {
		_, _ = a.Run("timeout", "30", "hping3", "-q", "-S", "-a", src, "-p", "++1", "-i", "u2000", "-c", "40", "10.96.9.7") // no replies: exit 1
	}
	deadline := time.Now().Add(30 * time.Second)
	var set string
	for {
		set = s.MustRun("nft", "list", "set", "inet", "darkscope", "block4")
		if strings.Contains(set, "10.96.1.2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the attacker was not blocked; block4:\n%s\nscans:\n%s", set, ds(t, false, "scans", "--data", data, "--json"))
		}
		time.Sleep(300 * time.Millisecond)
	}
	if strings.Contains(set, "10.96.1.3") {
		t.Errorf("the allowlisted source was blocked:\n%s", set)
	}
	// The kernel drops the attacker's next packets.
	before := dropCount(t, s)
	_, _ = a.Run("timeout", "30", "hping3", "-q", "-S", "-a", "10.96.1.2", "-p", "80", "-i", "u2000", "-c", "5", "10.96.9.8")
	if got := dropCount(t, s) - before; got != 5 {
		t.Errorf("block4 drop counter rose by %d, want 5", got)
	}
	list := jsonLines(t, ds(t, false, "block", "list", "--json", "--data", data, "--netns", s.Name))
	if len(list) != 1 || list[0]["prefix"] != "10.96.1.2/32" || num(list[0], "level") < 2 || list[0]["in_kernel"] != true {
		t.Errorf("block list: %v", list)
	}
	if out := ds(t, false, "block", "export", "--data", data, "--netns", s.Name); strings.TrimSpace(out) != "10.96.1.2/32" && strings.TrimSpace(out) != "10.96.1.2" {
		t.Errorf("block export: %q", out)
	}
	packetsBefore := scannedPackets(t, data, "10.96.1.2")

	// kill -9, the kernel loses the element, restart: the block comes back
	// with its remaining (smaller) timeout, and detection counts continue.
	time.Sleep(1500 * time.Millisecond) // one checkpoint after the last packets
	if err := d.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.Wait()
	_ = os.Remove(filepath.Join(data, "darkscope.sock"))
	s.MustRun("nft", "flush", "set", "inet", "darkscope", "block4")
	start()
	set = s.MustRun("nft", "list", "set", "inet", "darkscope", "block4")
	m := regexp.MustCompile(`10\.96\.1\.2 timeout (\S+) expires (\S+)`).FindStringSubmatch(set)
	if m == nil {
		t.Fatalf("the block was not restored after kill -9:\n%s", set)
	}
	if timeout, err := time.ParseDuration(m[1]); err != nil || timeout >= 10*time.Minute {
		t.Errorf("restored timeout %s: want the remaining time, below 10m", m[1])
	}
	if got := scannedPackets(t, data, "10.96.1.2"); got < packetsBefore {
		t.Errorf("after kill -9 the detector has %v packets from the attacker, before %v", got, packetsBefore)
	}
}

// scannedPackets is the packet count `scans` reports for src.
func scannedPackets(t *testing.T, data, src string) float64 {
	t.Helper()
	for _, v := range jsonLines(t, ds(t, false, "scans", "--data", data, "--json")) {
		if v["src"] == src {
			return num(v, "packets")
		}
	}
	t.Fatalf("no verdict about %s", src)
	return 0
}
