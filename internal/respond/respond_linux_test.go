//go:build linux

package respond

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/firewall"
	"github.com/darkscope/darkscope/internal/nstest"
)

// Root tests: a sensor namespace with darkscope's real table and a TCP
// listener, an attacker namespace sending real packets with hping3 and
// ping, and the Responder fed alerts about the attacker. Witnesses that
// are not darkscope: the replies hping3/ping get (none once blocked), the
// kernel's own rule counter on "drop block4/6", and nft's listing of the
// sets.

const (
	sensorAddr   = "10.99.1.1"
	attackerAddr = "10.99.1.2" // blocked
	friendAddr   = "10.99.1.3" // allowlisted in the config
	gatewayAddr  = "10.99.1.254"
	sensor6      = "fd99:1::1"
	attacker6    = "fd99:1::2"
	listenPort   = "8080"
)

type lab struct {
	sensor, attacker *nstest.NS
	sensorIf         string
	applier          *firewall.Applier
	sets             *firewall.Sets
	rules            firewall.RulesConfig
}

func newLab(t *testing.T) *lab {
	t.Helper()
	nstest.Require(t, "nft", "hping3", "ping", "nc", "timeout")
	s := nstest.New(t, "sensor")
	a := nstest.New(t, "attacker")
	sif, _ := nstest.Link(t, s, a, sensorAddr+"/24,"+sensor6+"/64", attackerAddr+"/24,"+friendAddr+"/24,"+attacker6+"/64")
	// A gateway the sensor routes through: discovered and allowlisted automatically.
	s.MustRun("ip", "route", "add", "default", "via", gatewayAddr)
	ap, err := firewall.NewApplier(nil, firewall.WithNetNS(s.Name))
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{sensor: s, attacker: a, sensorIf: sif, applier: ap, rules: firewall.RulesConfig{Dark: []netip.Prefix{netip.MustParsePrefix("10.99.200.0/24")}}}
	if err := ap.Apply(testCtx(t), l.rules); err != nil {
		t.Fatal(err)
	}
	sets, err := firewall.NewSets(nil, firewall.WithSetsNetNS(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sets.Close() })
	l.sets = sets
	s.Start("nc", "-lk", sensorAddr, listenPort)
	return l
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

var receivedRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

// synReplies sends n SYNs from src to the sensor's listener with hping3 and
// returns how many replies (SYN-ACKs) came back.
func (l *lab) synReplies(t *testing.T, src string, n int) int {
	t.Helper()
	out, _ := l.attacker.Run("timeout", "20", "hping3", "-S", "-a", src, "-p", listenPort, "-c", strconv.Itoa(n), "-i", "u100000", sensorAddr)
	return replies(t, out, n)
}

func replies(t *testing.T, out string, n int) int {
	t.Helper()
	m := receivedRE.FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(n) {
		t.Fatalf("cannot read the probe statistics (want %d sent):\n%s", n, out)
	}
	got, _ := strconv.Atoi(m[2])
	return got
}

func (l *lab) dropCounter(t *testing.T, comment string) uint64 {
	t.Helper()
	cs, err := l.applier.Counters(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Comment == comment {
			return c.Packets
		}
	}
	t.Fatalf("no counter %q in %+v", comment, cs)
	return 0
}

func (l *lab) inSet(t *testing.T, kind firewall.SetKind, p string) (firewall.Element, bool) {
	t.Helper()
	els, err := l.sets.List(testCtx(t), kind)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range els {
		if e.Prefix.String() == p {
			return e, true
		}
	}
	return firewall.Element{}, false
}

func alertEvent(src string, level int) event.Event {
	a := netip.MustParseAddr(src)
	return event.Event{Kind: event.KindAlert, Src: a, Alert: &event.Alert{
		Src: a, Prefix: netip.PrefixFrom(a, a.BitLen()), Level: event.DangerLevel(level),
		Pattern: "vertical", ScanTypes: []string{"-sS"}, DstPorts: map[string]string{"tcp": listenPort},
	}}
}

// TestBlockDropsRealPackets: the attacker's SYNs reach the listener until
// the responder blocks it; then the kernel drops every one (no reply, the
// drop counter grows by exactly the number sent), while an allowlisted
// neighbour, the sensor's own gateway and a backscatter victim are never
// blocked. Re-applying the rules keeps the block; deleting it behind
// darkscope's back and restarting restores it with its remaining timeout.
func TestBlockDropsRealPackets(t *testing.T) {
	l := newLab(t)
	ctx := testCtx(t)
	statePath := filepath.Join(t.TempDir(), StateFileName)
	cfg := DefaultConfig()
	cfg.Block.Enabled, cfg.Block.Timeout = true, 10*time.Minute
	cfg.Allow = []string{friendAddr}
	r, err := New(cfg, l.sets, statePath, nil, WithLocalNetNS(l.sensor.Path()))
	if err != nil {
		t.Fatal(err)
	}

	if got := l.synReplies(t, attackerAddr, 3); got != 3 {
		t.Fatalf("before the block: %d of 3 SYNs answered, want 3", got)
	}
	if got := l.synReplies(t, friendAddr, 2); got != 2 {
		t.Fatalf("friend before: %d of 2 answered", got)
	}

	back := alertEvent("10.99.1.4", 5)
	back.Alert.Backscatter = true
	batch := []event.Event{
		alertEvent(attackerAddr, 4),
		alertEvent(friendAddr, 5),
		alertEvent(gatewayAddr, 5),
		alertEvent(sensorAddr, 5), // own address (a spoofed scan "from" the sensor)
		back,
		alertEvent("10.99.1.5", 2), // below the level
		{Kind: event.KindPacket, Src: netip.MustParseAddr("10.99.1.6")},
	}
	if err := r.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	c := r.Counters()
	if c.Blocked != 1 || c.Allowlisted != 3 || c.Backscatter != 1 || c.BelowLevel != 1 || c.Errors != 0 {
		t.Fatalf("counters %+v", c)
	}
	el, ok := l.inSet(t, firewall.Block, attackerAddr+"/32")
	if !ok || el.Timeout != 10*time.Minute {
		t.Fatalf("attacker in block set: %+v %v", el, ok)
	}
	for _, p := range []string{friendAddr, gatewayAddr, sensorAddr, "10.99.1.4", "10.99.1.5"} {
		if _, ok := l.inSet(t, firewall.Block, p+"/32"); ok {
			t.Errorf("%s was blocked", p)
		}
	}
	if l := l.sensor.MustRun("nft", "list", "set", "inet", "darkscope", "block4"); !strings.Contains(l, attackerAddr+" timeout 10m expires") {
		t.Errorf("nft does not list the block:\n%s", l)
	}

	before := l.dropCounter(t, firewall.CommentDropBlock4)
	if got := l.synReplies(t, attackerAddr, 4); got != 0 {
		t.Errorf("after the block: %d of 4 SYNs answered, want 0", got)
	}
	if d := l.dropCounter(t, firewall.CommentDropBlock4) - before; d != 4 {
		t.Errorf("drop block4 counter grew by %d, want 4", d)
	}
	if got := l.synReplies(t, friendAddr, 2); got != 2 {
		t.Errorf("allowlisted friend after: %d of 2 answered, want 2", got)
	}

	// IPv6: a block of the attacker's /128 drops its pings.
	if out, err := l.attacker.Run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", sensor6); err != nil {
		t.Fatalf("ping6 before block: %v\n%s", err, out)
	}
	if err := r.Write(ctx, []event.Event{alertEvent(attacker6, 3)}); err != nil {
		t.Fatal(err)
	}
	before6 := l.dropCounter(t, firewall.CommentDropBlock6)
	out, _ := l.attacker.Run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", sensor6)
	if got := replies(t, out, 3); got != 0 {
		t.Errorf("ping6 after block: %d replies", got)
	}
	if d := l.dropCounter(t, firewall.CommentDropBlock6) - before6; d != 3 {
		t.Errorf("drop block6 counter grew by %d, want 3", d)
	}

	// `rules --apply` again keeps the elements and their running timeouts.
	time.Sleep(1100 * time.Millisecond)
	if err := l.applier.Apply(ctx, l.rules); err != nil {
		t.Fatal(err)
	}
	el, ok = l.inSet(t, firewall.Block, attackerAddr+"/32")
	if !ok || el.Expires >= 10*time.Minute-time.Second {
		t.Fatalf("after re-apply: %+v %v, want the element with under 9m59s left", el, ok)
	}

	// Someone flushes the element; the daemon is killed and restarts.
	l.sensor.MustRun("nft", "delete element inet darkscope block4 { "+attackerAddr+" }")
	if got := l.synReplies(t, attackerAddr, 1); got != 1 {
		t.Fatalf("after the manual delete the attacker should get through")
	}
	time.Sleep(1100 * time.Millisecond)
	r2, err := New(cfg, l.sets, statePath, nil, WithLocalNetNS(l.sensor.Path()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := r2.Restore(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Restore = %d, %v; want 1 (the IPv6 block is still in the kernel)", n, err)
	}
	el, ok = l.inSet(t, firewall.Block, attackerAddr+"/32")
	if !ok || el.Timeout >= 10*time.Minute-2*time.Second || el.Timeout < 9*time.Minute || el.Expires > el.Timeout {
		t.Fatalf("restored element %+v %v: want a timeout of the remaining ~9m57s, not the full 10m", el, ok)
	}
	if got := l.synReplies(t, attackerAddr, 2); got != 0 {
		t.Errorf("after restore: %d of 2 answered, want 0", got)
	}
	// Another alert about the same source does not extend the block.
	if err := r2.Write(ctx, []event.Event{alertEvent(attackerAddr, 5)}); err != nil {
		t.Fatal(err)
	}
	if c := r2.Counters(); c.Already != 1 || c.Blocked != 0 {
		t.Errorf("repeated alert after restart: %+v", c)
	}
	if el2, _ := l.inSet(t, firewall.Block, attackerAddr+"/32"); el2.Timeout != el.Timeout {
		t.Errorf("timeout changed from %s to %s", el.Timeout, el2.Timeout)
	}
}

// TestCapDryRunRedirectKernel: the cap and the dry run hold against the
// real kernel, and native redirect mode fills redirect4.
func TestCapDryRunRedirectKernel(t *testing.T) {
	l := newLab(t)
	ctx := testCtx(t)

	cfg := DefaultConfig()
	cfg.Block.Enabled, cfg.Block.Max = true, 1
	capped, err := New(cfg, l.sets, filepath.Join(t.TempDir(), StateFileName), nil, WithLocalNetNS(l.sensor.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if err := capped.Write(ctx, []event.Event{alertEvent("10.99.1.20", 4), alertEvent("10.99.1.21", 4)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.inSet(t, firewall.Block, "10.99.1.20/32"); !ok {
		t.Error("first block missing")
	}
	if _, ok := l.inSet(t, firewall.Block, "10.99.1.21/32"); ok {
		t.Error("block beyond the cap of 1 reached the kernel")
	}
	if c := capped.Counters(); c.Capped != 1 || c.Blocked != 1 {
		t.Errorf("counters %+v", c)
	}

	cfg = DefaultConfig()
	cfg.Block.Enabled, cfg.Redirect.Enabled, cfg.DryRun = true, true, true
	dryState := filepath.Join(t.TempDir(), StateFileName)
	dry, err := New(cfg, l.sets, dryState, nil, WithLocalNetNS(l.sensor.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if err := dry.Write(ctx, []event.Event{alertEvent(attackerAddr, 5)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.inSet(t, firewall.Block, attackerAddr+"/32"); ok {
		t.Error("dry run blocked in the kernel")
	}
	if _, ok := l.inSet(t, firewall.Redirect, attackerAddr+"/32"); ok {
		t.Error("dry run redirected in the kernel")
	}
	if got := l.synReplies(t, attackerAddr, 2); got != 2 {
		t.Errorf("dry run: %d of 2 answered, want 2", got)
	}
	st, _ := NewStateFile(dryState)
	s, err := st.Load()
	if err != nil || len(s.Entries) != 2 || !s.Entries[0].DryRun {
		t.Errorf("dry-run state %+v %v", s, err)
	}

	cfg = DefaultConfig()
	cfg.Redirect.Enabled, cfg.Redirect.MinLevel, cfg.Redirect.Timeout = true, 5, 30*time.Minute
	red, err := New(cfg, l.sets, filepath.Join(t.TempDir(), StateFileName), nil, WithLocalNetNS(l.sensor.Path()))
	if err != nil {
		t.Fatal(err)
	}
	scanner := alertEvent("10.99.1.30", 2)
	scanner.Alert.DstPorts = map[string]string{"tcp": "22"}
	scanner.Alert.Tool = &event.Tool{Name: "custom-scanner", Confidence: 0.9, Evidence: []string{"source port 6000", "window 16384"}}
	bare := alertEvent("10.99.1.31", 2)
	bare.Alert.DstPorts = map[string]string{"tcp": "22"}
	if err := red.Write(ctx, []event.Event{scanner, bare}); err != nil {
		t.Fatal(err)
	}
	if el, ok := l.inSet(t, firewall.Redirect, "10.99.1.30/32"); !ok || el.Timeout != 30*time.Minute {
		t.Errorf("ssh scanner not redirected: %+v %v", el, ok)
	}
	if _, ok := l.inSet(t, firewall.Redirect, "10.99.1.31/32"); ok {
		t.Error("bare darknet hit redirected")
	}
	if _, ok := l.inSet(t, firewall.Block, "10.99.1.30/32"); ok {
		t.Error("redirect-only responder blocked")
	}
}

// TestKill9Restore: a responder process blocks a source, is killed with
// SIGKILL, the element disappears from the kernel (a reboot or `nft flush`
// would do the same), and the next responder puts it back with the time it
// had left.
func TestKill9Restore(t *testing.T) {
	l := newLab(t)
	statePath := filepath.Join(t.TempDir(), StateFileName)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DARKSCOPE_RESPOND_CHILD="+l.sensor.Path(), "DARKSCOPE_RESPOND_STATE="+statePath)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "blocked") {
		t.Fatalf("child: %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, ok := l.inSet(t, firewall.Block, attackerAddr+"/32"); !ok {
		t.Fatal("the child's block is not in the kernel")
	}
	l.sensor.MustRun("nft", "flush set inet darkscope block4")
	time.Sleep(1500 * time.Millisecond)

	cfg := DefaultConfig()
	cfg.Block.Enabled, cfg.Block.Timeout = true, 10*time.Minute
	r, err := New(cfg, l.sets, statePath, nil, WithLocalNetNS(l.sensor.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Restore(testCtx(t)); err != nil || n != 1 {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	el, ok := l.inSet(t, firewall.Block, attackerAddr+"/32")
	if !ok || el.Timeout > 10*time.Minute-1500*time.Millisecond || el.Timeout < 9*time.Minute {
		t.Fatalf("restored %+v %v: want the remaining time (< 9m58.5s), not 10m", el, ok)
	}
	if got := l.synReplies(t, attackerAddr, 2); got != 0 {
		t.Errorf("after restore: %d of 2 answered", got)
	}
}

// TestMain runs the helper process of TestKill9Restore when asked to, and
// the tests otherwise.
func TestMain(m *testing.M) {
	if ns := os.Getenv("DARKSCOPE_RESPOND_CHILD"); ns != "" {
		if err := respondChild(ns, os.Getenv("DARKSCOPE_RESPOND_STATE")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// respondChild is the process TestKill9Restore kills: it blocks the
// attacker, says so, and waits to be killed.
func respondChild(ns, statePath string) error {
	sets, err := firewall.NewSets(nil, firewall.WithSetsNetNS(ns))
	if err != nil {
		return err
	}
	cfg := DefaultConfig()
	cfg.Block.Enabled, cfg.Block.Timeout = true, 10*time.Minute
	r, err := New(cfg, sets, statePath, nil, WithLocalNetNS(ns))
	if err != nil {
		return err
	}
	if d := r.Observe(context.Background(), alertEvent(attackerAddr, 4).Alert); d.Block != OutcomeDone {
		return fmt.Errorf("child decision %+v", d)
	}
	fmt.Println("blocked")
	time.Sleep(60 * time.Second) // killed long before
	return nil
}
