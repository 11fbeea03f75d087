package honeypot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// harness runs a honeypot on a loopback port and collects its events.
type harness struct {
	hp     *Honeypot
	addr   string
	cancel context.CancelFunc
	done   chan error

	collected chan struct{} // closed when every batch was taken

	mu  sync.Mutex
	evs []event.Event
}

func startHoneypot(t testing.TB, cfg Config) *harness {
	t.Helper()
	if cfg.KeyDir == "" {
		cfg.KeyDir = sharedKeyDir(t)
	}
	cfg.Sensor = "test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hp, err := New(cfg, source.NewCounters("honeypot:ssh"), slog.New(slog.NewTextHandler(io.Discard, nil)), WithListener(ln))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{hp: hp, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	out := make(chan source.Batch, 64)
	go func() { h.done <- hp.Run(ctx, out); close(out) }()
	h.collected = make(chan struct{})
	go func() {
		defer close(h.collected)
		for b := range out {
			h.mu.Lock()
			h.evs = append(h.evs, b.Events...)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() { h.stop(t) })
	return h
}

func (h *harness) stop(t testing.TB) {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Run did not return")
		return
	}
	<-h.collected
}

// wait returns the events once n connection ends were seen.
func (h *harness) wait(t testing.TB, conns int) []event.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		n := 0
		for i := range h.evs {
			if h.evs[i].Auth.Kind == event.AuthConnectionEnd {
				n++
			}
		}
		if n >= conns {
			out := append([]event.Event(nil), h.evs...)
			h.mu.Unlock()
			return out
		}
		h.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %d connection ends", conns)
	return nil
}

var (
	keyDirOnce sync.Once
	keyDir     string
)

// sharedKeyDir generates host keys once per test binary (RSA 3072 is slow).
func sharedKeyDir(t testing.TB) string {
	keyDirOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := LoadHostKeys(dir); err != nil {
			t.Fatal(err)
		}
		keyDir = dir
	})
	return keyDir
}

// goAttempt runs one Go client connection trying passwords in order.
func goAttempt(addr, user string, passwords []string) error {
	i := 0
	cfg := &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
			p := passwords[i]
			i++
			return p, nil
		}), len(passwords))},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	}
	c, err := ssh.Dial("tcp", addr, cfg)
	if err == nil {
		c.Close()
		return fmt.Errorf("honeypot granted access")
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		return err
	}
	return nil
}

type attempt struct {
	Kind       string
	User, Pass string
	Try        uint16
}

// TestGoClientBruteForce: every password a Go client sends is recorded once,
// in order, with its try number, version, HASSH and negotiated algorithms.
func TestGoClientBruteForce(t *testing.T) {
	h := startHoneypot(t, Config{})
	users := []string{"root", "admin", "ubuntu", "pi"}
	words := []string{"123456", "password", "admin", "root", "toor", "qwerty", "1q2w3e4r", "P@ssw0rd"}
	for _, u := range users {
		if err := goAttempt(h.addr, u, words); err != nil {
			t.Fatal(err)
		}
	}
	evs := h.wait(t, len(users))
	bySession := map[uint64][]attempt{}
	userOf := map[uint64]string{}
	for _, e := range evs {
		a := e.Auth
		if e.Kind != event.KindAuth || e.Proto != event.ProtoTCP || e.Src.String() != "127.0.0.1" || e.Sensor != "test" {
			t.Fatalf("bad envelope: %+v", e)
		}
		if a.Kind == event.AuthConnectionEnd {
			if a.EndReason != "client_closed" {
				t.Errorf("session %d ended %q", a.Session, a.EndReason)
			}
			continue
		}
		if a.ClientVersion != "SSH-2.0-Go" || a.HASSH == "" || a.Client.Kex == "" {
			t.Errorf("client fields: version %q hassh %q", a.ClientVersion, a.HASSH)
		}
		if a.Negotiated.CipherC2S == "" || a.Negotiated.Kex == "" || a.Negotiated.HostKey == "" {
			t.Errorf("negotiated: %+v", a.Negotiated)
		}
		if want := HASSH(&a.Client); a.HASSH != want {
			t.Errorf("HASSH %s, lists give %s", a.HASSH, want)
		}
		bySession[a.Session] = append(bySession[a.Session], attempt{a.Kind.String(), a.User, a.Secret, a.Try})
		userOf[a.Session] = a.User
	}
	if len(bySession) != len(users) {
		t.Fatalf("%d sessions, want %d", len(bySession), len(users))
	}
	for s, got := range bySession {
		u := userOf[s]
		want := []attempt{{Kind: "none", User: u}}
		for i, w := range words {
			want = append(want, attempt{"password", u, w, uint16(i + 1)})
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("session %d (-want +got):\n%s", s, d)
		}
	}
	st := h.hp.Stats()
	if st.Accepted != uint64(len(users)) || st.Attempts != uint64(len(users)*(len(words)+1)) {
		t.Errorf("stats %+v", st)
	}
}

// TestOversizedAndBinary: huge and non-UTF-8 usernames and passwords are
// capped with their length kept, exact bytes kept in *Raw, and their pshitt
// lines stay one line each.
func TestOversizedAndBinary(t *testing.T) {
	h := startHoneypot(t, Config{})
	bigUser := "\xff" + strings.Repeat("U", 50000)
	secrets := []string{strings.Repeat("p", 100000), "\xff\xfe\x00\n\r{\"}\x1b[2J", "ok"}
	if err := goAttempt(h.addr, bigUser, secrets); err != nil {
		t.Fatal(err)
	}
	binUser := "r\x00o\xc3t\n"
	if err := goAttempt(h.addr, binUser, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	evs := h.wait(t, 2)
	var pw []event.Event
	for _, e := range evs {
		if e.Auth.Kind == event.AuthPassword {
			pw = append(pw, e)
		}
	}
	if len(pw) != 4 {
		t.Fatalf("%d password events, want 4", len(pw))
	}
	for i, e := range pw[:3] {
		a := e.Auth
		if a.UserLen != uint32(len(bigUser)) || len(a.UserRaw) != event.MaxAuthUser || a.UserRaw[0] != 0xff {
			t.Errorf("user len %d raw %d", a.UserLen, len(a.UserRaw))
		}
		want := secrets[i]
		if a.SecretLen != uint32(len(want)) {
			t.Errorf("secret %d: len %d want %d", i, a.SecretLen, len(want))
		}
		kept := want[:min(len(want), event.MaxAuthSecret)]
		if got := rawOr(a.SecretRaw, a.Secret); got != kept {
			t.Errorf("secret %d: kept %q want %q", i, got, kept)
		}
		if !utf8.ValidString(a.Secret) || !utf8.ValidString(a.User) {
			t.Errorf("stored strings are not UTF-8")
		}
	}
	if a := pw[3].Auth; string(a.UserRaw) != binUser || a.User != "r\x00o\uFFFDt\n" {
		t.Errorf("binary user raw %q str %q", a.UserRaw, a.User)
	}
	var buf strings.Builder
	w := NewPshittEncoder(&buf)
	if err := w.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d pshitt lines, want 4:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || len(m) != 9 {
			t.Errorf("bad line %q: %v", l, err)
		}
		for _, c := range l {
			if c < 0x20 || c > 0x7e {
				t.Errorf("control or non-ASCII character %q in line", c)
			}
		}
	}
}

// TestAttemptCapAndTimeouts: the per-connection attempt cap ends the
// connection, a silent client is cut at the handshake deadline.
func TestAttemptCapAndTimeouts(t *testing.T) {
	h := startHoneypot(t, Config{MaxAttempts: 5, HandshakeTimeout: 300 * time.Millisecond})
	words := []string{"1", "2", "3", "4", "5", "6", "7", "8"}
	err := goAttempt(h.addr, "root", words)
	if err != nil && !strings.Contains(err.Error(), "too many") && !strings.Contains(err.Error(), "EOF") {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	evs := h.wait(t, 2)
	reasons := map[string]int{}
	n := 0
	for _, e := range evs {
		if e.Auth.Kind == event.AuthConnectionEnd {
			reasons[e.Auth.EndReason]++
		} else {
			n++
		}
	}
	// x/crypto, like OpenSSH's MaxAuthTries, does not count the first "none".
	if n != 1+5 || reasons["attempt_cap"] != 1 || reasons["handshake_timeout"] != 1 {
		t.Errorf("%d attempts, reasons %v", n, reasons)
	}
}

// TestPerSourceCap: connections above MaxPerSource from one address are closed at once.
func TestPerSourceCap(t *testing.T) {
	h := startHoneypot(t, Config{MaxPerSource: 2, HandshakeTimeout: 2 * time.Second})
	var conns []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			continue // a refused connection may be reset before Dial returns
		}
		conns = append(conns, c)
		time.Sleep(50 * time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.hp.Stats().RefusedSource < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := h.hp.Stats(); s.RefusedSource != 2 || s.Accepted != 2 {
		t.Errorf("stats %+v", s)
	}
	for _, c := range conns {
		c.Close()
	}
}
