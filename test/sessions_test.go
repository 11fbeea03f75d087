package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// ulogdProbe is one ulogd2 JSON line of a TCP SYN from src to port at unix
// time sec (the fields ulogd2's JSON output plugin writes for such a packet).
func ulogdProbe(sec int64, src string, port int) string {
	ts := time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05")
	return fmt.Sprintf(`{"timestamp": "%s.000000", "dvc": "Netfilter", "raw.pktlen": 40, "raw.pktcount": 1, "oob.prefix": "dark ", "oob.time.sec": %d, "oob.time.usec": %d, "oob.mark": 0, "oob.hook": 0, "oob.family": 2, "oob.protocol": 2048, "ip.protocol": 6, "ip.tos": 0, "ip.ttl": 64, "ip.totlen": 40, "ip.ihl": 5, "ip.id": 1, "ip.fragoff": 0, "src_port": 40000, "dest_port": %d, "tcp.seq": 1, "tcp.ackseq": 0, "tcp.window": 1024, "tcp.syn": 1, "tcp.ack": 0, "tcp.fin": 0, "tcp.rst": 0, "tcp.psh": 0, "tcp.urg": 0, "oob.in": "eth0", "oob.out": "", "src_ip": "%s", "dest_ip": "127.0.0.1"}`,
		ts, sec, port, port, src)
}

// TestSessionsAndTimeline: darknet probes from 127.0.0.1 an hour ago
// (imported through the daemon), then a Go client brute-forces the daemon's
// honeypot in three connections. creds sessions must show exactly the
// connections and passwords the client used, creds timeline must put the
// scan before the brute force by about an hour, and both reports must be
// identical with and without the daemon.
func TestSessionsAndTimeline(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "c.yaml")
	port := freePort(t)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("sources:\n  honeypot:\n    listen: 127.0.0.1:%d\n", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := daemon(t, data, nil, "-c", cfg)

	scanAt := time.Now().Add(-time.Hour).Unix()
	var probes []string
	for _, p := range []int{22, 23, 2222, 8080} {
		probes = append(probes, ulogdProbe(scanAt, "127.0.0.1", p))
	}
	ulog := filepath.Join(dir, "ulogd.json")
	if err := os.WriteFile(ulog, []byte(strings.Join(probes, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imp := jsonLines(t, ds(t, false, "import", "--data", data, "--format", "ulogd", "--json", ulog))
	if len(imp) != 1 || num(imp[0], "stored") != 4 {
		t.Fatalf("import through the daemon: %v", imp)
	}

	for range 50 { // wait for the listener (this probe is a session without a handshake)
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	type conn struct {
		user      string
		passwords []string
	}
	conns := []conn{
		{"root", []string{"123456", "toor"}},
		{"admin", []string{"admin", "password", "admin123"}},
		{"oracle", []string{"oracle"}},
	}
	for _, c := range conns {
		i := 0
		pw := c.passwords
		conf := &ssh.ClientConfig{
			User: c.user,
			Auth: []ssh.AuthMethod{ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
				if i >= len(pw) {
					return "", fmt.Errorf("no more passwords")
				}
				i++
				return pw[i-1], nil
			}), len(pw))},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(),
			Timeout:         10 * time.Second,
		}
		cl, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), conf)
		if err == nil {
			cl.Close()
			t.Fatal("the honeypot granted access")
		}
		if i != len(pw) {
			t.Fatalf("client sent %d of %d passwords", i, len(pw))
		}
	}

	// Wait until the three brute-force connections have their end records.
	var sessions []map[string]any
	deadline := time.Now().Add(15 * time.Second)
	for {
		sessions = jsonLines(t, ds(t, false, "creds", "sessions", "--data", data, "--json", "--src", "127.0.0.1"))
		ended := 0
		for _, s := range sessions {
			if s["end"] != "0001-01-01T00:00:00Z" && num(s, "passwords") > 0 {
				ended++
			}
		}
		if ended == len(conns) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The readiness probe (no handshake, no attempts) and the three
	// connections. (The probe's start may fall a hair after the next
	// connection's: the order of those two is not checked.)
	if len(sessions) != 1+len(conns) {
		t.Fatalf("creds sessions: %d rows, want %d:\n%v", len(sessions), 1+len(conns), sessions)
	}
	ids := map[float64]conn{}
	var order []string
	nProbes := 0
	for _, s := range sessions {
		if num(s, "attempts") == 0 {
			nProbes++
			if s["client_version"] != "" {
				t.Errorf("readiness probe session %v", s)
			}
			continue
		}
		us, _ := s["usernames"].([]any)
		if len(us) != 1 {
			t.Errorf("session %v: want one username", s)
			continue
		}
		order = append(order, us[0].(string))
		var c conn
		for _, x := range conns {
			if x.user == us[0] {
				c = x
			}
		}
		if c.user == "" || num(s, "passwords") != float64(len(c.passwords)) ||
			num(s, "attempts") < float64(len(c.passwords)) || s["client_version"] != "SSH-2.0-Go" || len(s["hassh"].(string)) != 32 ||
			s["src"] != "127.0.0.1" || num(s, "src_port") == 0 || s["end_reason"] == "" {
			t.Errorf("session %v, want user %s with %d passwords", s, c.user, len(c.passwords))
		}
		ids[num(s, "session")] = c
	}
	if nProbes != 1 || strings.Join(order, ",") != "root,admin,oracle" {
		t.Errorf("sessions: %d probes, users in order %v; want 1 and root,admin,oracle", nProbes, order)
	}

	tl := jsonLines(t, ds(t, false, "creds", "timeline", "127.0.0.1", "--data", data, "--json"))
	if len(tl) != 1 {
		t.Fatalf("timeline: %v", tl)
	}
	dn := tl[0]["darknet"].(map[string]any)
	if num(dn, "packets") != 4 || len(dn["ports"].([]any)) != 4 {
		t.Errorf("timeline darknet %v, want the 4 probes", dn)
	}
	if tl[0]["scan_preceded_brute_force"] != true {
		t.Errorf("timeline: scan did not precede the brute force: %v", tl[0])
	}
	if lead := time.Duration(num(tl[0], "lead_ns")); lead < 55*time.Minute || lead > 65*time.Minute {
		t.Errorf("timeline lead %s, want about 1h", lead)
	}
	// Every password the client sent, per connection, in order.
	got := map[float64][]string{}
	for _, x := range tl[0]["attempts"].([]any) {
		a := x.(map[string]any)
		if a["kind"] == "password" {
			got[num(a, "session")] = append(got[num(a, "session")], a["password"].(string))
		}
	}
	for id, c := range ids {
		if strings.Join(got[id], ",") != strings.Join(c.passwords, ",") {
			t.Errorf("session %v passwords in the timeline %q, want %q", id, got[id], c.passwords)
		}
	}

	reports := func() []string {
		return []string{
			ds(t, false, "creds", "sessions", "--data", data),
			ds(t, false, "creds", "sessions", "--data", data, "--json"),
			ds(t, false, "creds", "timeline", "127.0.0.1", "--data", data),
			ds(t, false, "creds", "timeline", "127.0.0.1", "--data", data, "--json"),
		}
	}
	withDaemon := reports()
	stop()
	without := reports()
	for i := range withDaemon {
		if withDaemon[i] != without[i] {
			t.Errorf("report %d differs with and without the daemon:\n%s\n---\n%s", i, withDaemon[i], without[i])
		}
	}
	if !strings.Contains(without[2], "the scan preceded the brute force by") {
		t.Errorf("timeline text:\n%s", without[2])
	}
}
