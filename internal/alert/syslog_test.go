package alert

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// rfc5424 is a parsed syslog message.
type rfc5424 struct {
	Pri       int
	Timestamp time.Time
	Host, App string
	ProcID    string
	MsgID     string
	SDID      string
	Params    map[string]string
	Msg       string
}

// parse5424 parses one RFC 5424 message with one SD element, strictly.
func parse5424(s string) (rfc5424, error) {
	var m rfc5424
	if !strings.HasPrefix(s, "<") {
		return m, fmt.Errorf("no PRI: %q", s)
	}
	end := strings.IndexByte(s, '>')
	pri, err := strconv.Atoi(s[1:max(end, 1)])
	if end < 0 || err != nil || pri > 191 {
		return m, fmt.Errorf("bad PRI: %q", s)
	}
	m.Pri = pri
	rest := s[end+1:]
	f := strings.SplitN(rest, " ", 7)
	if len(f) != 7 || f[0] != "1" {
		return m, fmt.Errorf("bad header: %q", s)
	}
	if m.Timestamp, err = time.Parse(time.RFC3339Nano, f[1]); err != nil {
		return m, err
	}
	m.Host, m.App, m.ProcID, m.MsgID = f[2], f[3], f[4], f[5]
	sd := f[6]
	if !strings.HasPrefix(sd, "[") {
		return m, fmt.Errorf("no SD: %q", sd)
	}
	i := 1
	j := strings.IndexByte(sd, ' ')
	m.SDID = sd[i:j]
	m.Params = map[string]string{}
	i = j
	for {
		if sd[i] == ']' {
			i++
			break
		}
		if sd[i] != ' ' {
			return m, fmt.Errorf("SD syntax at %d: %q", i, sd)
		}
		i++
		eq := strings.Index(sd[i:], `="`)
		if eq < 0 {
			return m, fmt.Errorf("SD param: %q", sd[i:])
		}
		name := sd[i : i+eq]
		i += eq + 2
		var v strings.Builder
		for ; sd[i] != '"'; i++ {
			if sd[i] == '\\' && strings.ContainsRune(`"\]`, rune(sd[i+1])) {
				i++
			} else if sd[i] == ']' {
				return m, fmt.Errorf("unescaped ] in %q", sd)
			}
			v.WriteByte(sd[i])
		}
		i++
		m.Params[name] = v.String()
	}
	if i < len(sd) {
		if sd[i] != ' ' {
			return m, fmt.Errorf("no space before MSG: %q", sd[i:])
		}
		m.Msg = sd[i+1:]
	}
	return m, nil
}

func TestSyslogChannels(t *testing.T) {
	dir := t.TempDir()
	// UDP
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// unixgram, as /dev/log is
	sock := filepath.Join(dir, "log")
	uc, err := net.ListenPacket("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	// TCP with octet counting
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tcpMsgs := make(chan string, 4)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			n, err := r.ReadString(' ')
			if err != nil {
				close(tcpMsgs)
				return
			}
			size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
			if err != nil {
				tcpMsgs <- "bad frame length " + n
				return
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(r, b); err != nil {
				tcpMsgs <- "short frame"
				return
			}
			tcpMsgs <- string(b)
		}
	}()

	s := newTestSink(t, Config{Syslog: []SyslogConfig{
		{Network: "udp", Address: pc.LocalAddr().String()},
		{Network: "tcp", Address: ln.Addr().String(), Facility: "auth", AppName: "ds-test", Hostname: "sensorX"},
		{Network: "unix", Address: sock, ChannelConfig: ChannelConfig{MinLevel: 1}},
	}})
	scan := scanAlert("10.99.0.1", 4)
	scan.Alert.Signatures = []string{`odd "name" [x]`, `back\slash`}
	write(t, s, scan, backscatterAlert("10.99.0.9"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	readDgram := func(c net.PacketConn) string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 65536)
		n, _, err := c.ReadFrom(b)
		if err != nil {
			t.Fatalf("read %s: %v", c.LocalAddr(), err)
		}
		return string(b[:n])
	}
	pid := strconv.Itoa(os.Getpid())

	// UDP: both alerts, in order.
	u1, err := parse5424(readDgram(pc))
	if err != nil {
		t.Fatal(err)
	}
	// local7 (23) * 8 + err (3) for level 4
	if u1.Pri != 23*8+3 || u1.Host != "sensor1" || u1.App != "darkscope" || u1.ProcID != pid || u1.MsgID != "scan" || u1.SDID != SDID {
		t.Errorf("udp header: %+v", u1)
	}
	if !u1.Timestamp.Equal(scan.Time) {
		t.Errorf("timestamp %v, want event time %v", u1.Timestamp, scan.Time)
	}
	wantParams := map[string]string{
		"src": "10.99.0.1", "level": "4", "pattern": "vertical", "scan_types": "-sS", "flags": "SYN", "protocols": "tcp",
		"ports_tcp": "1-1024", "ports_udp": "53", "new_ports_tcp": "600-1024", "destinations": "1",
		"signatures": `odd "name" [x];back\slash`, "os": "Linux 2.2.x-3.x", "tool": "nmap", "tool_confidence": "0.90",
		"backscatter": "false", "backscatter_only": "false", "packets": "1000",
		"first_seen": "2026-11-23T11:58:00Z", "last_seen": "2026-11-23T11:58:50Z", "sensor": "sensor1",
	}
	if d := cmp.Diff(wantParams, u1.Params); d != "" {
		t.Errorf("structured data (-want +got):\n%s", d)
	}
	if !strings.HasPrefix(u1.Msg, "scan detected: 10.99.0.1 -> 1 hosts tcp: [1-1024] udp: [53] flags: [SYN] scan: -sS") {
		t.Errorf("msg: %q", u1.Msg)
	}
	u2, err := parse5424(readDgram(pc))
	if err != nil {
		t.Fatal(err)
	}
	if u2.Pri != 23*8+6 || u2.MsgID != "backscatter" || u2.Params["backscatter_only"] != "true" || !strings.HasPrefix(u2.Msg, "backscatter from DoS victim 10.99.0.9") {
		t.Errorf("backscatter message: %+v", u2)
	}

	// TCP: facility auth (4), configured app name and host.
	var tcp []rfc5424
	for raw := range tcpMsgs {
		m, err := parse5424(raw)
		if err != nil {
			t.Fatal(err)
		}
		tcp = append(tcp, m)
	}
	if len(tcp) != 2 || tcp[0].Pri != 4*8+3 || tcp[0].App != "ds-test" || tcp[0].Host != "sensorX" || tcp[1].MsgID != "backscatter" {
		t.Errorf("tcp messages: %+v", tcp)
	}

	// unix: min_level 1 leaves out the backscatter alert.
	x, err := parse5424(readDgram(uc))
	if err != nil {
		t.Fatal(err)
	}
	if x.Params["src"] != "10.99.0.1" {
		t.Errorf("unix message: %+v", x)
	}
	_ = uc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := uc.ReadFrom(make([]byte, 100)); err == nil {
		t.Errorf("unix channel got a second message (%d bytes) despite min_level", n)
	}
	c := s.Counters()
	if c["syslog[0]"].Sent != 2 || c["syslog[1]"].Sent != 2 || c["syslog[2]"].Sent != 1 || c["syslog[2]"].Filtered != 1 {
		t.Errorf("counters: %+v", c)
	}
}

func TestSyslogFailureCounted(t *testing.T) {
	// Nothing listens on the socket path: every delivery fails and is counted.
	s := newTestSink(t, Config{Syslog: []SyslogConfig{{Network: "unixgram", Address: filepath.Join(t.TempDir(), "nothing"),
		ChannelConfig: ChannelConfig{Retries: new(1), Backoff: time.Millisecond}}}})
	write(t, s, scanAlert("10.99.0.1", 3), scanAlert("10.99.0.2", 3))
	_ = s.Close()
	if d := cmp.Diff(Counters{Failed: 2}, s.Counters()["syslog[0]"]); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
}

func TestSyslogUnixStream(t *testing.T) {
	// network "unix" on a stream socket: the datagram dial fails, the
	// stream fallback sends octet-counted frames.
	sock := filepath.Join(t.TempDir(), "log")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var msgs []string
		r := bufio.NewReader(c)
		for {
			n, err := r.ReadString(' ')
			if err != nil {
				break
			}
			size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
			if err != nil {
				break
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(r, b); err != nil {
				break
			}
			msgs = append(msgs, string(b))
		}
		got <- msgs
	}()
	s := newTestSink(t, Config{Syslog: []SyslogConfig{{Network: "unix", Address: sock}}})
	write(t, s, scanAlert("10.99.0.1", 5), scanAlert("10.99.0.2", 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	msgs := <-got
	if len(msgs) != 2 {
		t.Fatalf("got %d messages: %q", len(msgs), msgs)
	}
	for i, want := range []struct {
		src string
		pri int
	}{{"10.99.0.1", 23*8 + 2}, {"10.99.0.2", 23*8 + 5}} {
		m, err := parse5424(msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		if m.Params["src"] != want.src || m.Pri != want.pri {
			t.Errorf("message %d: src %s pri %d, want %s %d", i, m.Params["src"], m.Pri, want.src, want.pri)
		}
	}
}

// FuzzSyslogFormat checks that any text in an alert's free-form fields
// yields a well-formed RFC 5424 message whose structured data parses back
// to the same values (escaping of '"', '\' and ']').
func FuzzSyslogFormat(f *testing.F) {
	f.Add("NMAP XMAS scan", "Linux 3.x", "sensor-1", "host.example")
	f.Add(`a"b]c\d`, "]]]", "sp ace", `"`)
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, sig, os, sensor, rdns string) {
		if strings.ContainsAny(sig+os+rdns, "\x00") || !utf8.ValidString(sig+os+rdns) {
			t.Skip()
		}
		c, err := newSyslogChannel(SyslogConfig{Network: "udp", Address: "127.0.0.1:514", Facility: "local7", AppName: "darkscope"}, "h", nil)
		if err != nil {
			t.Fatal(err)
		}
		ev := scanAlert("10.99.0.1", 3)
		ev.Sensor = sensor
		ev.Alert.Signatures = []string{sig}
		ev.Alert.OS = os
		m := newMessage(&ev)
		m.RDNS = rdns
		raw := c.format(m)
		p, err := parse5424(raw)
		if err != nil {
			t.Fatalf("%v\n%q", err, raw)
		}
		if p.Params["signatures"] != sig || p.Params["os"] != os || p.Params["rdns"] != rdns || p.Params["sensor"] != sensor {
			t.Errorf("round trip: %+v", p.Params)
		}
		if strings.ContainsAny(p.Host, " ") || p.Host == "" {
			t.Errorf("host %q", p.Host)
		}
	})
}
