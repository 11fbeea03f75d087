package nflog

import (
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/darkscope/darkscope/internal/source"
)

func newTestRun(t testing.TB, out chan source.Batch) (*runState, *source.Counters) {
	t.Helper()
	counters := source.NewCounters("nflog:7")
	n, err := New(Config{Group: 7, Sensor: "s"}, counters, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	return &runState{n: n, out: out, p: *testParser(), batch: source.NewEvents()}, counters
}

// drain takes every waiting batch, counts it stored and returns the count.
func drain(out chan source.Batch) int {
	n := 0
	for {
		select {
		case b := <-out:
			n += len(b.Events)
			b.Counters.AddStored(uint64(len(b.Events)))
			source.ReleaseEvents(b.Events)
		default:
			return n
		}
	}
}

// FuzzNflogDatagram feeds arbitrary datagrams to the reader: whatever they
// hold, the counters must balance once the batches are stored.
func FuzzNflogDatagram(f *testing.F) {
	_, all := capturedPackets(f)
	var msgs []netlink.Message
	for i, p := range all[:20] {
		msgs = append(msgs, tmsg{hwProto: 0x0800, seq: uint32(i * 2), payload: p}.message(7))
	}
	f.Add(datagram(msgs...))
	f.Add(datagram(msgs[:3]...)[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		out := make(chan source.Batch, 1024)
		r, counters := newTestRun(t, out)
		r.datagram(b, time.Unix(0, 0))
		r.flush()
		drain(out)
		if s := counters.Snapshot(); !s.Balanced() {
			t.Fatalf("counters do not balance: %+v", s)
		}
	})
}

// BenchmarkDatagram measures the reader's work per kernel datagram of 64
// NFLOG messages holding real captured packets: netlink and attribute
// parsing, DecodeIP, sequence accounting and batching.
func BenchmarkDatagram(b *testing.B) {
	_, all := capturedPackets(b)
	ts := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0}
	var msgs []netlink.Message
	for i := range 64 {
		msgs = append(msgs, tmsg{hwProto: 0x0800, ts: ts, in: 3, prefix: "darknet ", seq: uint32(i),
			hwType: 1, hwHeader: eth, payload: all[i%len(all)]}.message(7))
	}
	dg := datagram(msgs...)
	out := make(chan source.Batch, 64)
	r, counters := newTestRun(b, out)
	now := time.Now()
	events := 0
	b.ReportAllocs()
	for b.Loop() {
		r.seq.next = 0
		r.datagram(dg, now)
		if len(r.batch) > source.BatchSize-64 {
			r.flush()
			events += drain(out)
		}
	}
	r.flush()
	events += drain(out)
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	if s := counters.Snapshot(); !s.Balanced() || s.Rejected["bad_nflog_message"] != 0 {
		b.Fatalf("counters %+v", s)
	}
}
