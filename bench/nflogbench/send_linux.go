package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendBatch is how many datagrams one sendmmsg call carries at most.
const sendBatch = 64

type sendResult struct {
	Sent      uint64  `json:"sent"`
	Seconds   float64 `json:"seconds"`
	PPS       float64 `json:"pps"`
	Target    float64 `json:"target_pps"`
	UserCPU   float64 `json:"user_cpu_s"`
	SystemCPU float64 `json:"system_cpu_s"`
}

// generate sends 8-byte UDP datagrams (a be64 index) to addr at rate per
// second (0: as fast as it can) until count are sent or d has passed, and
// prints a sendResult.
func generate(addr string, rate float64, count uint64, d time.Duration) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("-send %q: want an IPv4 HOST:PORT", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("udp socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return fmt.Errorf("connect %v: %w", ap, err)
	}
	var (
		payload [sendBatch][8]byte
		iov     [sendBatch]unix.Iovec
		msgs    [sendBatch]unix.Mmsghdr
	)
	for i := range msgs {
		iov[i].Base = &payload[i][0]
		iov[i].SetLen(len(payload[i]))
		msgs[i].Hdr.Iov = &iov[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	start := time.Now()
	deadline := start.Add(d)
	var sent uint64
	for sent < count {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		due := count
		if rate > 0 {
			due = min(uint64(rate*now.Sub(start).Seconds())+1, count)
		}
		if sent >= due {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		k := min(due-sent, sendBatch)
		for i := range k {
			payload[i] = [8]byte{}
			for j := range 8 {
				payload[i][j] = byte((sent + i) >> (56 - 8*j))
			}
		}
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(k), 0, 0, 0)
		switch {
		case errno == 0:
			sent += uint64(n)
		case errors.Is(errno, unix.ENOBUFS), errors.Is(errno, unix.EAGAIN), errors.Is(errno, unix.ECONNREFUSED), errors.Is(errno, unix.EINTR):
			// A full device queue or a port-unreachable report: try again.
		default:
			return fmt.Errorf("sendmmsg: %w", errno)
		}
	}
	secs := time.Since(start).Seconds()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return json.NewEncoder(os.Stdout).Encode(sendResult{
		Sent: sent, Seconds: secs, PPS: float64(sent) / secs, Target: rate,
		UserCPU:   time.Duration(ru.Utime.Nano()).Seconds(),
		SystemCPU: time.Duration(ru.Stime.Nano()).Seconds(),
	})
}
