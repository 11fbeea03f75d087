package nflog

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// fakeKernel answers config requests with acks (or an error for the bind)
// and then plays scripted datagrams: each step is either messages or an
// error, one per receive.
type fakeKernel struct {
	mu       sync.Mutex
	requests []netlink.Message
	bindErr  error
	steps    []fakeStep
}

type fakeStep struct {
	msgs []netlink.Message
	err  error
}

func (k *fakeKernel) fn(req []netlink.Message) ([]netlink.Message, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(req) > 0 {
		k.requests = append(k.requests, req...)
		if k.bindErr != nil && len(k.requests) == 1 {
			return nltest.Error(int(k.bindErr.(unix.Errno)), req)
		}
		var acks []netlink.Message
		for _, r := range req {
			hb, _ := r.MarshalBinary()
			acks = append(acks, netlink.Message{
				Header: netlink.Header{Type: netlink.Error, Sequence: r.Header.Sequence, PID: nltest.PID},
				Data:   append(make([]byte, 4), hb[:16]...),
			})
		}
		return acks, nil
	}
	if len(k.steps) == 0 {
		return nil, io.EOF
	}
	s := k.steps[0]
	k.steps = k.steps[1:]
	return s.msgs, s.err
}

func (k *fakeKernel) done() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.steps) == 0
}

type keptRejects struct {
	mu sync.Mutex
	r  []source.Rejected
}

func (k *keptRejects) Keep(r source.Rejected) {
	k.mu.Lock()
	k.r = append(k.r, r)
	k.mu.Unlock()
}

// runFake runs the source against k until every step is played, and
// returns the events it sent. With a nil out the source gets a channel
// nobody reads (a full pipeline queue).
func runFake(t *testing.T, k *fakeKernel, cfg Config, out chan source.Batch, opts ...Option) (*NFLOG, []event.Event, *source.Counters, error) {
	t.Helper()
	counters := source.NewCounters("nflog:test")
	opts = append([]Option{
		withDial(func(int) (*netlink.Conn, error) { return nltest.Dial(k.fn), nil }),
		withIfname(func(i uint32) (string, error) { return map[uint32]string{3: "eth0", 7: "veth7"}[i], nil }),
		withNow(func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }),
	}, opts...)
	n, err := New(cfg, counters, testLogger(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	if out == nil {
		go func() { errc <- n.Run(ctx, make(chan source.Batch)) }()
	} else {
		go func() { errc <- n.Run(ctx, out) }()
	}
	var events []event.Event
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-errc:
			return n, events, counters, err
		case b := <-out:
			events = append(events, b.Events...)
			counters.AddStored(uint64(len(b.Events)))
			continue
		case <-deadline:
			t.Fatal("source did not play every step in 10 s")
		case <-time.After(50 * time.Millisecond):
		}
		if k.done() {
			time.Sleep(100 * time.Millisecond) // let the last datagram reach a batch
			for len(out) > 0 {
				b := <-out
				events = append(events, b.Events...)
				counters.AddStored(uint64(len(b.Events)))
			}
			cancel()
			err := <-errc
			for len(out) > 0 {
				b := <-out
				events = append(events, b.Events...)
				counters.AddStored(uint64(len(b.Events)))
			}
			return n, events, counters, err
		}
	}
}

func TestConfigMessages(t *testing.T) {
	k := &fakeKernel{}
	cfg := Config{Group: 4242, CopyRange: 512, Threshold: 200, FlushTimeout: 250 * time.Millisecond, NLBufSize: 96 << 10, Sensor: "s1"}
	_, _, _, err := runFake(t, k, cfg, make(chan source.Batch, 8))
	if err != nil {
		t.Fatal(err)
	}
	if len(k.requests) != 2 {
		t.Fatalf("%d config requests, want 2 (bind, parameters)", len(k.requests))
	}
	type cfgMsg struct {
		Type   netlink.HeaderType
		Flags  netlink.HeaderFlags
		Family uint8
		Group  uint16
		Attrs  map[uint16][]byte
	}
	var got []cfgMsg
	for _, r := range k.requests {
		ad, err := netlink.NewAttributeDecoder(r.Data[4:])
		if err != nil {
			t.Fatal(err)
		}
		m := cfgMsg{Type: r.Header.Type, Flags: r.Header.Flags, Family: r.Data[0], Group: binary.BigEndian.Uint16(r.Data[2:4]), Attrs: map[uint16][]byte{}}
		for ad.Next() {
			m.Attrs[ad.Type()] = ad.Bytes()
		}
		got = append(got, m)
	}
	rq := netlink.Request | netlink.Acknowledge
	want := []cfgMsg{
		{Type: 0x0401, Flags: rq, Family: 0, Group: 4242, Attrs: map[uint16][]byte{
			1: {1}, // NFULA_CFG_CMD: NFULNL_CFG_CMD_BIND
		}},
		{Type: 0x0401, Flags: rq, Family: 0, Group: 4242, Attrs: map[uint16][]byte{
			2: {0, 0, 2, 0, 2, 0}, // NFULA_CFG_MODE: copy range 512 (be32), NFULNL_COPY_PACKET
			3: {0, 1, 0x80, 0},    // NFULA_CFG_NLBUFSIZ 98304
			4: {0, 0, 0, 25},      // NFULA_CFG_TIMEOUT 25/100 s
			5: {0, 0, 0, 200},     // NFULA_CFG_QTHRESH
			6: {0, 1},             // NFULA_CFG_FLAGS: NFULNL_CFG_F_SEQ (be16)
		}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("config messages (-want +got):\n%s", d)
	}
}

func TestBindErrors(t *testing.T) {
	for _, tc := range []struct {
		errno unix.Errno
		want  string
		perm  bool
	}{
		{unix.EPERM, "already bound by another process", true},
		{unix.EOPNOTSUPP, "modprobe nfnetlink_log", false},
	} {
		k := &fakeKernel{bindErr: tc.errno}
		_, _, _, err := runFake(t, k, Config{Group: 9, Sensor: "s"}, make(chan source.Batch, 1))
		want := tc.want
		if tc.errno == unix.EPERM && !hasCapNetAdmin() {
			want = "needs CAP_NET_ADMIN"
		}
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nflog group 9") {
			t.Fatalf("bind %v: error %v, want one saying %q", tc.errno, err, want)
		}
		var p *source.Permanent
		if errors.As(err, &p) != tc.perm {
			t.Fatalf("bind %v: permanent = %v, want %v", tc.errno, !tc.perm, tc.perm)
		}
	}
}

// TestDecodeMessages plays crafted kernel datagrams built from real captured
// packets and checks the events, the loss accounting from sequence gaps and
// ENOBUFS, and the rejected and ignored counts.
func TestDecodeMessages(t *testing.T) {
	pk, _ := capturedPackets(t)
	ts := time.Date(2026, 11, 23, 10, 0, 1, 123456000, time.UTC)
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
	badIHL := append([]byte{0x44}, pk["tcp"][1:]...)
	arp := make([]byte, 28)
	const g = 7
	k := &fakeKernel{steps: []fakeStep{
		{msgs: []netlink.Message{
			tmsg{hwProto: 0x0800, hook: 0, ts: ts, in: 3, prefix: "darknet: ", seq: 0, hwType: 1, hwHeader: eth, payload: pk["tcp"], mark: 0x2a}.message(g),
			tmsg{hwProto: 0x0800, hook: 1, ts: ts, in: 7, prefix: "darknet: ", seq: 1, payload: pk["udp"]}.message(g),
			tmsg{hwProto: 0x0800, hook: 3, out: 3, prefix: "out", seq: 2, hasUID: true, uid: 1000, gid: 100, payload: pk["icmp"]}.message(g),
			{Header: netlink.Header{Type: netlink.Done}, Data: []byte{0, 0, 0, g}}, // the kernel ends a batch with NLMSG_DONE (no NLM_F_MULTI)
		}},
		{msgs: []netlink.Message{ // seq 3 and 4 were dropped by the kernel
			tmsg{family: 10, hwProto: 0x86dd, ts: ts, in: 3, prefix: "v6", seq: 5, payload: pk["tcp6"]}.message(g),
			tmsg{family: 7, hwProto: 0x0806, ts: ts, in: 3, seq: 6, payload: arp}.message(g),
			tmsg{hwProto: 0x0800, ts: ts, in: 3, seq: 7, payload: badIHL}.message(g),
			tmsg{hwProto: 0x0800, ts: ts, in: 3, seq: 8}.message(g), // no payload
		}},
		{err: unix.ENOBUFS},
		{msgs: []netlink.Message{ // 9 and 10 lost in the overrun
			tmsg{family: 10, hwProto: 0x86dd, hook: 0, ts: ts, in: 3, prefix: "v6", seq: 11, payload: pk["icmp6"]}.message(g),
		}},
	}}
	rej := &keptRejects{}
	n, events, counters, err := runFake(t, k, Config{Group: g, Sensor: "sensor1"}, make(chan source.Batch, 16), WithRejects(rej))
	if err != nil {
		t.Fatal(err)
	}
	// Expected events: the NFLOG metadata as crafted, the packet fields as
	// DecodeIP reads them (checked against tshark in package decode).
	mk := func(payload []byte, f func(e *event.Event)) event.Event {
		var e event.Event
		if err := decode.DecodeIP(payload, &e); err != nil {
			t.Fatal(err)
		}
		e.Kind, e.Sensor, e.Source, e.Group, e.Time = event.KindPacket, "sensor1", "nflog:7", g, ts
		f(&e)
		return e
	}
	want := []event.Event{
		mk(pk["tcp"], func(e *event.Event) {
			e.Hook, e.InIface, e.Prefix, e.EtherType, e.Mark, e.HasMark = event.HookPrerouting, "eth0", "darknet:", 0x0800, 0x2a, true
			e.MACDst, e.MACSrc, e.HasMAC = [6]byte{2, 0, 0, 0, 0, 2}, [6]byte{2, 0, 0, 0, 0, 1}, true
		}),
		mk(pk["udp"], func(e *event.Event) {
			e.Hook, e.InIface, e.Prefix, e.EtherType = event.HookInput, "veth7", "darknet:", 0x0800
		}),
		mk(pk["icmp"], func(e *event.Event) {
			e.Hook, e.OutIface, e.Prefix, e.EtherType = event.HookOutput, "eth0", "out", 0x0800
			e.UID, e.GID, e.HasUID = 1000, 100, true
			e.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) // no NFULA_TIMESTAMP: read time
		}),
		mk(pk["tcp6"], func(e *event.Event) {
			e.Hook, e.InIface, e.Prefix, e.EtherType = event.HookPrerouting, "eth0", "v6", 0x86dd
		}),
		mk(pk["icmp6"], func(e *event.Event) {
			e.Hook, e.InIface, e.Prefix, e.EtherType = event.HookPrerouting, "eth0", "v6", 0x86dd
		}),
	}
	if d := cmp.Diff(want, events, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Fatalf("events (-want +got):\n%s", d)
	}
	s := counters.Snapshot()
	wantSnap := source.Snapshot{
		Source: "nflog:test", Received: 12, Stored: 5, Ignored: 1,
		Rejected: map[string]uint64{"bad_ihl": 1, ReasonNoPayload: 1},
		Lost:     map[string]uint64{source.LostKernelOverrun: 4},
	}
	if d := cmp.Diff(wantSnap, s); d != "" {
		t.Fatalf("counters (-want +got):\n%s", d)
	}
	if !s.Balanced() {
		t.Fatalf("counters not balanced: %+v", s)
	}
	if n.Overruns() != 1 {
		t.Fatalf("overruns = %d, want 1", n.Overruns())
	}
	if len(rej.r) != 2 || rej.r[0].Reason != "bad_ihl" || !strings.HasPrefix(rej.r[0].Raw, "44") || rej.r[0].Source != "nflog:7" {
		t.Fatalf("kept rejects: %+v", rej.r)
	}
}

// TestQueueFull: with nobody reading the pipeline, every batch is lost as
// queue_full and the counters still balance.
func TestQueueFull(t *testing.T) {
	pk, _ := capturedPackets(t)
	var msgs []netlink.Message
	for i := range 10 {
		msgs = append(msgs, tmsg{hwProto: 0x0800, seq: uint32(i), payload: pk["udp"]}.message(1))
	}
	k := &fakeKernel{steps: []fakeStep{{msgs: msgs[:4]}, {msgs: msgs[4:]}}}
	_, events, counters, err := runFake(t, k, Config{Group: 1, Sensor: "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := counters.Snapshot()
	if len(events) != 0 || s.Received != 10 || s.Lost[source.LostQueueFull] != 10 || !s.Balanced() {
		t.Fatalf("events %d, counters %+v: want 10 received, 10 lost to queue_full", len(events), s)
	}
}

func TestNewValidates(t *testing.T) {
	c := source.NewCounters("x")
	for _, cfg := range []Config{
		{CopyRange: 70000},
		{CopyRange: 20},
		{FlushTimeout: time.Millisecond},
		{NLBufSize: 1 << 20},
		{NLBufSize: 100},
		{RcvBuf: -1},
	} {
		if _, err := New(cfg, c, testLogger()); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	n, err := New(Config{Group: 3}, c, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if n.Name() != "nflog:3" || n.cfg.CopyRange != DefaultCopyRange || n.cfg.Threshold != DefaultThreshold ||
		n.cfg.FlushTimeout != DefaultFlushTimeout || n.cfg.RcvBuf != DefaultRcvBuf || n.cfg.NLBufSize != DefaultNLBufSize || n.cfg.Sensor == "" {
		t.Fatalf("defaults not applied: %+v", n.cfg)
	}
}

// TestReadPace: the pace seam is called once per datagram read, with the
// number of packet messages it held (not the NLMSG_DONE, not the packets a
// sequence gap says were lost), and never for a failed receive.
func TestReadPace(t *testing.T) {
	pk, _ := capturedPackets(t)
	msg := func(seq uint32) netlink.Message {
		return tmsg{hwProto: 0x0800, seq: seq, payload: pk["udp"]}.message(3)
	}
	k := &fakeKernel{steps: []fakeStep{
		{msgs: []netlink.Message{msg(0), msg(1), msg(2), {Header: netlink.Header{Type: netlink.Done}, Data: []byte{0, 0, 0, 3}}}},
		{err: unix.ENOBUFS},
		{msgs: []netlink.Message{msg(9)}}, // 3..8 lost
	}}
	var calls []int // Run calls pace in its own goroutine: read after Run returned
	_, events, counters, err := runFake(t, k, Config{Group: 3, Sensor: "s"}, make(chan source.Batch, 8),
		withReadPace(func(packets int) { calls = append(calls, packets) }))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int{3, 1}, calls); d != "" {
		t.Fatalf("pace calls (-want +got):\n%s", d)
	}
	if s := counters.Snapshot(); len(events) != 4 || s.Received != 10 || s.Lost[source.LostKernelOverrun] != 6 || !s.Balanced() {
		t.Fatalf("events %d, counters %+v", len(events), s)
	}
}
