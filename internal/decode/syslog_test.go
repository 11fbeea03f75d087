package decode

import (
	"bufio"
	"encoding/base64"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// slPrio maps logger's -p facility.level to the PRI value it sends. logger
// turns the kern facility into user (user space may not log as the kernel).
func slPrio(t *testing.T, s string) (fac, sev uint8) {
	t.Helper()
	facs := map[string]uint8{"kern": 1, "user": 1, "auth": 4, "local3": 19}
	sevs := map[string]uint8{"err": 3, "warning": 4, "notice": 5, "info": 6}
	f, l, ok := strings.Cut(s, ".")
	fv, ok1 := facs[f]
	sv, ok2 := sevs[l]
	if !ok || !ok1 || !ok2 {
		t.Fatalf("unknown priority %q", s)
	}
	return fv, sv
}

// TestSyslogLogger parses datagrams captured from util-linux logger by
// scripts/capture-syslog.sh and compares them with the values logger was given.
func TestSyslogLogger(t *testing.T) {
	f, err := os.Open("testdata/syslog/logger.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fl := strings.Split(sc.Text(), "\t")
		if len(fl) != 8 {
			t.Fatalf("bad record %q", sc.Text())
		}
		n++
		t.Run(fl[0], func(t *testing.T) {
			raw, err := base64.StdEncoding.DecodeString(fl[1])
			if err != nil {
				t.Fatal(err)
			}
			sec, _ := strconv.ParseInt(fl[7], 10, 64)
			captured := time.Unix(sec, 0)
			var m SyslogMsg
			if err := ParseSyslog(raw, time.Local, captured, &m); err != nil {
				t.Fatalf("ParseSyslog(%q): %v", raw, err)
			}
			fac, sev := slPrio(t, fl[4])
			type view struct {
				App, Msg, Host  string
				Fac, Sev        uint8
				HasPri, HasTime bool
			}
			want := view{App: fl[2], Msg: fl[3], Fac: fac, Sev: sev, HasPri: true, HasTime: fl[6] == "1"}
			if fl[5] != "-" {
				want.Host = fl[5]
			}
			got := view{App: string(m.App), Msg: string(m.Msg), Host: string(m.Hostname),
				Fac: m.Facility, Sev: m.Severity, HasPri: m.HasPri, HasTime: m.HasTime}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			if m.HasTime {
				if d := captured.Sub(m.Time); d < -time.Second || d > 3*time.Second {
					t.Errorf("time %v, captured at %v", m.Time, captured)
				}
				if m.Time.Location() != time.UTC {
					t.Errorf("time not UTC: %v", m.Time.Location())
				}
			}
		})
	}
	if n < 8 {
		t.Fatalf("only %d records", n)
	}
}

func TestSyslogForms(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Time            time.Time
		HasTime, HasPri bool
		Host, App, Msg  string
		Fac, Sev        uint8
		RFC5424         bool
	}
	tests := []struct {
		name string
		in   string
		loc  *time.Location
		now  time.Time
		want view
	}{
		{"kern.log line", "Nov 23 09:59:58 fw1 kernel: [ 12.5] DS IN=eth0", nil, now,
			view{Time: time.Date(2026, 11, 23, 9, 59, 58, 0, time.UTC), HasTime: true, Host: "fw1", App: "kernel", Msg: "[ 12.5] DS IN=eth0"}},
		{"space padded day, zone", "<4>Nov  3 09:59:58 fw1 kernel: x", berlin, now,
			view{Time: time.Date(2026, 11, 3, 8, 59, 58, 0, time.UTC), HasTime: true, HasPri: true, Sev: 4, Host: "fw1", App: "kernel", Msg: "x"}},
		{"no hostname", "<13>Nov 23 09:59:58 kernel: x y", nil, now,
			view{Time: time.Date(2026, 11, 23, 9, 59, 58, 0, time.UTC), HasTime: true, HasPri: true, Fac: 1, Sev: 5, App: "kernel", Msg: "x y"}},
		{"fraction", "Nov 23 09:59:58.123 h kernel: x", nil, now,
			view{Time: time.Date(2026, 11, 23, 9, 59, 58, 123e6, time.UTC), HasTime: true, Host: "h", App: "kernel", Msg: "x"}},
		{"December line read in January", "Dec 31 23:59:59 h kernel: x", nil, time.Date(2027, 1, 1, 0, 0, 5, 0, time.UTC),
			view{Time: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), HasTime: true, Host: "h", App: "kernel", Msg: "x"}},
		{"sender clock ahead over new year", "Jan  1 00:00:30 h kernel: x", nil, time.Date(2026, 12, 31, 23, 59, 50, 0, time.UTC),
			view{Time: time.Date(2027, 1, 1, 0, 0, 30, 0, time.UTC), HasTime: true, Host: "h", App: "kernel", Msg: "x"}},
		{"old line of last year", "Dec 24 10:00:00 h kernel: x", nil, now,
			view{Time: time.Date(2025, 12, 24, 10, 0, 0, 0, time.UTC), HasTime: true, Host: "h", App: "kernel", Msg: "x"}},
		{"feb 29 goes to a leap year", "Feb 29 10:00:00 h kernel: x", nil, now,
			view{Time: time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC), HasTime: true, Host: "h", App: "kernel", Msg: "x"}},
		{"rsyslog file format", "2026-11-23T09:59:58.123456+01:00 fw2 kernel: [1.0] x", nil, now,
			view{Time: time.Date(2026, 11, 23, 8, 59, 58, 123456000, time.UTC), HasTime: true, Host: "fw2", App: "kernel", Msg: "[1.0] x"}},
		{"journalctl short-iso", "2026-11-23T09:59:58+0000 fw3 kernel: x", nil, now,
			view{Time: time.Date(2026, 11, 23, 9, 59, 58, 0, time.UTC), HasTime: true, Host: "fw3", App: "kernel", Msg: "x"}},
		{"iso without zone uses loc", "2026-07-01T12:00:00 h kernel: x", berlin, now,
			view{Time: time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC), HasTime: true, Host: "h", App: "kernel", Msg: "x"}},
		{"no timestamp", "<6>kernel: hello", nil, now,
			view{HasPri: true, Sev: 6, App: "kernel", Msg: "hello"}},
		{"no tag", "Nov 23 09:59:58 h just some text", nil, now,
			view{Time: time.Date(2026, 11, 23, 9, 59, 58, 0, time.UTC), HasTime: true, Host: "h", Msg: "just some text"}},
		{"tag with pid", "<30>Nov 23 09:59:58 h systemd[1]: Started x.", nil, now,
			view{Time: time.Date(2026, 11, 23, 9, 59, 58, 0, time.UTC), HasTime: true, HasPri: true, Fac: 3, Sev: 6, Host: "h", App: "systemd", Msg: "Started x."}},
		{"trailing newline and NUL", "<6>kernel: hello\r\n\x00", nil, now,
			view{HasPri: true, Sev: 6, App: "kernel", Msg: "hello"}},
		{"5424 minimal", "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - BOM'su root' failed", nil, now,
			view{Time: time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC), HasTime: true, HasPri: true, Fac: 20, Sev: 5, RFC5424: true,
				Host: "mymachine.example.com", App: "evntslog", Msg: "BOM'su root' failed"}},
		{"5424 BOM, negative offset", "<34>1 2003-08-24T05:14:15.000003-07:00 h app - - - \xef\xbb\xbfmsg", nil, now,
			view{Time: time.Date(2003, 8, 24, 12, 14, 15, 3000, time.UTC), HasTime: true, HasPri: true, Fac: 4, Sev: 2, RFC5424: true, Host: "h", App: "app", Msg: "msg"}},
		{"5424 no msg", "<34>1 - - - - - -", nil, now,
			view{HasPri: true, Fac: 4, Sev: 2, RFC5424: true}},
		{"5424 sd with escapes", `<34>1 - h a - - [x@1 k="a\]b\"c"][y@2] m`, nil, now,
			view{HasPri: true, Fac: 4, Sev: 2, RFC5424: true, Host: "h", App: "a", Msg: "m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m SyslogMsg
			if err := ParseSyslog([]byte(tt.in), tt.loc, tt.now, &m); err != nil {
				t.Fatal(err)
			}
			got := view{Time: m.Time, HasTime: m.HasTime, HasPri: m.HasPri, Host: string(m.Hostname), App: string(m.App),
				Msg: string(m.Msg), Fac: m.Facility, Sev: m.Severity, RFC5424: m.RFC5424}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestSyslogErrors(t *testing.T) {
	tests := []struct{ in, reason string }{
		{"", SyslogReasonEmpty},
		{"\r\n", SyslogReasonEmpty},
		{"<192>x", SyslogReasonBadPri},
		{"<1a>x", SyslogReasonBadPri},
		{"<>x", SyslogReasonBadPri},
		{"<013>x", SyslogReasonBadPri},
		{"<13", SyslogReasonBadPri},
		{"<13>1 2026-13-01T00:00:00Z h a - - - m", SyslogReasonBadTime},
		{"<13>1 2026-02-30T00:00:00Z h a - - - m", SyslogReasonBadTime},
		{"<13>1 2026-02-01T00:00:00 h a - - - m", SyslogReasonBadTime},
		{"<13>1 - h a - -", SyslogReasonBadHeader},
		{"<13>1 - h a - - [x", SyslogReasonBadHeader},
		{"<13>1 - h a - - [x]m", SyslogReasonBadHeader},
		{"<13>1 - h a - - x", SyslogReasonBadHeader},
		{"<13>1 -  h a - - - m", SyslogReasonBadHeader},
	}
	for _, tt := range tests {
		var m SyslogMsg
		err := ParseSyslog([]byte(tt.in), nil, time.Now(), &m)
		if got := slReasonOf(err); got != tt.reason {
			t.Errorf("ParseSyslog(%q) = %v, want reason %s", tt.in, err, tt.reason)
		}
	}
}

func slReasonOf(err error) string {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ""
}

func TestSyslogNoAlloc(t *testing.T) {
	lines := [][]byte{
		[]byte("<12>Nov 23 10:31:36 vm kernel: [ 1234.567890] DSTEST IN=veth0 OUT= SRC=10.99.0.2"),
		[]byte("<12>1 2026-11-23T10:31:37.661169+00:00 vm kernel - - [timeQuality tzKnown=\"1\"] [ 1.0] DSTEST"),
	}
	now := time.Now()
	var m SyslogMsg
	for _, l := range lines {
		if a := testing.AllocsPerRun(100, func() { _ = ParseSyslog(l, time.UTC, now, &m) }); a != 0 {
			t.Errorf("%q: %v allocations per parse", l, a)
		}
	}
}

func FuzzSyslog(f *testing.F) {
	if b, err := os.ReadFile("testdata/syslog/logger.tsv"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if fl := strings.Split(l, "\t"); len(fl) > 1 {
				if raw, err := base64.StdEncoding.DecodeString(fl[1]); err == nil {
					f.Add(raw)
				}
			}
		}
	}
	f.Add([]byte("Nov 23 09:59:58 h kernel: x"))
	f.Add([]byte("2026-11-23T09:59:58+0000 fw3 kernel: x"))
	f.Add([]byte(`<34>1 - h a - - [x@1 k="a\]b\"c"][y@2] m`))
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m SyslogMsg
		err := ParseSyslog(b, time.UTC, now, &m)
		if err != nil {
			if slReasonOf(err) == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		// Every returned slice lies inside the input.
		for _, s := range [][]byte{m.Hostname, m.App, m.Msg} {
			if len(s) > len(b) {
				t.Fatalf("field longer than input")
			}
			if len(s) > 0 && !slWithin(b, s) {
				t.Fatalf("field %q not inside input", s)
			}
		}
		if m.HasTime && (m.Time.Location() != time.UTC || m.Time.Year() < -1 || m.Time.Year() > 10000) {
			t.Fatalf("bad time %v", m.Time)
		}
		if !m.HasTime && !m.Time.IsZero() {
			t.Fatalf("time without HasTime")
		}
		if m.Facility > 23 || m.Severity > 7 {
			t.Fatalf("bad pri %d.%d", m.Facility, m.Severity)
		}
		if !m.HasTime && !m.RFC5424 && len(m.Hostname) > 0 {
			t.Fatalf("RFC 3164 hostname without timestamp")
		}
	})
}

func slWithin(b, s []byte) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if &b[i] == &s[0] {
			return true
		}
	}
	return false
}

func BenchmarkSyslogParse(b *testing.B) {
	lines := [][]byte{
		[]byte("<12>Nov 23 10:31:36 vm kernel: [ 1234.567890] DSTEST IN=veth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=10.99.0.2 DST=10.99.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=1234 DPT=22 WINDOW=512 RES=0x00 SYN URGP=0"),
		[]byte("<12>1 2026-11-23T10:31:37.661169+00:00 vm kernel - - [timeQuality tzKnown=\"1\" isSynced=\"0\"] [ 1234.567890] DSTEST IN=veth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=10.99.0.2 DST=10.99.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=1234 DPT=22 WINDOW=512 RES=0x00 SYN URGP=0"),
	}
	now := time.Now()
	var m SyslogMsg
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			if err := ParseSyslog(l, time.Local, now, &m); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
