// Package nstest builds throw-away network namespaces for root integration
// tests: a sensor, an attacker, a router, joined by veth pairs. Everything a
// test creates is removed in t.Cleanup. Tests that need it call Require,
// which skips on a developer machine without root but fails under CI, so the
// suite can never pass in CI by skipping.
package nstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var seq atomic.Uint32

// Require skips t unless running as root with the ip tool; under CI (CI=true)
// it fails instead of skipping.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	missing := ""
	if os.Geteuid() != 0 {
		missing = "root"
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil && missing == "" {
			missing = tool
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("integration test needs %s, which CI must provide", missing)
	}
	t.Skipf("needs %s", missing)
}

// NS is one network namespace.
type NS struct {
	Name string
	t    testing.TB
}

// New creates a namespace named after role with a unique suffix, brings its
// loopback up, and deletes it when the test ends.
func New(t testing.TB, role string) *NS {
	t.Helper()
	name := fmt.Sprintf("ds%d-%d-%s", os.Getpid()%100000, seq.Add(1), role)
	run(t, "ip", "netns", "add", name)
	n := &NS{Name: name, t: t}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	n.MustRun("ip", "link", "set", "lo", "up")
	return n
}

// Path is the namespace's bind-mount path, for setns or netlink's NetNS.
func (n *NS) Path() string { return "/var/run/netns/" + n.Name }

// Command returns a command that runs argv inside the namespace.
func (n *NS) Command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, argv...)...)
}

// Run runs argv inside the namespace with a 60 s limit and returns its
// combined output and error.
func (n *NS) Run(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := n.Command(ctx, argv...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), n.Name, err, out.String())
	}
	return out.String(), nil
}

// MustRun is Run that fails the test on error.
func (n *NS) MustRun(argv ...string) string {
	n.t.Helper()
	out, err := n.Run(argv...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// Nft applies an nft script inside the namespace.
func (n *NS) Nft(script string) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := n.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("nft in %s: %v: %s\nscript:\n%s", n.Name, err, out, script)
	}
}

// Start starts argv inside the namespace in the background; it is killed
// (by PID) when the test ends if still running.
func (n *NS) Start(argv ...string) *exec.Cmd {
	n.t.Helper()
	cmd := n.Command(context.Background(), argv...)
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start %v in %s: %v", argv, n.Name, err)
	}
	n.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// Link joins a and b with a veth pair, gives each end an address (CIDR form,
// IPv4 or IPv6; several may be given per side separated by commas) and brings
// both ends up. It returns the interface names on a and on b.
func Link(t testing.TB, a, b *NS, aAddrs, bAddrs string) (string, string) {
	t.Helper()
	id := seq.Add(1)
	ifa := fmt.Sprintf("dsa%d", id)
	ifb := fmt.Sprintf("dsb%d", id)
	run(t, "ip", "link", "add", ifa, "netns", a.Name, "type", "veth", "peer", "name", ifb, "netns", b.Name)
	for _, side := range []struct {
		ns    *NS
		ifc   string
		addrs string
	}{{a, ifa, aAddrs}, {b, ifb, bAddrs}} {
		for _, ad := range strings.Split(side.addrs, ",") {
			ad = strings.TrimSpace(ad)
			if ad == "" {
				continue
			}
			args := []string{"ip", "addr", "add", ad, "dev", side.ifc}
			if strings.Contains(ad, ":") {
				args = append(args, "nodad")
			}
			side.ns.MustRun(args...)
		}
		side.ns.MustRun("ip", "link", "set", side.ifc, "up")
	}
	return ifa, ifb
}

func run(t testing.TB, argv ...string) {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
}
