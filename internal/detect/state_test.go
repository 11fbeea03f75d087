package detect

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/darkscope/darkscope/internal/event"
)

// verdictLines renders every verdict as `darkscope scans --json --min-level 0` does.
func verdictLines(t testing.TB, g *Engine) []string {
	t.Helper()
	var out []string
	for _, v := range g.Verdicts(VerdictFilter{}) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func savedVersion(t testing.TB, b []byte) savedState {
	t.Helper()
	var hdr savedState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&hdr); err != nil {
		t.Fatal(err)
	}
	return hdr
}

// TestLoadStateV1 loads a version-1 state written by the darkscope binary
// of commit 4f10236 (testdata/state-v1/make.sh) and checks that it yields
// exactly that binary's `scans --json` over the same state, and that the
// state saved again in version 2 loads to the same verdicts and victims.
func TestLoadStateV1(t *testing.T) {
	old, err := os.ReadFile("testdata/state-v1/detect.state")
	if err != nil {
		t.Fatal(err)
	}
	if v := savedVersion(t, old).Version; v != 1 {
		t.Fatalf("fixture has version %d, want 1", v)
	}
	want, err := os.ReadFile("testdata/state-v1/scans.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	g := newEngine(t, nil)
	if err := g.Load(bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	got := verdictLines(t, g)
	if len(got) < 100 {
		t.Fatalf("only %d verdicts from the fixture", len(got))
	}
	wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
	if len(wantLines) != len(got) {
		t.Fatalf("%d verdicts from the loaded state, the old binary listed %d", len(got), len(wantLines))
	}
	// Compare the fields the old binary printed (fields added to Verdict
	// since then are not in the fixture).
	for i := range got {
		var w, g map[string]any
		if err := json.Unmarshal([]byte(wantLines[i]), &w); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(got[i]), &g); err != nil {
			t.Fatal(err)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				delete(g, k)
			}
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("verdict %d of the loaded version-1 state (-old binary +loaded):\n%s", i, diff)
		}
	}

	var buf bytes.Buffer
	if err := g.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if hdr := savedVersion(t, buf.Bytes()); hdr.Version != stateVersion || hdr.NSources != g.Stats().Sources {
		t.Fatalf("saved header %+v, want version %d with %d sources", hdr, stateVersion, g.Stats().Sources)
	}
	g2 := newEngine(t, nil)
	if err := g2.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, verdictLines(t, g2)); diff != "" {
		t.Errorf("v1 → v2 → load changed verdicts (-v1 +v2):\n%s", diff)
	}
	sortVictims := cmpopts.SortSlices(func(a, b Victim) bool { return a.Addr.Less(b.Addr) })
	if diff := cmp.Diff(g.Victims(), g2.Victims(), netipCmp, sortVictims); diff != "" {
		t.Errorf("v1 → v2 → load changed victims (-v1 +v2):\n%s", diff)
	}
}

// TestSaveLoadRoundTripMany saves and reloads an engine with many sources
// (IPv4, IPv6 aggregates, backscatter victims) and checks that the reloaded
// engine reports the same verdicts and victims and continues identically.
func TestSaveLoadRoundTripMany(t *testing.T) {
	evs := benchEvents(200_000, 2_000)
	first, second := evs[:150_000], evs[150_000:]
	g := newEngine(t, nil)
	emit := func(event.Event) {}
	for i := range first {
		g.Observe(&first[i], emit)
	}
	var buf bytes.Buffer
	if err := g.Save(&buf); err != nil {
		t.Fatal(err)
	}
	g2 := newEngine(t, nil)
	if err := g2.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	// StateBytes may differ: it counts slice capacities, and loaded slices are exact.
	if g.Stats().Sources != g2.Stats().Sources || g.Stats().Victims != g2.Stats().Victims {
		t.Fatalf("stats before %+v, after load %+v", g.Stats(), g2.Stats())
	}
	if diff := cmp.Diff(verdictLines(t, g), verdictLines(t, g2)); diff != "" {
		t.Fatalf("reloaded verdicts differ (-saved +loaded):\n%s", diff)
	}
	sortVictims := cmpopts.SortSlices(func(a, b Victim) bool { return a.Addr.Less(b.Addr) })
	if g.Stats().Victims == 0 {
		t.Fatal("no victims in the test state")
	}
	if diff := cmp.Diff(g.Victims(), g2.Victims(), netipCmp, sortVictims); diff != "" {
		t.Fatalf("reloaded victims differ (-saved +loaded):\n%s", diff)
	}
	var a1, a2 []*event.Alert
	for i := range second {
		g.Observe(&second[i], func(e event.Event) { a1 = append(a1, e.Alert) })
		g2.Observe(&second[i], func(e event.Event) { a2 = append(a2, e.Alert) })
	}
	end := second[len(second)-1].Time.Add(2 * g.cfg.ReportInterval)
	g.Advance(end, func(e event.Event) { a1 = append(a1, e.Alert) })
	g2.Advance(end, func(e event.Event) { a2 = append(a2, e.Alert) })
	if len(a1) == 0 {
		t.Fatal("no alerts after the reload point")
	}
	// Within one interval the order of alerts follows the dirty list, which
	// a reload rebuilds in recency order: compare them as sets.
	byKey := cmpopts.SortSlices(func(a, b *event.Alert) bool {
		if !a.IntervalEnd.Equal(b.IntervalEnd) {
			return a.IntervalEnd.Before(b.IntervalEnd)
		}
		return a.Prefix.Addr().Less(b.Prefix.Addr()) || a.Prefix.Addr() == b.Prefix.Addr() && a.Prefix.Bits() < b.Prefix.Bits()
	})
	if diff := cmp.Diff(a1, a2, netipCmp, byKey); diff != "" {
		t.Errorf("alerts after reload differ (-uninterrupted +reloaded):\n%s", diff)
	}
	// A truncated stream is an error, never a silently partial state.
	g3 := newEngine(t, nil)
	if err := g3.Load(bytes.NewReader(buf.Bytes()[:buf.Len()/2])); err == nil {
		t.Error("a truncated state loaded without error")
	}
}

// heapWriter discards what it is given and samples the live heap (after a
// GC) every step bytes, keeping the peak.
type heapWriter struct {
	n, next, step int64
	peak          uint64
}

func (w *heapWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if w.n >= w.next {
		w.next = w.n + w.step
		w.sample()
	}
	return len(p), nil
}

func (w *heapWriter) sample() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.peak = max(w.peak, ms.HeapAlloc)
}

// saveHeap fills an engine with nsrc sources and returns the growth of the
// live heap while Save runs, the bytes Save allocated in all, and the size
// of the saved state.
func saveHeap(t testing.TB, nsrc int) (peakGrowth, allocated uint64, size int64) {
	t.Helper()
	g := newEngine(t, nil)
	evs := benchEvents(2*nsrc, nsrc)
	emit := func(event.Event) {}
	for i := range evs {
		g.Observe(&evs[i], emit)
	}
	evs = nil
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	w := &heapWriter{step: 1 << 20}
	w.sample()
	base := w.peak
	if err := g.Save(bufio.NewWriterSize(w, 4096)); err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(g)
	return w.peak - min(base, w.peak), after.TotalAlloc - before.TotalAlloc, w.n
}

// TestSaveStreams checks that Save's memory does not grow with the number
// of sources: saving 400,000 sources (a state of tens of MB) may hold at
// most a few MiB more live heap than the engine itself, where building the
// whole saved state first (version 1) held about twice the state.
func TestSaveStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("fills an engine with 400,000 sources")
	}
	growth, alloc, size := saveHeap(t, 400_000)
	t.Logf("Save of 400k sources: %.1f MB written, live heap growth %.1f MiB, %.1f MiB allocated in all",
		float64(size)/1e6, float64(growth)/(1<<20), float64(alloc)/(1<<20))
	if size < 10<<20 {
		t.Fatalf("saved state is only %d bytes: the test state is too small to show anything", size)
	}
	if growth > 8<<20 {
		t.Errorf("live heap grew %d MiB during Save, want < 8 MiB (streamed)", growth>>20)
	}
}

// BenchmarkSave measures Save of 200,000 sources: sources/s and the growth
// of the live heap while it runs (peak-heap-MiB).
func BenchmarkSave(b *testing.B) {
	g := newEngine(b, nil)
	evs := benchEvents(400_000, 200_000)
	emit := func(event.Event) {}
	for i := range evs {
		g.Observe(&evs[i], emit)
	}
	n := g.Stats().Sources
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Save(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "sources/s")
	b.StopTimer()
	growth, _, size := saveHeap(b, 200_000)
	b.ReportMetric(float64(growth)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(size)/1e6, "state-MB")
}
