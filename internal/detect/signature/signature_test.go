package signature

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/event"
)

// pkt builds a TCP/UDP/ICMP event from 10.99.0.2 to 10.99.0.1.
func pkt(p event.Proto, mod func(e *event.Event)) *event.Event {
	e := &event.Event{
		IPVersion: 4, Src: netip.MustParseAddr("10.99.0.2"), Dst: netip.MustParseAddr("10.99.0.1"),
		Proto: p, IHL: 20, TTL: 64, IPID: 4321, SrcPort: 40000, DstPort: 80,
	}
	switch p {
	case event.ProtoTCP:
		e.TotalLen, e.Window, e.Flags = 40, 29200, event.FlagSYN
	case event.ProtoUDP:
		e.TotalLen, e.UDPLen = 28, 8
	case event.ProtoICMP:
		e.TotalLen, e.ICMPType, e.SrcPort, e.DstPort = 28, 8, 0, 0
	}
	if mod != nil {
		mod(e)
	}
	return e
}

func matchIDs(m *Matcher, e *event.Event) []uint32 {
	var ids []uint32
	m.Match(e, func(r *Rule) { ids = append(ids, r.ID) })
	slices.Sort(ids)
	return ids
}

func TestDefaultRules(t *testing.T) {
	m, rep, err := Load(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Defaults < 40 {
		t.Fatalf("only %d default rules", rep.Defaults)
	}
	tcp, udp, icmp := event.ProtoTCP, event.ProtoUDP, event.ProtoICMP
	flags := func(f event.TCPFlags) func(*event.Event) { return func(e *event.Event) { e.Flags = f } }
	tests := []struct {
		name string
		e    *event.Event
		want []uint32
	}{
		{"plain SYN", pkt(tcp, nil), nil},
		{"SYN ACK", pkt(tcp, flags(event.FlagSYN|event.FlagACK)), nil},
		{"nmap fingerprint URG PSH SYN FIN", pkt(tcp, flags(event.FlagURG|event.FlagPSH|event.FlagSYN|event.FlagFIN)), []uint32{1001}},
		{"SYN FIN", pkt(tcp, flags(event.FlagSYN|event.FlagFIN)), []uint32{1002}},
		{"SYN FIN ECE CWR still SYN FIN", pkt(tcp, flags(event.FlagSYN|event.FlagFIN|event.FlagECE|event.FlagCWR)), []uint32{1002}},
		{"synscan", pkt(tcp, func(e *event.Event) { e.Flags, e.IPID = event.FlagSYN|event.FlagFIN, 39426 }), []uint32{1002, 1008}},
		{"xmas FPU", pkt(tcp, flags(event.FlagFIN|event.FlagPSH|event.FlagURG)), []uint32{1003}},
		{"all flags", pkt(tcp, flags(0xff)), []uint32{1004, 1007}},
		{"NULL", pkt(tcp, flags(0)), []uint32{1005}},
		{"FIN", pkt(tcp, flags(event.FlagFIN)), []uint32{1006}},
		{"FIN ACK is normal", pkt(tcp, flags(event.FlagFIN|event.FlagACK)), nil},
		{"SYN RST", pkt(tcp, flags(event.FlagSYN|event.FlagRST)), []uint32{1007}},
		{"TCP dport 0", pkt(tcp, func(e *event.Event) { e.DstPort = 0 }), []uint32{1010}},
		{"TCP sport 0", pkt(tcp, func(e *event.Event) { e.SrcPort = 0 }), []uint32{1011}},
		{"UDP dport 0", pkt(udp, func(e *event.Event) { e.DstPort = 0 }), []uint32{1012}},
		{"TTL 0", pkt(udp, func(e *event.Event) { e.TTL = 0 }), []uint32{1014}},
		{"land", pkt(tcp, func(e *event.Event) { e.Src = e.Dst }), []uint32{1015}},
		{"LSRR", pkt(icmp, func(e *event.Event) { e.SetIPOptions([]byte{1, 131, 7, 4, 10, 0, 0, 1}) }), []uint32{1020}},
		{"SSRR", pkt(tcp, func(e *event.Event) { e.SetIPOptions([]byte{137, 7, 4, 10, 0, 0, 1, 0}) }), []uint32{1021}},
		{"RR", pkt(udp, func(e *event.Event) { e.SetIPOptions([]byte{7, 7, 4, 0, 0, 0, 0, 0}) }), []uint32{1022}},
		{"mstream", pkt(tcp, func(e *event.Event) { e.DstPort = 15104 }), []uint32{1030}},
		{"mstream SYN ACK is not", pkt(tcp, func(e *event.Event) { e.DstPort, e.Flags = 15104, event.FlagSYN|event.FlagACK }), nil},
		{"subseven", pkt(tcp, func(e *event.Event) { e.DstPort = 27374 }), []uint32{1031}},
		{"netbus 12345", pkt(tcp, func(e *event.Event) { e.DstPort = 12345 }), []uint32{1032}},
		{"netbus 12346", pkt(tcp, func(e *event.Event) { e.DstPort = 12346 }), []uint32{1032}},
		{"netbus 12347 is not", pkt(tcp, func(e *event.Event) { e.DstPort = 12347 }), nil},
		{"slammer", pkt(udp, func(e *event.Event) { e.DstPort, e.TotalLen, e.UDPLen = 1434, 404, 384 }), []uint32{1034}},
		{"udp 1434 small is not slammer", pkt(udp, func(e *event.Event) { e.DstPort = 1434 }), nil},
		{"trin00 27444 with payload", pkt(udp, func(e *event.Event) { e.DstPort, e.TotalLen, e.PayloadLen = 27444, 40, 12 }), []uint32{1035}},
		{"trin00 27444 empty is not", pkt(udp, func(e *event.Event) { e.DstPort = 27444 }), nil},
		{"trin00 31335 (dsize from LEN)", pkt(udp, func(e *event.Event) { e.DstPort, e.TotalLen = 31335, 40 }), []uint32{1036}},
		{"trin00 27665", pkt(tcp, func(e *event.Event) { e.DstPort = 27665 }), []uint32{1037}},
		{"ping", pkt(icmp, nil), nil},
		{"ping code 3", pkt(icmp, func(e *event.Event) { e.ICMPCode = 3 }), []uint32{1057}},
		{"timestamp", pkt(icmp, func(e *event.Event) { e.ICMPType = 13 }), []uint32{1050}},
		{"address mask", pkt(icmp, func(e *event.Event) { e.ICMPType = 17 }), []uint32{1052}},
		{"large ICMP", pkt(icmp, func(e *event.Event) { e.TotalLen, e.PayloadLen = 1028, 1000 }), []uint32{1055}},
		{"unreachable code 16", pkt(icmp, func(e *event.Event) { e.ICMPType, e.ICMPCode = 3, 16 }), []uint32{1059}},
		{"unreachable port", pkt(icmp, func(e *event.Event) { e.ICMPType, e.ICMPCode = 3, 3 }), nil},
		{"type 200", pkt(icmp, func(e *event.Event) { e.ICMPType = 200 }), []uint32{1069}},
		{"version.bind", pkt(udp, func(e *event.Event) {
			e.DstPort = 53
			e.SetPayload([]byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07VERSION\x04BIND\x00\x00\x10\x00\x03"), 30)
		}), []uint32{1080}},
		{"ssdp", pkt(udp, func(e *event.Event) {
			e.DstPort = 1900
			e.SetPayload([]byte("M-SEARCH * HTTP/1.1\r\n"), 21)
		}), []uint32{1081}},
		{"ssdp NOTIFY is not", pkt(udp, func(e *event.Event) {
			e.DstPort = 1900
			e.SetPayload([]byte("NOTIFY * HTTP/1.1\r\n"), 19)
		}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, matchIDs(m, tt.e)); diff != "" {
				t.Errorf("rule ids (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIndexEqualsScan checks that the index finds exactly what testing every
// rule finds, over a grid of events.
func TestIndexEqualsScan(t *testing.T) {
	m, _, err := Load(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []event.Proto{event.ProtoTCP, event.ProtoUDP, event.ProtoICMP, event.ProtoICMPv6, event.ProtoGRE} {
		for port := 0; port < 65536; port += 7 {
			for f := 0; f < 256; f += 13 {
				e := pkt(p, func(e *event.Event) {
					e.DstPort, e.SrcPort, e.Flags = uint16(port), uint16(port*3), event.TCPFlags(f)
					e.ICMPType, e.ICMPCode, e.TTL = uint8(port), uint8(f%20), uint8(f)
				})
				var want []uint32
				for _, r := range m.Rules() {
					if r.Matches(e) {
						want = append(want, r.ID)
					}
				}
				slices.Sort(want)
				if diff := cmp.Diff(want, matchIDs(m, e)); diff != "" {
					t.Fatalf("proto %s port %d flags %#x (-scan +index):\n%s", p, port, f, diff)
				}
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ line, reason string }{
		{`id=1 name=x level=1`, `starts with the word "rule"`},
		{`rule name=x level=1`, "missing id"},
		{`rule id=1 level=1`, "missing name"},
		{`rule id=1 name=x`, "missing level"},
		{`rule id=1 name=x level=6`, "level"},
		{`rule id=1 name=x level=1 ttl=300`, "ttl"},
		{`rule id=1 name=x level=1 ttl=9-3`, "backwards"},
		{`rule id=1 name=x level=1 colour=red`, `unknown key "colour"`},
		{`rule id=1 name="x level=1`, "unterminated quote"},
		{`rule id=1 name=x level=1 proto=udp flags=SYN`, "flags need proto=tcp"},
		{`rule id=1 name=x level=1 proto=icmp dport=80`, "ports need"},
		{`rule id=1 name=x level=1 proto=tcp flags=SYN,BOGUS`, "unknown flag"},
		{`rule id=1 name=x level=1 offset=3`, "offset must follow a content"},
		{`rule id=1 name=x level=1 content="|4|"`, "odd hex"},
		{`rule id=1 name=x level=1 content=abc offset=62`, "within the first"},
		{`rule id=1 name=x level=1 dport=80-70`, "backwards"},
		{`rule id=1 name=x level=1 src=10.0.0.300`, "address"},
		{`rule id=1 name=x level=1 window=<0`, "never matches"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader("# c\n\n"+tt.line+"\n"), "t.rules")
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: error %v, want *ParseError", tt.line, err)
			continue
		}
		if pe.Line != 3 || pe.File != "t.rules" || !strings.Contains(pe.Reason, tt.reason) {
			t.Errorf("%s: got %v, want t.rules:3 containing %q", tt.line, err, tt.reason)
		}
	}
	_, err := Parse(strings.NewReader("rule id=1 name=a level=1\nrule id=1 name=b level=1\n"), "d")
	if err == nil || !strings.Contains(err.Error(), "d:2: duplicate id 1 (first at line 1)") {
		t.Errorf("duplicate: %v", err)
	}
}

func TestParseForms(t *testing.T) {
	rs, err := Parse(strings.NewReader(`rule id=7 name="a \"q\"" level=4 proto=tcp src=!10.0.0.0/8,192.0.2.1 sport=1024- dport=!22,80 ttl=!64 window=>=1000 ipid=0x10-0x20 flags_all=SYN flags_none=ACK ref=a ref=b  # trailing`), "f")
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	want := &Rule{
		ID: 7, Name: `a "q"`, Level: 4, References: []string{"a", "b"}, Origin: "f:1",
		Proto:    event.ProtoTCP,
		Src:      Addrs{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}, Not: true},
		SrcPorts: Ports{Ranges: []Range{{1024, 65535}}},
		DstPorts: Ports{Ranges: []Range{{22, 22}, {80, 80}}, Not: true},
		Flags:    Flags{Mask: event.FlagSYN | event.FlagACK, Value: event.FlagSYN, Set: true},
		Conds:    []Cond{{FieldTTL, 64, 64, true}, {FieldWindow, 1000, 65535, false}, {FieldIPID, 16, 32, false}},
	}
	if diff := cmp.Diff(want, r, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestPsadFormat checks the translation of psad's Snort-like syntax on
// lines written for this test, including every skip reason.
func TestPsadFormat(t *testing.T) {
	in := `# comment
alert tcp $EXTERNAL_NET any -> $HOME_NET 27374 (msg:"BACKDOOR Subseven"; flags:S; classtype:trojan-activity; psad_id:100207; psad_dl:2;)
alert udp $EXTERNAL_NET any <> $HOME_NET 0 (msg:"udp port 0"; reference:url,example.org/a\;b; sid:525; psad_id:100102; psad_dl:3;)
alert tcp $EXTERNAL_NET 1024: -> $HOME_NET 2589 (msg:"Dagger"; flags:S,12; psad_id:100038; psad_dl:2;)
alert tcp $EXTERNAL_NET any -> $HOME_NET 80 (msg:"web"; content:"GET"; psad_id:100300; psad_dl:2;)
log tcp any any -> any any (msg:"x"; psad_id:100301; psad_dl:2;)
alert tcp $EXTERNAL_NET any -> $HOME_NET any (msg:"no level"; psad_id:100302;)
alert tcp $FOO any -> $HOME_NET any (msg:"var"; psad_id:100303; psad_dl:2;)
alert icmp $EXTERNAL_NET any -> $HOME_NET any (msg:"ICMP big"; psad_dsize:>800; psad_id:100024; psad_dl:2;)
alert icmp $EXTERNAL_NET any -> $HOME_NET any (msg:"dup"; itype:13; psad_id:100024; psad_dl:2;)
alert ip $EXTERNAL_NET any -> $HOME_NET any (msg:"lsrr"; ipopts:lsrre; psad_id:100200; psad_dl:2;);
alert tcp $EXTERNAL_NET any -> $HOME_NET any (msg:"nmap xmas"; flags:FPU+; psad_id:100070; psad_dl:2;)
garbage
`
	res, err := ParsePsad(strings.NewReader(in), "sig")
	if err != nil {
		t.Fatal(err)
	}
	var loaded []uint32
	for _, r := range res.Rules {
		loaded = append(loaded, r.ID)
	}
	if diff := cmp.Diff([]uint32{100207, 100102, 100038, 100024, 100200, 100070}, loaded); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	wantSkips := []Skip{
		{5, `unsupported keyword "content"`},
		{6, `action "log" is not alert`},
		{7, "no psad_dl"},
		{8, "source: unknown variable $FOO"},
		{10, "duplicate psad_id 100024 (first at line 9)"},
		{13, "no (options) part"},
	}
	if diff := cmp.Diff(wantSkips, res.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	m := New(res.Rules)
	tcp := event.ProtoTCP
	for _, tt := range []struct {
		name string
		e    *event.Event
		want []uint32
	}{
		{"subseven", pkt(tcp, func(e *event.Event) { e.DstPort = 27374 }), []uint32{100207}},
		{"subseven SYN ECE is not exact S", pkt(tcp, func(e *event.Event) { e.DstPort, e.Flags = 27374, event.FlagSYN|event.FlagECE }), nil},
		{"dagger S,12 ignores ECE", pkt(tcp, func(e *event.Event) { e.DstPort, e.SrcPort, e.Flags = 2589, 5000, event.FlagSYN|event.FlagECE }), []uint32{100038}},
		{"dagger low sport", pkt(tcp, func(e *event.Event) { e.DstPort, e.SrcPort = 2589, 1000 }), nil},
		{"udp sport 0 via <>", pkt(event.ProtoUDP, func(e *event.Event) { e.SrcPort = 0 }), []uint32{100102}},
		{"lsrr", pkt(tcp, func(e *event.Event) { e.SetIPOptions([]byte{131, 3, 4, 0}) }), []uint32{100200}},
		{"xmas plus", pkt(tcp, func(e *event.Event) { e.Flags = event.FlagFIN | event.FlagPSH | event.FlagURG | event.FlagACK }), []uint32{100070}},
	} {
		if diff := cmp.Diff(tt.want, matchIDs(m, tt.e)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if got := res.Rules[1].References; !slices.Contains(got, "url,example.org/a;b") || !slices.Contains(got, "snort-sid,525") {
		t.Errorf("references %q", got)
	}
}

// psadFile is Debian's psad signatures file (package psad).
const psadFile = "/etc/psad/signatures"

func requireFile(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s missing: CI must install the Debian package %s", path, pkg)
	}
	t.Skipf("%s missing (apt-get install %s)", path, pkg)
}

// TestPsadDebianFile loads the real psad signatures file: every line is
// either loaded or skipped with a reason, and the rules psad users rely on
// are among the loaded ones and fire on the packets they describe.
func TestPsadDebianFile(t *testing.T) {
	requireFile(t, psadFile, "psad")
	m, rep, err := Load(Config{NoDefaults: true, PsadFiles: []string{psadFile}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Psad[0]
	raw, _ := os.ReadFile(psadFile)
	lines := 0
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			lines++
		}
	}
	if len(res.Rules)+len(res.Skipped) != lines {
		t.Fatalf("loaded %d + skipped %d != %d signature lines", len(res.Rules), len(res.Skipped), lines)
	}
	for _, s := range res.Skipped {
		t.Logf("skipped line %d: %s", s.Line, s.Reason)
		if s.Line < 1 || s.Reason == "" {
			t.Errorf("skip without line or reason: %+v", s)
		}
	}
	t.Logf("psad signatures: loaded %d, skipped %d", len(res.Rules), len(res.Skipped))
	if len(res.Rules) < 190 {
		t.Errorf("only %d psad rules loaded", len(res.Rules))
	}
	tcp, udp, icmp := event.ProtoTCP, event.ProtoUDP, event.ProtoICMP
	for _, tt := range []struct {
		name string
		e    *event.Event
		want uint32
	}{
		{"SCAN FIN", pkt(tcp, func(e *event.Event) { e.Flags = event.FlagFIN }), 100066},
		{"SCAN NULL", pkt(tcp, func(e *event.Event) { e.Flags = 0 }), 100067},
		{"SCAN SYN FIN", pkt(tcp, func(e *event.Event) { e.Flags = event.FlagSYN | event.FlagFIN }), 100068},
		{"SCAN nmap XMAS", pkt(tcp, func(e *event.Event) { e.Flags = event.FlagFIN | event.FlagPSH | event.FlagURG }), 100070},
		{"Subseven", pkt(tcp, func(e *event.Event) { e.DstPort = 27374 }), 100207},
		{"mstream", pkt(tcp, func(e *event.Event) { e.DstPort = 15104 }), 100012},
		{"Slammer", pkt(udp, func(e *event.Event) { e.DstPort, e.TotalLen = 1434, 404 }), 100208},
		{"tcp port 0", pkt(tcp, func(e *event.Event) { e.DstPort = 0 }), 100101},
		{"0 ttl", pkt(udp, func(e *event.Event) { e.TTL = 0 }), 100104},
		{"timestamp", pkt(icmp, func(e *event.Event) { e.ICMPType = 13 }), 100185},
		{"large ICMP", pkt(icmp, func(e *event.Event) { e.TotalLen, e.PayloadLen = 1028, 1000 }), 100024},
		{"ssrr", pkt(tcp, func(e *event.Event) { e.SetIPOptions([]byte{137, 3, 4, 0}) }), 100201},
	} {
		if ids := matchIDs(m, tt.e); !slices.Contains(ids, tt.want) {
			t.Errorf("%s: hits %v, want %d among them", tt.name, ids, tt.want)
		}
	}
}
