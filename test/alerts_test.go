package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDaemonAlerts runs the daemon with alert channels from a config file,
// feeds a real captured Xmas scan through a followed log, and checks what
// each channel received: the JSON lines file and the webhook get the
// level-2 alert; the syslog channel, whose minimum level is 3, gets nothing.
func TestDaemonAlerts(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var posts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	syslogGot := make(chan string, 16)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			syslogGot <- string(buf[:n])
		}
	}()

	alerts := filepath.Join(dir, "alerts.jsonl")
	cfg := filepath.Join(dir, "darkscope.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `alerts:
  files:
    - path: %s
      min_level: 1
  webhooks:
    - url: %s/hook
      min_level: 2
      headers: {Authorization: "Bearer test"}
  syslog:
    - network: udp
      address: %s
      min_level: 3
`, alerts, srv.URL, udp.LocalAddr()), 0o644); err != nil {
		t.Fatal(err)
	}
	follow := filepath.Join(dir, "kern.log")
	if err := os.WriteFile(follow, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	stop := daemon(t, data, nil, "-c", cfg, "--follow", follow)

	// The scan, then one packet from another source five minutes later in
	// event time: detection runs on event time, so that packet closes the
	// scan's report interval.
	scan := scenarioInput(t, "real-nmap-sX.txtar")
	lines := strings.Split(strings.TrimSpace(scan), "\n")
	last := lines[len(lines)-1]
	later := strings.Replace(strings.Replace(last, "2026-11-23T11:30:", "2026-11-23T11:35:", 1), "SRC=10.99.88.15", "SRC=10.99.88.99", 1)
	if later == last {
		t.Fatalf("cannot build the closing line from %q", last)
	}
	f, err := os.OpenFile(follow, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(scan + later + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var hook string
	deadline := time.Now().Add(30 * time.Second)
	for hook == "" && time.Now().Before(deadline) {
		mu.Lock()
		for _, p := range posts {
			if strings.Contains(p, `"10.99.88.15"`) {
				hook = p
			}
		}
		mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	if hook == "" {
		t.Fatalf("no webhook alert for 10.99.88.15; posts %q\n%s", posts, stop())
	}
	for _, want := range []string{`"danger_level":2`, `"-sX"`, `XMAS`, `"backscatter_only":false`} {
		if !strings.Contains(hook, want) {
			t.Errorf("webhook body lacks %s: %s", want, hook)
		}
	}
	stop()
	b, err := os.ReadFile(alerts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"10.99.88.15"`) || !strings.Contains(string(b), `"-sX"`) {
		t.Errorf("alerts file lacks the Xmas alert:\n%s", b)
	}
	select {
	case m := <-syslogGot:
		t.Errorf("syslog channel (min_level 3) got a level-2 alert: %s", m)
	default:
	}
}

// TestImportRespond: an import's verdicts carry its id and alert nobody,
// unless the import is run with --respond.
func TestImportRespond(t *testing.T) {
	dir := t.TempDir()
	scan := scenarioInput(t, "real-nmap-sX.txtar")
	lines := strings.Split(strings.TrimSpace(scan), "\n")
	last := lines[len(lines)-1]
	later := strings.Replace(strings.Replace(last, "2026-11-23T11:30:", "2026-11-23T11:35:", 1), "SRC=10.99.88.15", "SRC=10.99.88.99", 1)
	log := filepath.Join(dir, "kern.log")
	if err := os.WriteFile(log, []byte(scan+later+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, respond := range []bool{false, true} {
		sub := filepath.Join(dir, fmt.Sprint(respond))
		alerts := filepath.Join(sub, "alerts.jsonl")
		cfg := filepath.Join(sub, "darkscope.yaml")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, fmt.Appendf(nil, "alerts:\n  files:\n    - path: %s\n", alerts), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"import", "--data", filepath.Join(sub, "data"), "-c", cfg, log}
		if respond {
			args = append(args, "--respond")
		}
		ds(t, false, args...)
		var origin string
		for _, v := range jsonLines(t, ds(t, false, "scans", "--data", filepath.Join(sub, "data"), "--json")) {
			if v["src"] == "10.99.88.15" {
				origin, _ = v["origin"].(string)
			}
		}
		if !strings.HasPrefix(origin, "import:") || !strings.Contains(origin, "kern.log") {
			t.Errorf("respond=%v: verdict origin %q, want the import's id", respond, origin)
		}
		b, _ := os.ReadFile(alerts)
		got := strings.Contains(string(b), `"10.99.88.15"`)
		if got != respond {
			t.Errorf("respond=%v: alert delivered %v:\n%s", respond, got, b)
		}
	}
}
