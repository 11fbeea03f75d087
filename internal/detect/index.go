package detect

// The source index maps a source key (an address, or an IPv6 /64
// aggregate) to its slot. It is an open-addressing hash table with linear
// probing over a power-of-two array of uint64 entries, each the key's
// 32-bit hash (high half) and slot+1 (low half; 0 marks an empty entry).
// The key itself is compared in the slot, which the caller reads next
// anyway. The table is at most half full and deletion shifts the later
// entries of a probe run back, so there are no tombstones. It holds no
// pointers (the garbage collector never scans it) and costs 8 bytes an
// entry: 16-32 bytes a source, about half a Go map's, with one cache miss
// a lookup where a map takes two or three.

// minIndexSize is the smallest table (entries).
const minIndexSize = 1024

// keyHash hashes a source key; aggregates hash apart from addresses.
func keyHash(hi, lo uint64, agg bool) uint32 {
	if agg {
		lo = 0x9e3779b97f4a7c15
	}
	return uint32(mix64(hi^mix64(lo)) >> 32)
}

func (g *Engine) slotHash(s *srcState) uint32 { return keyHash(s.hi, s.lo, s.flags&fAgg != 0) }

// find returns the slot of a key.
func (g *Engine) find(hi, lo uint64, agg bool) (int32, bool) {
	if len(g.idx) == 0 {
		return nilIdx, false
	}
	h := keyHash(hi, lo, agg)
	m := uint64(len(g.idx) - 1)
	for p := uint64(h) & m; ; p = (p + 1) & m {
		e := g.idx[p]
		if e == 0 {
			return nilIdx, false
		}
		if uint32(e>>32) != h {
			continue
		}
		i := int32(uint32(e)) - 1
		if s := g.at(i); s.hi == hi && s.lo == lo && (s.flags&fAgg != 0) == agg {
			return i, true
		}
	}
}

// index adds slot i, whose key is set and not yet in the index.
func (g *Engine) index(i int32) {
	if 2*(g.idxN+1) > len(g.idx) {
		g.growIndex()
	}
	g.place(uint64(g.slotHash(g.at(i)))<<32 | uint64(uint32(i+1)))
	g.idxN++
}

func (g *Engine) place(e uint64) {
	m := uint64(len(g.idx) - 1)
	p := (e >> 32) & m
	for g.idx[p] != 0 {
		p = (p + 1) & m
	}
	g.idx[p] = e
}

func (g *Engine) growIndex() {
	old := g.idx
	g.idx = make([]uint64, max(minIndexSize, 2*len(old)))
	for _, e := range old {
		if e != 0 {
			g.place(e)
		}
	}
}

// unindex removes slot i (still holding its key) from the index.
func (g *Engine) unindex(i int32) {
	m := uint64(len(g.idx) - 1)
	want := uint64(uint32(i + 1))
	p := uint64(g.slotHash(g.at(i))) & m
	for g.idx[p]&0xffffffff != want {
		if g.idx[p] == 0 {
			return // not indexed
		}
		p = (p + 1) & m
	}
	// Shift back the entries of the run after p that may live at p.
	for j := (p + 1) & m; g.idx[j] != 0; j = (j + 1) & m {
		home := (g.idx[j] >> 32) & m
		// The entry at j stays when its home lies cyclically in (p, j].
		if p <= j && p < home && home <= j || p > j && (p < home || home <= j) {
			continue
		}
		g.idx[p] = g.idx[j]
		p = j
	}
	g.idx[p] = 0
	g.idxN--
}
