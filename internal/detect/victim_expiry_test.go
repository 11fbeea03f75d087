package detect

import (
	"math/rand/v2"
	"testing"
)

// TestExpireVictimsMatchesScan: the victim heap forgets exactly the victims
// a walk over all of them would (end below the cutoff), with victims seen
// again after they were queued and event times out of order.
func TestExpireVictimsMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	g := &Engine{victims: map[[2]uint64]*victim{}}
	ref := map[[2]uint64]int64{} // the end a full walk would see
	now, expired := int64(0), 0
	for step := range 50000 {
		now += r.Int64N(1000)
		k := [2]uint64{0, r.Uint64N(700)}
		at := now - r.Int64N(3000)
		v := g.victims[k]
		if v == nil {
			v = &victim{start: at, end: at}
			g.victims[k] = v
			g.vdue.push(victimDue{end: at, k: k, v: v})
		}
		v.end = max(v.end, at)
		if end, ok := ref[k]; !ok || at > end {
			ref[k] = at
		}
		if step%37 != 0 {
			continue
		}
		cutoff := now - 40000
		g.expireVictims(cutoff)
		for k, end := range ref {
			if end < cutoff {
				delete(ref, k)
				expired++
			}
		}
		if len(g.victims) != len(ref) || len(g.vdue) != len(g.victims) {
			t.Fatalf("step %d: %d victims, %d queued, want %d", step, len(g.victims), len(g.vdue), len(ref))
		}
		for k, end := range ref {
			if v := g.victims[k]; v == nil || v.end != end {
				t.Fatalf("step %d: victim %v: %+v, want end %d", step, k, v, end)
			}
		}
		for i := 1; i < len(g.vdue); i++ {
			if g.vdue[(i-1)/2].end > g.vdue[i].end {
				t.Fatalf("step %d: heap order broken at %d", step, i)
			}
		}
	}
	if expired < 1000 {
		t.Fatalf("only %d expiries: the test did not exercise expiry", expired)
	}
}
