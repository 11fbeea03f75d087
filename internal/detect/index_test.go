package detect

import (
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstMap drives the source index through random inserts,
// lookups and deletions (with small tables, so probe runs wrap around and
// deletions shift entries back) and checks every answer against a Go map.
func TestIndexAgainstMap(t *testing.T) {
	g, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		hi, lo uint64
		agg    bool
	}
	ref := map[key]int32{}
	r := rand.New(rand.NewPCG(1, 2))
	// At most 600 keys, so the table stays at minIndexSize entries; 300 of
	// them hash to its last 8 or first 8 entries, so probe runs wrap around
	// the end and deletions shift entries across it.
	var keys []key
	hot := 0
	for len(keys) < 600 {
		// Few distinct hi values: aggregates and addresses share them.
		k := key{hi: uint64(r.IntN(300)), lo: r.Uint64() & 0xffff, agg: r.IntN(4) == 0}
		if k.agg {
			k.lo = 0
		}
		home := keyHash(k.hi, k.lo, k.agg) & (minIndexSize - 1)
		if home >= minIndexSize-8 || home < 8 {
			if hot < 300 {
				hot++
				keys = append(keys, k)
			}
		} else if len(keys)-hot < 300 {
			keys = append(keys, k)
		}
	}
	for step := 0; step < 200_000; step++ {
		k := keys[r.IntN(len(keys))]
		i, ok := g.find(k.hi, k.lo, k.agg)
		want, wok := ref[k]
		if ok != wok || ok && i != want {
			t.Fatalf("step %d: find(%v) = %d, %v; want %d, %v", step, k, i, ok, want, wok)
		}
		switch {
		case !ok:
			i = g.touch(k.hi, k.lo, k.agg, int64(step), nilIdx)
			ref[k] = i
		case r.IntN(2) == 0:
			g.drop(i)
			delete(ref, k)
		}
		if g.idxN != len(ref) || g.used != len(ref) || len(g.idx) != minIndexSize {
			t.Fatalf("step %d: index holds %d in %d entries, engine %d, want %d in %d", step, g.idxN, len(g.idx), g.used, len(ref), minIndexSize)
		}
	}
	for k, want := range ref {
		if i, ok := g.find(k.hi, k.lo, k.agg); !ok || i != want {
			t.Fatalf("final find(%v) = %d, %v; want %d", k, i, ok, want)
		}
	}
}
