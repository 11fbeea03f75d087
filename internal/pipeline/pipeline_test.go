package pipeline

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

type memStore struct {
	mu       sync.Mutex
	events   []event.Event
	offs     map[string]source.Offset
	failNext int
	counters []source.Snapshot
	sizes    []int // events per Append call
}

func (m *memStore) Append(_ context.Context, evs []event.Event, offs []source.Offset) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failNext > 0 {
		m.failNext--
		return errors.New("disk full")
	}
	m.events = append(m.events, evs...)
	m.sizes = append(m.sizes, len(evs))
	if m.offs == nil {
		m.offs = map[string]source.Offset{}
	}
	for _, o := range offs {
		m.offs[o.Key] = o
	}
	return nil
}

func (m *memStore) SaveCounters(_ context.Context, s []source.Snapshot) error {
	m.mu.Lock()
	m.counters = s
	m.mu.Unlock()
	return nil
}

// genSource sends n events in batches of bs, with an offset per batch.
type genSource struct {
	name  string
	n, bs int
	c     *source.Counters
}

func (g *genSource) Name() string { return g.name }
func (g *genSource) Run(ctx context.Context, out chan<- source.Batch) error {
	sent := 0
	for sent < g.n {
		evs := source.NewEvents()
		for i := 0; i < g.bs && sent < g.n; i++ {
			var e event.Event
			e.Src = netip.AddrFrom4([4]byte{10, 0, byte(sent >> 8), byte(sent)})
			e.DstPort = uint16(sent)
			e.Source = g.name
			evs = append(evs, e)
			sent++
		}
		b := source.Batch{Counters: g.c, Events: evs, Offset: &source.Offset{Key: g.name, Offset: int64(sent)}}
		select {
		case out <- b:
			g.c.AddReceived(uint64(len(evs)))
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

func TestCountsBalanceAndOffsets(t *testing.T) {
	reg := source.NewRegistry()
	st := &memStore{}
	p, err := New(Config{QueueBatches: 4, FlushInterval: 10 * time.Millisecond, MaxBatch: 1000}, st, nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &genSource{name: "a", n: 5000, bs: 300, c: reg.Get("a")}
	b := &genSource{name: "b", n: 777, bs: 50, c: reg.Get("b")}
	p.Go(context.Background(), a)
	p.Go(context.Background(), b)
	if err := p.RunUntilDone(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(st.events) != 5777 {
		t.Fatalf("stored %d events, want 5777", len(st.events))
	}
	for _, s := range reg.Snapshots() {
		if !s.Balanced() {
			t.Errorf("%s not balanced: %+v", s.Source, s)
		}
	}
	if st.offs["a"].Offset != 5000 || st.offs["b"].Offset != 777 {
		t.Errorf("offsets = %+v", st.offs)
	}
	if len(st.counters) != 2 || st.counters[0].Stored != 5000 {
		t.Errorf("counters not persisted at the end: %+v", st.counters)
	}
}

// TestWritesAtMostMaxBatch checks the writer flushes before a source batch
// would take a write past MaxBatch (source batches of 300, MaxBatch 1000:
// writes of 900, never 1200), and stores everything in order.
func TestWritesAtMostMaxBatch(t *testing.T) {
	reg := source.NewRegistry()
	st := &memStore{}
	p, err := New(Config{QueueBatches: 64, FlushInterval: time.Hour, MaxBatch: 1000}, st, nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Go(context.Background(), &genSource{name: "a", n: 5000, bs: 300, c: reg.Get("a")})
	if err := p.RunUntilDone(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(st.events) != 5000 {
		t.Fatalf("stored %d events, want 5000", len(st.events))
	}
	for i, e := range st.events {
		if e.DstPort != uint16(i) {
			t.Fatalf("event %d has port %d: order lost", i, e.DstPort)
		}
	}
	for _, n := range st.sizes {
		if n > 1000 {
			t.Errorf("a write of %d events, more than MaxBatch 1000 (writes %v)", n, st.sizes)
		}
	}
	if len(st.sizes) < 5 {
		t.Errorf("%d writes for 5000 events with MaxBatch 1000: %v", len(st.sizes), st.sizes)
	}
}

func TestStoreErrorCountedAsLost(t *testing.T) {
	reg := source.NewRegistry()
	st := &memStore{failNext: 1}
	p, _ := New(Config{QueueBatches: 1, FlushInterval: time.Hour, MaxBatch: 100}, st, nil, reg, nil)
	p.Go(context.Background(), &genSource{name: "a", n: 250, bs: 100, c: reg.Get("a")})
	err := p.RunUntilDone(context.Background())
	if err == nil {
		t.Fatal("store failure not reported")
	}
	s := reg.Get("a").Snapshot()
	if s.Lost[source.LostStoreError] != 100 || s.Stored != 150 || !s.Balanced() {
		t.Errorf("counters = %+v", s)
	}
	if st.offs["a"].Offset != 250 {
		t.Errorf("offset after recovery = %+v", st.offs["a"])
	}
}

// blocking source sends until cancelled; shutdown must drain what was queued.
func TestShutdownDrains(t *testing.T) {
	reg := source.NewRegistry()
	st := &memStore{}
	p, _ := New(Config{QueueBatches: 8, FlushInterval: time.Hour, MaxBatch: 1 << 20}, st, nil, reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	p.Go(ctx, &genSource{name: "a", n: 1 << 30, bs: 64, c: reg.Get("a")})
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown hung")
	}
	s := reg.Get("a").Snapshot()
	if s.Stored == 0 || s.Stored != uint64(len(st.events)) || !s.Balanced() {
		t.Errorf("after shutdown: stored %d of received %d (in store %d)", s.Stored, s.Received, len(st.events))
	}
}

func BenchmarkPipeline(b *testing.B) {
	reg := source.NewRegistry()
	st := &nullStore{}
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		p, _ := New(Config{QueueBatches: 64, FlushInterval: time.Second, MaxBatch: 65536}, st, nil, reg, nil)
		p.Go(context.Background(), &genSource{name: "a", n: 200000, bs: source.BatchSize, c: reg.Get("a")})
		if err := p.RunUntilDone(context.Background()); err != nil {
			b.Fatal(err)
		}
		total += 200000
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}

type nullStore struct{}

func (nullStore) Append(context.Context, []event.Event, []source.Offset) error { return nil }
func (nullStore) SaveCounters(context.Context, []source.Snapshot) error        { return nil }

func TestSyncBarrier(t *testing.T) {
	reg := source.NewRegistry()
	st := &memStore{}
	p, _ := New(Config{QueueBatches: 8, FlushInterval: time.Hour, MaxBatch: 1 << 20}, st, nil, reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	res := p.Go(ctx, &genSource{name: "a", n: 1000, bs: 100, c: reg.Get("a")})
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	n := len(st.events)
	st.mu.Unlock()
	if n != 1000 || reg.Get("a").Snapshot().Stored != 1000 {
		t.Errorf("after Sync: %d events in store, counters %+v", n, reg.Get("a").Snapshot())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// everyTenth emits one alert per ten events it sees.
type everyTenth struct{ seen int }

func (d *everyTenth) ObserveBatch(evs []event.Event, emit func(event.Event)) {
	for range evs {
		d.seen++
		if d.seen%10 == 0 {
			emit(event.Event{Kind: event.KindAlert})
		}
	}
}

func TestDetectStageAlertsStored(t *testing.T) {
	reg := source.NewRegistry()
	st := &memStore{}
	d := &everyTenth{}
	p, _ := New(Config{QueueBatches: 4, FlushInterval: 10 * time.Millisecond, MaxBatch: 300, Detect: d}, st, nil, reg, nil)
	p.Go(context.Background(), &genSource{name: "a", n: 1000, bs: 64, c: reg.Get("a")})
	if err := p.RunUntilDone(context.Background()); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, e := range st.events {
		if e.Kind == event.KindAlert {
			alerts++
		}
	}
	s := reg.Get("a").Snapshot()
	if d.seen != 1000 || alerts != 100 || len(st.events) != 1100 || s.Stored != 1000 || !s.Balanced() {
		t.Errorf("seen %d, alerts stored %d, events %d, counters %+v", d.seen, alerts, len(st.events), s)
	}
}

// alertBurst emits every alert of a burst on the event numbered burstAt,
// and one alert per ten events otherwise (so 1200 events give 119 + burst).
type alertBurst struct{ seen, burstAt, burst int }

func (d *alertBurst) ObserveBatch(evs []event.Event, emit func(event.Event)) {
	for range evs {
		d.seen++
		switch {
		case d.seen == d.burstAt:
			for range d.burst {
				emit(event.Event{Kind: event.KindAlert, Sensor: "burst"})
			}
		case d.seen%10 == 0:
			emit(event.Event{Kind: event.KindAlert})
		}
	}
}

// TestAlertsShareTheEventsAppend: a buffer's alerts ride in the events'
// Append while they fit in alertRoom; a burst larger than that is
// committed first in its own Append. Nothing is lost or doubled either way.
func TestAlertsShareTheEventsAppend(t *testing.T) {
	reg := source.NewRegistry()
	st := &memStore{}
	const maxBatch = 400 // alertRoom 100
	d := &alertBurst{burstAt: 500, burst: 150}
	p, _ := New(Config{QueueBatches: 4, FlushInterval: time.Hour, MaxBatch: maxBatch, Detect: d}, st, nil, reg, nil)
	p.Go(context.Background(), &genSource{name: "a", n: 1200, bs: 100, c: reg.Get("a")})
	if err := p.RunUntilDone(context.Background()); err != nil {
		t.Fatal(err)
	}
	alerts, burst, alertOnly := 0, 0, 0
	for _, e := range st.events {
		switch {
		case e.Sensor == "burst":
			burst++
		case e.Kind == event.KindAlert:
			alerts++
		}
	}
	// Appends of alerts alone: the burst's buffer only.
	at := 0
	for _, n := range st.sizes {
		only := true
		for _, e := range st.events[at : at+n] {
			only = only && e.Kind == event.KindAlert
		}
		if only {
			alertOnly++
		}
		at += n
	}
	s := reg.Get("a").Snapshot()
	if alerts != 119 || burst != 150 || len(st.events) != 1469 || s.Stored != 1200 || !s.Balanced() {
		t.Errorf("alerts %d, burst %d, events %d, counters %+v", alerts, burst, len(st.events), s)
	}
	if alertOnly != 1 || len(st.sizes) != 4 {
		t.Errorf("appends %v (%d of alerts alone), want 4 with one of alerts alone", st.sizes, alertOnly)
	}
	if p.AlertsLost() != 0 {
		t.Errorf("alerts lost %d", p.AlertsLost())
	}
}

// slowStore holds its first Append until the detect stage has seen events
// of a later write (or a timeout passes), so it tells whether detection
// overlaps the commit.
type slowStore struct {
	memStore
	later      chan struct{}
	overlapped bool
	calls      int
}

func (s *slowStore) Append(ctx context.Context, evs []event.Event, offs []source.Offset) error {
	s.calls++
	if s.calls == 1 {
		select {
		case <-s.later:
			s.overlapped = true
		case <-time.After(5 * time.Second):
		}
	}
	return s.memStore.Append(ctx, evs, offs)
}

// signalAfter closes later once it has observed n events.
type signalAfter struct {
	n, seen int
	later   chan struct{}
}

func (d *signalAfter) ObserveBatch(evs []event.Event, _ func(event.Event)) {
	d.seen += len(evs)
	if d.seen >= d.n && d.later != nil {
		close(d.later)
		d.later = nil
	}
}

// TestDetectOverlapsCommit checks the detect stage works on the next write
// while the store commits the previous one, and nothing is lost or
// reordered on the way.
func TestDetectOverlapsCommit(t *testing.T) {
	reg := source.NewRegistry()
	later := make(chan struct{})
	st := &slowStore{later: later}
	d := &signalAfter{n: 600, later: later} // the first write holds 500 events
	p, err := New(Config{QueueBatches: 8, FlushInterval: time.Hour, MaxBatch: 500, Detect: d}, st, nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Go(context.Background(), &genSource{name: "a", n: 2000, bs: 100, c: reg.Get("a")})
	if err := p.RunUntilDone(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !st.overlapped {
		t.Error("the detect stage saw no event of a later write while the first write was being committed")
	}
	if len(st.events) != 2000 {
		t.Fatalf("stored %d events, want 2000", len(st.events))
	}
	for i, e := range st.events {
		if e.DstPort != uint16(i) {
			t.Fatalf("event %d has port %d: order lost", i, e.DstPort)
		}
	}
	if s := reg.Get("a").Snapshot(); s.Stored != 2000 || !s.Balanced() || st.offs["a"].Offset != 2000 {
		t.Errorf("counters %+v, offset %+v", s, st.offs["a"])
	}
}

// idleSource sends nothing until cancelled.
type idleSource struct{}

func (idleSource) Name() string { return "idle" }
func (idleSource) Run(ctx context.Context, _ chan<- source.Batch) error {
	<-ctx.Done()
	return nil
}

// TestCountersSavedWhileIdle checks the counters are persisted every
// CountersEvery even when no event flows (reports read them from the store).
func TestCountersSavedWhileIdle(t *testing.T) {
	reg := source.NewRegistry()
	reg.Get("idle").AddReceived(0)
	st := &memStore{}
	p, err := New(Config{FlushInterval: 10 * time.Millisecond, CountersEvery: 20 * time.Millisecond}, st, nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Go(ctx, idleSource{})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st.mu.Lock()
		n := len(st.counters)
		st.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no counters saved within 5s while idle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(st.sizes) != 0 {
		t.Errorf("idle pipeline wrote %v", st.sizes)
	}
}
