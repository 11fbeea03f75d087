package alert

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"smtp.test"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// startSMTPD runs testdata/smtpd.py (aiosmtpd) and returns its address.
func startSMTPD(t *testing.T, cert, key, outdir, user, pass string) string {
	t.Helper()
	// Debian's interpreter first: python3-aiosmtpd is installed for it, and a
	// python3 earlier in PATH (pyenv, venv) may not see it.
	py := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import aiosmtpd").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("python3-aiosmtpd is needed (make deps)")
		}
		t.Skip("python3-aiosmtpd not installed")
	}
	cmd := exec.Command(py, "testdata/smtpd.py", cert, key, outdir, user, pass)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("smtpd.py stderr:\n%s", stderr.String())
		}
	})
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		port <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case p := <-port:
		if p == "" {
			t.Fatal("smtpd.py printed no port")
		}
		return net.JoinHostPort("127.0.0.1", p)
	case <-time.After(20 * time.Second):
		t.Fatal("smtpd.py did not start")
	}
	return ""
}

type smtpMeta struct {
	MailFrom      string   `json:"mail_from"`
	RcptTos       []string `json:"rcpt_tos"`
	TLS           bool     `json:"tls"`
	Authenticated bool     `json:"authenticated"`
	Login         string   `json:"login"`
}

func TestEmailAiosmtpd(t *testing.T) {
	dir := t.TempDir()
	outdir := filepath.Join(dir, "mail")
	if err := os.Mkdir(outdir, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key := selfSigned(t, dir)
	addr := startSMTPD(t, cert, key, outdir, "alice", "s3cret pw")

	base := EmailConfig{Server: addr, From: "darkscope <ds@sensor.test>", To: []string{"noc@example.test", "Sec Team <sec@example.test>"},
		Username: "alice", Password: "s3cret pw", CAFile: cert, Timeout: 10 * time.Second}
	plain := base
	plain.Name = "plain"
	login := base
	login.Name, login.Auth, login.SubjectPrefix, login.To = "login", "login", "[ds]", []string{"login@example.test"}
	wrongPass := base
	wrongPass.Name, wrongPass.Password = "wrongpass", "nope"
	noCA := base
	noCA.Name, noCA.CAFile = "noca", "" // the self-signed certificate must not verify against system roots
	noTLS := base
	noTLS.Name, noTLS.StartTLS, noTLS.Auth = "notls", "off", "none" // the server requires STARTTLS
	s := newTestSink(t, Config{Email: []EmailConfig{plain, login, wrongPass, noCA, noTLS}})

	write(t, s, scanAlert("10.99.0.1", 3))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]Counters{"plain": {Sent: 1}, "login": {Sent: 1}, "wrongpass": {Failed: 1}, "noca": {Failed: 1}, "notls": {Failed: 1}}
	if d := cmp.Diff(want, s.Counters()); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}

	// Two messages arrived; tell them apart by recipient.
	msgs := map[string]*mail.Message{}
	metas := map[string]smtpMeta{}
	for i := 1; i <= 2; i++ {
		var meta smtpMeta
		b, err := os.ReadFile(filepath.Join(outdir, "msg"+string(rune('0'+i))+".json"))
		if err != nil {
			t.Fatalf("message %d not received: %v", i, err)
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(outdir, "msg"+string(rune('0'+i))+".eml"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := mail.ReadMessage(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs[meta.RcptTos[0]] = m
		metas[meta.RcptTos[0]] = meta
	}
	if _, err := os.Stat(filepath.Join(outdir, "msg3.json")); err == nil {
		t.Error("a third message was accepted")
	}
	if d := cmp.Diff(smtpMeta{MailFrom: "ds@sensor.test", RcptTos: []string{"noc@example.test", "sec@example.test"}, TLS: true, Authenticated: true, Login: "alice"},
		metas["noc@example.test"]); d != "" {
		t.Errorf("plain session (-want +got):\n%s", d)
	}
	if m := metas["login@example.test"]; !m.TLS || !m.Authenticated || m.Login != "alice" {
		t.Errorf("login session: %+v", m)
	}

	m := msgs["noc@example.test"]
	if m == nil {
		t.Fatal("no message to noc@example.test")
	}
	h := m.Header
	if h.Get("From") != "darkscope <ds@sensor.test>" || h.Get("To") != "noc@example.test, Sec Team <sec@example.test>" ||
		h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("MIME-Version") != "1.0" || h.Get("X-Darkscope-Danger-Level") != "3" {
		t.Errorf("headers: %v", h)
	}
	if got, want := h.Get("Subject"), "[darkscope-alert] DL3 src: 10.99.0.1 scan: -sS signatures: 1 sensor: sensor1"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date header: %v", err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") {
		t.Errorf("Message-ID %q", id)
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(body), "\r\n", "\n")
	for _, w := range []string{
		"darkscope: scan alert",
		"              Source: 10.99.0.1\n",
		"         Reverse DNS: -\n",
		"        Danger level: 3 (of 5)\n",
		"             Pattern: vertical\n",
		"        Destinations: 1 hosts\n",
		"       New TCP ports: 600-1024\n",
		"       All TCP ports: 1-1024\n",
		"       All UDP ports: 53\n",
		"           Protocols: tcp\n",
		"           TCP flags: SYN\n",
		"          Scan types: -sS\n",
		"          Signatures: NMAP SYN scan\n",
		"            OS guess: Linux 2.2.x-3.x\n",
		"       Scanning tool: nmap (confidence 0.90)\n",
		"evidence: window 1024\n",
		"          First seen: 2026-11-23T11:58:00Z\n",
		"           Last seen: 2026-11-23T11:58:50Z\n",
		"             Packets: 1000 (400 new this interval)\n",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("body lacks %q:\n%s", w, text)
		}
	}
	if lm := msgs["login@example.test"]; lm == nil || !strings.HasPrefix(lm.Header.Get("Subject"), "[ds] DL3 src: 10.99.0.1") {
		t.Errorf("login channel message: %v", lm)
	}
}
