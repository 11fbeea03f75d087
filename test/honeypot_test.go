package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDaemonHoneypot runs the honeypot inside `darkscope run`, brute-forces
// it with a Go SSH client over loopback and checks that every attempt is
// stored, counted and written as pshitt JSON.
func TestDaemonHoneypot(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	out := filepath.Join(dir, "pshitt.json")
	cfg := filepath.Join(dir, "c.yaml")
	port := freePort(t)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("sources:\n  honeypot:\n    listen: 127.0.0.1:%d\n    output: %s\n", port, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := daemon(t, data, nil, "-c", cfg)
	passwords := []string{"123456", "root", "admin", "p@ss w0rd", "toor"}
	tries := 0
	for range 50 { // the listener may start just after the API socket
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, pw := range passwords {
		conf := &ssh.ClientConfig{
			User:            "root",
			Auth:            []ssh.AuthMethod{ssh.Password(pw)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(),
			Timeout:         10 * time.Second,
		}
		c, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), conf)
		if err == nil {
			c.Close()
			t.Fatal("the honeypot granted access")
		}
		tries++
	}
	// Each connection gives at least its password attempt and its end record
	// (the Go client also sends a "none" request, recorded separately).
	deadline := time.Now().Add(10 * time.Second)
	for {
		q := jsonLines(t, ds(t, false, "query", "--data", data, "--json",
			"SELECT count(*) AS n FROM events WHERE kind = 'auth' AND src_ip = '127.0.0.1'"))
		if len(q) == 1 && num(q[0], "n") >= float64(2*tries) || time.Now().After(deadline) {
			if len(q) != 1 || num(q[0], "n") < float64(2*tries) {
				t.Errorf("auth events stored: %v, want at least %d", q, 2*tries)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	credsReport := func(label string) (string, string) {
		pw := jsonLines(t, ds(t, false, "creds", "top", "passwords", "--data", data, "--json", "--user", "root"))
		if len(pw) != len(passwords) {
			t.Errorf("%s: creds top passwords = %v", label, pw)
		}
		seen := map[string]bool{}
		for _, r := range pw {
			seen[r["password"].(string)] = true
			if num(r, "count") != 1 {
				t.Errorf("%s: %v", label, r)
			}
		}
		for _, p := range passwords {
			if !seen[p] {
				t.Errorf("%s: password %q missing from creds top", label, p)
			}
		}
		cl := jsonLines(t, ds(t, false, "creds", "clients", "--data", data, "--json"))
		// The readiness probe above is a connection without a handshake: a
		// row with no version and no attempts.
		if len(cl) != 2 || cl[0]["client_version"] != "SSH-2.0-Go" || len(cl[0]["hassh"].(string)) != 32 ||
			num(cl[0], "sessions") != float64(tries) || cl[1]["client_version"] != "" || num(cl[1], "attempts") != 0 {
			t.Errorf("%s: creds clients = %v", label, cl)
		}
		return ds(t, false, "creds", "top", "pairs", "--data", data), ds(t, false, "creds", "clients", "--data", data)
	}
	p1, c1 := credsReport("daemon")
	stop()
	p2, c2 := credsReport("no daemon")
	if p1 != p2 || c1 != c2 {
		t.Errorf("creds reports differ with and without the daemon:\n%s\n%s\n%s\n%s", p1, p2, c1, c2)
	}
	// Password attempts plus the connection-end record of each connection.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := jsonLines(t, string(b))
	if len(lines) != tries {
		t.Fatalf("pshitt output has %d lines for %d attempts:\n%s", len(lines), tries, b)
	}
	for i, l := range lines {
		if l["username"] != "root" || l["password"] != passwords[i] || l["src_ip"] != "127.0.0.1" ||
			l["software_version"] != "Go" { // pshitt drops "SSH-2.0-"
			t.Errorf("pshitt line %d: %v", i, l)
		}
	}
	st := jsonLines(t, ds(t, false, "stats", "--data", data, "--json"))
	found := false
	for _, x := range st[0]["sources"].([]any) {
		m := x.(map[string]any)
		if m["source"] == "honeypot:ssh" {
			found = true
			if num(m, "stored") < float64(tries) {
				t.Errorf("honeypot counters %v", m)
			}
		}
	}
	if !found {
		t.Errorf("no honeypot counters in %v", st)
	}
}
