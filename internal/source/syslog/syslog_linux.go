package syslog

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const msgTrunc = unix.MSG_TRUNC

// setRcvBuf sets the socket receive buffer, with SO_RCVBUFFORCE when the
// process may (CAP_NET_ADMIN), else within net.core.rmem_max.
func setRcvBuf(c *net.UDPConn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) == nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
	}); err != nil {
		return err
	}
	return serr
}

// enableOverflowCount asks the kernel to report, with each datagram, how
// many datagrams the socket has dropped so far (SO_RXQ_OVFL).
func enableOverflowCount(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil {
		return err
	}
	return serr
}

// overflowCount finds the SO_RXQ_OVFL control message (a uint32 in host
// byte order, the socket's drop count so far) in oob without allocating.
func overflowCount(oob []byte) (uint32, bool) {
	const lenSize = unix.SizeofCmsghdr - 8 // cmsg_len is a size_t; level and type are ints
	for len(oob) >= unix.SizeofCmsghdr {
		var l int
		if lenSize == 8 {
			l = int(binary.NativeEndian.Uint64(oob))
		} else {
			l = int(binary.NativeEndian.Uint32(oob))
		}
		level := int32(binary.NativeEndian.Uint32(oob[lenSize:]))
		typ := int32(binary.NativeEndian.Uint32(oob[lenSize+4:]))
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0, false
		}
		if level == unix.SOL_SOCKET && typ == unix.SO_RXQ_OVFL && l >= unix.CmsgLen(4) {
			return binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):]), true
		}
		oob = oob[min(unix.CmsgSpace(l-unix.SizeofCmsghdr), len(oob)):]
	}
	return 0, false
}

// mmsgBatch is how many datagrams one recvmmsg call may return.
const mmsgBatch = 32

// mmsgReader reads up to mmsgBatch datagrams per system call with
// recvmmsg(2), through the runtime poller (deadlines and Close work as for
// any net.Conn read) and without allocating per datagram.
type mmsgReader struct {
	rc    syscall.RawConn
	msgs  [mmsgBatch]unix.Mmsghdr
	iov   [mmsgBatch]unix.Iovec
	names [mmsgBatch]unix.RawSockaddrInet6 // large enough for IPv4 too
	oobs  [mmsgBatch][64]byte
	dg    [mmsgBatch]datagram
}

func newUDPReader(c *net.UDPConn, maxMsg int) (udpReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return newPlainUDPReader(c, maxMsg), nil
	}
	m := &mmsgReader{rc: rc}
	for i := range m.dg {
		m.dg[i].buf = make([]byte, maxMsg+1)
		m.iov[i].Base = &m.dg[i].buf[0]
		m.iov[i].SetLen(len(m.dg[i].buf))
		h := &m.msgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&m.names[i]))
		h.Iov = &m.iov[i]
		h.SetIovlen(1)
		h.Control = &m.oobs[i][0]
	}
	return m, nil
}

func (m *mmsgReader) read() ([]datagram, error) {
	for i := range m.msgs {
		h := &m.msgs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(len(m.oobs[i]))
		h.Flags = 0
	}
	var n int
	var errno syscall.Errno
	err := m.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.msgs[0])), mmsgBatch,
			unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false // wait until readable
		}
		n, errno = int(r), e
		return true
	})
	if err != nil {
		return nil, err
	}
	if errno != 0 {
		return nil, os.NewSyscallError("recvmmsg", errno)
	}
	for i := 0; i < n; i++ {
		h := &m.msgs[i].Hdr
		d := &m.dg[i]
		d.n = int(m.msgs[i].Len)
		d.trunc = h.Flags&unix.MSG_TRUNC != 0
		d.oob = m.oobs[i][:h.Controllen]
		d.peer = sockaddrPeer(&m.names[i])
	}
	return m.dg[:n], nil
}

// sockaddrPeer converts a received sockaddr_in or sockaddr_in6.
func sockaddrPeer(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}
