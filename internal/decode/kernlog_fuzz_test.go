package decode

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// FuzzKernLog feeds arbitrary lines to ParseLine, ParseMessage and ParseKmsg,
// seeded with every real captured line. It must never panic; an accepted
// line must have valid addresses of one family, an IP version that matches
// them, interned fields that are substrings of the input and array lengths
// within their arrays; an error must be ErrNotFirewall or a *ParseError with
// a reason.
func FuzzKernLog(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "kernlog", "*.log"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range klSplitLines(data) {
			f.Add(l)
		}
	}
	f.Add([]byte("Nov 23 10:00:00 h kernel: X IN=a OUT= ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 MACSRC=00:11:22:33:44:55 IPSRC=10.0.0.1 MACDST=00:00:00:00:00:00 IPDST=10.0.0.2"))
	f.Add([]byte("[  1.0] IN=sit1 OUT= MAC=01:02:03:04 TUNNEL=1.2.3.4->5.6.7.8 SRC=::1 DST=::2 LEN=40 TC=0 HOPLIMIT=1 FLOWLBL=0 PROTO=59 "))
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	p, err := NewKernLogParser(KernLogConfig{Now: func() time.Time { return now }, Sensor: "s"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var e event.Event
		klFuzzCheck(t, line, p.ParseLine(line, &e), &e)
		klFuzzCheck(t, line, p.ParseMessage(line, &e), &e)
		_, _, err := p.ParseKmsg(line, &e)
		klFuzzCheck(t, line, err, &e)
	})
}

func klSplitLines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := 0
		for i < len(data) && data[i] != '\n' {
			i++
		}
		out = append(out, data[:i])
		if i < len(data) {
			i++
		}
		data = data[i:]
	}
	return out
}

func klFuzzCheck(t *testing.T, line []byte, err error, e *event.Event) {
	t.Helper()
	if err != nil {
		var pe *ParseError
		if !errors.Is(err, ErrNotFirewall) && (!errors.As(err, &pe) || pe.Reason == "") {
			t.Fatalf("%q: unexpected error %T %v", line, err, err)
		}
		return
	}
	if !e.Src.IsValid() || !e.Dst.IsValid() || e.Src.Is4() != e.Dst.Is4() {
		t.Fatalf("%q: accepted with addresses %v %v", line, e.Src, e.Dst)
	}
	switch e.IPVersion {
	case 4:
		if !e.Src.Is4() {
			t.Fatalf("%q: IPv4 event with %v", line, e.Src)
		}
	case 6:
		if !e.Src.Is6() {
			t.Fatalf("%q: IPv6 event with %v", line, e.Src)
		}
	case 0: // ARP
		if e.EtherType != 0x0806 && !e.HasMAC {
			t.Fatalf("%q: non-IP event that is not ARP", line)
		}
	default:
		t.Fatalf("%q: IP version %d", line, e.IPVersion)
	}
	if int(e.IPOptLen) > len(e.IPOptions) || int(e.TCPOptLen) > len(e.TCPOptions) ||
		int(e.ExtHdrLen) > len(e.ExtHdrs) || int(e.MACRawLen) > len(e.MACRaw) || int(e.PayloadCap) > len(e.Payload) {
		t.Fatalf("%q: array length out of range", line)
	}
	for _, s := range []string{e.Prefix, e.InIface, e.OutIface} {
		if !klContains(line, s) {
			t.Fatalf("%q: field %q is not part of the input", line, s)
		}
	}
	if e.Sensor != "s" && !klContains(line, e.Sensor) {
		t.Fatalf("%q: sensor %q is neither configured nor in the input", line, e.Sensor)
	}
	if e.HasQuoted && (!e.Quoted.Src.IsValid() || !e.Quoted.Dst.IsValid()) {
		t.Fatalf("%q: quoted packet without addresses", line)
	}
	if !e.Time.IsZero() && e.Time.Location() != time.UTC {
		t.Fatalf("%q: time %v not UTC", line, e.Time)
	}
}

// klContains reports whether s occurs in b (kmsg unescaping aside: a prefix
// with \xNN escapes is decoded, so only escape-free prefixes are checked).
func klContains(b []byte, s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' {
			return true // unescaped kmsg text: not a plain substring
		}
	}
	return false
}
