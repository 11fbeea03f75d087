package honeypot

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// pythonPshitt writes the pshitt line Python itself produces for e: the
// exact bytes decoded with "backslashreplace" and passed to json.dumps with
// the version prefix cut as pshitt cuts it. It is the ground truth for
// AppendPshitt.
const pythonPshitt = `
import sys, json, datetime
def pshitt_version(v):
    try:
        return v.split("-", 2)[2]
    except Exception:
        return v
for line in sys.stdin:
    f = line.split()
    d = lambda h: bytes.fromhex(h).decode("utf-8", "backslashreplace")
    ts = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=int(f[4]))
    print(json.dumps({"username": d(f[0]), "password": d(f[1]), "src_ip": f[2], "src_port": int(f[3]),
        "timestamp": ts.isoformat(), "software_version": pshitt_version(d(f[5])), "cipher": f[6], "mac": f[7], "try": int(f[8])}))
`

func pshittEvents() []event.Event {
	mk := func(user, pass, version string, us int64, try uint16) event.Event {
		var e event.Event
		e.Kind = event.KindAuth
		e.Time = time.UnixMicro(us).UTC()
		e.Src = mustAddr("198.51.100.7")
		e.SrcPort = 41397
		u := capBytes([]byte(user), len(user), event.MaxAuthUser)
		p := capBytes([]byte(pass), len(pass), event.MaxAuthSecret)
		v := capBytes([]byte(version), len(version), event.MaxAuthVersion)
		e.Auth = &event.Auth{Kind: event.AuthPassword, User: u.str, UserLen: u.n, UserRaw: u.raw,
			Secret: p.str, SecretLen: p.n, SecretRaw: p.raw, Try: try,
			ClientVersion: v.str, ClientVersionRaw: v.raw,
			Negotiated: event.Negotiated{CipherC2S: "aes128-ctr", MACC2S: "hmac-sha2-256"}}
		return e
	}
	return []event.Event{
		mk("root", "P@ssword", "SSH-2.0-libssh_0.10.6", 1403732121660303, 1),
		mk("admin", "", "SSH-2.0-Go", 1403732121000000, 2), // whole second: Python omits .000000
		mk("u", "p", "SSH-nodash", 3, 1),
		mk("ro\x00ot\n", "a\"b\\c\r\n\t\b\f\x7f\x1b[31m", "SSH-2.0-x", 1, 3),
		mk("\xff\xfeuser\xc3", "pass\xe2\x82\xac€😀\xed\xa0\x80\xf4\x90\x80\x80", "SSH-2.0-\xffbad", 1700000000123456, 4),
		mk(strings.Repeat("A", 300), strings.Repeat("é", 200), "SSH-2.0-"+strings.Repeat("v", 300), 2, 5),
	}
}

func TestPshittMatchesPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 is needed (Debian python3): %v", err)
	}
	evs := pshittEvents()
	var in strings.Builder
	for i := range evs {
		e := &evs[i]
		a := e.Auth
		h := func(raw []byte, s string) string {
			// "-" stands for the empty value, which Python strips back off.
			return hex.EncodeToString([]byte(rawOr(raw, s))) + "-"
		}
		fields := []string{h(a.UserRaw, a.User), h(a.SecretRaw, a.Secret), e.Src.String(), strconv.Itoa(int(e.SrcPort)),
			strconv.FormatInt(e.Time.UnixMicro(), 10), h(a.ClientVersionRaw, a.ClientVersion), a.Negotiated.CipherC2S, a.Negotiated.MACC2S, strconv.Itoa(int(a.Try))}
		in.WriteString(strings.Join(fields, " ") + "\n")
	}
	script := strings.Replace(pythonPshitt, `bytes.fromhex(h)`, `bytes.fromhex(h.rstrip("-"))`, 1)
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = strings.NewReader(in.String())
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var got bytes.Buffer
	w := NewPshittEncoder(&got)
	if err := w.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(got.String(), "\n")
	if len(wl) != len(gl) {
		t.Fatalf("%d lines, python %d", len(gl), len(wl))
	}
	for i := range wl {
		if wl[i] != gl[i] {
			t.Errorf("line %d\n got %s\nwant %s", i, gl[i], wl[i])
		}
		if wl[i] != "" && !json.Valid([]byte(gl[i])) {
			t.Errorf("line %d is not JSON", i)
		}
	}
}

// TestPshittSkipsNonSecrets: only password and answered keyboard-interactive
// attempts become pshitt lines.
func TestPshittSkipsNonSecrets(t *testing.T) {
	evs := pshittEvents()[:1]
	for _, k := range []event.AuthKind{event.AuthNone, event.AuthPublicKey, event.AuthConnectionEnd, event.AuthKeyboardInteractive} {
		e := evs[0]
		a := *e.Auth
		a.Kind = k
		a.Unanswered = k == event.AuthKeyboardInteractive
		e.Auth = &a
		evs = append(evs, e)
	}
	var buf bytes.Buffer
	if err := NewPshittEncoder(&buf).Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
		t.Errorf("%d lines, want 1:\n%s", n, buf.String())
	}
}
