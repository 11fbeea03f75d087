package nflog

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/nstest"
	"github.com/darkscope/darkscope/internal/source"
)

// rootLab is a sensor namespace logging what an attacker namespace sends
// through an nftables prerouting rule (priority -450) to an NFLOG group,
// with a named counter in the same rule, before the log statement.
type rootLab struct {
	sensor, attacker *nstest.NS
	sIf, aIf         string
	sMAC, aMAC       [6]byte
	group            uint16
	nsFile           *os.File
}

func newRootLab(t *testing.T, group uint16, octet int) *rootLab {
	t.Helper()
	nstest.Require(t, "nft", "hping3")
	l := &rootLab{group: group}
	l.sensor = nstest.New(t, "sensor")
	l.attacker = nstest.New(t, "attacker")
	l.sIf, l.aIf = nstest.Link(t, l.sensor, l.attacker,
		fmt.Sprintf("10.99.%d.1/24,fd99:%d::1/64", octet, octet),
		fmt.Sprintf("10.99.%d.2/24,fd99:%d::2/64", octet, octet))
	l.sMAC = [6]byte{2, 0x99, 0, byte(octet), 0, 1}
	l.aMAC = [6]byte{2, 0x99, 0, byte(octet), 0, 2}
	l.sensor.MustRun("ip", "link", "set", l.sIf, "address", macString(l.sMAC))
	l.attacker.MustRun("ip", "link", "set", l.aIf, "address", macString(l.aMAC))
	l.sensor.Nft(fmt.Sprintf(`
table inet dsnflogtest {
	counter logged4 { }
	counter logged6 { }
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		iifname "%[1]s" ip saddr 10.99.%[2]d.2 counter name "logged4" log prefix "dstest4 " group %[3]d
		iifname "%[1]s" ip6 saddr fd99:%[2]d::2 counter name "logged6" log prefix "dstest6 " group %[3]d
	}
}`, l.sIf, octet, group))
	f, err := os.Open(l.sensor.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	l.nsFile = f
	return l
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

var counterRE = regexp.MustCompile(`packets (\d+) bytes`)

// counter reads a named nft counter of the lab's table.
func (l *rootLab) counter(t *testing.T, name string) uint64 {
	t.Helper()
	out := l.sensor.MustRun("nft", "list", "counter", "inet", "dsnflogtest", name)
	m := counterRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no packet count in %q", out)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// waitBound waits until the kernel lists the group as bound in the sensor.
func (l *rootLab) waitBound(t *testing.T) {
	t.Helper()
	for i := 0; i < 100; i++ {
		out := l.sensor.MustRun("cat", "/proc/net/netfilter/nfnetlink_log")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == strconv.Itoa(int(l.group)) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nflog group %d never bound", l.group)
}

// collector gathers the events a source sends and counts them as stored.
type collector struct {
	mu     sync.Mutex
	events []event.Event
}

func (c *collector) run(in <-chan source.Batch) {
	for b := range in {
		c.mu.Lock()
		c.events = append(c.events, b.Events...)
		c.mu.Unlock()
		b.Counters.AddStored(uint64(len(b.Events)))
		source.ReleaseEvents(b.Events)
	}
}

func (c *collector) snapshot() []event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.Event(nil), c.events...)
}

// start runs the source in the sensor namespace until the test ends.
func (l *rootLab) start(t *testing.T, cfg Config, opts ...Option) (*NFLOG, *source.Counters, *collector) {
	t.Helper()
	cfg.Group, cfg.NetNS, cfg.Sensor = l.group, int(l.nsFile.Fd()), "lab-sensor"
	counters := source.NewCounters(fmt.Sprintf("nflog:%d", l.group))
	n, err := New(cfg, counters, testLogger(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan source.Batch, 4096)
	c := &collector{}
	done := make(chan struct{})
	go func() { c.run(out); close(done) }()
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
		close(out)
		<-done
	})
	return n, counters, c
}

// waitEvents waits until the collector holds want events (and a little
// longer, to see any extra), at most 10 s.
func waitEvents(t *testing.T, c *collector, want uint64) []event.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if uint64(len(c.snapshot())) >= want {
			time.Sleep(300 * time.Millisecond)
			return c.snapshot()
		}
		time.Sleep(50 * time.Millisecond)
	}
	evs := c.snapshot()
	t.Fatalf("got %d events, want %d", len(evs), want)
	return evs
}

// TestRealKernel sends real probes from the attacker namespace and checks
// every field of the events NFLOG delivered against the values sent.
func TestRealKernel(t *testing.T) {
	const octet = 61
	l := newRootLab(t, 4161, octet)
	n, counters, c := l.start(t, Config{})
	l.waitBound(t)
	nstest.Require(t, "tcpdump", "tshark", "ping")
	pcap := t.TempDir() + "/sensor.pcap"
	dump := l.sensor.Start("tcpdump", "--immediate-mode", "-i", l.sIf, "-U", "-s", "0", "-w", pcap)
	for i := 0; i < 100; i++ { // tcpdump writes the file header once it listens
		if st, err := os.Stat(pcap); err == nil && st.Size() > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	sensor4 := netip.MustParseAddr(fmt.Sprintf("10.99.%d.1", octet))
	attacker4 := netip.MustParseAddr(fmt.Sprintf("10.99.%d.2", octet))
	attacker6 := netip.MustParseAddr(fmt.Sprintf("fd99:%d::2", octet))
	start := time.Now()

	type tcpCase struct {
		args  []string
		flags event.TCPFlags
	}
	const (
		F, S, R, P, A, U, E, C = event.FlagFIN, event.FlagSYN, event.FlagRST, event.FlagPSH, event.FlagACK, event.FlagURG, event.FlagECE, event.FlagCWR
	)
	tcpCases := []tcpCase{
		{[]string{"-S"}, S}, {[]string{"-S", "-A"}, S | A}, {[]string{"-R"}, R}, {[]string{"-R", "-A"}, R | A},
		{[]string{"-F"}, F}, {[]string{"-F", "-P", "-U"}, F | P | U}, {nil, 0}, {[]string{"-A"}, A},
		{[]string{"-S", "-F"}, S | F}, {[]string{"-S", "-X", "-Y"}, S | E | C},
		{[]string{"-F", "-S", "-R", "-P", "-A", "-U", "-X", "-Y"}, F | S | R | P | A | U | E | C},
	}
	for i, tc := range tcpCases {
		args := []string{"hping3", "-q", "-c", "1", "-p", "80", "-s", strconv.Itoa(41000 + i),
			"-M", strconv.Itoa(1000000 + i), "-L", strconv.Itoa(2000000 + i), "-w", strconv.Itoa(3000 + i),
			"-t", "55", "-N", strconv.Itoa(5000 + i)}
		args = append(append(args, tc.args...), sensor4.String())
		l.attacker.Run(args...) // hping3 exits non-zero when nothing answers
	}
	l.attacker.Run("hping3", "-q", "-2", "-c", "1", "-p", "53", "-s", "42000", "-d", "20", "-t", "56", sensor4.String())
	l.attacker.Run("hping3", "-q", "-1", "-c", "1", "-t", "57", sensor4.String())
	// IPv6: echo requests with a flow label and traffic class.
	l.attacker.Run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "-F", "0x54321", "-Q", "0x20", fmt.Sprintf("fd99:%d::1", octet))

	want := l.counter(t, "logged4") + l.counter(t, "logged6")
	events := waitEvents(t, c, want)
	time.Sleep(200 * time.Millisecond)
	_ = dump.Process.Signal(os.Interrupt)
	_ = dump.Wait()
	// Frames from the attacker's MAC and address: an ICMP error the sensor
	// sends back quotes the attacker's address too.
	// Only what was sent from start on: the attacker's neighbour discovery
	// may also be logged before the capture began.
	var sentEvents []event.Event
	for _, e := range events {
		if !e.Time.Before(start) {
			sentEvents = append(sentEvents, e)
		}
	}
	compareTshark(t, pcap, fmt.Sprintf("eth.src==%s && (ip.src==%v || ipv6.src==%v) && frame.time_epoch >= %.6f",
		macString(l.aMAC), attacker4, attacker6, float64(start.UnixMicro())/1e6), sentEvents)
	if uint64(len(events)) != want {
		t.Fatalf("%d events, nft counted %d packets", len(events), want)
	}
	s := counters.Snapshot()
	if !s.Balanced() || s.Received != want || s.LostTotal() != 0 || n.Overruns() != 0 {
		t.Fatalf("counters %+v, overruns %d: want %d received, no loss", s, n.Overruns(), want)
	}

	common := func(e event.Event, what string) {
		t.Helper()
		errs := []string{}
		check := func(name string, ok bool, got any) {
			if !ok {
				errs = append(errs, fmt.Sprintf("%s=%v", name, got))
			}
		}
		check("Kind", e.Kind == event.KindPacket, e.Kind)
		check("Sensor", e.Sensor == "lab-sensor", e.Sensor)
		check("Source", e.Source == fmt.Sprintf("nflog:%d", l.group), e.Source)
		check("Group", e.Group == l.group, e.Group)
		check("Hook", e.Hook == event.HookPrerouting, e.Hook)
		check("InIface", e.InIface == l.sIf, e.InIface)
		check("OutIface", e.OutIface == "", e.OutIface)
		check("MACSrc", e.MACSrc == l.aMAC, e.MACSrc)
		// Neighbour solicitations go to a 33:33:... multicast address.
		check("MACDst", e.MACDst == l.sMAC || (e.Proto == event.ProtoICMPv6 && e.MACDst[0] == 0x33 && e.MACDst[1] == 0x33), e.MACDst)
		check("HasMAC", e.HasMAC, e.HasMAC)
		check("Time", !e.Time.Before(start.Add(-time.Second)) && !e.Time.After(time.Now().Add(time.Second)) && e.Time.Location() == time.UTC, e.Time)
		check("Mark", !e.HasMark && e.Mark == 0, e.Mark)
		check("Truncated", !e.Truncated, e.Truncated)
		if len(errs) > 0 {
			t.Errorf("%s: wrong %s", what, strings.Join(errs, " "))
		}
	}
	seen := map[string]int{}
	for _, e := range events {
		switch {
		case e.IPVersion == 4 && e.Proto == event.ProtoTCP:
			i := int(e.SrcPort) - 41000
			if i < 0 || i >= len(tcpCases) {
				t.Errorf("unexpected TCP event from port %d", e.SrcPort)
				continue
			}
			seen["tcp"]++
			what := fmt.Sprintf("tcp case %d (%v)", i, tcpCases[i].args)
			common(e, what)
			got := [...]any{e.Src, e.Dst, e.Prefix, e.EtherType, e.IHL, e.TotalLen, e.TTL, e.IPID, e.IPFlags, e.DstPort,
				e.Flags, e.Seq, e.Ack, e.HasSeq, e.Window, e.TCPOptLen, e.PayloadLen, e.Reserved}
			wantF := [...]any{attacker4, sensor4, "dstest4", uint16(0x0800), uint8(20), uint16(40), uint8(55), uint32(5000 + i), uint8(0), uint16(80),
				tcpCases[i].flags, uint32(1000000 + i), uint32(2000000 + i), true, uint16(3000 + i), uint8(0), uint16(0), uint8(0)}
			if got != wantF {
				t.Errorf("%s:\n got %v\nwant %v", what, got, wantF)
			}
		case e.IPVersion == 4 && e.Proto == event.ProtoUDP:
			seen["udp"]++
			common(e, "udp")
			got := [...]any{e.Src, e.Dst, e.SrcPort, e.DstPort, e.UDPLen, e.HasUDPChecksum, e.PayloadLen, e.PayloadCap, e.TotalLen, e.TTL, e.Prefix}
			wantF := [...]any{attacker4, sensor4, uint16(42000), uint16(53), uint16(28), true, uint16(20), uint8(20), uint16(48), uint8(56), "dstest4"}
			if got != wantF {
				t.Errorf("udp:\n got %v\nwant %v", got, wantF)
			}
		case e.IPVersion == 4 && e.Proto == event.ProtoICMP:
			seen["icmp"]++
			common(e, "icmp")
			got := [...]any{e.Src, e.Dst, e.ICMPType, e.ICMPCode, e.ICMPSeq, e.TTL, e.TotalLen, e.HasQuoted}
			wantF := [...]any{attacker4, sensor4, uint8(8), uint8(0), uint16(0), uint8(57), uint16(28), false}
			if got != wantF {
				t.Errorf("icmp:\n got %v\nwant %v", got, wantF)
			}
		case e.IPVersion == 6 && e.Proto == event.ProtoICMPv6 && e.ICMPType == 128:
			seen["icmp6"]++
			common(e, "icmpv6 echo")
			got := [...]any{e.Src, e.Dst, e.ICMPCode, e.FlowLabel, e.TOS, e.EtherType, e.Prefix, e.IHL, e.TotalLen}
			wantF := [...]any{attacker6, netip.MustParseAddr(fmt.Sprintf("fd99:%d::1", octet)), uint8(0), uint32(0x54321), uint8(0x20), uint16(0x86dd), "dstest6", uint8(40), uint16(104)}
			if got != wantF {
				t.Errorf("icmpv6 echo:\n got %v\nwant %v", got, wantF)
			}
			if e.ICMPSeq != 1 && e.ICMPSeq != 2 {
				t.Errorf("icmpv6 echo seq %d", e.ICMPSeq)
			}
		case e.IPVersion == 6:
			seen["ipv6-other"]++ // neighbour discovery from the attacker's address
			common(e, "ipv6")
			if e.Src != attacker6 || e.Prefix != "dstest6" {
				t.Errorf("ipv6 event from %v prefix %q", e.Src, e.Prefix)
			}
		default:
			t.Errorf("unexpected event %+v", e)
		}
	}
	for k, w := range map[string]int{"tcp": len(tcpCases), "udp": 1, "icmp": 1, "icmp6": 2} {
		if seen[k] != w {
			t.Errorf("%d %s events, want %d (all: %v)", seen[k], k, w, seen)
		}
	}
}

// TestRealKernelLoss overflows a small socket buffer while the source does
// not read, then lets it drain and sends a sentinel: every packet the nft
// counter saw must be either an event or counted lost.
func TestRealKernelLoss(t *testing.T) {
	const octet = 62
	l := newRootLab(t, 4162, octet)
	gate := make(chan struct{})
	n, counters, c := l.start(t, Config{RcvBuf: 128 << 10}, withRecvGate(gate))
	l.waitBound(t)
	target := fmt.Sprintf("10.99.%d.1", octet)
	// A bounded flood while nobody reads: the socket buffer fills and the
	// kernel drops whole batches.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	flood := l.attacker.Command(ctx, "timeout", "3", "hping3", "-q", "-S", "-p", "9", "-c", "60000", "-i", "u1", target)
	_ = flood.Run() // timeout's exit status says nothing useful
	close(gate)
	time.Sleep(500 * time.Millisecond)
	l.attacker.Run("hping3", "-q", "-c", "1", "-S", "-p", "7777", target)
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := c.snapshot()
		if len(evs) > 0 && evs[len(evs)-1].DstPort == 7777 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel never arrived (%d events)", len(evs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	sent := l.counter(t, "logged4")
	stored := uint64(len(c.snapshot()))
	s := counters.Snapshot()
	lost := s.Lost[source.LostKernelOverrun]
	t.Logf("nft counted %d, stored %d, lost %d (kernel_overrun), ENOBUFS reports %d", sent, stored, lost, n.Overruns())
	if stored+lost != sent {
		t.Fatalf("stored %d + lost %d = %d, nft counted %d", stored, lost, stored+lost, sent)
	}
	if lost == 0 || n.Overruns() == 0 {
		t.Fatalf("no overrun seen (lost %d, ENOBUFS %d): the flood did not overflow the socket", lost, n.Overruns())
	}
	if s.Stored != stored || !s.Balanced() || s.Lost[source.LostQueueFull] != 0 {
		t.Fatalf("counters %+v", s)
	}
}

// TestRealKernelGroupBusy: a second reader of a bound group gets the
// actionable "already bound" error, not a retry loop.
func TestRealKernelGroupBusy(t *testing.T) {
	nstest.Require(t)
	ns := nstest.New(t, "busy")
	f, err := os.Open(ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := &rootLab{sensor: ns, group: 4163, nsFile: f}
	l.start(t, Config{})
	l.waitBound(t)
	second, err := New(Config{Group: 4163, NetNS: int(f.Fd()), Sensor: "s"}, source.NewCounters("x"), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = second.Run(ctx, make(chan source.Batch, 1))
	var perm *source.Permanent
	if err == nil || !errors.As(err, &perm) || !strings.Contains(err.Error(), "nflog group 4163 already bound by another process") {
		t.Fatalf("second bind: %v, want a permanent \"already bound\" error", err)
	}
}

// compareTshark checks the events against tshark's dissection of the packets
// tcpdump captured on the sensor's veth: the frames the filter selects are
// the logged packets, in the order the prerouting hook saw them.
func compareTshark(t *testing.T, pcap, filter string, events []event.Event) {
	t.Helper()
	fields := []string{"frame.time_epoch", "eth.src", "eth.dst", "eth.type", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
		"ip.id", "ip.ttl", "ipv6.hlim", "ip.len", "ipv6.plen", "ip.dsfield", "ipv6.tclass", "ipv6.flow", "ip.flags",
		"tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value", "tcp.urgent_pointer",
		"udp.srcport", "udp.dstport", "udp.length", "udp.checksum", "icmp.type", "icmp.code", "icmp.seq",
		"icmpv6.type", "icmpv6.code", "icmpv6.echo.sequence_number"}
	args := []string{"-r", pcap, "-n", "-Y", filter, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(events) {
		var evs []string
		for _, e := range events {
			evs = append(evs, fmt.Sprintf("%s %v %v>%v type %d", e.Time.Format("15:04:05.000000"), e.Proto, e.Src, e.Dst, e.ICMPType))
		}
		t.Fatalf("tshark sees %d logged packets on the veth, NFLOG delivered %d events:\n%s\ntshark:\n%s",
			len(lines), len(events), strings.Join(evs, "\n"), out)
	}
	num := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("tshark value %q: %v", s, err)
		}
		return v
	}
	for i, line := range lines {
		col := strings.Split(line, "\t")
		f := map[string]string{}
		for j, name := range fields {
			if j < len(col) && col[j] != "" {
				f[name] = col[j]
			}
		}
		e := events[i]
		var bad []string
		eq := func(name string, got uint64, key string) {
			if v, ok := f[key]; ok && num(v) != got {
				bad = append(bad, fmt.Sprintf("%s=%d (tshark %s)", name, got, v))
			}
		}
		str := func(name, got, key string) {
			if v, ok := f[key]; ok && v != got {
				bad = append(bad, fmt.Sprintf("%s=%s (tshark %s)", name, got, v))
			}
		}
		sec, err := strconv.ParseFloat(f["frame.time_epoch"], 64)
		if err != nil {
			t.Fatal(err)
		}
		if d := e.Time.Sub(time.Unix(0, int64(sec*1e9))); d > 20*time.Millisecond || d < -20*time.Millisecond {
			bad = append(bad, fmt.Sprintf("Time=%v (capture %.6f, off by %v)", e.Time, sec, d))
		}
		str("MACSrc", macString(e.MACSrc), "eth.src")
		str("MACDst", macString(e.MACDst), "eth.dst")
		eq("EtherType", uint64(e.EtherType), "eth.type")
		str("Src", e.Src.String(), "ip.src")
		str("Dst", e.Dst.String(), "ip.dst")
		str("Src", e.Src.String(), "ipv6.src")
		str("Dst", e.Dst.String(), "ipv6.dst")
		eq("IPID", uint64(e.IPID), "ip.id")
		eq("TTL", uint64(e.TTL), "ip.ttl")
		eq("TTL", uint64(e.TTL), "ipv6.hlim")
		eq("TotalLen", uint64(e.TotalLen), "ip.len")
		if v, ok := f["ipv6.plen"]; ok && num(v)+40 != uint64(e.TotalLen) {
			bad = append(bad, fmt.Sprintf("TotalLen=%d (tshark plen %s)", e.TotalLen, v))
		}
		eq("TOS", uint64(e.TOS), "ip.dsfield")
		eq("TOS", uint64(e.TOS), "ipv6.tclass")
		eq("FlowLabel", uint64(e.FlowLabel), "ipv6.flow")
		eq("IPFlags", uint64(e.IPFlags), "ip.flags")
		eq("SrcPort", uint64(e.SrcPort), "tcp.srcport")
		eq("DstPort", uint64(e.DstPort), "tcp.dstport")
		eq("Seq", uint64(e.Seq), "tcp.seq_raw")
		eq("Ack", uint64(e.Ack), "tcp.ack_raw")
		if v, ok := f["tcp.flags"]; ok && num(v)&0xff != uint64(e.Flags) {
			bad = append(bad, fmt.Sprintf("Flags=%v (tshark %s)", e.Flags, v))
		}
		eq("Window", uint64(e.Window), "tcp.window_size_value")
		eq("Urgent", uint64(e.Urgent), "tcp.urgent_pointer")
		eq("SrcPort", uint64(e.SrcPort), "udp.srcport")
		eq("DstPort", uint64(e.DstPort), "udp.dstport")
		eq("UDPLen", uint64(e.UDPLen), "udp.length")
		eq("UDPChecksum", uint64(e.UDPChecksum), "udp.checksum")
		eq("ICMPType", uint64(e.ICMPType), "icmp.type")
		eq("ICMPCode", uint64(e.ICMPCode), "icmp.code")
		eq("ICMPSeq", uint64(e.ICMPSeq), "icmp.seq")
		eq("ICMPType", uint64(e.ICMPType), "icmpv6.type")
		eq("ICMPCode", uint64(e.ICMPCode), "icmpv6.code")
		eq("ICMPSeq", uint64(e.ICMPSeq), "icmpv6.echo.sequence_number")
		if len(bad) > 0 {
			t.Errorf("event %d (%v %v > %v): %s", i, e.Proto, e.Src, e.Dst, strings.Join(bad, ", "))
		}
	}
}
