// Package honeypot is the SSH credential source at the left edge of the flow:
// a fake SSH server (golang.org/x/crypto/ssh) that never grants access and
// turns every authentication attempt, and the end of every connection, into a
// KindAuth event for the pipeline.
//
// The client's version line and its KEXINIT (read from the raw byte stream,
// which x/crypto does not expose) give the HASSH fingerprint and the raw
// algorithm lists. Every connection is bounded: global and per-source caps,
// handshake, authentication and idle deadlines, an attempt cap, capped field
// sizes (original lengths kept) and a capped first packet.
package honeypot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// DefaultServerVersion is the version line of Debian 12's openssh-server
// (package 1:9.2p1-2+deb12u10).
const DefaultServerVersion = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"

// MaxAttemptsLimit is the largest attempt cap: x/crypto/ssh stops any
// connection after 128 authentication requests.
const MaxAttemptsLimit = 127

// Algorithm lists offered by default: OpenSSH 9.2's defaults in OpenSSH's
// order, minus what x/crypto does not implement (sntrup761x25519,
// diffie-hellman-group18-sha512, umac-*, hmac-sha1-etm, zlib@openssh.com).
var (
	debianKex = []string{
		"curve25519-sha256", "curve25519-sha256@libssh.org",
		"ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
		"diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
		"diffie-hellman-group14-sha256",
	}
	debianCiphers = []string{
		"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
		"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
	}
	debianMACs = []string{
		"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
		"hmac-sha2-256", "hmac-sha2-512", "hmac-sha1",
	}
)

// Config configures the honeypot. Zero values take the defaults shown.
type Config struct {
	Listen        string // TCP address, default ":2222"
	KeyDir        string // host key directory (required)
	Sensor        string // sensor name put on every event
	ServerVersion string // default DefaultServerVersion
	// Legacy adds x/crypto's InsecureAlgorithms (diffie-hellman-group1/14-sha1,
	// group-exchange-sha1, CBC and RC4 ciphers, hmac-sha1-96, ssh-rsa host key
	// signatures) so old bots can connect; see docs/honeypot.md for what it gives away.
	Legacy bool

	MaxConns     int // connections at once, default 4096
	MaxPerSource int // connections at once from one address, default 16
	MaxAttempts  int // authentication requests per connection, default 100, at most 127

	HandshakeTimeout time.Duration // version + key exchange, default 10s
	AuthTimeout      time.Duration // whole connection, default 60s
	IdleTimeout      time.Duration // between client bytes, default 20s
	FlushInterval    time.Duration // batch flush, default 200ms
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = ":2222"
	}
	if c.KeyDir == "" {
		return errors.New("honeypot: host key directory not set")
	}
	if c.ServerVersion == "" {
		c.ServerVersion = DefaultServerVersion
	}
	if len(c.ServerVersion) < 8 || c.ServerVersion[:8] != "SSH-2.0-" || len(c.ServerVersion) > 253 {
		return fmt.Errorf("honeypot: server version %q must start with SSH-2.0- and be at most 253 bytes", c.ServerVersion)
	}
	for i := 0; i < len(c.ServerVersion); i++ {
		if b := c.ServerVersion[i]; b < 0x20 || b > 0x7e {
			return fmt.Errorf("honeypot: server version has a control or non-ASCII byte at %d", i)
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxConns, 4096)
	def(&c.MaxPerSource, 16)
	def(&c.MaxAttempts, 100)
	if c.MaxConns < 0 || c.MaxPerSource < 0 || c.MaxAttempts < 0 {
		return errors.New("honeypot: negative limit")
	}
	if c.MaxAttempts > MaxAttemptsLimit {
		return fmt.Errorf("honeypot: max attempts %d above %d (x/crypto/ssh caps a connection at 128 requests)", c.MaxAttempts, MaxAttemptsLimit)
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	dur(&c.HandshakeTimeout, 10*time.Second)
	dur(&c.AuthTimeout, 60*time.Second)
	dur(&c.IdleTimeout, 20*time.Second)
	dur(&c.FlushInterval, 200*time.Millisecond)
	return nil
}

// Option is a test seam.
type Option func(*Honeypot)

// WithListener makes Run serve l instead of listening on Config.Listen.
func WithListener(l net.Listener) Option { return func(h *Honeypot) { h.ln = l } }

// WithClock replaces time.Now for event times.
func WithClock(now func() time.Time) Option { return func(h *Honeypot) { h.now = now } }

// Stats are the honeypot's connection counters.
type Stats struct {
	Accepted      uint64 // connections served
	RefusedGlobal uint64 // closed at once: MaxConns reached
	RefusedSource uint64 // closed at once: MaxPerSource reached
	Active        int64  // connections open now
	Attempts      uint64 // attempt events emitted (every kind except connection_end)
}

// Honeypot is the SSH honeypot source.
type Honeypot struct {
	cfg      Config
	logger   *slog.Logger
	counters *source.Counters
	base     ssh.ServerConfig
	now      func() time.Time

	ln     net.Listener
	lnMu   sync.Mutex
	events chan event.Event

	mu       sync.Mutex
	perSrc   map[netip.Addr]int
	active   atomic.Int64
	session  atomic.Uint64
	accepted atomic.Uint64
	refG     atomic.Uint64
	refS     atomic.Uint64
	attempts atomic.Uint64
}

// New validates cfg, loads or creates the host keys and returns the source.
func New(cfg Config, counters *source.Counters, logger *slog.Logger, opts ...Option) (*Honeypot, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if counters == nil {
		return nil, errors.New("honeypot: counters are nil")
	}
	keys, err := LoadHostKeys(cfg.KeyDir)
	if err != nil {
		return nil, err
	}
	h := &Honeypot{
		cfg: cfg, logger: logger, counters: counters, now: time.Now,
		events: make(chan event.Event, 4096),
		perSrc: map[netip.Addr]int{},
	}
	for _, o := range opts {
		o(h)
	}
	h.base = ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: append([]string(nil), debianKex...),
			Ciphers:      append([]string(nil), debianCiphers...),
			MACs:         append([]string(nil), debianMACs...),
		},
		MaxAuthTries:  cfg.MaxAttempts,
		ServerVersion: cfg.ServerVersion,
	}
	if cfg.Legacy {
		ins := ssh.InsecureAlgorithms()
		h.base.KeyExchanges = append(h.base.KeyExchanges, ins.KeyExchanges...)
		h.base.Ciphers = append(h.base.Ciphers, ins.Ciphers...)
		h.base.MACs = append(h.base.MACs, ins.MACs...)
		h.base.PublicKeyAuthAlgorithms = append(ssh.SupportedAlgorithms().PublicKeyAuths, ins.PublicKeyAuths...)
	}
	// OpenSSH announces its RSA key first, then ECDSA, then ed25519, and no
	// SHA-1 "ssh-rsa" signatures since 8.8 (offered here only with Legacy).
	rsaAlgos := []string{ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512}
	if cfg.Legacy {
		rsaAlgos = append(rsaAlgos, ssh.KeyAlgoRSA)
	}
	for _, typ := range []string{ssh.KeyAlgoRSA, ssh.KeyAlgoECDSA256, ssh.KeyAlgoED25519} {
		for _, k := range keys {
			if k.PublicKey().Type() != typ {
				continue
			}
			if as, ok := k.(ssh.AlgorithmSigner); ok && typ == ssh.KeyAlgoRSA {
				ms, err := ssh.NewSignerWithAlgorithms(as, rsaAlgos)
				if err != nil {
					return nil, fmt.Errorf("honeypot: rsa host key: %w", err)
				}
				k = ms
			}
			h.base.AddHostKey(k)
		}
	}
	return h, nil
}

// Name implements source.Source.
func (h *Honeypot) Name() string { return h.counters.Name() }

// Addr returns the listening address once Run has started listening (nil before).
func (h *Honeypot) Addr() net.Addr {
	h.lnMu.Lock()
	defer h.lnMu.Unlock()
	if h.ln == nil {
		return nil
	}
	return h.ln.Addr()
}

// Stats returns the connection counters.
func (h *Honeypot) Stats() Stats {
	return Stats{
		Accepted: h.accepted.Load(), RefusedGlobal: h.refG.Load(), RefusedSource: h.refS.Load(),
		Active: h.active.Load(), Attempts: h.attempts.Load(),
	}
}

// Run serves connections until ctx is done, sending events in batches.
func (h *Honeypot) Run(ctx context.Context, out chan<- source.Batch) error {
	h.lnMu.Lock()
	ln := h.ln
	if ln == nil {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", h.cfg.Listen)
		if err != nil {
			h.lnMu.Unlock()
			return &source.Permanent{Err: fmt.Errorf("honeypot listen %s: %w", h.cfg.Listen, err)}
		}
		h.ln = ln
	}
	h.lnMu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var conns sync.WaitGroup
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		h.batcher(ctx, out)
	}()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(aerr, &ne) && ne.Timeout() {
					continue
				}
				if errors.Is(aerr, syscall.EMFILE) || errors.Is(aerr, syscall.ENFILE) {
					// Out of file descriptors: back off instead of spinning.
					h.logger.Warn("honeypot accept", "err", aerr)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				err = fmt.Errorf("honeypot accept: %w", aerr)
			}
			break
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			h.serve(ctx, c)
		}()
	}
	cancel()
	conns.Wait()
	<-flushed
	h.lnMu.Lock()
	h.ln = nil
	h.lnMu.Unlock()
	return err
}

// batcher moves events from connection goroutines to the pipeline in
// batches of at most source.BatchSize, flushing every FlushInterval.
func (h *Honeypot) batcher(ctx context.Context, out chan<- source.Batch) {
	t := time.NewTicker(h.cfg.FlushInterval)
	defer t.Stop()
	evs := source.NewEvents()
	send := func() {
		if len(evs) == 0 {
			return
		}
		// The pipeline drains on shutdown; sending blocks only while it is busy.
		out <- source.Batch{Counters: h.counters, Events: evs}
		evs = source.NewEvents()
	}
	for {
		select {
		case e := <-h.events:
			evs = append(evs, e)
			if len(evs) == source.BatchSize {
				send()
			}
		case <-t.C:
			send()
		case <-ctx.Done():
			// Connections are closing; take what they still emit until Run's
			// caller closes nothing: drain until the channel stays empty.
			for {
				select {
				case e := <-h.events:
					evs = append(evs, e)
					if len(evs) == source.BatchSize {
						send()
					}
				case <-time.After(h.cfg.FlushInterval):
					send()
					if h.active.Load() == 0 && len(h.events) == 0 {
						return
					}
				}
			}
		}
	}
}

func (h *Honeypot) emit(e event.Event) {
	h.counters.AddReceived(1)
	if e.Auth.Kind != event.AuthConnectionEnd {
		h.attempts.Add(1)
	}
	h.events <- e
}

// acquire applies the connection caps.
func (h *Honeypot) acquire(a netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active.Load() >= int64(h.cfg.MaxConns) {
		h.refG.Add(1)
		return false
	}
	if h.perSrc[a] >= h.cfg.MaxPerSource {
		h.refS.Add(1)
		return false
	}
	h.perSrc[a]++
	h.active.Add(1)
	return true
}

func (h *Honeypot) release(a netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perSrc[a]--; h.perSrc[a] <= 0 {
		delete(h.perSrc, a)
	}
	h.active.Add(-1)
}

// conn is one client connection: its identity, what the sniffer read from
// its byte stream, and its counters.
type conn struct {
	h        *Honeypot
	id       uint64
	start    time.Time
	src, dst netip.AddrPort

	raw       net.Conn
	sn        sniffer
	authPhase atomic.Bool
	deadline  string // which deadline a timeout means, set by Read

	mu       sync.Mutex
	attempts uint16
	tries    uint16
	freeNone uint8
	lists    event.KexLists
	hassh    string
	version  capped
	neg      event.Negotiated
	haveNeg  bool
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func (h *Honeypot) serve(ctx context.Context, nc net.Conn) {
	src := addrPort(nc.RemoteAddr())
	if !h.acquire(src.Addr()) {
		h.counters.AddReceived(1)
		h.counters.AddIgnored(1) // a refused connection: counted, no event
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		nc.Close()
		return
	}
	defer h.release(src.Addr())
	h.accepted.Add(1)
	c := &conn{h: h, id: h.session.Add(1), start: h.now(), src: src, dst: addrPort(nc.LocalAddr()), raw: nc}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()

	cfg := h.base // per-connection copy: callbacks close over c
	cfg.PasswordCallback = c.password
	cfg.KeyboardInteractiveCallback = c.keyboard
	cfg.PublicKeyCallback = c.publicKey
	cfg.AuthLogCallback = c.authLog
	cfg.PreAuthConnCallback = func(ssh.ServerPreAuthConn) { c.authPhase.Store(true) }

	w := &wrapped{Conn: nc, c: c}
	_ = nc.SetDeadline(c.start.Add(h.cfg.HandshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(w, &cfg)
	if err == nil { // cannot happen: no callback ever succeeds
		go ssh.DiscardRequests(reqs)
		go func() {
			for ch := range chans {
				_ = ch.Reject(ssh.Prohibited, "")
			}
		}()
		sc.Close()
	}
	nc.Close()
	reason := c.endReason(ctx, err)
	e := c.event(event.AuthConnectionEnd)
	e.Auth.Duration = h.now().Sub(c.start)
	e.Auth.EndReason = reason
	c.mu.Lock()
	e.Auth.Attempts = c.attempts
	c.mu.Unlock()
	e.Auth.Attempt = 0
	h.emit(e)
}

func (c *conn) endReason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "shutdown"
	}
	c.mu.Lock()
	overflow, deadline, sniffed := c.sn.overflow, c.deadline, c.sn.state == sniffDone
	capped := int(c.attempts)-int(c.freeNone) >= c.h.cfg.MaxAttempts
	c.mu.Unlock()
	if overflow != "" {
		return overflow
	}
	if capped {
		return "attempt_cap"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if deadline != "" {
			return deadline
		}
		return "timeout"
	}
	var ae *ssh.ServerAuthError
	if err == nil || errors.Is(err, io.EOF) || errors.As(err, &ae) || errors.Is(err, net.ErrClosed) {
		return "client_closed"
	}
	if strings.Contains(err.Error(), "ssh: disconnect") { // the client sent SSH_MSG_DISCONNECT
		return "client_disconnect"
	}
	if !c.authPhase.Load() {
		if !sniffed {
			return "no_handshake"
		}
		return "handshake_failed"
	}
	return "error"
}

// wrapped is the connection x/crypto reads: it feeds the sniffer and moves
// the deadlines.
type wrapped struct {
	net.Conn
	c    *conn
	rbuf []byte // bytes read ahead while x/crypto reads the version line
	rpos int
}

func (w *wrapped) Read(p []byte) (int, error) {
	// x/crypto reads the version line one byte per call: serve those reads
	// from a small buffer instead of one system call per byte.
	if w.rpos < len(w.rbuf) {
		n := copy(p, w.rbuf[w.rpos:])
		w.rpos += n
		if w.rpos == len(w.rbuf) && w.c.sniffDone() {
			w.rbuf, w.rpos = nil, 0
		}
		return n, nil
	}
	if len(p) < versionBuf && !w.c.sniffDone() {
		if w.rbuf == nil {
			w.rbuf = make([]byte, versionBuf)
		}
		n, err := w.read(w.rbuf[:versionBuf])
		w.rbuf, w.rpos = w.rbuf[:n], 0
		if n == 0 {
			return 0, err
		}
		m := copy(p, w.rbuf)
		w.rpos = m
		return m, nil
	}
	return w.read(p)
}

// versionBuf is the read buffer used while the version line is read.
const versionBuf = 512

func (c *conn) sniffDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sn.state == sniffDone
}

// read reads from the socket under the current deadline and feeds the sniffer.
func (w *wrapped) read(p []byte) (int, error) {
	c := w.c
	h := c.h
	now := time.Now()
	limit, which := c.start.Add(h.cfg.HandshakeTimeout), "handshake_timeout"
	if c.authPhase.Load() {
		limit, which = c.start.Add(h.cfg.AuthTimeout), "auth_timeout"
	}
	if idle := now.Add(h.cfg.IdleTimeout); idle.Before(limit) {
		limit, which = idle, "idle_timeout"
	}
	c.mu.Lock()
	c.deadline = which
	sniffing := c.sn.state != sniffDone
	c.mu.Unlock()
	_ = w.Conn.SetReadDeadline(limit)
	n, err := w.Conn.Read(p)
	if n > 0 && sniffing {
		c.mu.Lock()
		ok := c.sn.feed(p[:n])
		if ok && c.sn.state == sniffDone {
			c.tookKexinit()
		}
		overflow := c.sn.overflow
		c.mu.Unlock()
		if !ok {
			return 0, errors.New("honeypot: " + overflow)
		}
	}
	return n, err
}

func (w *wrapped) Write(p []byte) (int, error) {
	_ = w.Conn.SetWriteDeadline(time.Now().Add(w.c.h.cfg.IdleTimeout))
	return w.Conn.Write(p)
}

// tookKexinit keeps what the sniffer read; c.mu is held.
func (c *conn) tookKexinit() {
	c.version = capBytes(c.sn.version, c.sn.verLen, event.MaxAuthVersion)
	if c.sn.gotKex {
		l := c.sn.kex.Lists
		c.hassh = HASSH(&l)
		c.lists = event.KexLists{
			Kex: capList(l.Kex), HostKey: capList(l.HostKey),
			EncC2S: capList(l.EncC2S), EncS2C: capList(l.EncS2C),
			MACC2S: capList(l.MACC2S), MACS2C: capList(l.MACS2C),
			CompC2S: capList(l.CompC2S), CompS2C: capList(l.CompS2C),
		}
	}
	c.sn.version = nil
	c.sn.kex = ClientKexinit{}
}

// capList keeps a name-list as valid UTF-8 of at most MaxAuthNameList bytes.
func capList(s string) string {
	return capBytes([]byte(s), len(s), event.MaxAuthNameList).str
}

// capped is a recorded field: text (valid UTF-8), original length, and the
// exact bytes when the value was not UTF-8.
type capped struct {
	str string
	n   uint32
	raw []byte
}

// capBytes cuts b at max bytes and makes it safe to store: invalid UTF-8
// becomes U+FFFD in str while raw keeps the exact (capped) bytes.
func capBytes(b []byte, orig, max int) capped {
	if len(b) > max {
		b = b[:max]
	}
	if orig < len(b) {
		orig = len(b)
	}
	out := capped{n: uint32(min(orig, 1<<31))}
	if utf8.Valid(b) {
		out.str = string(b)
		return out
	}
	out.raw = append([]byte(nil), b...)
	out.str = string([]rune(string(b))) // invalid bytes → U+FFFD
	return out
}

func algo(s string) string {
	if len(s) > event.MaxAuthAlgo {
		s = s[:event.MaxAuthAlgo]
	}
	return capBytes([]byte(s), len(s), event.MaxAuthAlgo).str
}

// next counts a request and returns a new event for it.
func (c *conn) next(kind event.AuthKind, md ssh.ConnMetadata) event.Event {
	c.mu.Lock()
	if !c.haveNeg {
		if am, ok := md.(ssh.AlgorithmsConnMetadata); ok {
			a := am.Algorithms()
			c.neg = event.Negotiated{
				Kex: algo(a.KeyExchange), HostKey: algo(a.HostKey),
				CipherC2S: algo(a.Read.Cipher), CipherS2C: algo(a.Write.Cipher),
				MACC2S: algo(a.Read.MAC), MACS2C: algo(a.Write.MAC),
				CompC2S: "none", CompS2C: "none", // the only compression x/crypto implements
			}
			c.haveNeg = true
		}
	}
	c.attempts++
	if c.attempts == 1 && kind == event.AuthNone {
		c.freeNone = 1 // x/crypto (like OpenSSH) does not count a first "none" against the cap
	}
	if kind == event.AuthPassword || kind == event.AuthKeyboardInteractive {
		c.tries++
	}
	c.mu.Unlock()
	e := c.event(kind)
	u := md.User()
	uc := capBytes([]byte(u), len(u), event.MaxAuthUser)
	e.Auth.User, e.Auth.UserLen, e.Auth.UserRaw = uc.str, uc.n, uc.raw
	return e
}

// event builds an event carrying the connection's common fields.
func (c *conn) event(kind event.AuthKind) event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var e event.Event
	e.Time = c.h.now().UTC()
	e.Kind = event.KindAuth
	e.Sensor = c.h.cfg.Sensor
	e.Source = c.h.counters.Name()
	e.Src, e.SrcPort = c.src.Addr(), c.src.Port()
	e.Dst, e.DstPort = c.dst.Addr(), c.dst.Port()
	e.Proto = event.ProtoTCP
	if e.Src.Is4() {
		e.IPVersion = 4
	} else if e.Src.IsValid() {
		e.IPVersion = 6
	}
	e.Auth = &event.Auth{
		Kind: kind, Session: c.id, Attempt: c.attempts, Try: c.tries,
		ClientVersion: c.version.str, ClientVersionLen: c.version.n, ClientVersionRaw: c.version.raw,
		HASSH: c.hassh, Client: c.lists, Negotiated: c.neg,
	}
	return e
}

var errDenied = errors.New("permission denied")

func (c *conn) password(md ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	e := c.next(event.AuthPassword, md)
	s := capBytes(pw, len(pw), event.MaxAuthSecret)
	e.Auth.Secret, e.Auth.SecretLen, e.Auth.SecretRaw = s.str, s.n, s.raw
	c.h.emit(e)
	return nil, errDenied
}

func (c *conn) keyboard(md ssh.ConnMetadata, challenge ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	answers, err := challenge("", "", []string{"Password: "}, []bool{false})
	if err != nil {
		// The request was made; the client left (or failed) before answering.
		e := c.next(event.AuthKeyboardInteractive, md)
		e.Auth.Unanswered = true
		c.h.emit(e)
		return nil, err
	}
	if len(answers) == 0 {
		e := c.next(event.AuthKeyboardInteractive, md)
		c.h.emit(e)
		return nil, errDenied
	}
	for _, a := range answers[:1] { // one prompt was sent
		e := c.next(event.AuthKeyboardInteractive, md)
		s := capBytes([]byte(a), len(a), event.MaxAuthSecret)
		e.Auth.Secret, e.Auth.SecretLen, e.Auth.SecretRaw = s.str, s.n, s.raw
		c.h.emit(e)
	}
	return nil, errDenied
}

func (c *conn) publicKey(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	e := c.next(event.AuthPublicKey, md)
	e.Auth.KeyType = algo(key.Type())
	e.Auth.KeyFingerprint = ssh.FingerprintSHA256(key)
	c.h.emit(e)
	return nil, errDenied
}

// authLog records the requests no other callback sees: "none" and unknown methods.
func (c *conn) authLog(md ssh.ConnMetadata, method string, _ error) {
	if method != "none" {
		return
	}
	c.h.emit(c.next(event.AuthNone, md))
}
