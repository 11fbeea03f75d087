package decode_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/sink/jsonl"
)

var ulUpdate = flag.Bool("update-ulogd", false, "rewrite testdata/ulogd/*.golden.jsonl from the parser's output")

// ulCaptured is real ulogd2 2.0.8 output, written by scripts/capture-ulogd.sh.
const ulCaptured = "testdata/ulogd/ulogd2-2.0.8.jsonl"

func ulReadLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if len(lines) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return lines
}

// TestULOGDGolden decodes every captured ulogd line and compares the events,
// in darkscope's native JSON, with the reviewed golden file beside it.
func TestULOGDGolden(t *testing.T) {
	lines := ulReadLines(t, ulCaptured)
	p := decode.NewULOGDParser("sensor1")
	var out []byte
	var ev event.Event
	for i, line := range lines {
		if err := p.ParseLine(line, &ev); err != nil {
			t.Fatalf("line %d: %v\n%s", i+1, err, line)
		}
		out = jsonl.AppendLine(out, jsonl.FormatNative, &ev)
	}
	golden := strings.TrimSuffix(ulCaptured, ".jsonl") + ".golden.jsonl"
	if *ulUpdate {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-ulogd to create it)", err)
	}
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(out), "\n")); diff != "" {
		t.Errorf("decoded events differ from %s (-want +got):\n%s", golden, diff)
	}
}

// TestULOGDFields checks a few captured lines field by field against what the
// probes in scripts/ulogd-probes.py sent (independent of the golden file).
func TestULOGDFields(t *testing.T) {
	lines := ulReadLines(t, ulCaptured)
	p := decode.NewULOGDParser("")
	find := func(substr string) *event.Event {
		t.Helper()
		for _, l := range lines {
			if bytes.Contains(l, []byte(substr)) {
				var ev event.Event
				if err := p.ParseLine(l, &ev); err != nil {
					t.Fatalf("%v: %s", err, l)
				}
				return &ev
			}
		}
		t.Fatalf("no captured line contains %q", substr)
		return nil
	}

	// IPv4 TCP SYN with ECE+CWR, reserved bits 0101, TOS 0xb9, DF, TTL 51.
	e := find(`"src_port": 41000`)
	if e.Sensor != "Netfilter" || e.Prefix != "dark" || e.Hook != event.HookPrerouting || e.IPVersion != 4 {
		t.Errorf("meta: %+v", e)
	}
	if e.Src != netip.MustParseAddr("10.99.0.2") || e.Dst != netip.MustParseAddr("10.99.0.1") {
		t.Errorf("addresses %v > %v", e.Src, e.Dst)
	}
	if e.Flags != event.FlagSYN|event.FlagECE|event.FlagCWR || e.Reserved != 5<<2 {
		t.Errorf("flags %v reserved %#x", e.Flags, e.Reserved)
	}
	if e.TOS != 0xb9 || e.DSCP() != 46 || e.ECN() != 1 || e.TTL != 51 || e.IPID != 0x4242 || e.IPFlags != event.IPFlagDF {
		t.Errorf("ip header: tos %#x ttl %d id %#x flags %#x", e.TOS, e.TTL, e.IPID, e.IPFlags)
	}
	if !e.HasSeq || e.Seq != 0x01020304 || e.Window != 29200 || e.DstPort != 22 || e.TotalLen != 60 || e.IHL != 20 {
		t.Errorf("tcp: %+v", e)
	}
	if !e.HasMAC || e.MACSrc != [6]byte{2, 0, 0, 0, 0x99, 2} || e.MACDst != [6]byte{2, 0, 0, 0, 0x99, 1} || e.EtherType != 0x0800 {
		t.Errorf("mac: %x %x %#x", e.MACSrc, e.MACDst, e.EtherType)
	}
	if e.Time.Location() != time.UTC || e.Time.Year() < 2020 || e.Time.Nanosecond()%1000 != 0 {
		t.Errorf("time %v", e.Time)
	}

	// ICMP fragmentation needed, MTU 1400.
	e = find(`"icmp.fragmtu": 1400`)
	if e.Proto != event.ProtoICMP || e.ICMPType != 3 || e.ICMPCode != 4 || e.ICMPMTU != 1400 || e.TTL != 250 {
		t.Errorf("icmp frag needed: %+v", e)
	}
	// ICMP echo reply (backscatter) id 0xbeef seq 3.
	e = find(`"icmp.echoid": 48879`)
	if e.ICMPType != 0 || e.ICMPID != 0xbeef || e.ICMPSeq != 3 {
		t.Errorf("echo reply: %+v", e)
	}
	// UDP with zero checksum.
	e = find(`"src_port": 5353`)
	if e.Proto != event.ProtoUDP || e.UDPLen != 13 || !e.HasUDPChecksum || e.UDPChecksum != 0 || e.TOS != 0x10 || e.Prefix != "dark-udp" {
		t.Errorf("udp: %+v", e)
	}
	// GRE: no transport keys, not truncated.
	e = find(`"ip.protocol": 47`)
	if e.Proto != event.ProtoGRE || e.Truncated || e.SrcPort != 0 {
		t.Errorf("gre: %+v", e)
	}
	// IPv6 TCP with traffic class 0xb8 and flow label 0x12345.
	e = find(`"src_port": 41001`)
	if e.IPVersion != 6 || e.TOS != 0xb8 || e.FlowLabel != 0x12345 || e.TTL != 57 || e.TotalLen != 64 || e.IHL != 40 || e.Flags != event.FlagSYN {
		t.Errorf("ipv6 tcp: %+v", e)
	}
	if e.Src != netip.MustParseAddr("fd99::2") || e.EtherType != 0x86dd {
		t.Errorf("ipv6 addresses: %v %#x", e.Src, e.EtherType)
	}
	// IPv6 UDP with ECN 3 and flow label 0xfffff.
	e = find(`"src_port": 40123`)
	if e.TOS != 3 || e.ECN() != 3 || e.FlowLabel != 0xfffff || e.UDPLen != 18 {
		t.Errorf("ipv6 udp: %+v", e)
	}
	// ICMPv6 echo request id 0x1234 seq 7.
	e = find(`"icmpv6.echoid": 4660`)
	if e.Proto != event.ProtoICMPv6 || e.ICMPType != 128 || e.ICMPID != 0x1234 || e.ICMPSeq != 7 {
		t.Errorf("icmpv6 echo: %+v", e)
	}
	// TCP ACK+URG with urgent pointer 9 behind a hop-by-hop header.
	e = find(`"tcp.urgp": 9`)
	if e.Flags != event.FlagACK|event.FlagURG || e.Urgent != 9 || e.Seq != 100 || e.Ack != 200 {
		t.Errorf("urg: %+v", e)
	}
	// IPv6 fragments: the first carries UDP, the second only its offset.
	e = find(`"ip6.fragoff": 0,`)
	if e.IPID != 0xabcdef01 || e.FragOff != 0 || e.Proto != event.ProtoUDP || e.DstPort != 161 || e.ExtHdrLen != 1 || e.ExtHdrs[0] != 44 {
		t.Errorf("first v6 fragment: %+v", e)
	}
	e = find(`"ip6.fragoff": 16`)
	if e.IPID != 0xabcdef01 || e.FragOff != 2 || e.Proto != event.ProtoUDP || e.DstPort != 0 || e.Truncated {
		t.Errorf("second v6 fragment: %+v", e)
	}
	// IPv4 fragments of a TCP SYN (hping3 -f): MF, and 16-byte pieces too
	// short for a TCP header.
	e = find(`"ip.fragoff": 8194`)
	if e.IPFlags != event.IPFlagMF || e.FragOff != 2 || e.Truncated || e.SrcPort != 0 {
		t.Errorf("v4 fragment: %+v", e)
	}
	e = find(`"ip.fragoff": 8192`)
	if e.FragOff != 0 || !e.Truncated {
		t.Errorf("first v4 fragment, too short for TCP, must be truncated: %+v", e)
	}
	// Output hook: uid/gid, no link layer.
	e = find(`"oob.hook": 3`)
	if e.Hook != event.HookOutput || !e.HasUID || e.UID != 0 || e.HasMAC || e.OutIface == "" || e.InIface != "" {
		t.Errorf("output hook: %+v", e)
	}
	// Mark set by the ruleset.
	e = find(`"oob.mark": 42`)
	if !e.HasMark || e.Mark != 42 || e.DstPort != 8080 || e.Flags != event.FlagFIN|event.FlagPSH|event.FlagURG {
		t.Errorf("mark: %+v", e)
	}
}

func TestULOGDErrors(t *testing.T) {
	base := `{"timestamp": "2026-11-23T10:29:23.514937", "dvc": "Netfilter", "raw.pktlen": 52, "oob.prefix": "x", "oob.time.sec": 1795429763, "oob.time.usec": 514937, "oob.family": 2, "ip.protocol": 6, "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2"}`
	tests := []struct {
		name, line, reason string
		notFW              bool
	}{
		{name: "blank", line: "   ", notFW: true},
		{name: "empty object", line: "{}", notFW: true},
		{name: "conntrack record", line: `{"timestamp": "2026-11-23T10:29:23", "orig.ip.protocol": 6, "src_ip": "10.0.0.1"}`, notFW: true},
		{name: "not json", line: "Nov 23 kernel: IN=eth0", reason: "bad_json"},
		{name: "cut short", line: base[:60], reason: "bad_json"},
		{name: "trailing garbage", line: base + "x", reason: "bad_json"},
		{name: "bad src", line: strings.Replace(base, "10.0.0.1", "10.0.0.300", 1), reason: "bad_src"},
		{name: "bad dst", line: strings.Replace(base, `"10.0.0.2"`, `"x"`, 1), reason: "bad_dst"},
		{name: "port too big", line: strings.Replace(base, `"ip.protocol": 6`, `"ip.protocol": 6, "src_port": 70000`, 1), reason: "bad_value"},
		{name: "string port", line: strings.Replace(base, `"ip.protocol": 6`, `"ip.protocol": 6, "src_port": "80"`, 1), reason: "bad_value"},
		{name: "negative ttl", line: strings.Replace(base, `"ip.protocol": 6`, `"ip.ttl": -1`, 1), reason: "bad_value"},
		{name: "float", line: strings.Replace(base, `"ip.protocol": 6`, `"ip.protocol": 6.5`, 1), reason: "bad_value"},
		{name: "no addresses", line: strings.Replace(base, `, "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2"`, ``, 1), reason: "no_addresses"},
		{name: "family mismatch", line: strings.Replace(base, `"10.0.0.1"`, `"fd00::1"`, 1), reason: "bad_value"},
		{name: "no time", line: strings.Replace(strings.Replace(base, `"oob.time.sec": 1795429763, "oob.time.usec": 514937, `, ``, 1), `"timestamp": "2026-11-23T10:29:23.514937", `, ``, 1), reason: "bad_timestamp"},
		{name: "bad timestamp", line: strings.Replace(strings.Replace(base, `"oob.time.sec": 1795429763, "oob.time.usec": 514937, `, ``, 1), `2026-11-23T`, `2026-13-23T`, 1), reason: "bad_timestamp"},
		{name: "bad mac", line: strings.Replace(base, `"dvc"`, `"mac.saddr.str": "02:00", "mac.daddr.str": "02:00:00:00:00:01", "dvc"`, 1), reason: "bad_mac"},
	}
	p := decode.NewULOGDParser("s")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev event.Event
			err := p.ParseLine([]byte(tc.line), &ev)
			if tc.notFW {
				if !errors.Is(err, decode.ErrNotFirewall) {
					t.Fatalf("err = %v, want ErrNotFirewall", err)
				}
				return
			}
			var pe *decode.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Reason != tc.reason {
				t.Errorf("reason = %q, want %q (%v)", pe.Reason, tc.reason, err)
			}
		})
	}
	// The base line itself parses.
	var ev event.Event
	if err := p.ParseLine([]byte(base), &ev); err != nil {
		t.Fatal(err)
	}
}

func TestULOGDTimestampFallback(t *testing.T) {
	line := func(ts string) []byte {
		return []byte(`{"timestamp": "` + ts + `", "raw.pktlen": 40, "oob.family": 2, "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2"}`)
	}
	want := time.Date(2026, 11, 23, 10, 29, 23, 514937000, time.UTC)
	p := decode.NewULOGDParser("s")
	var ev event.Event
	for _, tc := range []struct {
		ts  string
		loc *time.Location
	}{
		{"2026-11-23T10:29:23.514937", nil},
		{"2026-11-23T11:29:23.514937+0100", nil},
		{"2026-11-23T05:29:23.514937-0500", time.FixedZone("x", 3600)}, // the offset wins
		{"2026-11-23T12:29:23.514937", time.FixedZone("UTC+2", 7200)},
	} {
		p.SetLocation(tc.loc)
		if err := p.ParseLine(line(tc.ts), &ev); err != nil {
			t.Fatalf("%s: %v", tc.ts, err)
		}
		if !ev.Time.Equal(want) || ev.Time.Location() != time.UTC {
			t.Errorf("%s: time %v, want %v", tc.ts, ev.Time, want)
		}
	}
}

// TestULOGDEscapes checks JSON escapes in strings and unknown value kinds.
func TestULOGDEscapes(t *testing.T) {
	line := []byte(`{"@version": 1, "extra": {"a": [1, "}"]}, "flag": true, "n": null, "big": 1e99, "oob.prefix": "a\"b\\c \u00e9\ud83d\ude00 ", "oob.in": "eth\u0030", "raw.pktlen": 1, "oob.time.sec": 1, "oob.time.usec": 2, "src_ip": "::ffff:10.0.0.1", "dest_ip": "fe80::1"}`)
	p := decode.NewULOGDParser("s")
	var ev event.Event
	if err := p.ParseLine(line, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Prefix != "a\"b\\c é😀" || ev.InIface != "eth0" {
		t.Errorf("prefix %q iface %q", ev.Prefix, ev.InIface)
	}
	if ev.IPVersion != 6 || ev.Src != netip.MustParseAddr("::ffff:10.0.0.1") {
		t.Errorf("src %v v%d", ev.Src, ev.IPVersion)
	}
	if ev.Time != time.Unix(1, 2000).UTC() {
		t.Errorf("time %v", ev.Time)
	}
}

// FuzzULOGD: no panic; an accepted line yields a consistent event, and its
// ulogd re-encoding parses back to the same event.
func FuzzULOGD(f *testing.F) {
	for _, l := range ulReadLines(f, ulCaptured) {
		f.Add(l)
	}
	f.Add([]byte(`{"raw.pktlen": 1, "oob.time.sec": 1, "src_ip": "1.2.3.4", "dest_ip": "5.6.7.8", "oob.prefix": "\u0000"}`))
	p := decode.NewULOGDParser("")
	p2 := decode.NewULOGDParser("")
	f.Fuzz(func(t *testing.T, line []byte) {
		var ev event.Event
		err := p.ParseLine(line, &ev)
		if err != nil {
			var pe *decode.ParseError
			if !errors.Is(err, decode.ErrNotFirewall) && !errors.As(err, &pe) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if ev.IPVersion != 4 && ev.IPVersion != 6 {
			t.Fatalf("ip version %d", ev.IPVersion)
		}
		if !ev.Src.IsValid() || !ev.Dst.IsValid() || ev.Src.Is4() != (ev.IPVersion == 4) || ev.Dst.Is4() != ev.Src.Is4() {
			t.Fatalf("addresses %v %v v%d", ev.Src, ev.Dst, ev.IPVersion)
		}
		if ev.Time.Location() != time.UTC {
			t.Fatalf("time not UTC: %v", ev.Time)
		}
		enc := jsonl.AppendLine(nil, jsonl.FormatULOGD, &ev)
		var back event.Event
		if err := p2.ParseLine(enc, &back); err != nil {
			t.Fatalf("re-encoded line does not parse: %v\n%s", err, enc)
		}
		// The second pass runs on what ulogd format can carry: it must be
		// a fixed point.
		enc2 := jsonl.AppendLine(nil, jsonl.FormatULOGD, &back)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not a fixed point:\n%s\n%s", enc, enc2)
		}
	})
}

func BenchmarkULOGDParse(b *testing.B) {
	lines := ulReadLines(b, ulCaptured)
	p := decode.NewULOGDParser("sensor1")
	var ev event.Event
	n := 0
	var bytesIn int64
	for _, l := range lines {
		bytesIn += int64(len(l))
	}
	b.SetBytes(bytesIn / int64(len(lines)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.ParseLine(lines[n%len(lines)], &ev); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}
