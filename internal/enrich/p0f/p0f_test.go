package p0f

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
)

// fpFile is Debian's p0f signature file (package p0f).
const fpFile = "/etc/p0f/p0f.fp"

func requireFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s missing: CI must install the Debian package %s", path, pkg)
	}
	t.Skipf("%s missing (apt-get install %s)", path, pkg)
}

func loadDB(t testing.TB) *DB {
	t.Helper()
	requireFile(t, fpFile, "p0f")
	db, err := Load(fpFile)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// p0fLine is one "mod=syn" observation of p0f's log (-o).
type p0fLine struct {
	cli, srv, os, dist, params, rawSig string
}

func (l p0fLine) String() string {
	return fmt.Sprintf("%s -> %s os=%s dist=%s params=%s raw_sig=%s", l.cli, l.srv, l.os, l.dist, l.params, l.rawSig)
}

// parseP0fLog reads the syn (and syn+ack) observations of a p0f log file.
func parseP0fLog(t testing.TB, r io.Reader) []p0fLine {
	t.Helper()
	var out []p0fLine
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		s := sc.Text()
		i := strings.Index(s, "] mod=")
		if i < 0 {
			t.Fatalf("unexpected p0f log line %q", s)
		}
		kv := map[string]string{}
		for _, f := range strings.Split(s[i+2:], "|") {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		if kv["mod"] != "syn" && kv["mod"] != "syn+ack" {
			continue
		}
		os := kv["os"]
		if os == "" {
			os = kv["app"]
		}
		out = append(out, p0fLine{kv["cli"], kv["srv"], os, kv["dist"], kv["params"], kv["raw_sig"]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// p0fAddr formats an address as p0f prints it (IPv6 without :: compression).
func p0fAddr(a netip.Addr, port uint16) string {
	if a.Is4() {
		return fmt.Sprintf("%s/%d", a, port)
	}
	b := a.As16()
	var parts []string
	for i := 0; i < 16; i += 2 {
		parts = append(parts, fmt.Sprintf("%x", uint16(b[i])<<8|uint16(b[i+1])))
	}
	return strings.Join(parts, ":") + "/" + fmt.Sprint(port)
}

// ourLines decodes the SYNs of a pcap with darkscope's decoder and labels
// them with the matcher. Like p0f it skips a SYN that repeats the previous
// SYN of the same connection (same sequence number: a retransmission).
func ourLines(t testing.TB, db *DB, pcap string) []p0fLine {
	t.Helper()
	fh, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	lastSeq := map[string]uint32{}
	var out []p0fLine
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var e event.Event
		if err := decode.DecodeEthernet(data, &e); err != nil {
			t.Fatalf("decode: %v", err)
		}
		res, ok := db.Fingerprint(&e, 0)
		if !ok {
			continue
		}
		cli, srv := p0fAddr(e.Src, e.SrcPort), p0fAddr(e.Dst, e.DstPort)
		key := cli + ">" + srv
		if s, seen := lastSeq[key]; seen && s == e.Seq {
			continue
		}
		lastSeq[key] = e.Seq
		out = append(out, p0fLine{cli, srv, res.OS(), res.DistString(), res.Params(), res.RawSig()})
	}
	return out
}

func compareLines(t *testing.T, want, got []p0fLine) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("p0f reported %d SYNs, darkscope %d", len(want), len(got))
	}
	for i := 0; i < len(want) && i < len(got); i++ {
		if want[i] != got[i] {
			t.Errorf("SYN %d:\n p0f:      %s\n darkscope: %s", i, want[i], got[i])
		}
	}
}

// TestP0fGolden compares darkscope's labels with p0f's own output for every
// SYN in testdata/syns.pcap (captured by testdata/capture.sh from the Linux
// kernel with several sysctl settings, curl, nc, python, nmap -sS/-sT/-O and
// hping3; syns.p0f.log is `p0f -r syns.pcap -o ...` from the same script).
func TestP0fGolden(t *testing.T) {
	db := loadDB(t)
	fh, err := os.Open("testdata/syns.p0f.log")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	want := parseP0fLog(t, fh)
	if len(want) < 25 {
		t.Fatalf("only %d p0f observations in the golden log", len(want))
	}
	got := ourLines(t, db, "testdata/syns.pcap")
	compareLines(t, want, got)
	labels := map[string]bool{}
	for _, l := range got {
		labels[l.os] = true
	}
	for _, need := range []string{"NMap SYN scan", "NMap OS detection", "Linux 2.2.x-3.x", "???"} {
		if !labels[need] {
			t.Errorf("no SYN labelled %q: the capture lost a client", need)
		}
	}
}

// TestP0fLive runs the installed p0f on the committed capture now, so a
// different p0f build or p0f.fp is compared too.
func TestP0fLive(t *testing.T) {
	db := loadDB(t)
	if _, err := exec.LookPath("p0f"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("p0f missing: CI must install the Debian package p0f")
		}
		t.Skip("needs p0f")
	}
	log := filepath.Join(t.TempDir(), "p0f.log")
	out, err := exec.Command("timeout", "60", "p0f", "-r", "testdata/syns.pcap", "-f", fpFile, "-o", log).CombinedOutput()
	if err != nil {
		t.Fatalf("p0f: %v: %s", err, out)
	}
	fh, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	compareLines(t, parseP0fLog(t, fh), ourLines(t, db, "testdata/syns.pcap"))
}

func TestParseDebianFile(t *testing.T) {
	db := loadDB(t)
	if len(db.Request) < 80 || len(db.Response) < 80 || len(db.MTUs) < 20 {
		t.Fatalf("request %d, response %d, mtu %d signatures", len(db.Request), len(db.Response), len(db.MTUs))
	}
	// Every signature prints back to its own text (modulo the ttl+dist
	// form, which p0f folds into one number).
	raw, _ := os.ReadFile(fpFile)
	lines := strings.Split(string(raw), "\n")
	for _, s := range append(db.Request, db.Response...) {
		txt := strings.TrimSpace(strings.SplitN(lines[s.Line-1], "=", 2)[1])
		if got := s.String(); got != txt && !strings.Contains(txt, "+") {
			t.Errorf("line %d: %q prints as %q", s.Line, txt, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	head := "classes = unix\n[tcp:request]\nlabel = s:unix:Linux:x\n"
	for _, tt := range []struct{ in, reason string }{
		{"[tcp:bogus]\n", `unknown section "tcp:bogus"`},
		{head + "sig = 4:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+\n", "8 colon-separated"},
		{head + "sig = 5:64:0:*:mss*20,10:mss:df:0\n", "IP version"},
		{head + "sig = 4:300:0:*:mss*20,10:mss:df:0\n", "initial TTL"},
		{head + "sig = 4:64:0:*:mss*0,10:mss:df:0\n", "window multiplier"},
		{head + "sig = 4:64:0:*:mss*2,10:mss,xyz:df:0\n", "unknown TCP option"},
		{head + "sig = 4:64:0:*:mss*2,10:eol+0,mss:df:0\n", "eol must be the last"},
		{head + "sig = 4:64:0:*:mss*2,10:mss:zz:0\n", "unknown quirk"},
		{head + "sig = 6:64:0:*:mss*2,10:mss:df:0\n", "not valid for IPv6"},
		{head + "sig = 4:64:0:*:mss*2,10:mss:df:x\n", "payload class"},
		{"classes = unix\n[tcp:request]\nlabel = s:win:Windows:x\n", "not declared"},
		{"[tcp:request]\nsig = 4:64:0:*:mss*2,10:mss:df:0\n", "sig before label"},
	} {
		_, err := Parse(strings.NewReader(tt.in), "x.fp")
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tt.reason) {
			t.Errorf("%q: error %v, want one containing %q", tt.in, err, tt.reason)
		}
	}
}

// FuzzP0fFile: the reader never panics, and what it accepts prints back to
// a signature that parses to the same thing.
func FuzzP0fFile(f *testing.F) {
	// Small seeds keep the fuzzer fast: a few real signature lines, not
	// the whole file.
	if b, err := os.ReadFile(fpFile); err == nil {
		for i, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "sig") && strings.Count(l, ":") == 7 && i%20 == 0 {
				f.Add([]byte("classes = win,unix,other\n[tcp:request]\nlabel = s:unix:Linux:x\n" + l + "\n"))
			}
		}
	}
	f.Add([]byte("classes = unix\n[tcp:request]\nlabel = g:unix:Linux:\nsig = *:64-:0:*:%8192,*:mss,?9,eol+3:ecn,0+,bad:+\n[mtu]\nlabel = x\nsig = 1500\n"))
	opts := []byte{2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := Parse(strings.NewReader(string(b)), "f")
		if err != nil {
			return
		}
		for _, s := range append(db.Request, db.Response...) {
			s2, err := parseSig(s.String())
			if err != nil {
				t.Fatalf("%q does not parse back: %v", s.String(), err)
			}
			s2.Label, s2.Line = s.Label, s.Line
			if s2.String() != s.String() {
				t.Fatalf("round trip %q != %q", s2.String(), s.String())
			}
		}
		e := event.Event{IPVersion: 4, Proto: event.ProtoTCP, IHL: 20, TTL: 60, Flags: event.FlagSYN, Window: 29200}
		e.SetTCPOptions(opts)
		res, ok := db.Fingerprint(&e, 0)
		if !ok || res.RawSig() == "" {
			t.Fatal("no fingerprint")
		}
	})
}
