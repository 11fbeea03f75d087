//go:build linux

package decode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/nstest"
)

// TestKernLogAgainstTshark is the root integration test of the LOG parser:
// real rules in a sensor namespace log real packets from an attacker
// namespace to /dev/kmsg; the same packets are captured on the sensor's veth
// and dissected by tshark. Every logged packet must decode to the values
// tshark reads from the wire, field by field.
func TestKernLogAgainstTshark(t *testing.T) {
	nstest.Require(t, "tshark", "tcpdump", "hping3", "nmap", "iptables", "ip6tables", "nft", "ping", "timeout")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A LOG rule in a namespace prints only with nf_log_all_netns=1; it is
	// left set (CI sets it as well).
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_log_all_netns"); err != nil || strings.TrimSpace(string(b)) != "1" {
		if err := os.WriteFile("/proc/sys/net/netfilter/nf_log_all_netns", []byte("1"), 0o644); err != nil {
			t.Fatalf("enable net.netfilter.nf_log_all_netns: %v", err)
		}
	}

	sensor := nstest.New(t, "klsens")
	attacker := nstest.New(t, "klatk")
	ifS, _ := nstest.Link(t, sensor, attacker, "10.99.78.1/24,fd99:78::1/64", "10.99.78.2/24,fd99:78::2/64")
	tag := fmt.Sprintf("dskl%d", os.Getpid()%100000)
	pre4, preNft, pre6 := tag+"-ipt4: ", tag+"-nft4 ", tag+"-ip6 "

	sensor.MustRun("iptables", "-t", "raw", "-A", "PREROUTING", "-i", ifS, "-j", "LOG", "--log-prefix", pre4,
		"--log-tcp-sequence", "--log-tcp-options", "--log-ip-options")
	sensor.MustRun("ip6tables", "-t", "raw", "-A", "PREROUTING", "-i", ifS, "-p", "tcp", "-j", "LOG", "--log-prefix", pre6,
		"--log-tcp-sequence", "--log-tcp-options")
	sensor.MustRun("ip6tables", "-t", "raw", "-A", "PREROUTING", "-i", ifS, "!", "-p", "tcp", "-j", "LOG", "--log-prefix", pre6)
	sensor.Nft(fmt.Sprintf(`table inet dskl {
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		iifname %q meta nfproto ipv4 log prefix %q flags all
	}
}`, ifS, preNft))

	// Read /dev/kmsg while the traffic runs, so that records cannot be
	// overwritten in the ring by other tests' output before we see them.
	kmsg := klOpenKmsg(t)
	var kept [][]byte
	var readErr error
	stopRead := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			recs, err := klReadKmsg(kmsg)
			for _, r := range recs {
				if bytes.Contains(r, []byte(tag)) {
					kept = append(kept, r)
				}
			}
			if err != nil {
				readErr = err
				return
			}
			select {
			case <-stopRead:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	pcap := filepath.Join(t.TempDir(), "sensor.pcap")
	dump := sensor.Command(ctx, "tcpdump", "-i", ifS, "-U", "--immediate-mode", "-n", "-w", pcap)
	dumpErr, err := dump.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(dumpErr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(listening)
				break
			}
		}
		_, _ = io.Copy(io.Discard, dumpErr)
	}()
	t.Cleanup(func() {
		if dump.ProcessState == nil {
			_ = dump.Process.Kill()
			_ = dump.Wait()
		}
	})
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start listening within 10 s")
	}

	// Bounded traffic: one packet per probe, distinct IP IDs.
	// Every command runs under the test's 60 s context and its own timeout;
	// exit codes are ignored (hping3 exits 1 when nothing answers).
	atk := func(argv ...string) {
		_ = attacker.Command(ctx, append([]string{"timeout", "10"}, argv...)...).Run()
	}
	hp := func(args ...string) {
		argv := append([]string{"hping3", "-q", "-n", "-c", "1"}, args...)
		atk(append(argv, "10.99.78.1")...)
	}
	hp("-S", "-p", "80", "-N", "1001", "-M", "123456789", "-w", "4096", "-t", "33", "-o", "0x28")
	hp("-F", "-P", "-U", "-p", "81", "-N", "1002")
	hp("-S", "-A", "-p", "82", "-N", "1003", "-L", "987654321")
	hp("-R", "-p", "83", "-N", "1004")
	hp("-p", "84", "-N", "1005")
	hp("-F", "-S", "-R", "-P", "-A", "-U", "-X", "-Y", "-p", "85", "-N", "1006")
	hp("-S", "-y", "-p", "86", "-N", "1007", "--tcp-timestamp")
	hp("--udp", "-p", "53", "-d", "10", "-N", "1008")
	hp("-1", "-N", "1009")
	atk("ping", "-6", "-n", "-q", "-c", "1", "fd99:78::1")
	atk("ping", "-n", "-q", "-c", "1", "-s", "100", "-Q", "0x10", "10.99.78.1")
	atk("nmap", "-6", "-n", "-Pn", "-sS", "-p", "8080", "--max-retries", "0", "--host-timeout", "8s", "fd99:78::1")
	atk("bash", "-c", "echo probe > /dev/udp/fd99:78::1/5353")

	time.Sleep(time.Second)
	_ = dump.Process.Signal(syscall.SIGINT)
	_ = dump.Wait()

	// The logged packets.
	var logged []event.Event
	p := klNewTestParser(t, time.Now())
	close(stopRead)
	<-readDone
	if readErr != nil {
		t.Fatalf("read /dev/kmsg: %v", readErr)
	}
	for _, rec := range kept {
		var e event.Event
		if _, _, err := p.ParseKmsg(rec, &e); err != nil {
			t.Fatalf("ParseKmsg(%q): %v", rec, err)
		}
		logged = append(logged, e)
	}

	// The same packets as tshark sees them.
	wire := klTshark(ctx, t, pcap)
	byKey := map[string]klWire{}
	for _, w := range wire {
		byKey[w.key] = w
	}
	counts := map[string]int{}
	for i := range logged {
		e := &logged[i]
		if e.Dst.String() != "10.99.78.1" && e.Dst.String() != "fd99:78::1" {
			continue // neighbour discovery and MLD to multicast groups
		}
		k := klKeyOf(e)
		w, ok := byKey[k]
		if !ok {
			var keys []string
			for _, w := range wire {
				keys = append(keys, w.key)
			}
			t.Errorf("logged packet %q (%s) not in the capture; captured:\n%s", k, e.Prefix, strings.Join(keys, "\n"))
			continue
		}
		counts[e.Prefix]++
		klCompare(t, e, w)
	}
	// Every probe must have been logged and compared, by each rule that sees it.
	for _, c := range []struct {
		prefix string
		min    int
	}{{strings.TrimSpace(pre4), 10}, {strings.TrimSpace(preNft), 10}, {strings.TrimSpace(pre6), 3}} {
		if counts[c.prefix] < c.min {
			t.Errorf("%d packets logged and matched with prefix %q, want at least %d (logged %d lines, captured %d packets)",
				counts[c.prefix], c.prefix, c.min, len(logged), len(wire))
		}
	}
}

// klOpenKmsg opens /dev/kmsg positioned after the last record.
func klOpenKmsg(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if _, err := syscall.Seek(fd, 0, 2); err != nil {
		t.Fatalf("seek /dev/kmsg: %v", err)
	}
	return fd
}

// klReadKmsg reads the records available now.
func klReadKmsg(fd int) ([][]byte, error) {
	var out [][]byte
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(fd, buf)
		if errors.Is(err, syscall.EAGAIN) {
			return out, nil
		}
		if errors.Is(err, syscall.EPIPE) {
			continue // records overwritten before we read them
		}
		if err != nil {
			return out, err
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
}

// klWire is one packet to the sensor as tshark dissects it.
type klWire struct {
	key    string
	f      map[string]string
	frame  string
	isIPv6 bool
}

var klTsharkFields = []string{
	"frame.number", "eth.src", "eth.dst", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto", "ipv6.nxt",
	"ip.len", "ipv6.plen", "ip.ttl", "ipv6.hlim", "ip.id", "ip.dsfield", "ipv6.tclass", "ipv6.flow",
	"ip.flags.df", "ip.flags.mf", "ip.frag_offset",
	"tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.window_size_value", "tcp.flags",
	"tcp.urgent_pointer", "tcp.options", "udp.srcport", "udp.dstport", "udp.length",
	"icmp.type", "icmp.code", "icmp.ident", "icmp.seq",
	"icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
}

func klTshark(ctx context.Context, t *testing.T, pcap string) []klWire {
	t.Helper()
	args := []string{"-r", pcap, "-n", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
		"-Y", "(ip.dst==10.99.78.1 or ipv6.dst==fd99:78::1) and not (icmpv6.type >= 133 and icmpv6.type <= 136) and not icmpv6.type == 143"}
	for _, f := range klTsharkFields {
		args = append(args, "-e", f)
	}
	cmd := exec.CommandContext(ctx, "tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	var res []klWire
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != len(klTsharkFields) {
			t.Fatalf("tshark line with %d columns: %q", len(cols), sc.Text())
		}
		w := klWire{f: map[string]string{}}
		for i, c := range cols {
			w.f[klTsharkFields[i]] = c
		}
		w.frame = w.f["frame.number"]
		w.isIPv6 = w.f["ipv6.src"] != ""
		w.key = klWireKey(w)
		res = append(res, w)
	}
	if len(res) < 10 {
		t.Fatalf("tshark saw only %d packets to the sensor:\n%s", len(res), out)
	}
	return res
}

// The matching key: addresses, protocol, IP ID (IPv4) or flow label and
// payload length (IPv6), ports or ICMP id/seq.
func klWireKey(w klWire) string {
	f := w.f
	if w.isIPv6 {
		return fmt.Sprintf("6 %s %s %s %s %s %s %s %s", f["ipv6.src"], f["ipv6.nxt"], klNum(f["ipv6.flow"]),
			klNum(f["ipv6.plen"]), f["tcp.srcport"]+f["udp.srcport"], f["tcp.dstport"]+f["udp.dstport"],
			klOpt(f["icmpv6.echo.identifier"]), klOpt(f["icmpv6.echo.sequence_number"]))
	}
	return fmt.Sprintf("4 %s %s %s %s %s %s", f["ip.src"], f["ip.proto"], klNum(f["ip.id"]),
		f["tcp.srcport"]+f["udp.srcport"], f["tcp.dstport"]+f["udp.dstport"], klOpt(f["icmp.ident"]))
}

// klOpt is klNum for a field that may be absent.
func klOpt(s string) string {
	if s == "" {
		return ""
	}
	return klNum(s)
}

func klKeyOf(e *event.Event) string {
	port := func(p uint16) string {
		if e.Proto == event.ProtoTCP || e.Proto == event.ProtoUDP {
			return strconv.Itoa(int(p))
		}
		return ""
	}
	if e.IPVersion == 6 {
		id, seq := "", ""
		if e.Proto == event.ProtoICMPv6 && (e.ICMPType == 128 || e.ICMPType == 129) {
			id, seq = strconv.Itoa(int(e.ICMPID)), strconv.Itoa(int(e.ICMPSeq))
		}
		return fmt.Sprintf("6 %s %d %d %d %s %s %s %s", e.Src, e.Proto, e.FlowLabel,
			int(e.TotalLen)-40, port(e.SrcPort), port(e.DstPort), id, seq)
	}
	id := ""
	if e.Proto == event.ProtoICMP && (e.ICMPType == 0 || e.ICMPType == 8) {
		id = strconv.Itoa(int(e.ICMPID))
	}
	return fmt.Sprintf("4 %s %d %d %s %s %s", e.Src, e.Proto, e.IPID, port(e.SrcPort), port(e.DstPort), id)
}

// klNum turns a tshark number (decimal, 0x hex, or True/False) into decimal.
func klNum(s string) string {
	switch s {
	case "", "False":
		return "0"
	case "True":
		return "1"
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return "bad:" + s
	}
	return strconv.FormatUint(v, 10)
}

func klCompare(t *testing.T, e *event.Event, w klWire) {
	t.Helper()
	f := w.f
	check := func(name string, got uint64, tsharkField string) {
		t.Helper()
		want := klNum(f[tsharkField])
		if strconv.FormatUint(got, 10) != want {
			t.Errorf("frame %s %s (%s): %s = %d, tshark %s = %s", w.frame, e.Prefix, klKeyOf(e), name, got, tsharkField, f[tsharkField])
		}
	}
	if e.HasMAC {
		if klMAC(e.MACSrc) != f["eth.src"] || klMAC(e.MACDst) != f["eth.dst"] {
			t.Errorf("frame %s %s: MAC %s > %s, tshark %s > %s", w.frame, e.Prefix, klMAC(e.MACSrc), klMAC(e.MACDst), f["eth.src"], f["eth.dst"])
		}
	} else {
		t.Errorf("frame %s %s: no MAC decoded", w.frame, e.Prefix)
	}
	if w.isIPv6 {
		if e.Src.String() != f["ipv6.src"] || e.Dst.String() != f["ipv6.dst"] {
			t.Errorf("frame %s: addresses %v %v, tshark %s %s", w.frame, e.Src, e.Dst, f["ipv6.src"], f["ipv6.dst"])
		}
		check("TotalLen-40", uint64(e.TotalLen)-40, "ipv6.plen")
		check("TTL", uint64(e.TTL), "ipv6.hlim")
		check("TOS", uint64(e.TOS), "ipv6.tclass")
		check("FlowLabel", uint64(e.FlowLabel), "ipv6.flow")
		check("Proto", uint64(e.Proto), "ipv6.nxt")
	} else {
		if e.Src.String() != f["ip.src"] || e.Dst.String() != f["ip.dst"] {
			t.Errorf("frame %s: addresses %v %v, tshark %s %s", w.frame, e.Src, e.Dst, f["ip.src"], f["ip.dst"])
		}
		check("TotalLen", uint64(e.TotalLen), "ip.len")
		check("TTL", uint64(e.TTL), "ip.ttl")
		check("IPID", uint64(e.IPID), "ip.id")
		check("Proto", uint64(e.Proto), "ip.proto")
		check("DF", uint64(e.IPFlags&event.IPFlagDF)>>1, "ip.flags.df")
		check("MF", uint64(e.IPFlags&event.IPFlagMF), "ip.flags.mf")
		check("FragOff", uint64(e.FragOff)*8, "ip.frag_offset")
		// The LOG target prints TOS&0x1E and TOS&0xE0: the lowest ECN bit is not logged.
		tos, _ := strconv.ParseUint(klNum(f["ip.dsfield"]), 10, 8)
		if uint64(e.TOS) != tos&^1 {
			t.Errorf("frame %s: TOS %#x, tshark ip.dsfield %s", w.frame, e.TOS, f["ip.dsfield"])
		}
	}
	switch e.Proto {
	case event.ProtoTCP:
		check("SrcPort", uint64(e.SrcPort), "tcp.srcport")
		check("DstPort", uint64(e.DstPort), "tcp.dstport")
		check("Window", uint64(e.Window), "tcp.window_size_value")
		check("Urgent", uint64(e.Urgent), "tcp.urgent_pointer")
		fl, _ := strconv.ParseUint(klNum(f["tcp.flags"]), 10, 16)
		if uint64(e.Flags) != fl&0xff || uint64(e.Reserved) != (fl>>8&0x0f)<<2 {
			t.Errorf("frame %s %s: flags %q reserved %#x, tshark tcp.flags %s", w.frame, e.Prefix, e.Flags, e.Reserved, f["tcp.flags"])
		}
		if e.HasSeq {
			check("Seq", uint64(e.Seq), "tcp.seq_raw")
			check("Ack", uint64(e.Ack), "tcp.ack_raw")
		} else {
			t.Errorf("frame %s %s: rule logs --log-tcp-sequence but no SEQ decoded", w.frame, e.Prefix)
		}
		opts := strings.ReplaceAll(f["tcp.options"], ":", "")
		if got := fmt.Sprintf("%x", e.TCPOpts()); got != opts {
			t.Errorf("frame %s %s: TCP options %s, tshark %s", w.frame, e.Prefix, got, opts)
		}
	case event.ProtoUDP:
		check("SrcPort", uint64(e.SrcPort), "udp.srcport")
		check("DstPort", uint64(e.DstPort), "udp.dstport")
		check("UDPLen", uint64(e.UDPLen), "udp.length")
	case event.ProtoICMP:
		check("ICMPType", uint64(e.ICMPType), "icmp.type")
		check("ICMPCode", uint64(e.ICMPCode), "icmp.code")
		check("ICMPID", uint64(e.ICMPID), "icmp.ident")
		check("ICMPSeq", uint64(e.ICMPSeq), "icmp.seq")
	case event.ProtoICMPv6:
		check("ICMPType", uint64(e.ICMPType), "icmpv6.type")
		check("ICMPCode", uint64(e.ICMPCode), "icmpv6.code")
		check("ICMPID", uint64(e.ICMPID), "icmpv6.echo.identifier")
		check("ICMPSeq", uint64(e.ICMPSeq), "icmpv6.echo.sequence_number")
	}
	if e.Truncated {
		t.Errorf("frame %s %s: marked truncated", w.frame, e.Prefix)
	}
}
