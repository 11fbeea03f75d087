//go:build linux

package firewall

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/nstest"
)

// Root integration tests: real nft in throw-away namespaces (sensor and
// attacker joined by a veth), real packets from hping3/nmap/ping, and an
// independent witness for what reached the sensor (tcpdump on its veth) and
// what was logged (tcpdump on nflog:GROUP), both decoded by tshark.

const (
	sensor4, attacker4 = "10.99.1.1", "10.99.1.2"
	sensor6, attacker6 = "fd99:1::1", "fd99:1::2"
	dark4, dark6       = "10.99.200.0/24", "fd99:200::/64"
)

type lab struct {
	sensor, attacker *nstest.NS
	sensorIf         string
	applier          *Applier
}

func newLab(t *testing.T) *lab {
	t.Helper()
	s := nstest.New(t, "sensor")
	a := nstest.New(t, "attacker")
	sif, _ := nstest.Link(t, s, a, sensor4+"/24,"+sensor6+"/64", attacker4+"/24,"+attacker6+"/64")
	a.MustRun("ip", "route", "add", dark4, "via", sensor4)
	a.MustRun("ip", "-6", "route", "add", dark6, "via", sensor6)
	ap, err := NewApplier(nil, WithNetNS(s.Name))
	if err != nil {
		t.Fatal(err)
	}
	return &lab{sensor: s, attacker: a, sensorIf: sif, applier: ap}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

var (
	expiresRE = regexp.MustCompile(` expires [0-9dhms]+`)
	handleRE  = regexp.MustCompile(` # handle [0-9]+`)
)

// normalise removes what legitimately changes between two listings of the
// same table: rule handles and the remaining time of set elements.
func normalise(listing string) string {
	return handleRE.ReplaceAllString(expiresRE.ReplaceAllString(listing, ""), "")
}

func (l *lab) list(t *testing.T) string {
	t.Helper()
	out, err := l.applier.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return normalise(out)
}

func (l *lab) counter(t *testing.T, comment string) uint64 {
	t.Helper()
	cs, err := l.applier.Counters(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	found := false
	for _, c := range cs {
		if c.Comment == comment {
			n += c.Packets
			found = true
		}
	}
	if !found {
		t.Fatalf("no counted rule with comment %q in %+v", comment, cs)
	}
	return n
}

// TestApplyListRemove loads every golden config into a real kernel, compares
// the kernel's listing with a golden listing, re-applies (set elements with
// timeouts survive, the listing does not change), switches modes (no stale
// chains), and removes the table, never touching another table.
func TestApplyListRemove(t *testing.T) {
	nstest.Require(t, "nft")
	s := nstest.New(t, "sensor")
	ap, err := NewApplier(nil, WithNetNS(s.Name))
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{sensor: s, applier: ap}
	s.Nft(`table ip other {
	set keep { type ipv4_addr; flags timeout; elements = { 10.99.9.9 timeout 1h }; }
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr @keep counter drop
	}
}`)
	otherBefore := normalise(s.MustRun("nft", "list", "table", "ip", "other"))

	for _, tc := range goldenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			if err := ap.Remove(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if err := ap.Apply(ctx(t), tc.cfg); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".listing", l.list(t))
		})
	}

	t.Run("reapply keeps elements", func(t *testing.T) {
		cfg := goldenConfigs[1].cfg // darknet_full: every chain but log_input
		if err := ap.Apply(ctx(t), cfg); err != nil {
			t.Fatal(err)
		}
		s.MustRun("nft", "add element inet darkscope block4 { 10.99.50.0/24 timeout 1h, 10.99.51.1 timeout 10m, 10.99.52.1 }")
		s.MustRun("nft", "add element inet darkscope allow6 { fd99:50::/64 timeout 2h }")
		s.MustRun("nft", "add element inet darkscope redirect4 { 10.99.53.1 timeout 30m }")
		before := l.list(t)
		for _, want := range []string{"10.99.50.0/24 timeout 1h", "10.99.51.1 timeout 10m", "10.99.52.1",
			"fd99:50::/64 timeout 2h", "10.99.53.1 timeout 30m"} {
			if !strings.Contains(before, want) {
				t.Fatalf("element %q missing before re-apply:\n%s", want, before)
			}
		}
		for i := range 2 {
			if err := ap.Apply(ctx(t), cfg); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, l.list(t)); diff != "" {
				t.Fatalf("re-apply %d changed the table (-before +after):\n%s", i+1, diff)
			}
		}
		// Remaining timeouts keep running: they are not reset to the full timeout.
		raw, err := ap.List(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`10\.99\.51\.1 timeout 10m expires ([0-9ms]+)`).FindStringSubmatch(raw); m == nil || m[1] == "10m" {
			t.Errorf("element 10.99.51.1 expiry after re-apply: %v in\n%s", m, raw)
		}
	})

	t.Run("mode switch leaves no stale chain", func(t *testing.T) {
		host := goldenConfigs[3]
		if err := ap.Apply(ctx(t), goldenConfigs[1].cfg); err != nil { // notrack + log_prerouting
			t.Fatal(err)
		}
		s.MustRun("nft", "flush set inet darkscope block4")
		s.MustRun("nft", "flush set inet darkscope allow6")
		s.MustRun("nft", "flush set inet darkscope redirect4")
		if err := ap.Apply(ctx(t), host.cfg); err != nil {
			t.Fatal(err)
		}
		// The golden host listing was made from an empty table with size 65536;
		// darknet_full had size 1000 and the re-apply resized the sets.
		golden(t, host.name+".listing", l.list(t))
	})

	t.Run("bad config changes nothing", func(t *testing.T) {
		if err := ap.Apply(ctx(t), RulesConfig{Dark: prefixes("10.99.200.1/24")}); err == nil {
			t.Fatal("Apply with host bits in a prefix: want error")
		}
		// A set whose flags differ from ours makes the whole transaction fail.
		if err := ap.Remove(ctx(t)); err != nil {
			t.Fatal(err)
		}
		cmd := s.Command(ctx(t), "nft", "-f", "-")
		cmd.Stdin = strings.NewReader("table inet darkscope {\n\tset block4 { type ipv4_addr; elements = { 10.99.60.1 }; }\n}\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("create a foreign block4: %v: %s", err, out)
		}
		err := ap.Apply(ctx(t), goldenConfigs[0].cfg)
		if err == nil || !strings.Contains(err.Error(), "rules --remove") {
			t.Fatalf("Apply over a foreign block4: err = %v, want a hint to remove", err)
		}
		if got := l.list(t); !strings.Contains(got, "10.99.60.1") || strings.Contains(got, "chain") {
			t.Fatalf("failed Apply was not atomic:\n%s", got)
		}
	})

	t.Run("remove", func(t *testing.T) {
		for range 2 { // the second Remove finds no table and still succeeds
			if err := ap.Remove(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.MustRun("nft", "list", "tables"); strings.TrimSpace(got) != "table ip other" {
			t.Errorf("tables after Remove = %q, want only table ip other", got)
		}
	})

	if diff := cmp.Diff(otherBefore, normalise(s.MustRun("nft", "list", "table", "ip", "other"))); diff != "" {
		t.Errorf("table ip other changed (-before +after):\n%s", diff)
	}
}

// syncBuffer is a bytes.Buffer safe for a writing process and a polling test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type capture struct {
	cmd    *exec.Cmd
	file   string
	stderr *syncBuffer
	done   chan error
}

// startCapture runs tcpdump in ns and waits until it listens; it is killed
// when the test ends if stop was not called.
func startCapture(t *testing.T, ns *nstest.NS, iface, file string, filter ...string) *capture {
	t.Helper()
	// No timeout(1) wrapper: `ip netns exec` execs tcpdump, so the PID we
	// signal and kill is tcpdump itself and nothing can outlive the test.
	args := append([]string{"tcpdump", "-Z", "root", "-i", iface, "-n", "-U", "-w", file}, filter...)
	c := &capture{cmd: ns.Command(context.Background(), args...), file: file, stderr: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(c.stderr.String(), "listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump on %s did not start: %s", iface, c.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

func (c *capture) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Fatalf("tcpdump did not stop on SIGINT: %s", c.stderr.String())
	}
}

// Fields tshark extracts per packet; identical in a veth capture and an
// nflog capture of the same packet (link layer excluded).
var pktFields = []string{
	"ip.src", "ip.dst", "ip.id", "ip.frag_offset", "ip.flags.mf", "ip.proto", "ip.len",
	"ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen", "ipv6.fraghdr.offset", "ipv6.fraghdr.ident",
	"tcp.flags", "tcp.dstport", "udp.dstport", "icmp.type", "icmp.code", "icmpv6.type",
}

const (
	fIPDst, fIPFragOff, fIPMF, fIP6Dst, fIP6FragOff, fTCPFlags, fTCPDport, fUDPDport, fICMPType, fICMPCode, fICMP6Type = 1, 3, 4, 8, 11, 13, 14, 15, 16, 17, 18
)

// packets decodes a capture with tshark (no reassembly) into one
// '|'-separated line per packet, plus extra fields appended.
func packets(t *testing.T, file string, extra ...string) [][]string {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"-r", file, "-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-o", "tcp.relative_sequence_numbers:FALSE", "-T", "fields", "-E", "separator=|"}
	for _, f := range append(slices.Clone(pktFields), extra...) {
		args = append(args, "-e", f)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(c, "tshark", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v: %s", file, err, stderr.String())
	}
	var rows [][]string
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "|"))
		}
	}
	return rows
}

func keys(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.Join(r[:len(pktFields)], "|")
	}
	slices.Sort(out)
	return out
}

// attack runs argv in the attacker namespace; traffic tools exit non-zero
// when nobody answers (that is the point of a darknet), so only a failure to
// run at all is fatal. What was really sent is checked on the sensor's veth.
func (l *lab) attack(t *testing.T, argv ...string) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	out, err := l.attacker.Command(c, argv...).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok || c.Err() != nil {
			t.Fatalf("%v: %v: %s", argv, err, out)
		}
	}
}

// TestDarknetLogsEverything sends backscatter, stealth probes, ICMP errors,
// fragments, UDP, nmap SYN scans and IPv6 to dark prefixes and checks that
// every packet that reached the sensor's veth was logged to NFLOG, exactly
// once, and that the rule counters agree; then that notrack, block, allow
// and the honeypot redirect act on real packets.
func TestDarknetLogsEverything(t *testing.T) {
	nstest.Require(t, "nft", "hping3", "nmap", "tcpdump", "tshark", "ping", "timeout")
	l := newLab(t)
	cfg := RulesConfig{Dark: prefixes(dark4, dark6), Notrack: true, Group: 5}
	if err := l.applier.Apply(ctx(t), cfg); err != nil {
		t.Fatal(err)
	}
	// Another table, also the witness that notrack works: conntrack runs
	// between our chains and this one.
	l.sensor.Nft(`table inet witness {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ip daddr 10.99.200.0/24 ct state untracked counter comment "untracked"
		ip daddr 10.99.200.0/24 ct state != untracked counter comment "tracked"
	}
}`)

	dir := t.TempDir()
	veth := startCapture(t, l.sensor, l.sensorIf, filepath.Join(dir, "veth.pcap"),
		"-Q", "in", "dst net "+dark4+" or dst net "+dark6)
	nflog := startCapture(t, l.sensor, "nflog:5", filepath.Join(dir, "nflog.pcap"))

	d := func(host int) string { return fmt.Sprintf("10.99.200.%d", host) }
	hp := func(dst string, args ...string) {
		l.attack(t, append([]string{"timeout", "30", "hping3", "-q", "-c", "3", "-i", "u20000"}, append(args, dst)...)...)
	}
	hp(d(1), "-S", "-A", "-p", "80")                                           // SYN-ACK backscatter
	hp(d(2), "-R", "-p", "81")                                                 // RST backscatter
	hp(d(3), "-F", "-p", "82")                                                 // FIN probe
	hp(d(4), "-p", "83")                                                       // NULL probe
	hp(d(5), "-F", "-P", "-U", "-p", "84")                                     // Xmas probe
	hp(d(6), "--icmp", "-C", "3", "-K", "3")                                   // ICMP port unreachable (backscatter)
	hp(d(7), "-2", "-p", "53")                                                 // UDP
	hp(d(8), "-2", "-p", "54", "-f", "-d", "40")                               // UDP in 16-byte fragments
	l.attack(t, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-s", "2000", d(9)) // fragments by the stack
	l.attack(t, "timeout", "30", "nmap", "-n", "-Pn", "-sS", "-p", "20-25", "--max-retries", "0", "--host-timeout", "20s", d(10))
	l.attack(t, "timeout", "30", "nmap", "-6", "-n", "-Pn", "-sS", "-p", "20-25", "--max-retries", "0", "--host-timeout", "20s", "fd99:200::10")
	l.attack(t, "timeout", "30", "nmap", "-6", "-n", "-Pn", "-sU", "-p", "53,161", "--max-retries", "0", "--host-timeout", "20s", "fd99:200::11")
	l.attack(t, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "-s", "2000", "fd99:200::12")

	time.Sleep(1500 * time.Millisecond) // NFLOG flushes its batches after 1 s
	veth.stop(t)
	nflog.stop(t)

	sent := packets(t, veth.file)
	logged := packets(t, nflog.file, "nflog.prefix", "nflog.res_id")

	// Every category really was sent (so the comparison below means something).
	count := func(rows [][]string, pred func(r []string) bool) int {
		n := 0
		for _, r := range rows {
			if pred(r) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		name string
		min  int
		pred func(r []string) bool
	}{
		{"SYN-ACK", 3, func(r []string) bool { return r[fIPDst] == d(1) && r[fTCPFlags] == "0x0012" }},
		{"RST", 3, func(r []string) bool { return r[fIPDst] == d(2) && r[fTCPFlags] == "0x0004" }},
		{"FIN", 3, func(r []string) bool { return r[fIPDst] == d(3) && r[fTCPFlags] == "0x0001" }},
		{"NULL", 3, func(r []string) bool { return r[fIPDst] == d(4) && r[fTCPFlags] == "0x0000" }},
		{"Xmas", 3, func(r []string) bool { return r[fIPDst] == d(5) && r[fTCPFlags] == "0x0029" }},
		{"ICMP port unreachable", 3, func(r []string) bool {
			return strings.HasPrefix(r[fIPDst], d(6)) && r[fICMPType] == "3" && r[fICMPCode] == "3"
		}},
		{"UDP", 3, func(r []string) bool { return r[fIPDst] == d(7) && r[fUDPDport] == "53" }},
		{"hping3 first fragments", 3, func(r []string) bool { return r[fIPDst] == d(8) && r[fIPMF] == "1" && r[fIPFragOff] == "0" }},
		{"hping3 later fragments", 3, func(r []string) bool { return r[fIPDst] == d(8) && r[fIPFragOff] != "0" }},
		{"ping later fragments", 2, func(r []string) bool { return r[fIPDst] == d(9) && r[fIPFragOff] != "0" }},
		{"nmap -sS", 6, func(r []string) bool { return r[fIPDst] == d(10) && r[fTCPFlags] == "0x0002" }},
		{"nmap -6 -sS", 6, func(r []string) bool { return r[fIP6Dst] == "fd99:200::10" && r[fTCPFlags] == "0x0002" }},
		{"nmap -6 -sU", 2, func(r []string) bool { return r[fIP6Dst] == "fd99:200::11" && r[fUDPDport] != "" }},
		{"IPv6 fragments", 2, func(r []string) bool { return r[fIP6Dst] == "fd99:200::12" && r[fIP6FragOff] != "" }},
	} {
		if n := count(sent, c.pred); n < c.min {
			t.Errorf("veth saw %d %s packets, want >= %d (was the traffic sent?)", n, c.name, c.min)
		}
		if n, m := count(sent, c.pred), count(logged, c.pred); n != m {
			t.Errorf("%s: %d packets reached the sensor, %d logged", c.name, n, m)
		}
	}
	// Every packet that reached the sensor for the darknet was logged once.
	if diff := cmp.Diff(keys(sent), keys(logged)); diff != "" {
		t.Errorf("packets on the veth (-) vs packets logged to NFLOG (+):\n%s", diff)
	}
	for _, r := range logged {
		if p, g := r[len(pktFields)], r[len(pktFields)+1]; p != DefaultPrefix || g != "5" {
			t.Fatalf("NFLOG packet with prefix %q group %q, want %q group 5", p, g, DefaultPrefix)
		}
	}
	// The rule counters count exactly what was logged.
	c4, c6 := l.counter(t, CommentLogDark4), l.counter(t, CommentLogDark6)
	if int(c4+c6) != len(logged) {
		t.Errorf("log rule counters %d (v4) + %d (v6) != %d packets on nflog:5", c4, c6, len(logged))
	}
	if n4 := count(sent, func(r []string) bool { return r[fIPDst] != "" }); int(c4) != n4 {
		t.Errorf("log dark4 counter %d, veth saw %d IPv4 packets", c4, n4)
	}
	t.Logf("%d packets sent to the darknet, %d logged (counters v4 %d, v6 %d)", len(sent), len(logged), c4, c6)

	// notrack: conntrack saw the darknet packets as untracked only.
	wit, err := exec.Command("ip", "netns", "exec", l.sensor.Name, "nft", "-j", "list", "table", "inet", "witness").Output()
	if err != nil {
		t.Fatal(err)
	}
	wc, err := parseCounters(wit)
	if err != nil {
		t.Fatal(err)
	}
	if wc[0].Comment != "untracked" || wc[0].Packets == 0 || wc[1].Packets != 0 {
		t.Errorf("witness counters %+v: want untracked > 0 and tracked == 0", wc)
	}

	t.Run("block allow redirect", func(t *testing.T) {
		l.blockAllowRedirect(t)
	})
}

// reach reports whether the attacker gets an echo reply from addr.
func (l *lab) reach(addr string) bool {
	_, err := l.attacker.Run("ping", "-c", "1", "-W", "1", addr)
	return err == nil
}

// connect reports whether a TCP connection from the attacker to addr:port
// completes within 2 s.
func (l *lab) connect(addr string, port int) bool {
	host := addr
	if strings.Contains(addr, ":") {
		host = "[" + addr + "]"
	}
	_, err := l.attacker.Run("curl", "-s", "-o", "/dev/null", "--max-time", "2", fmt.Sprintf("http://%s:%d/", host, port))
	return err == nil
}

func (l *lab) blockAllowRedirect(t *testing.T) {
	nstest.Require(t, "curl", "python3")
	listen(t, l.sensor, 2222) // the honeypot stand-in
	for _, a := range []string{sensor4, sensor6} {
		if !l.reach(a) {
			t.Fatalf("%s not reachable before any block", a)
		}
		if l.connect(a, 22) {
			t.Fatalf("%s port 22 answers before any redirect", a)
		}
		if !l.connect(a, 2222) {
			t.Fatalf("honeypot on %s port 2222 not reachable", a)
		}
	}

	l.sensor.MustRun("nft", "add element inet darkscope block4 { "+attacker4+" timeout 5m }")
	l.sensor.MustRun("nft", "add element inet darkscope block6 { "+attacker6+" timeout 5m }")
	before4, before6 := l.counter(t, CommentDropBlock4), l.counter(t, CommentDropBlock6)
	for _, a := range []string{sensor4, sensor6} {
		if l.reach(a) || l.connect(a, 2222) {
			t.Errorf("blocked attacker still reaches %s", a)
		}
	}
	if l.counter(t, CommentDropBlock4) <= before4 || l.counter(t, CommentDropBlock6) <= before6 {
		t.Errorf("drop counters did not grow")
	}

	// Redirect-set members of the block set keep tcp/22, which goes to the honeypot.
	l.sensor.MustRun("nft", "add element inet darkscope redirect4 { "+attacker4+" timeout 5m }")
	l.sensor.MustRun("nft", "add element inet darkscope redirect6 { "+attacker6+" timeout 5m }")
	for _, a := range []string{sensor4, sensor6} {
		if !l.connect(a, 22) {
			t.Errorf("redirected attacker: %s port 22 does not reach the honeypot", a)
		}
		if l.reach(a) || l.connect(a, 2222) {
			t.Errorf("redirected attacker is no longer blocked from %s except port 22", a)
		}
	}
	if l.counter(t, CommentRedirect4) == 0 || l.counter(t, CommentRedirect6) == 0 {
		t.Errorf("redirect counters are zero")
	}

	// The allow set wins over block and redirect.
	l.sensor.MustRun("nft", "add element inet darkscope allow4 { "+attacker4+" }")
	l.sensor.MustRun("nft", "add element inet darkscope allow6 { "+attacker6+" }")
	for _, a := range []string{sensor4, sensor6} {
		if !l.reach(a) || !l.connect(a, 2222) {
			t.Errorf("allowlisted attacker does not reach %s", a)
		}
		if l.connect(a, 22) {
			t.Errorf("allowlisted attacker is still redirected on %s", a)
		}
	}

	// Re-applying keeps all of it.
	if err := l.applier.Apply(ctx(t), RulesConfig{Dark: prefixes(dark4, dark6), Notrack: true}); err != nil {
		t.Fatal(err)
	}
	listing := l.list(t)
	for _, set := range []string{"allow4", "block4", "redirect4"} {
		if !regexp.MustCompile(`(?s)set ` + set + ` \{[^}]*elements = \{ ` + regexp.QuoteMeta(attacker4)).MatchString(listing) {
			t.Errorf("set %s lost %s on re-apply:\n%s", set, attacker4, listing)
		}
	}
}

// TestHostModeLogsClosedPortsAndInvalid: in host mode, probes of closed
// ports and invalid packets to the host's own address are logged; a
// connection attempt to a listening port and neighbour discovery are not.
func TestHostModeLogsClosedPortsAndInvalid(t *testing.T) {
	nstest.Require(t, "nft", "hping3", "nmap", "tcpdump", "tshark", "python3", "timeout")
	l := newLab(t)
	if err := l.applier.Apply(ctx(t), RulesConfig{Mode: ModeHost, Group: 6}); err != nil {
		t.Fatal(err)
	}
	listen(t, l.sensor, 8080)
	nflog := startCapture(t, l.sensor, "nflog:6", filepath.Join(t.TempDir(), "nflog.pcap"))
	l.attack(t, "timeout", "30", "nmap", "-n", "-Pn", "-sS", "-p", "8079-8081", "--max-retries", "0", sensor4)
	l.attack(t, "timeout", "30", "nmap", "-6", "-n", "-Pn", "-sS", "-p", "8079-8081", "--max-retries", "0", sensor6)
	l.attack(t, "timeout", "30", "hping3", "-q", "-c", "2", "-i", "u20000", "-R", "-p", "8080", sensor4)             // invalid: RST without a connection
	l.attack(t, "timeout", "30", "hping3", "-q", "-c", "2", "-i", "u20000", "-F", "-P", "-U", "-p", "8080", sensor4) // invalid: Xmas to an open port
	time.Sleep(1500 * time.Millisecond)
	nflog.stop(t)

	logged := packets(t, nflog.file)
	has := func(dst, port, flags string) int {
		n := 0
		for _, r := range logged {
			if (r[fIPDst] == dst || r[fIP6Dst] == dst) && r[fTCPDport] == port && r[fTCPFlags] == flags {
				n++
			}
		}
		return n
	}
	for _, dst := range []string{sensor4, sensor6} {
		for _, port := range []string{"8079", "8081"} {
			if has(dst, port, "0x0002") != 1 {
				t.Errorf("SYN to closed port %s:%s logged %d times, want 1", dst, port, has(dst, port, "0x0002"))
			}
		}
		if n := has(dst, "8080", "0x0002"); n != 0 {
			t.Errorf("SYN to open port %s:8080 logged %d times, want 0", dst, n)
		}
	}
	if n := has(sensor4, "8080", "0x0004"); n != 2 {
		t.Errorf("invalid RST to open port logged %d times, want 2", n)
	}
	if n := has(sensor4, "8080", "0x0029"); n != 2 {
		t.Errorf("invalid Xmas to open port logged %d times, want 2", n)
	}
	for _, r := range logged {
		if r[fICMP6Type] != "" && r[fICMP6Type] >= "133" && r[fICMP6Type] <= "137" {
			t.Errorf("neighbour discovery logged: %v", r)
		}
	}
	if inv, closed := l.counter(t, CommentLogInvalid), l.counter(t, CommentLogClosed); int(inv+closed) != len(logged) {
		t.Errorf("counters invalid %d + closed %d != %d packets on nflog:6", inv, closed, len(logged))
	}
}

// TestLogTextToKmsg: with LogText the same rules print kernel LOG lines
// (flags all: MAC header, TCP sequence and options) that reach /dev/kmsg,
// one per packet, as the log rule counter counts. A LOG rule inside a
// network namespace prints only with net.netfilter.nf_log_all_netns=1,
// which this test sets (and leaves set: other suites running at the same
// time rely on it too).
func TestLogTextToKmsg(t *testing.T) {
	nstest.Require(t, "nft", "hping3", "timeout")
	if err := os.WriteFile("/proc/sys/net/netfilter/nf_log_all_netns", []byte("1"), 0o644); err != nil {
		t.Fatalf("enable nf_log_all_netns: %v", err)
	}
	l := newLab(t)
	prefix := fmt.Sprintf("dsfw%d: ", os.Getpid()%100000) // kmsg is global: a prefix of our own
	if err := l.applier.Apply(ctx(t), RulesConfig{Dark: prefixes(dark4), LogText: true, Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	kmsg, err := os.Open("/dev/kmsg")
	if err != nil {
		t.Fatal(err)
	}
	defer kmsg.Close()
	if _, err := kmsg.Seek(0, 2); err != nil { // only records from now on
		t.Fatal(err)
	}
	l.attack(t, "timeout", "30", "hping3", "-q", "-c", "3", "-i", "u20000", "-R", "-p", "81", "10.99.200.2")
	l.attack(t, "timeout", "30", "hping3", "-q", "-c", "3", "-i", "u20000", "-2", "-p", "53", "10.99.200.7")
	want := l.counter(t, CommentLogDark4)
	if want != 6 {
		t.Errorf("log dark4 counter = %d, want the 6 packets sent", want)
	}
	var lines []string
	buf := make([]byte, 8192)
	_ = kmsg.SetReadDeadline(time.Now().Add(5 * time.Second))
	for uint64(len(lines)) < want {
		n, err := kmsg.Read(buf)
		if err != nil {
			break // deadline: fewer lines than packets, reported below
		}
		if rec := string(buf[:n]); strings.Contains(rec, prefix) {
			lines = append(lines, rec)
		}
	}
	if uint64(len(lines)) != want {
		t.Fatalf("%d kmsg lines with prefix %q, counter %d:\n%s", len(lines), prefix, want, strings.Join(lines, ""))
	}
	t.Logf("%d kmsg lines, e.g. %s", len(lines), strings.TrimSpace(lines[0]))
	rst, udp := 0, 0
	for _, line := range lines {
		if !strings.Contains(line, "MACSRC=") || !strings.Contains(line, "SRC="+attacker4+" ") {
			t.Errorf("line lacks flags all fields or source: %s", line)
		}
		switch {
		case strings.Contains(line, "DST=10.99.200.2 ") && strings.Contains(line, " RST ") && strings.Contains(line, " SEQ="):
			rst++
		case strings.Contains(line, "DST=10.99.200.7 ") && strings.Contains(line, "PROTO=UDP") && strings.Contains(line, "DPT=53 "):
			udp++
		}
	}
	if rst != 3 || udp != 3 {
		t.Errorf("kmsg: %d RST and %d UDP lines, want 3 and 3:\n%s", rst, udp, strings.Join(lines, ""))
	}
}

// BenchmarkApply re-applies the ruleset over a block set holding 10,000
// elements with timeouts: the cost of one atomic transaction (nft process
// included), and the elements are still all there afterwards.
func BenchmarkApply(b *testing.B) {
	nstest.Require(b, "nft")
	s := nstest.New(b, "sensor")
	ap, err := NewApplier(nil, WithNetNS(s.Name))
	if err != nil {
		b.Fatal(err)
	}
	cfg := RulesConfig{Dark: prefixes(dark4, dark6), Notrack: true}
	if err := ap.Apply(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	var sb strings.Builder
	sb.WriteString("add element inet darkscope block4 { ")
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "10.99.%d.%d timeout 1h", i/250, 1+i%250)
	}
	sb.WriteString(" }\n")
	cmd := s.Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(sb.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("add %d elements: %v: %s", n, err, out)
	}
	applies := 0
	for b.Loop() {
		if err := ap.Apply(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		applies++
	}
	b.ReportMetric(float64(applies)/b.Elapsed().Seconds(), "applies/s")
	b.StopTimer()
	out := s.MustRun("nft", "list", "set", "inet", "darkscope", "block4")
	if got := strings.Count(out, " timeout 1h"); got != n {
		b.Fatalf("block4 holds %d elements after %d applies, want %d", got, applies, n)
	}
}

// listen starts a TCP listener (python3 http.server, dual stack) on port in
// ns and waits until it accepts. `ip netns exec` and python's launchers
// exec, so the process nstest kills at cleanup is python itself.
func listen(t *testing.T, ns *nstest.NS, port int) {
	t.Helper()
	ns.Start("python3", "-m", "http.server", fmt.Sprint(port), "--bind", "::")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(ns.MustRun("ss", "-ltnH", fmt.Sprintf("sport = :%d", port)), fmt.Sprintf(":%d", port)) {
		if time.Now().After(deadline) {
			t.Fatalf("listener on port %d did not start", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
