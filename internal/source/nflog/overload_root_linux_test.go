package nflog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/nstest"
	"github.com/darkscope/darkscope/internal/source"
)

// Steady overload. The reader's capacity is made small and known with two
// test seams, so that a modest sender (a token-bucket UDP loop in the
// attacker namespace) sustains about twice what it can absorb on a loaded
// 2-core CI machine:
//   - withReadPace sleeps in the reader after every datagram so that it takes
//     at most overloadReadRate packets per second off a small socket buffer:
//     the kernel drops whole batches (NFULA_SEQ gaps, ENOBUFS) →
//     kernel_overrun;
//   - the pipeline side is a one-slot queue drained by a consumer that stores
//     at most overloadStoreRate events per second: the reader drops batches it
//     has no room for → queue_full.
const (
	overloadReadRate  = 2000 // packets/s the paced reader takes off the socket
	overloadStoreRate = overloadReadRate / 4
	overloadCalibrate = 1200 * time.Millisecond
	overloadDuration  = 4 * time.Second
	overloadPort      = 9
	overloadSentinel  = 7777
	overloadMagic     = 0xd5c0fe11
)

// pacer caps the packets per second a reader takes: after each datagram of
// k packets the reader waits until its k/rate seconds of work are over. It
// runs only in the reader goroutine; read is read by the test.
type pacer struct {
	rate float64
	next time.Time
	read atomic.Uint64
}

func (p *pacer) pace(packets int) {
	p.read.Add(uint64(packets))
	now := time.Now()
	if p.next.Before(now) {
		p.next = now // no credit for idle time: no burst after a pause
	}
	p.next = p.next.Add(time.Duration(float64(packets) / p.rate * float64(time.Second)))
	if d := time.Until(p.next); d > 0 {
		time.Sleep(d)
	}
}

// slowStore stores at most rate events per second from a one-slot queue.
type slowStore struct {
	rate   float64
	fast   atomic.Bool // stop pacing (shutdown)
	mu     sync.Mutex
	events []event.Event
}

func (s *slowStore) run(in <-chan source.Batch) {
	next := time.Now()
	for b := range in {
		s.mu.Lock()
		s.events = append(s.events, b.Events...)
		s.mu.Unlock()
		b.Counters.AddStored(uint64(len(b.Events)))
		k := len(b.Events)
		source.ReleaseEvents(b.Events)
		if now := time.Now(); next.Before(now) {
			next = now
		}
		next = next.Add(time.Duration(float64(k) / s.rate * float64(time.Second)))
		for !s.fast.Load() && time.Now().Before(next) {
			time.Sleep(min(time.Until(next), 20*time.Millisecond))
		}
	}
}

func (s *slowStore) snapshot() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Event(nil), s.events...)
}

func (s *slowStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// udpSocketIn opens a UDP socket inside ns: the socket keeps the namespace
// it was created in, whatever thread later uses it.
func udpSocketIn(t *testing.T, ns *nstest.NS) int {
	t.Helper()
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked if the thread stays in ns: it then dies with the goroutine
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{-1, err}
			return
		}
		defer orig.Close()
		target, err := os.Open(ns.Path())
		if err != nil {
			ch <- result{-1, err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, fmt.Errorf("setns %s: %w", ns.Name, err)}
			return
		}
		fd, serr := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			if fd >= 0 {
				_ = unix.Close(fd)
			}
			ch <- result{-1, fmt.Errorf("setns back: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{fd, serr}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("udp socket in %s: %v", ns.Name, r.err)
	}
	t.Cleanup(func() { _ = unix.Close(r.fd) })
	return r.fd
}

// udpSender sends numbered datagrams (index be32, magic be32) from the
// attacker to the sensor at a fixed rate.
type udpSender struct {
	fd   int
	dst  [4]byte
	next uint32 // index of the next datagram
}

// send sends rate datagrams per second to port for d (token bucket, 1 ms
// ticks; bounded by count and by time) and returns how many it sent.
func (s *udpSender) send(port int, rate float64, d time.Duration) (uint64, error) {
	total := uint64(rate * d.Seconds())
	to := &unix.SockaddrInet4{Port: port, Addr: s.dst}
	var msg [8]byte
	binary.BigEndian.PutUint32(msg[4:], overloadMagic)
	start := time.Now()
	hard := start.Add(d + 2*time.Second)
	var sent uint64
	for sent < total && time.Now().Before(hard) {
		due := min(uint64(rate*time.Since(start).Seconds())+1, total)
		for ; sent < due; sent++ {
			binary.BigEndian.PutUint32(msg[:4], s.next)
			if err := unix.Sendto(s.fd, msg[:], 0, to); err != nil {
				if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
					break // the device queue is full: retry on the next tick
				}
				return sent, fmt.Errorf("sendto: %w", err)
			}
			s.next++
		}
		time.Sleep(time.Millisecond)
	}
	return sent, nil
}

// TestRealKernelOverload sustains about twice the reader's measured capacity
// for several seconds and checks the loss accounting exactly: every packet
// the nft counter (placed before the log statement) saw is either stored or
// counted lost, by reason kernel_overrun (NFULA_SEQ gaps after ENOBUFS) and
// queue_full (a batch the pipeline had no room for); both reasons keep
// occurring throughout the overload; and once the overload stops the reader
// recovers: a sentinel packet is stored.
func TestRealKernelOverload(t *testing.T) {
	const octet = 64
	l := newRootLab(t, 4164, octet)
	// Static neighbours: no packet waits for ARP. Drop after logging, so the
	// sensor spends nothing on port-unreachable replies.
	l.sensor.MustRun("ip", "neigh", "replace", fmt.Sprintf("10.99.%d.2", octet), "lladdr", macString(l.aMAC), "dev", l.sIf)
	l.attacker.MustRun("ip", "neigh", "replace", fmt.Sprintf("10.99.%d.1", octet), "lladdr", macString(l.sMAC), "dev", l.aIf)
	l.sensor.Nft(fmt.Sprintf(`
table inet dsnflogdrop {
	chain in {
		type filter hook input priority 0; policy accept;
		ip saddr 10.99.%d.2 udp dport { %d, %d } drop
	}
}`, octet, overloadPort, overloadSentinel))

	p := &pacer{rate: overloadReadRate}
	store := &slowStore{rate: overloadStoreRate}
	counters := source.NewCounters(fmt.Sprintf("nflog:%d", l.group))
	// Threshold 64: datagrams of at most 64 packets keep the pace (applied
	// per datagram) fine-grained enough to calibrate in about a second; the
	// default lets the kernel fill 64 KiB datagrams of several hundred.
	n, err := New(Config{Group: l.group, NetNS: int(l.nsFile.Fd()), Sensor: "lab-sensor", RcvBuf: 64 << 10, Threshold: 64},
		counters, testLogger(), withReadPace(p.pace))
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan source.Batch, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	storeDone := make(chan struct{})
	go func() { store.run(out); close(storeDone) }()
	go func() { errc <- n.Run(ctx, out) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
		store.fast.Store(true)
		close(out)
		<-storeDone
	}()
	l.waitBound(t)

	snd := &udpSender{fd: udpSocketIn(t, l.attacker), dst: [4]byte{10, 99, octet, 1}}
	testStart := time.Now()

	// 1. Calibrate: offer three times the nominal read rate and measure what
	// the reader actually absorbs once the socket buffer is full.
	calib := make(chan error, 1)
	go func() {
		_, err := snd.send(overloadPort, 3*overloadReadRate, overloadCalibrate)
		calib <- err
	}()
	time.Sleep(overloadCalibrate / 3)
	r0, t0 := p.read.Load(), time.Now()
	if err := <-calib; err != nil {
		t.Fatal(err)
	}
	absorb := float64(p.read.Load()-r0) / time.Since(t0).Seconds()
	t.Logf("calibration: reader absorbs %.0f packets/s (paced at %d)", absorb, overloadReadRate)
	if absorb < overloadReadRate/4 || absorb > 1.05*overloadReadRate {
		t.Fatalf("reader absorbs %.0f packets/s, paced at %d: the pacing seam does not work", absorb, overloadReadRate)
	}

	// 2. Steady overload at twice the measured capacity, sampled at its
	// middle so both halves can be checked for loss.
	type sample struct {
		at       time.Time
		nft      uint64
		read     uint64
		overrun  uint64
		queue    uint64
		enobufs  uint64
		received uint64
	}
	take := func() sample {
		s := counters.Snapshot()
		return sample{time.Now(), l.counter(t, "logged4"), p.read.Load(), s.Lost[source.LostKernelOverrun],
			s.Lost[source.LostQueueFull], n.Overruns(), s.Received}
	}
	// Twice the capacity: the pace is the ceiling of what the reader can
	// absorb (a loaded machine only lowers it, which only raises the ratio
	// checked below), so a calibration that ran slow does not weaken the
	// overload.
	rate := 2 * max(absorb, overloadReadRate)
	mid := make(chan sample, 1)
	go func() {
		time.Sleep(overloadDuration / 2)
		mid <- take()
	}()
	s0 := take()
	sent, err := snd.send(overloadPort, rate, overloadDuration)
	if err != nil {
		t.Fatal(err)
	}
	s2 := take()
	s1 := <-mid
	secs := s2.at.Sub(s0.at).Seconds()
	offered := float64(s2.nft-s0.nft) / secs
	absorbed := float64(s2.read-s0.read) / secs
	t.Logf("overload: sent %d at %.0f/s for %v; nft %.0f/s, reader absorbed %.0f/s (%.2fx); "+
		"kernel_overrun +%d (first half +%d), queue_full +%d (first half +%d), ENOBUFS +%d",
		sent, rate, overloadDuration, offered, absorbed, offered/absorbed,
		s2.overrun-s0.overrun, s1.overrun-s0.overrun, s2.queue-s0.queue, s1.queue-s0.queue, s2.enobufs-s0.enobufs)
	if offered < 1.5*absorbed {
		t.Fatalf("offered %.0f packets/s is not an overload of a reader absorbing %.0f/s", offered, absorbed)
	}
	// Losses of both kinds in both halves: a steady overload, not one burst.
	// (A kernel loss is counted when the next message after the gap is read:
	// the reader reads all the time here.)
	for _, h := range []struct {
		name string
		a, b sample
	}{{"first", s0, s1}, {"second", s1, s2}} {
		if h.b.overrun == h.a.overrun || h.b.enobufs == h.a.enobufs {
			t.Errorf("%s half of the overload: no kernel_overrun loss (+%d) or ENOBUFS (+%d)",
				h.name, h.b.overrun-h.a.overrun, h.b.enobufs-h.a.enobufs)
		}
		if h.b.queue == h.a.queue {
			t.Errorf("%s half of the overload: no queue_full loss", h.name)
		}
	}

	// 3. Recovery: wait until the reader and the store are idle, then one
	// sentinel must be stored.
	quiet, last := 0, counters.Snapshot()
	for deadline := time.Now().Add(15 * time.Second); quiet < 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("reader never went idle after the overload: %+v", counters.Snapshot())
		}
		s := counters.Snapshot()
		if s.Received == last.Received && s.Stored == last.Stored && len(out) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		last = s
	}
	sentinelIndex := snd.next
	if k, err := snd.send(overloadSentinel, 1000, time.Millisecond); err != nil || k != 1 {
		t.Fatalf("sentinel: sent %d: %v", k, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if evs := store.snapshot(); len(evs) > 0 && evs[len(evs)-1].DstPort == overloadSentinel {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel never stored after the overload: %+v", counters.Snapshot())
		}
	}
	time.Sleep(300 * time.Millisecond)

	// 4. The equation, exactly: nft = received = stored + lost.
	nft := l.counter(t, "logged4")
	events := store.snapshot()
	s := counters.Snapshot()
	stored := uint64(len(events))
	overrun, queue := s.Lost[source.LostKernelOverrun], s.Lost[source.LostQueueFull]
	t.Logf("total: sender %d, nft %d = received %d; stored %d + kernel_overrun %d + queue_full %d = %d; ENOBUFS %d; %.1fs",
		snd.next, nft, s.Received, stored, overrun, queue, stored+overrun+queue, n.Overruns(), time.Since(testStart).Seconds())
	if stored+overrun+queue != nft {
		t.Fatalf("stored %d + kernel_overrun %d + queue_full %d = %d, nft counted %d (off by %d)",
			stored, overrun, queue, stored+overrun+queue, nft, int64(stored+overrun+queue)-int64(nft))
	}
	if s.Received != nft || s.Stored != stored || !s.Balanced() || s.Ignored != 0 || s.RejectedTotal() != 0 || len(s.Lost) != 2 {
		t.Fatalf("counters %+v; nft %d, stored %d", s, nft, stored)
	}
	if nft > uint64(snd.next) {
		t.Fatalf("nft counted %d packets, the sender sent only %d", nft, snd.next)
	}

	// 5. What was stored is what was sent, in order, each datagram once:
	// losses are whole packets, never duplicates or corruption.
	attacker := netip.AddrFrom4([4]byte{10, 99, octet, 2})
	prev := int64(-1)
	for i, e := range events {
		pl := e.PayloadPrefix()
		if e.Src != attacker || e.Proto != event.ProtoUDP || len(pl) != 8 || binary.BigEndian.Uint32(pl[4:]) != overloadMagic {
			t.Fatalf("event %d is not one of the test's datagrams: %v %v>%v:%d payload %x", i, e.Proto, e.Src, e.Dst, e.DstPort, pl)
		}
		idx := int64(binary.BigEndian.Uint32(pl[:4]))
		if idx <= prev {
			t.Fatalf("event %d carries datagram %d after datagram %d: reordered or duplicated", i, idx, prev)
		}
		prev = idx
		if want := uint16(overloadPort); idx == int64(sentinelIndex) {
			want = overloadSentinel
			if e.DstPort != want || i != len(events)-1 {
				t.Fatalf("sentinel is event %d of %d, port %d", i, len(events), e.DstPort)
			}
		} else if e.DstPort != want {
			t.Fatalf("event %d (datagram %d) to port %d", i, idx, e.DstPort)
		}
	}
}
