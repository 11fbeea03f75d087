package syslog

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/darkscope/darkscope/internal/source"
)

// TestRcvBuf: the configured receive buffer is applied, beyond
// net.core.rmem_max when the process has CAP_NET_ADMIN (SO_RCVBUFFORCE).
func TestRcvBuf(t *testing.T) {
	const want = 8 << 20
	r, err := New(Config{UDP: []string{"127.0.0.1:0"}, RcvBuf: want}, stubParser{}, nil, nil, source.NewCounters("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rc, err := r.udp[0].SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got, ovfl int
	var gerr, oerr error
	rc.Control(func(fd uintptr) {
		got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		ovfl, oerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL)
	})
	if gerr != nil || oerr != nil {
		t.Fatal(gerr, oerr)
	}
	if ovfl != 1 {
		t.Errorf("SO_RXQ_OVFL = %d", ovfl)
	}
	if os.Geteuid() == 0 && got < want { // the kernel reports twice the size set
		t.Errorf("SO_RCVBUF = %d, want at least %d", got, want)
	}
	t.Logf("SO_RCVBUF = %d", got)
}
