//go:build linux

package kmsg

import (
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"

	"github.com/darkscope/darkscope/internal/source"
)

// device is an open /dev/kmsg in non-blocking mode.
type device struct {
	fd   int
	path string
}

// openDevice opens path non-blocking and positions it at the next record to
// be written, or with fromStart at the oldest record still in the ring.
func openDevice(path string, fromStart bool) (recordReader, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		err = fmt.Errorf("open %s: %w", path, err)
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOENT) {
			return nil, &source.Permanent{Err: fmt.Errorf("%w (reading the kernel log needs root or CAP_SYSLOG when kernel.dmesg_restrict=1)", err)}
		}
		return nil, err
	}
	whence := io.SeekEnd
	if fromStart {
		whence = io.SeekStart
	}
	if _, err := unix.Seek(fd, 0, whence); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("seek %s: %w", path, err)
	}
	return &device{fd: fd, path: path}, nil
}

func (d *device) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(d.fd, p)
		switch {
		case err == nil && n == 0:
			return 0, errNoData
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, errNoData
		case errors.Is(err, unix.EPIPE):
			return 0, errOverrun
		}
		return 0, err
	}
}

func (d *device) Wait(timeout time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
	_, err := unix.Poll(fds, int(timeout.Milliseconds()))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return err
	}
	return nil
}

func (d *device) Close() error { return unix.Close(d.fd) }

// monotonicNow reads CLOCK_MONOTONIC, the clock printk stamps follow.
func monotonicNow() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}
