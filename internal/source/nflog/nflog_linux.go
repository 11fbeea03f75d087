package nflog

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// errAgain: no datagram is waiting.
var errAgain = errors.New("no datagram ready")

// receiver reads one netlink datagram into buf. With wait false it returns
// errAgain when none is ready; with wait true it blocks until one is (or
// the connection's read deadline passes).
type receiver interface {
	recv(buf []byte, wait bool) (n int, truncated bool, err error)
}

// rawReceiver reads datagrams straight into the caller's buffer with
// recvfrom on the socket's file descriptor, through the runtime poller:
// no allocation per datagram.
type rawReceiver struct {
	rc   syscall.RawConn
	buf  []byte
	wait bool
	n    int
	err  error
	fn   func(fd uintptr) bool
}

func newRawReceiver(rc syscall.RawConn) *rawReceiver {
	r := &rawReceiver{rc: rc}
	r.fn = r.read
	return r
}

func (r *rawReceiver) read(fd uintptr) bool {
	// MSG_TRUNC makes recvfrom return the datagram's real length. With
	// MSG_DONTWAIT it never blocks, so it skips the scheduler's syscall
	// bookkeeping (RawSyscall): the poller does the waiting.
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)),
		unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
	if errno == unix.EAGAIN && r.wait {
		return false // let the poller wait for the socket to become readable
	}
	r.n = int(n)
	r.err = nil
	if errno != 0 {
		r.err = errno
	}
	return true
}

func (r *rawReceiver) recv(buf []byte, wait bool) (int, bool, error) {
	r.buf, r.wait = buf, wait
	if err := r.rc.Read(r.fn); err != nil {
		return 0, false, err
	}
	switch {
	case r.err == unix.EAGAIN:
		return 0, false, errAgain
	case r.err != nil:
		return 0, false, r.err
	case r.n > len(buf):
		return len(buf), true, nil
	}
	return r.n, false, nil
}

// msgReceiver reads through netlink.Conn.Receive and lays the messages out
// again in buf: the path for connections without a file descriptor (the
// nltest fake socket).
type msgReceiver struct {
	conn *netlink.Conn
}

func (r *msgReceiver) recv(buf []byte, wait bool) (int, bool, error) {
	if !wait {
		return 0, false, errAgain
	}
	msgs, err := r.conn.Receive()
	if err != nil {
		return 0, false, err
	}
	if len(msgs) == 0 {
		time.Sleep(5 * time.Millisecond)
		return 0, false, errAgain
	}
	n := 0
	for _, m := range msgs {
		m.Header.Length = uint32(nlmsgHdrLen+len(m.Data)+3) &^ 3
		b, err := m.MarshalBinary()
		if err != nil {
			return 0, false, err
		}
		if n+len(b) > len(buf) {
			return n, true, nil
		}
		n += copy(buf[n:], b)
	}
	return n, false, nil
}

func (n *NFLOG) dial() (*netlink.Conn, error) {
	if n.opts.dial != nil {
		return n.opts.dial(n.cfg.NetNS)
	}
	conn, err := netlink.Dial(netlinkNetfilter, &netlink.Config{NetNS: n.cfg.NetNS})
	if err != nil {
		switch {
		case errors.Is(err, unix.EPROTONOSUPPORT):
			return nil, &source.Permanent{Err: fmt.Errorf("nflog group %d: the kernel has no nfnetlink (NETLINK_NETFILTER): %w", n.cfg.Group, err)}
		case errors.Is(err, unix.EPERM) && n.cfg.NetNS != 0:
			return nil, &source.Permanent{Err: fmt.Errorf("nflog group %d: entering the network namespace needs CAP_SYS_ADMIN: %w", n.cfg.Group, err)}
		}
		return nil, fmt.Errorf("nflog group %d: open netlink socket: %w", n.cfg.Group, err)
	}
	return conn, nil
}

// configMsg builds an NFULNL_MSG_CONFIG request for the group.
func (n *NFLOG) configMsg(attrs func(ae *netlink.AttributeEncoder)) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	attrs(ae)
	b, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, err
	}
	data := make([]byte, nfgenHdrLen, nfgenHdrLen+len(b))
	data[0] = unix.AF_UNSPEC
	data[1] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(data[2:4], n.cfg.Group)
	return netlink.Message{
		Header: netlink.Header{Type: typeConfig, Flags: netlink.Request | netlink.Acknowledge},
		Data:   append(data, b...),
	}, nil
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// configure binds the group and sets copy mode, buffer size, flush timeout,
// queue threshold and sequence numbering.
func (n *NFLOG) configure(conn *netlink.Conn) error {
	bind, err := n.configMsg(func(ae *netlink.AttributeEncoder) { ae.Uint8(cfgAttrCmd, cmdBind) })
	if err != nil {
		return err
	}
	if _, err := conn.Execute(bind); err != nil {
		return n.bindError(err)
	}
	params, err := n.configMsg(func(ae *netlink.AttributeEncoder) {
		mode := binary.BigEndian.AppendUint32(nil, n.cfg.CopyRange)
		ae.Bytes(cfgAttrMode, append(mode, copyPacket, 0))
		ae.Bytes(cfgAttrNLBufSiz, be32(n.cfg.NLBufSize))
		ae.Bytes(cfgAttrTimeout, be32(uint32((n.cfg.FlushTimeout+5*time.Millisecond)/(10*time.Millisecond))))
		ae.Bytes(cfgAttrQThresh, be32(n.cfg.Threshold))
		ae.Bytes(cfgAttrFlags, binary.BigEndian.AppendUint16(nil, cfgFlagSeq))
	})
	if err != nil {
		return err
	}
	if _, err := conn.Execute(params); err != nil {
		return &source.Permanent{Err: fmt.Errorf("nflog group %d: configure copy range, buffer, timeout, threshold and sequence numbers: %w", n.cfg.Group, err)}
	}
	return nil
}

// bindError turns a failed NFULNL_CFG_CMD_BIND into an actionable error.
func (n *NFLOG) bindError(err error) error {
	g := n.cfg.Group
	switch {
	case errors.Is(err, unix.EPERM):
		if !hasCapNetAdmin() {
			return &source.Permanent{Err: fmt.Errorf("nflog group %d: binding needs CAP_NET_ADMIN: run darkscope as root or grant it the capability (setcap cap_net_admin+ep): %w", g, err)}
		}
		return &source.Permanent{Err: fmt.Errorf("nflog group %d already bound by another process (ulogd?): stop it or log to another group: %w", g, err)}
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("nflog group %d: already bound by this socket: %w", g, err)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOENT), errors.Is(err, unix.EAGAIN):
		return fmt.Errorf("nflog group %d: the kernel refused the bind; is nfnetlink_log available (modprobe nfnetlink_log)? %w", g, err)
	}
	return fmt.Errorf("nflog group %d: bind: %w", g, err)
}

// hasCapNetAdmin reports whether the process's effective capabilities
// include CAP_NET_ADMIN (bit 12 of CapEff in /proc/self/status).
func hasCapNetAdmin() bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return os.Geteuid() == 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_NET_ADMIN) != 0
		}
	}
	return os.Geteuid() == 0
}

// setRcvBuf forces the socket receive buffer, falling back to SO_RCVBUF
// (capped by net.core.rmem_max) without CAP_NET_ADMIN.
func (n *NFLOG) setRcvBuf(rc syscall.RawConn) {
	var serr error
	var got int
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n.cfg.RcvBuf)
		if serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n.cfg.RcvBuf)
		}
		got, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if err == nil {
		err = serr
	}
	if err != nil || got < n.cfg.RcvBuf {
		n.logger.Warn("nflog receive buffer smaller than configured", "source", n.name,
			"want_bytes", n.cfg.RcvBuf, "got_bytes", got, "err", err)
		return
	}
	n.logger.Debug("nflog receive buffer", "source", n.name, "bytes", got)
}

// resolver returns the interface-name lookup for the configured namespace.
func (n *NFLOG) resolver() func(uint32) (string, error) {
	if n.opts.ifname != nil {
		return n.opts.ifname
	}
	if n.cfg.NetNS == 0 {
		return func(index uint32) (string, error) {
			ifc, err := net.InterfaceByIndex(int(index))
			if err != nil {
				return "", err
			}
			return ifc.Name, nil
		}
	}
	ns := n.cfg.NetNS
	return func(index uint32) (string, error) { return linkName(ns, index) }
}

// linkName asks rtnetlink in namespace ns (RTM_GETLINK) for the name of
// interface index.
func linkName(ns int, index uint32) (string, error) {
	const (
		rtmGetLink = 18 // RTM_GETLINK
		iflaIfname = 3  // IFLA_IFNAME
	)
	conn, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: ns})
	if err != nil {
		return "", fmt.Errorf("rtnetlink: %w", err)
	}
	defer conn.Close()
	ifi := make([]byte, 16) // struct ifinfomsg
	binary.NativeEndian.PutUint32(ifi[4:8], index)
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: rtmGetLink, Flags: netlink.Request},
		Data:   ifi,
	})
	if err != nil {
		return "", fmt.Errorf("get link %d: %w", index, err)
	}
	for _, m := range msgs {
		if len(m.Data) < 16 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[16:])
		if err != nil {
			return "", err
		}
		for ad.Next() {
			if ad.Type() == iflaIfname {
				return ad.String(), nil
			}
		}
		if err := ad.Err(); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("link %d has no name", index)
}

// runState is one Run's reading state.
type runState struct {
	n       *NFLOG
	out     chan<- source.Batch
	p       parser
	seq     seqTracker
	batch   []event.Event
	warned  time.Time
	pending uint64 // received messages not yet added to the counters
	ignored uint64
}

// Run binds the group and sends batches until ctx is done.
func (n *NFLOG) Run(ctx context.Context, out chan<- source.Batch) error {
	conn, err := n.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := n.configure(conn); err != nil {
		return err
	}
	var rcv receiver
	if rc, err := conn.SyscallConn(); err == nil {
		n.setRcvBuf(rc)
		rcv = newRawReceiver(rc)
	} else {
		rcv = &msgReceiver{conn: conn}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	n.logger.Info("nflog bound", "source", n.name, "copy_range", n.cfg.CopyRange,
		"threshold", n.cfg.Threshold, "flush_timeout", n.cfg.FlushTimeout, "rcvbuf", n.cfg.RcvBuf)

	r := &runState{
		n:   n,
		out: out,
		p: parser{
			group:    n.cfg.Group,
			sensor:   n.cfg.Sensor,
			source:   n.name,
			prefixes: decode.NewInterner(0),
			ifnames:  &ifCache{resolve: n.resolver(), m: map[uint32]ifEntry{}, logger: n.logger},
		},
		batch: source.NewEvents(),
	}
	size := 2 * int(n.cfg.NLBufSize+n.cfg.CopyRange+4096)
	if size < 256<<10 {
		size = 256 << 10
	}
	buf := make([]byte, size)
	if n.opts.gate != nil {
		select {
		case <-n.opts.gate:
		case <-ctx.Done():
			return nil
		}
	}
	wait := false
	for {
		if ctx.Err() != nil {
			r.flush()
			return nil
		}
		nb, truncated, err := rcv.recv(buf, wait)
		switch {
		case err == nil:
		case errors.Is(err, errAgain):
			r.flush() // the socket is drained: hand over what we have
			wait = true
			continue
		case errors.Is(err, unix.ENOBUFS):
			// The kernel dropped messages: the next sequence number shows
			// how many.
			n.overruns.Add(1)
			r.warn("nflog socket overrun (ENOBUFS): the receive buffer was full; lost packets are counted from the sequence gap")
			wait = false
			continue
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, unix.EINTR):
			continue
		default:
			r.flush()
			return fmt.Errorf("nflog group %d: receive: %w", n.cfg.Group, err)
		}
		wait = false
		if truncated {
			r.warn("nflog datagram larger than the receive buffer: its tail is lost (counted from the sequence gap)")
		}
		packets := r.datagram(buf[:nb], n.opts.now())
		if n.opts.pace != nil {
			n.opts.pace(packets)
		}
	}
}

// warn logs at most one warning per second.
func (r *runState) warn(msg string) {
	now := time.Now()
	if now.Sub(r.warned) < time.Second {
		return
	}
	r.warned = now
	r.n.logger.Warn(msg, "source", r.n.name, "overruns", r.n.overruns.Load())
}

// datagram handles the netlink messages of one datagram and returns how
// many packet messages it held.
func (r *runState) datagram(b []byte, now time.Time) (packets int) {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < nlmsgHdrLen || l > len(b) {
			break // a cut datagram: its messages' sequence numbers tell the loss
		}
		body := b[nlmsgHdrLen:l]
		switch typ {
		case typePacket:
			r.message(body, now)
			packets++
		case nlmsgError:
			if len(body) >= 4 {
				if code := int32(binary.NativeEndian.Uint32(body[0:4])); code != 0 {
					r.n.logger.Warn("nflog netlink error message", "source", r.n.name, "errno", syscall.Errno(-code))
				}
			}
		case nlmsgDone, nlmsgNoop:
		}
		al := (l + 3) &^ 3
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	r.commitCounts()
	return packets
}

// message decodes one NFLOG packet message into the batch.
func (r *runState) message(body []byte, now time.Time) {
	if len(r.batch) == cap(r.batch) {
		r.flush()
	}
	r.batch = r.batch[:len(r.batch)+1]
	e := &r.batch[len(r.batch)-1]
	e.Reset()
	info, err := r.p.parse(body, e, now)
	r.pending++
	if info.hasSeq {
		lost, backwards := r.seq.see(info.seq)
		if lost > 0 {
			r.pending += lost
			r.n.counters.AddLost(source.LostKernelOverrun, lost)
		}
		if backwards {
			r.n.logger.Warn("nflog sequence number went backwards", "source", r.n.name, "seq", info.seq)
		}
	}
	if err == nil {
		return
	}
	r.batch = r.batch[:len(r.batch)-1]
	if errors.Is(err, decode.ErrNotIP) {
		r.ignored++
		return
	}
	reason := "parse_error"
	var pe *decode.ParseError
	if errors.As(err, &pe) {
		reason = pe.Reason
	}
	r.n.counters.AddRejected(reason, 1)
	raw := info.raw
	if len(raw) > maxRawKept {
		raw = raw[:maxRawKept]
	}
	r.n.opts.rejects.Keep(source.Rejected{Time: now.UTC(), Source: r.n.name, Reason: reason, Raw: hex.EncodeToString(raw)})
}

// commitCounts adds the counts of the datagram just read.
func (r *runState) commitCounts() {
	if r.pending > 0 {
		r.n.counters.AddReceived(r.pending)
		r.pending = 0
	}
	if r.ignored > 0 {
		r.n.counters.AddIgnored(r.ignored)
		r.ignored = 0
	}
}

// flush hands the batch to the pipeline without blocking; a full queue
// loses the batch, counted as queue_full.
func (r *runState) flush() {
	r.commitCounts()
	if len(r.batch) == 0 {
		return
	}
	select {
	case r.out <- source.Batch{Counters: r.n.counters, Events: r.batch}:
		r.batch = source.NewEvents()
	default:
		r.n.counters.AddLost(source.LostQueueFull, uint64(len(r.batch)))
		r.warn("pipeline queue full: nflog batch dropped (counted as queue_full)")
		r.batch = r.batch[:0]
	}
}
