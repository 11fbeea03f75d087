//go:build !linux

package syslog

import "net"

const msgTrunc = 0

func setRcvBuf(c *net.UDPConn, n int) error { return c.SetReadBuffer(n) }

// enableOverflowCount is a no-op: SO_RXQ_OVFL is Linux-only, so receive
// buffer overflows go uncounted elsewhere.
func enableOverflowCount(*net.UDPConn) error { return nil }

func overflowCount([]byte) (uint32, bool) { return 0, false }

func newUDPReader(c *net.UDPConn, maxMsg int) (udpReader, error) {
	return newPlainUDPReader(c, maxMsg), nil
}
