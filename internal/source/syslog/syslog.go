// Package syslog is the syslog receiver source: it sits at the left edge of
// the flow, takes kernel firewall lines that remote hosts forward over UDP,
// TCP or TLS (RFC 3164 and RFC 5424 messages; newline or RFC 6587 octet-counted
// framing; RFC 5425 TLS), hands the kernel message to a parser and sends
// batches of events to the pipeline.
//
// Accounting: every syslog message is received once. Messages whose tag is
// not "kernel" and kernel messages that are not firewall lines are ignored;
// firewall lines that do not parse and malformed syslog headers are rejected
// by reason; messages from senders outside the allowlist are rejected as
// "sender_not_allowed" (one per UDP datagram, one per refused TCP connection)
// and nothing of their content is kept. UDP datagrams the kernel dropped
// because the receive buffer was full are counted as received and lost
// ("udp_rcvbuf", from SO_RXQ_OVFL); a UDP batch the pipeline cannot take at
// once is lost ("queue_full"); TCP connections wait instead (backpressure).
package syslog

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// MessageParser decodes the kernel message of a syslog record (the text after
// "kernel:") into e. decode.KernLogParser implements it. The receiver calls it
// from one goroutine at a time.
type MessageParser interface {
	ParseMessage(msg []byte, e *event.Event) error
}

// Rejection reasons of the receiver itself (the parser's reasons come from classify).
const (
	ReasonSenderNotAllowed = "sender_not_allowed"
	ReasonMessageTooLong   = "message_too_long"
	ReasonBadFrame         = "bad_frame" // an RFC 6587 octet count that is not a number
)

// Defaults for zero Config fields.
const (
	DefaultMaxMsg        = 16 << 10
	DefaultRcvBuf        = 4 << 20
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultMaxConns      = 512
	DefaultIdleTimeout   = 5 * time.Minute
)

// Config configures a Receiver. Addresses are host:port as net.Listen takes
// them (":0" picks a free port; Addrs tells which).
type Config struct {
	UDP []string // plain syslog over UDP (RFC 5426)
	TCP []string // plain syslog over TCP (RFC 6587)
	TLS []string // syslog over TLS (RFC 5425); needs CertFile and KeyFile

	CertFile, KeyFile string

	// Allow, when not empty, is the list of sender prefixes accepted; all
	// other senders are rejected.
	Allow []netip.Prefix
	// Location is the zone of RFC 3164 stamps without one (default UTC).
	Location *time.Location

	RcvBuf        int           // UDP socket receive buffer in bytes (default 4 MiB)
	MaxMsg        int           // longest message accepted, in bytes (default 16 KiB)
	FlushInterval time.Duration // longest time an event waits in a partial batch (default 200 ms)
	MaxConns      int           // concurrent TCP/TLS connections (default 512)
	IdleTimeout   time.Duration // a TCP/TLS connection silent this long is closed (default 5 min)
}

// Receiver is the syslog source.
type Receiver struct {
	cfg      Config
	name     string
	parser   MessageParser
	parseMu  sync.Mutex
	classify func(error) (string, bool)
	rejects  source.Rejects
	counters *source.Counters
	logger   *slog.Logger
	tlsCfg   *tls.Config

	mu    sync.Mutex
	udp   []*net.UDPConn
	tcp   []net.Listener // plain then TLS listeners
	isTLS []bool
	addrs []net.Addr

	conns  atomic.Int64
	keepMu sync.Mutex
	kept   map[netip.Addr]time.Time // last not-allowed record kept per peer

	keepLast, keepWarned time.Time // keep-rate limiter (under keepMu)
	keepTokens           float64
	keepSkipped          uint64
}

// New validates cfg, loads the TLS key pair and binds every address.
// classify turns a parser error into a rejection reason or says the message
// is to be ignored (not a firewall line); nil classifies *decode.ParseError by
// its Reason, decode.ErrNotFirewall as ignored and anything else as
// "parse_error".
func New(cfg Config, p MessageParser, classify func(error) (reason string, ignored bool),
	rejects source.Rejects, counters *source.Counters, logger *slog.Logger) (*Receiver, error) {
	if p == nil || counters == nil {
		return nil, errors.New("syslog receiver: parser and counters are required")
	}
	if len(cfg.UDP)+len(cfg.TCP)+len(cfg.TLS) == 0 {
		return nil, errors.New("syslog receiver: no address to listen on")
	}
	if cfg.MaxMsg <= 0 {
		cfg.MaxMsg = DefaultMaxMsg
	}
	if cfg.MaxMsg > 1<<20 {
		return nil, fmt.Errorf("syslog receiver: max message size %d over 1 MiB", cfg.MaxMsg)
	}
	if cfg.RcvBuf <= 0 {
		cfg.RcvBuf = DefaultRcvBuf
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if classify == nil {
		classify = DefaultClassify
	}
	if rejects == nil {
		rejects = source.DiscardRejects{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{cfg: cfg, parser: p, classify: classify, rejects: rejects, counters: counters,
		logger: logger, kept: map[netip.Addr]time.Time{}}
	if len(cfg.TLS) > 0 {
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, &source.Permanent{Err: errors.New("syslog receiver: TLS listeners need cert_file and key_file")}
		}
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, &source.Permanent{Err: fmt.Errorf("syslog receiver: load TLS key pair: %w", err)}
		}
		r.tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var names []string
	for _, a := range cfg.UDP {
		names = append(names, "udp://"+a)
	}
	for _, a := range cfg.TCP {
		names = append(names, "tcp://"+a)
	}
	for _, a := range cfg.TLS {
		names = append(names, "tls://"+a)
	}
	r.name = "syslog:" + strings.Join(names, ",")
	if err := r.bind(cfg.UDP, cfg.TCP, cfg.TLS); err != nil {
		return nil, err
	}
	return r, nil
}

// DefaultClassify is the classify function New uses when given none.
func DefaultClassify(err error) (string, bool) {
	if errors.Is(err, decode.ErrNotFirewall) {
		return "", true
	}
	var pe *decode.ParseError
	if errors.As(err, &pe) {
		return pe.Reason, false
	}
	return "parse_error", false
}

// Name is "syslog:" and the configured addresses.
func (r *Receiver) Name() string { return r.name }

// Addrs returns the bound addresses: UDP first, then TCP, then TLS.
func (r *Receiver) Addrs() []net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]net.Addr(nil), r.addrs...)
}

func (r *Receiver) bind(udp, tcp, tlsAddrs []string) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		if err != nil {
			r.closeLocked()
		}
	}()
	var addrs []net.Addr // r.addrs changes only when every address is bound
	for _, a := range udp {
		ua, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			return &source.Permanent{Err: fmt.Errorf("syslog receiver: udp address %q: %w", a, err)}
		}
		c, err := net.ListenUDP("udp", ua)
		if err != nil {
			return fmt.Errorf("syslog receiver: listen udp %s: %w", a, err)
		}
		r.udp = append(r.udp, c)
		addrs = append(addrs, c.LocalAddr())
		if err := setRcvBuf(c, r.cfg.RcvBuf); err != nil {
			return fmt.Errorf("syslog receiver: udp %s receive buffer: %w", a, err)
		}
		if err := enableOverflowCount(c); err != nil {
			return fmt.Errorf("syslog receiver: udp %s SO_RXQ_OVFL: %w", a, err)
		}
	}
	for i, list := range [][]string{tcp, tlsAddrs} {
		for _, a := range list {
			l, err := net.Listen("tcp", a)
			if err != nil {
				return fmt.Errorf("syslog receiver: listen tcp %s: %w", a, err)
			}
			addrs = append(addrs, l.Addr())
			r.tcp = append(r.tcp, l)
			r.isTLS = append(r.isTLS, i == 1)
		}
	}
	r.addrs = addrs
	return nil
}

func (r *Receiver) closeLocked() {
	for _, c := range r.udp {
		_ = c.Close()
	}
	for _, l := range r.tcp {
		_ = l.Close()
	}
	r.udp, r.tcp, r.isTLS = nil, nil, nil
}

// rebind binds the addresses a previous Run had, keeping the ports.
func (r *Receiver) rebind() error {
	r.mu.Lock()
	bound := len(r.udp)+len(r.tcp) > 0
	addrs := append([]net.Addr(nil), r.addrs...)
	r.mu.Unlock()
	if bound {
		return nil
	}
	var udp, tcp, tlsA []string
	nu, nt := len(r.cfg.UDP), len(r.cfg.TCP)
	for i, a := range addrs {
		switch {
		case i < nu:
			udp = append(udp, a.String())
		case i < nu+nt:
			tcp = append(tcp, a.String())
		default:
			tlsA = append(tlsA, a.String())
		}
	}
	return r.bind(udp, tcp, tlsA)
}

// Close releases the sockets New bound, for a Receiver that will not Run
// (Run closes them itself when it returns).
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeLocked()
	return nil
}

// Run receives until ctx is done. The listeners are closed when it returns;
// a later Run binds the same addresses again.
func (r *Receiver) Run(ctx context.Context, out chan<- source.Batch) error {
	if err := r.rebind(); err != nil {
		return err
	}
	r.mu.Lock()
	udp, tcp, isTLS := r.udp, r.tcp, r.isTLS
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)

	var batchers []*batcher
	tcpBatch := &batcher{out: out, ctx: gctx, block: true, counters: r.counters}
	batchers = append(batchers, tcpBatch)
	for _, c := range udp {
		b := &batcher{out: out, ctx: gctx, counters: r.counters}
		batchers = append(batchers, b)
		g.Go(func() error { return r.serveUDP(gctx, c, b) })
	}
	var conns sync.WaitGroup
	live := &connSet{m: map[net.Conn]struct{}{}}
	for i, l := range tcp {
		g.Go(func() error { return r.serveTCP(gctx, l, isTLS[i], tcpBatch, live, &conns) })
	}
	// One flusher per batcher, so a TCP flush waiting on the pipeline never
	// delays the UDP ones.
	for _, b := range batchers {
		g.Go(func() error {
			t := time.NewTicker(r.cfg.FlushInterval)
			defer t.Stop()
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-t.C:
					b.flush()
				}
			}
		})
	}
	<-gctx.Done()
	r.mu.Lock()
	r.closeLocked()
	r.mu.Unlock()
	live.closeAll()
	err := g.Wait()
	conns.Wait()
	for _, b := range batchers {
		b.final()
	}
	if ctx.Err() != nil && err == nil {
		return nil
	}
	if errors.Is(err, net.ErrClosed) && ctx.Err() != nil {
		return nil
	}
	return err
}

// worker holds one goroutine's scratch state.
type worker struct {
	r       *Receiver
	sm      decode.SyslogMsg
	ev      event.Event
	in      *decode.Interner
	peers   map[netip.AddrPort]string
	batcher *batcher
}

func (r *Receiver) newWorker(b *batcher, internMax int) *worker {
	return &worker{r: r, in: decode.NewInterner(internMax), peers: map[netip.AddrPort]string{}, batcher: b}
}

func (w *worker) peerString(p netip.AddrPort) string {
	if s, ok := w.peers[p]; ok {
		return s
	}
	s := p.Addr().Unmap().String()
	if len(w.peers) >= 1024 {
		clear(w.peers)
	}
	w.peers[p] = s
	return s
}

// handle processes one syslog message (without framing) from peer.
func (w *worker) handle(msg []byte, peer netip.AddrPort, now time.Time) {
	r := w.r
	r.counters.AddReceived(1)
	if err := decode.ParseSyslog(msg, r.cfg.Location, now, &w.sm); err != nil {
		reason, _ := DefaultClassify(err)
		r.reject(reason, peer, msg, now)
		return
	}
	if string(w.sm.App) != "kernel" {
		r.counters.AddIgnored(1)
		return
	}
	e := &w.ev
	e.Reset()
	r.parseMu.Lock()
	err := r.parser.ParseMessage(w.sm.Msg, e)
	r.parseMu.Unlock()
	if err != nil {
		reason, ignored := r.classify(err)
		if ignored {
			r.counters.AddIgnored(1)
		} else {
			r.reject(reason, peer, msg, now)
		}
		return
	}
	if w.sm.HasTime {
		e.Time = w.sm.Time
	} else {
		e.Time = now.UTC()
	}
	if printable(w.sm.Hostname) {
		e.Sensor = w.in.Intern(w.sm.Hostname)
	} else {
		e.Sensor = w.peerString(peer)
	}
	e.Source = r.name
	w.batcher.add(e)
}

func (r *Receiver) reject(reason string, peer netip.AddrPort, raw []byte, now time.Time) {
	r.counters.AddRejected(reason, 1)
	if r.keepAllowed(now) {
		r.rejects.Keep(source.Rejected{Time: now.UTC(), Source: r.name + " peer=" + peer.String(), Reason: reason, Raw: string(raw)})
	}
}

// Kept rejected messages are limited to keepRate a second (bursts of
// keepBurst), so a sender flooding garbage cannot fill the disk through the
// rejected-lines file; the counters still count every message.
const (
	keepRate  = 100
	keepBurst = 1000
)

// keepAllowed takes one token of the keep budget.
func (r *Receiver) keepAllowed(now time.Time) bool {
	r.keepMu.Lock()
	defer r.keepMu.Unlock()
	if r.keepLast.IsZero() {
		r.keepTokens = keepBurst
	} else if d := now.Sub(r.keepLast); d > 0 {
		r.keepTokens = min(keepBurst, r.keepTokens+d.Seconds()*keepRate)
	}
	r.keepLast = now
	if r.keepTokens >= 1 {
		r.keepTokens--
		if r.keepSkipped > 0 && now.Sub(r.keepWarned) > time.Minute {
			r.logger.Warn("rejected syslog messages over the keep rate were counted but not kept",
				"source", r.name, "not_kept", r.keepSkipped)
			r.keepSkipped, r.keepWarned = 0, now
		}
		return true
	}
	r.keepSkipped++
	return false
}

// allowed reports whether the sender may talk to us.
func (r *Receiver) allowed(a netip.Addr) bool {
	if len(r.cfg.Allow) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range r.cfg.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// notAllowed counts one refused message or connection and keeps a record of
// the peer (no content), at most one per peer and minute.
func (r *Receiver) notAllowed(peer netip.AddrPort, now time.Time) {
	r.counters.AddReceived(1)
	r.counters.AddRejected(ReasonSenderNotAllowed, 1)
	r.keepMu.Lock()
	last, ok := r.kept[peer.Addr()]
	keep := !ok || now.Sub(last) >= time.Minute
	if keep {
		if len(r.kept) >= 4096 {
			clear(r.kept)
		}
		r.kept[peer.Addr()] = now
	}
	r.keepMu.Unlock()
	if keep && r.keepAllowed(now) {
		r.rejects.Keep(source.Rejected{Time: now.UTC(), Source: r.name + " peer=" + peer.String(), Reason: ReasonSenderNotAllowed})
	}
}

// datagram is one received UDP datagram.
type datagram struct {
	buf   []byte // MaxMsg+1 bytes; the datagram is buf[:n]
	n     int
	oob   []byte // control messages (SO_RXQ_OVFL)
	trunc bool   // longer than buf
	peer  netip.AddrPort
}

// udpReader reads one or more datagrams per call (recvmmsg on Linux).
type udpReader interface {
	read() ([]datagram, error)
}

// plainUDPReader reads one datagram per system call.
type plainUDPReader struct {
	c  *net.UDPConn
	dg [1]datagram
}

func newPlainUDPReader(c *net.UDPConn, maxMsg int) *plainUDPReader {
	return &plainUDPReader{c: c, dg: [1]datagram{{buf: make([]byte, maxMsg+1), oob: make([]byte, 0, 64)}}}
}

func (p *plainUDPReader) read() ([]datagram, error) {
	d := &p.dg[0]
	n, oobn, flags, peer, err := p.c.ReadMsgUDPAddrPort(d.buf, d.oob[:cap(d.oob)])
	if err != nil {
		return nil, err
	}
	d.n, d.oob, d.peer = n, d.oob[:oobn], peer
	d.trunc = flags&msgTrunc != 0
	return p.dg[:], nil
}

func (r *Receiver) serveUDP(ctx context.Context, c *net.UDPConn, b *batcher) error {
	w := r.newWorker(b, 4096)
	ur, err := newUDPReader(c, r.cfg.MaxMsg)
	if err != nil {
		return fmt.Errorf("syslog receiver: %w", err)
	}
	var lastDrops uint32
	for {
		dgs, err := ur.read()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("syslog receiver: read udp: %w", err)
		}
		now := time.Now()
		for i := range dgs {
			d := &dgs[i]
			if drops, ok := overflowCount(d.oob); ok && drops != lastDrops {
				n := uint64(drops - lastDrops) // wraps like the kernel's counter
				lastDrops = drops
				r.counters.AddReceived(n)
				r.counters.AddLost(source.LostUDPRcvbuf, n)
			}
			if !r.allowed(d.peer.Addr()) {
				r.notAllowed(d.peer, now)
				continue
			}
			if d.n > r.cfg.MaxMsg || d.trunc {
				r.counters.AddReceived(1)
				r.reject(ReasonMessageTooLong, d.peer, d.buf[:min(d.n, 256)], now)
				continue
			}
			w.handle(d.buf[:d.n], d.peer, now)
		}
	}
}

type connSet struct {
	mu     sync.Mutex
	m      map[net.Conn]struct{}
	closed bool
}

func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.m[c] = struct{}{}
	return true
}

func (s *connSet) del(c net.Conn) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.m {
		_ = c.Close()
	}
}

func (r *Receiver) serveTCP(ctx context.Context, l net.Listener, isTLS bool, b *batcher, live *connSet, wg *sync.WaitGroup) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("syslog receiver: accept: %w", err)
		}
		peer := netip.AddrPort{}
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			peer = ta.AddrPort()
		}
		if !r.allowed(peer.Addr()) {
			r.notAllowed(peer, time.Now())
			_ = c.Close()
			continue
		}
		if r.conns.Add(1) > int64(r.cfg.MaxConns) {
			r.conns.Add(-1)
			r.logger.Debug("syslog connection refused: too many connections", "peer", peer.String(), "max_conns", r.cfg.MaxConns)
			_ = c.Close()
			continue
		}
		if isTLS {
			c = tls.Server(c, r.tlsCfg)
		}
		if !live.add(c) {
			r.conns.Add(-1)
			_ = c.Close()
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.conns.Add(-1)
			defer live.del(c)
			defer c.Close()
			if err := r.serveConn(c, peer, b); err != nil && ctx.Err() == nil {
				r.logger.Debug("syslog connection closed", "peer", peer.String(), "err", err)
			}
		}()
	}
}

// serveConn reads one TCP/TLS connection. The framing is chosen from its
// first byte: a digit starts RFC 6587 octet counting ("LEN SP MSG"),
// anything else newline-terminated messages.
func (r *Receiver) serveConn(c net.Conn, peer netip.AddrPort, b *batcher) error {
	w := r.newWorker(b, 64)
	br := bufio.NewReaderSize(c, r.cfg.MaxMsg+16)
	idle := r.cfg.IdleTimeout
	deadlineSet := time.Now()
	if err := c.SetReadDeadline(deadlineSet.Add(idle)); err != nil {
		return err
	}
	refresh := func(now time.Time) {
		if now.Sub(deadlineSet) > time.Second {
			deadlineSet = now
			_ = c.SetReadDeadline(now.Add(idle))
		}
	}
	first, err := br.Peek(1)
	if err != nil {
		return eofNil(err)
	}
	if first[0] >= '0' && first[0] <= '9' {
		return r.readOctetCounted(br, w, peer, refresh)
	}
	return r.readLines(br, w, peer, refresh)
}

func eofNil(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (r *Receiver) readOctetCounted(br *bufio.Reader, w *worker, peer netip.AddrPort, refresh func(time.Time)) error {
	for {
		n := 0
		digits := 0
		for {
			c, err := br.ReadByte()
			if err != nil {
				if digits == 0 {
					return eofNil(err)
				}
				return err
			}
			if c == ' ' && digits > 0 {
				break
			}
			if c < '0' || c > '9' || digits == 9 {
				now := time.Now()
				r.counters.AddReceived(1)
				r.reject(ReasonBadFrame, peer, []byte(strconv.Itoa(n)+string(c)), now)
				return errors.New("bad octet count")
			}
			n = n*10 + int(c-'0')
			digits++
		}
		now := time.Now()
		refresh(now)
		if n > r.cfg.MaxMsg {
			r.counters.AddReceived(1)
			head, _ := br.Peek(min(br.Buffered(), 256))
			r.reject(ReasonMessageTooLong, peer, head, now)
			return fmt.Errorf("octet count %d over the %d byte limit", n, r.cfg.MaxMsg)
		}
		msg, err := br.Peek(n)
		if err != nil {
			return err
		}
		w.handle(msg, peer, now)
		_, _ = br.Discard(n)
	}
}

func (r *Receiver) readLines(br *bufio.Reader, w *worker, peer netip.AddrPort, refresh func(time.Time)) error {
	for {
		line, err := br.ReadSlice('\n')
		now := time.Now()
		switch {
		case err == nil:
			refresh(now)
			if !blank(line) {
				w.handle(line, peer, now)
			}
		case errors.Is(err, bufio.ErrBufferFull):
			refresh(now)
			r.counters.AddReceived(1)
			r.reject(ReasonMessageTooLong, peer, line[:min(len(line), 256)], now)
			for errors.Is(err, bufio.ErrBufferFull) { // skip the rest of the line
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return eofNil(err)
			}
		default:
			if !blank(line) { // the last message of a stream without a final newline
				w.handle(line, peer, now)
			}
			return eofNil(err)
		}
	}
}

// batcher collects events into batches for the pipeline. A blocking batcher
// (TCP) waits for the pipeline; a non-blocking one (UDP, which cannot push
// back on its senders) counts a batch the pipeline cannot take as lost.
type batcher struct {
	mu       sync.Mutex
	events   []event.Event
	out      chan<- source.Batch
	ctx      context.Context
	block    bool
	counters *source.Counters
}

func (b *batcher) add(e *event.Event) {
	b.mu.Lock()
	if b.events == nil {
		b.events = source.NewEvents()
	}
	b.events = append(b.events, *e)
	var full []event.Event
	if len(b.events) >= source.BatchSize {
		full, b.events = b.events, nil
	}
	b.mu.Unlock()
	if full != nil {
		b.send(full, false)
	}
}

func (b *batcher) take() []event.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := b.events
	b.events = nil
	return ev
}

func (b *batcher) flush() {
	if ev := b.take(); len(ev) > 0 {
		b.send(ev, false)
	}
}

// final hands over what is left when Run ends, waiting up to a second.
func (b *batcher) final() {
	if ev := b.take(); len(ev) > 0 {
		b.send(ev, true)
	}
}

func (b *batcher) send(ev []event.Event, final bool) {
	batch := source.Batch{Counters: b.counters, Events: ev}
	if !b.block && !final {
		select {
		case b.out <- batch:
		default:
			b.counters.AddLost(source.LostQueueFull, uint64(len(ev)))
			source.ReleaseEvents(ev)
		}
		return
	}
	if !final {
		select {
		case b.out <- batch:
			return
		case <-b.ctx.Done():
		}
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case b.out <- batch:
	case <-t.C:
		b.counters.AddLost(source.LostQueueFull, uint64(len(ev)))
		source.ReleaseEvents(ev)
	}
}

// blank reports whether a line holds nothing but CR, LF and NUL (keep-alives).
func blank(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != 0 {
			return false
		}
	}
	return true
}

// printable reports whether a HOSTNAME field is non-empty printable ASCII
// (RFC 5424's PRINTUSASCII); anything else is not used as a sensor name.
func printable(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return len(b) > 0
}
