package syslog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// stubParser accepts every message except those containing NOTFW (not a
// firewall line) or BADFW (a firewall line that does not parse); it keeps the
// message text in Prefix so tests can check what the receiver handed over.
type stubParser struct{}

func (stubParser) ParseMessage(msg []byte, e *event.Event) error {
	switch {
	case bytes.Contains(msg, []byte("NOTFW")):
		return decode.ErrNotFirewall
	case bytes.Contains(msg, []byte("BADFW")):
		return &decode.ParseError{Reason: "bad_src", Detail: "x"}
	}
	e.Prefix = string(msg)
	return nil
}

type keptRejects struct {
	mu   sync.Mutex
	recs []source.Rejected
}

func (k *keptRejects) Keep(r source.Rejected) {
	k.mu.Lock()
	k.recs = append(k.recs, r)
	k.mu.Unlock()
}

func (k *keptRejects) all() []source.Rejected {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]source.Rejected(nil), k.recs...)
}

type harness struct {
	r        *Receiver
	out      chan source.Batch
	counters *source.Counters
	rejects  *keptRejects
	cancel   context.CancelFunc
	done     chan error
}

func newHarness(t *testing.T, cfg Config, p MessageParser) *harness {
	t.Helper()
	h := &harness{out: make(chan source.Batch, 64), counters: source.NewCounters("syslog"), rejects: &keptRejects{}}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 20 * time.Millisecond
	}
	if p == nil {
		p = stubParser{}
	}
	r, err := New(cfg, p, nil, h.rejects, h.counters, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.r.Run(ctx, h.out) }()
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			panic(fmt.Sprintf("Run returned %v", err))
		}
	case <-time.After(5 * time.Second):
		panic("Run did not return")
	}
}

// collect reads events until n have arrived or the timeout passes.
func (h *harness) collect(t *testing.T, n int, timeout time.Duration) []event.Event {
	t.Helper()
	var got []event.Event
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case b := <-h.out:
			got = append(got, b.Events...)
			h.counters.AddStored(uint64(len(b.Events)))
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(got), n)
		}
	}
	return got
}

// quiet checks that no further event arrives for a while.
func (h *harness) quiet(t *testing.T) {
	t.Helper()
	select {
	case b := <-h.out:
		t.Fatalf("unexpected batch of %d events: %+v", len(b.Events), b.Events[0].Prefix)
	case <-time.After(150 * time.Millisecond):
	}
}

func (h *harness) waitCounters(t *testing.T, ok func(source.Snapshot) bool) source.Snapshot {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := h.counters.Snapshot()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters never reached the expected state: %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) addr(t *testing.T, i int) string {
	t.Helper()
	return h.r.Addrs()[i].String()
}

type evView struct {
	Sensor, Prefix, Source string
	Time                   time.Time
}

func view(evs []event.Event) []evView {
	var v []evView
	for _, e := range evs {
		v = append(v, evView{Sensor: e.Sensor, Prefix: e.Prefix, Source: e.Source, Time: e.Time})
	}
	return v
}

func TestUDPMessages(t *testing.T) {
	h := newHarness(t, Config{UDP: []string{"127.0.0.1:0"}, Location: time.UTC}, nil)
	h.start()
	c, err := net.Dial("udp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	year := time.Now().UTC().Year()
	msgs := []string{
		"<4>Nov 23 10:00:01 fw1 kernel: [ 1.5] FW one\n",
		"<4>1 2026-11-23T10:00:02.5+01:00 fw2 kernel - - - [ 2.5] FW two",
		"<4>1 2026-11-23T10:00:03Z - kernel - - - FW three",
		"<4>Nov 23 10:00:04 fw1 sshd[1]: not the kernel",
		"<4>Nov 23 10:00:05 fw1 kernel: NOTFW usb 1-1: new device",
		"<4>Nov 23 10:00:06 fw1 kernel: BADFW SRC=x",
		"<999>garbage",
	}
	for _, m := range msgs {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	got := h.collect(t, 3, 5*time.Second)
	name := h.r.Name()
	stamp1 := time.Date(year, 11, 23, 10, 0, 1, 0, time.UTC)
	if stamp1.After(time.Now().Add(24 * time.Hour)) {
		stamp1 = stamp1.AddDate(-1, 0, 0)
	}
	want := []evView{
		{Sensor: "fw1", Prefix: "[ 1.5] FW one", Source: name, Time: stamp1},
		{Sensor: "fw2", Prefix: "[ 2.5] FW two", Source: name, Time: time.Date(2026, 11, 23, 9, 0, 2, 5e8, time.UTC)},
		{Sensor: "127.0.0.1", Prefix: "FW three", Source: name, Time: time.Date(2026, 11, 23, 10, 0, 3, 0, time.UTC)},
	}
	if d := cmp.Diff(want, view(got)); d != "" {
		t.Errorf("events (-want +got)\n%s", d)
	}
	s := h.waitCounters(t, func(s source.Snapshot) bool { return s.Received == 7 })
	if s.Ignored != 2 || s.Rejected["bad_src"] != 1 || s.Rejected[decode.SyslogReasonBadPri] != 1 || !s.Balanced() {
		t.Errorf("counters %+v", s)
	}
	recs := h.rejects.all()
	if len(recs) != 2 || !strings.Contains(recs[0].Raw+recs[1].Raw, "BADFW SRC=x") ||
		!strings.Contains(recs[0].Source, "peer=127.0.0.1:") {
		t.Errorf("kept rejects %+v", recs)
	}
	h.quiet(t)
}

func TestTCPFraming(t *testing.T) {
	h := newHarness(t, Config{TCP: []string{"127.0.0.1:0"}, MaxMsg: 200}, nil)
	h.start()
	// Newline framing, CRLF, a blank keep-alive line, a line over MaxMsg and
	// a last message without a newline.
	c1, err := net.Dial("tcp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	long := "<4>Nov 23 10:00:01 h kernel: " + strings.Repeat("x", 300)
	fmt.Fprintf(c1, "<4>Nov 23 10:00:01 nl kernel: FW a\r\n\n%s\n<4>Nov 23 10:00:01 nl kernel: FW b\n<4>Nov 23 10:00:01 nl kernel: FW c", long)
	c1.Close()
	// Octet counting, one frame holding a newline, frames split across writes.
	c2, err := net.Dial("tcp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	frames := []string{"<4>1 - oc kernel - - - FW d\nsecond line", "<4>1 - oc kernel - - - FW e"}
	var buf bytes.Buffer
	for _, f := range frames {
		fmt.Fprintf(&buf, "%d %s", len(f), f)
	}
	all := buf.Bytes()
	for i := 0; i < len(all); i += 7 {
		if _, err := c2.Write(all[i:min(i+7, len(all))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	c2.Close()
	got := h.collect(t, 5, 5*time.Second)
	var prefixes []string
	for _, e := range got {
		prefixes = append(prefixes, e.Sensor+"|"+e.Prefix)
	}
	want := []string{"nl|FW a", "nl|FW b", "nl|FW c", "oc|FW d\nsecond line", "oc|FW e"}
	if d := cmp.Diff(want, sortedCopy(prefixes)); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// An octet count over MaxMsg, and one that is not a number, close the connection.
	for _, bad := range []string{"999 <4>1 - x kernel - - - FW", "12x <4>"} {
		c, err := net.Dial("tcp", h.addr(t, 0))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, bad)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("%q: connection not closed by the receiver: %v", bad, err)
		}
		c.Close()
	}
	s := h.waitCounters(t, func(s source.Snapshot) bool { return s.Received == 8 })
	if s.Rejected[ReasonMessageTooLong] != 2 || s.Rejected[ReasonBadFrame] != 1 || !s.Balanced() {
		t.Errorf("counters %+v", s)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	h := newHarness(t, Config{TLS: []string{"127.0.0.1:0"}, CertFile: certFile, KeyFile: keyFile}, nil)
	h.start()
	c, err := tls.Dial("tcp", h.addr(t, 0), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"<4>1 2026-11-23T10:00:00Z tls1 kernel - - - FW over tls", "<4>1 2026-11-23T10:00:01Z tls1 kernel - - - FW again"} {
		fmt.Fprintf(c, "%d %s", len(m), m)
	}
	got := h.collect(t, 2, 5*time.Second)
	c.Close()
	if got[0].Prefix != "FW over tls" || got[1].Prefix != "FW again" || got[0].Sensor != "tls1" ||
		!got[1].Time.Equal(time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC)) {
		t.Errorf("events %+v", view(got))
	}
	// A plain-text client on the TLS port gets nothing through.
	p, err := net.Dial("tcp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p, "20 <4>1 - h kernel - - - FW\n")
	p.Close()
	h.quiet(t)
	if s := h.counters.Snapshot(); s.Received != 2 {
		t.Errorf("counters %+v", s)
	}
	// A missing key file is a permanent configuration error.
	_, err = New(Config{TLS: []string{"127.0.0.1:0"}, CertFile: certFile, KeyFile: filepath.Join(dir, "nope")},
		stubParser{}, nil, nil, source.NewCounters("x"), nil)
	var perm *source.Permanent
	if !errors.As(err, &perm) {
		t.Errorf("missing key: %v, want a Permanent error", err)
	}
}

func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestLoggerTool sends real kernel LOG lines with util-linux logger(1) in
// every transport and format it has, and decodes them with the real kernel
// LOG parser.
func TestLoggerTool(t *testing.T) {
	if _, err := exec.LookPath("logger"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("logger (bsdutils) is required in CI")
		}
		t.Skip("needs logger")
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := decode.NewKernLogParser(decode.KernLogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Location: time.Local}, kp)
	h.start()
	_, uport, _ := net.SplitHostPort(h.addr(t, 0))
	_, tport, _ := net.SplitHostPort(h.addr(t, 1))
	runs := [][]string{
		{"-d", "-P", uport, "--rfc3164"},
		{"-d", "-P", uport, "--rfc5424"},
		{"-T", "-P", tport, "--rfc3164"},
		{"-T", "-P", tport, "--rfc5424"},
		{"-T", "-P", tport, "--rfc5424", "--octet-count"},
		{"-T", "-P", tport, "--rfc3164", "--octet-count"},
	}
	before := time.Now().Add(-time.Second)
	for i, args := range runs {
		msg := fmt.Sprintf("[ 4242.000001] DSLOGGER%d IN=veth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 "+
			"SRC=10.99.0.2 DST=10.99.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=%d PROTO=TCP SPT=1234 DPT=%d "+
			"WINDOW=512 RES=0x00 SYN URGP=0", i, 100+i, 1000+i)
		cmd := exec.Command("logger", append(append([]string{"-n", "127.0.0.1", "-t", "kernel", "-p", "kern.warning"}, args...), "--", msg)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("logger %v: %v: %s", args, err, out)
		}
	}
	got := h.collect(t, len(runs), 10*time.Second)
	after := time.Now().Add(time.Second)
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.Prefix] = true
		var i int
		if _, err := fmt.Sscanf(e.Prefix, "DSLOGGER%d", &i); err != nil {
			t.Errorf("prefix %q", e.Prefix)
			continue
		}
		if e.Sensor != host || e.Src != netip.MustParseAddr("10.99.0.2") || e.Dst != netip.MustParseAddr("10.99.0.1") ||
			e.DstPort != uint16(1000+i) || e.IPID != uint32(100+i) || e.Uptime != 4242*time.Second+time.Microsecond ||
			e.Flags != event.FlagSYN || e.InIface != "veth0" {
			t.Errorf("run %v: event %+v", runs[i], e)
		}
		// RFC 3164 stamps have whole seconds, in the local zone.
		if e.Time.Before(before.Truncate(time.Second)) || e.Time.After(after) || e.Time.Location() != time.UTC {
			t.Errorf("run %v: time %v not within [%v, %v]", runs[i], e.Time, before, after)
		}
	}
	if len(seen) != len(runs) {
		t.Errorf("distinct events %d, want %d: %v", len(seen), len(runs), seen)
	}
	s := h.counters.Snapshot()
	if s.Received != uint64(len(runs)) || !s.Balanced() {
		t.Errorf("counters %+v", s)
	}
}

func TestAllowlist(t *testing.T) {
	h := newHarness(t, Config{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"},
		Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, nil)
	h.start()
	u, err := net.Dial("udp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		io.WriteString(u, "<4>Nov 23 10:00:00 h kernel: FW secret content")
	}
	u.Close()
	c, err := net.Dial("tcp", h.addr(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "<4>Nov 23 10:00:00 h kernel: FW secret content\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("connection from a sender not allowed stayed open: %v", err)
	}
	c.Close()
	s := h.waitCounters(t, func(s source.Snapshot) bool { return s.Received == 4 })
	if s.Rejected[ReasonSenderNotAllowed] != 4 || !s.Balanced() {
		t.Errorf("counters %+v", s)
	}
	h.quiet(t)
	recs := h.rejects.all()
	if len(recs) != 1 { // one record per peer and minute
		t.Fatalf("kept %d records: %+v", len(recs), recs)
	}
	if recs[0].Raw != "" || recs[0].Reason != ReasonSenderNotAllowed || !strings.Contains(recs[0].Source, "127.0.0.1") {
		t.Errorf("record %+v", recs[0])
	}

	// The same receiver configuration with loopback allowed lets it through.
	h2 := newHarness(t, Config{UDP: []string{"127.0.0.1:0"}, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, nil)
	h2.start()
	u2, err := net.Dial("udp", h2.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(u2, "<4>Nov 23 10:00:00 h kernel: FW allowed")
	u2.Close()
	if got := h2.collect(t, 1, 5*time.Second); got[0].Prefix != "FW allowed" {
		t.Errorf("event %+v", got[0])
	}
}

// TestUDPOverflow fills a small receive buffer while the receiver is not
// reading, and checks the kernel's drop count (SO_RXQ_OVFL) accounts for
// every datagram that was sent and not read.
func TestUDPOverflow(t *testing.T) {
	h := newHarness(t, Config{UDP: []string{"127.0.0.1:0"}, RcvBuf: 4096}, nil)
	c, err := net.Dial("udp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 500
	for i := range n {
		fmt.Fprintf(c, "<4>Nov 23 10:00:00 h kernel: FW %d", i)
		if i%50 == 49 {
			time.Sleep(2 * time.Millisecond) // let the loopback backlog drain into the socket
		}
	}
	h.start()
	// The drop count travels with the next datagram queued: send a sentinel
	// once the queue has been read.
	time.Sleep(200 * time.Millisecond)
	io.WriteString(c, "<4>Nov 23 10:00:00 h kernel: FW sentinel")
	var got []event.Event
	deadline := time.After(5 * time.Second)
	for len(got) == 0 || got[len(got)-1].Prefix != "FW sentinel" {
		select {
		case b := <-h.out:
			got = append(got, b.Events...)
			h.counters.AddStored(uint64(len(b.Events)))
		case <-deadline:
			t.Fatalf("sentinel not received; %d events", len(got))
		}
	}
	s := h.counters.Snapshot()
	lost := s.Lost[source.LostUDPRcvbuf]
	t.Logf("sent %d, read %d, lost %d", n+1, len(got), lost)
	if lost == 0 {
		t.Fatal("no overflow was seen")
	}
	if lost != uint64(n+1-len(got)) || s.Received != n+1 || !s.Balanced() {
		t.Errorf("lost %d, want sent-read = %d; counters %+v", lost, n+1-len(got), s)
	}
}

// TestBackpressure: UDP batches the pipeline cannot take are lost as
// queue_full; TCP waits instead and loses nothing.
func TestBackpressure(t *testing.T) {
	h := newHarness(t, Config{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}}, nil)
	h.out = make(chan source.Batch) // nobody reads yet
	h.start()
	u, err := net.Dial("udp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		fmt.Fprintf(u, "<4>Nov 23 10:00:00 u kernel: FW udp %d", i)
	}
	u.Close()
	s := h.waitCounters(t, func(s source.Snapshot) bool { return s.Lost[source.LostQueueFull] == 10 })
	if s.Received != 10 {
		t.Errorf("counters %+v", s)
	}
	c, err := net.Dial("tcp", h.addr(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 { // two batches and more: the connection must wait, not drop
		fmt.Fprintf(c, "<4>Nov 23 10:00:00 t kernel: FW tcp %d\n", i)
	}
	c.Close()
	time.Sleep(300 * time.Millisecond)
	got := h.collect(t, 2000, 10*time.Second)
	s = h.counters.Snapshot()
	if len(got) != 2000 || s.Lost[source.LostQueueFull] != 10 || s.Received != 2010 || !s.Balanced() {
		t.Errorf("got %d; counters %+v", len(got), s)
	}
}

func TestConnLimits(t *testing.T) {
	h := newHarness(t, Config{TCP: []string{"127.0.0.1:0"}, MaxConns: 1, IdleTimeout: 300 * time.Millisecond}, nil)
	h.start()
	c1, err := net.Dial("tcp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	io.WriteString(c1, "<4>Nov 23 10:00:00 h kernel: FW first\n")
	h.collect(t, 1, 5*time.Second)
	c2, err := net.Dial("tcp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("second connection over MaxConns=1 not closed: %v", err)
	}
	c2.Close()
	// The idle first connection is closed after IdleTimeout.
	start := time.Now()
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("idle connection not closed: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
}

func BenchmarkReceiverHandle(b *testing.B) {
	kp, err := decode.NewKernLogParser(decode.KernLogConfig{})
	if err != nil {
		b.Fatal(err)
	}
	out := make(chan source.Batch, 1)
	r, err := New(Config{UDP: []string{"127.0.0.1:0"}}, kp, nil, nil, source.NewCounters("bench"), nil)
	if err != nil {
		b.Fatal(err)
	}
	r.Close()
	bt := &batcher{out: out, ctx: context.Background(), counters: r.counters}
	w := r.newWorker(bt, 64)
	msg := []byte("<4>Nov 23 10:31:36 vm kernel: [ 1234.567890] DSTEST IN=veth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=10.99.0.2 DST=10.99.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=1234 DPT=22 WINDOW=512 RES=0x00 SYN URGP=0")
	peer := netip.MustParseAddrPort("127.0.0.1:5000")
	go func() {
		for bt := range out {
			source.ReleaseEvents(bt.Events)
		}
	}()
	n := 0
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		w.handle(msg, peer, now)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	if s := r.counters.Snapshot(); s.RejectedTotal()+s.Ignored != 0 {
		b.Fatalf("messages not parsed: %+v", s)
	}
}

// BenchmarkReceiverUDP sends real datagrams over loopback to a running
// receiver with the kernel LOG parser and counts what arrives, in bursts the
// receive buffer can hold (so the figure is the receiver's rate, not loss).
func BenchmarkReceiverUDP(b *testing.B) {
	kp, err := decode.NewKernLogParser(decode.KernLogConfig{})
	if err != nil {
		b.Fatal(err)
	}
	c := source.NewCounters("bench")
	r, err := New(Config{UDP: []string{"127.0.0.1:0"}, RcvBuf: 32 << 20, FlushInterval: 5 * time.Millisecond}, kp, nil, nil, c, nil)
	if err != nil {
		b.Fatal(err)
	}
	out := make(chan source.Batch, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, out) }()
	defer func() { cancel(); <-done }()
	conn, err := net.Dial("udp", r.Addrs()[0].String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	msg := []byte("<4>Nov 23 10:31:36 vm kernel: [ 1234.567890] DSTEST IN=veth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=10.99.0.2 DST=10.99.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=1234 DPT=22 WINDOW=512 RES=0x00 SYN URGP=0")
	const burst = 8000
	got, sent := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		for range burst {
			if _, err := conn.Write(msg); err != nil {
				b.Fatal(err)
			}
		}
		sent += burst
		for deadline := time.Now().Add(10 * time.Second); uint64(got)+c.Snapshot().LostTotal() < uint64(sent); {
			select {
			case bt := <-out:
				got += len(bt.Events)
				source.ReleaseEvents(bt.Events)
			case <-time.After(time.Millisecond):
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d events of %d sent; counters %+v", got, sent, c.Snapshot())
			}
		}
	}
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "events/s")
	b.Logf("events %d, counters %+v", got, c.Snapshot())
}

// FuzzFraming feeds arbitrary TCP streams through both framings: no panic,
// and every message is accounted for (received = events + rejected + ignored).
func FuzzFraming(f *testing.F) {
	f.Add([]byte("<4>Nov 23 10:00:01 h kernel: FW a\r\n\n<4>1 - h kernel - - - FW b\n"))
	f.Add([]byte("27 <4>1 - h kernel - - - FW d12 <4>kernel: x"))
	f.Add([]byte("99999999999 x"))
	f.Add([]byte("3 <4>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := source.NewCounters("fuzz")
		r, err := New(Config{UDP: []string{"127.0.0.1:0"}, MaxMsg: 64}, stubParser{}, nil, nil, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		out := make(chan source.Batch, 1024)
		b := &batcher{out: out, ctx: context.Background(), counters: c}
		w := r.newWorker(b, 8)
		br := bufio.NewReaderSize(bytes.NewReader(data), r.cfg.MaxMsg+16)
		peer := netip.MustParseAddrPort("127.0.0.1:1")
		refresh := func(time.Time) {}
		if len(data) > 0 && data[0] >= '0' && data[0] <= '9' {
			_ = r.readOctetCounted(br, w, peer, refresh)
		} else {
			_ = r.readLines(br, w, peer, refresh)
		}
		b.final()
		close(out)
		for bt := range out {
			c.AddStored(uint64(len(bt.Events)))
		}
		if s := c.Snapshot(); !s.Balanced() {
			t.Fatalf("counters not balanced: %+v", s)
		}
	})
}

// TestRestart: a Run after a finished Run listens on the same addresses
// again, as the supervisor's restart needs.
func TestRestart(t *testing.T) {
	h := newHarness(t, Config{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}}, nil)
	addrs := []string{h.addr(t, 0), h.addr(t, 1)}
	for round := range 2 {
		h.start()
		var c net.Conn
		var err error
		for try := 0; try < 100; try++ { // Run binds again in its own goroutine
			if c, err = net.Dial("tcp", addrs[1]); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		fmt.Fprintf(c, "<4>Nov 23 10:00:00 h kernel: FW tcp %d\n", round)
		c.Close()
		u, err := net.Dial("udp", addrs[0]) // the TCP listener is up: so is the UDP socket
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(u, "<4>Nov 23 10:00:00 h kernel: FW udp %d", round)
		u.Close()
		got := h.collect(t, 2, 5*time.Second)
		if p := sortedCopy([]string{got[0].Prefix, got[1].Prefix}); p[0] != fmt.Sprintf("FW tcp %d", round) || p[1] != fmt.Sprintf("FW udp %d", round) {
			t.Errorf("round %d: %v", round, p)
		}
		h.stop()
		if a := []string{h.addr(t, 0), h.addr(t, 1)}; a[0] != addrs[0] || a[1] != addrs[1] {
			t.Errorf("addresses changed: %v -> %v", addrs, a)
		}
	}
}

// TestKeepRate: a flood of malformed messages is counted in full, but only
// a bounded number of them is kept in the rejected-lines file.
func TestKeepRate(t *testing.T) {
	h := newHarness(t, Config{UDP: []string{"127.0.0.1:0"}}, nil)
	h.start()
	u, err := net.Dial("udp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	const n = 1500
	for i := range n {
		fmt.Fprintf(u, "<999>garbage %d", i)
		if i%100 == 99 {
			time.Sleep(time.Millisecond)
		}
	}
	s := h.waitCounters(t, func(s source.Snapshot) bool { return s.Received == n })
	if s.Rejected[decode.SyslogReasonBadPri]+s.Lost[source.LostUDPRcvbuf] != n || !s.Balanced() {
		t.Errorf("counters %+v", s)
	}
	kept := len(h.rejects.all())
	// The burst allowance is 1000; the flood lasts well under a second, so
	// at most a few hundred more tokens can have been earned meanwhile.
	if kept < keepBurst || kept >= n {
		t.Errorf("kept %d of %d rejected messages", kept, n)
	}
}

// TestIPv6: UDP and TCP over ::1; the sensor falls back to the IPv6 peer
// address and the allowlist matches IPv6 prefixes.
func TestIPv6(t *testing.T) {
	h := newHarness(t, Config{UDP: []string{"[::1]:0"}, TCP: []string{"[::1]:0"},
		Allow: []netip.Prefix{netip.MustParsePrefix("::1/128")}}, nil)
	h.start()
	u, err := net.Dial("udp", h.addr(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(u, "<4>1 - - kernel - - - FW v6 udp")
	u.Close()
	c, err := net.Dial("tcp", h.addr(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "<4>1 - - kernel - - - FW v6 tcp\n")
	c.Close()
	got := h.collect(t, 2, 5*time.Second)
	for _, e := range got {
		if e.Sensor != "::1" {
			t.Errorf("sensor %q", e.Sensor)
		}
	}
	if p := sortedCopy([]string{got[0].Prefix, got[1].Prefix}); p[0] != "FW v6 tcp" || p[1] != "FW v6 udp" {
		t.Errorf("prefixes %v", p)
	}
}
