package detect

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPortSetAgainstMap adds random ports to port sets of several sizes,
// so each passes through its forms (one inline port, sorted array, bitmap),
// and checks add, has, len, the ascending order of each, String's ranges
// and bytes against a plain map.
func TestPortSetAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 5, portSetArrayMax, portSetArrayMax + 1, 3000} {
		var s portSet
		ref := map[uint16]bool{}
		for k := 0; k < 2*n; k++ {
			p := uint16(r.IntN(4 * n))
			if k%3 == 0 {
				p = uint16(r.Uint32()) // anywhere, including the top word of the bitmap
			}
			if len(ref) >= n && !ref[p] {
				continue
			}
			if got, want := s.add(p), !ref[p]; got != want {
				t.Fatalf("n=%d: add(%d) = %v, want %v", n, p, got, want)
			}
			ref[p] = true
			if !s.has(p) || s.len() != len(ref) {
				t.Fatalf("n=%d: after add(%d): has %v, len %d, want %d", n, p, s.has(p), s.len(), len(ref))
			}
		}
		var want []uint16
		for p := range ref {
			want = append(want, p)
		}
		slices.Sort(want)
		if got := s.ports(); !slices.Equal(got, want) {
			t.Fatalf("n=%d: ports %v, want %v", n, got, want)
		}
		for p := 0; p < 65536; p += 7 {
			if s.has(uint16(p)) != ref[uint16(p)] {
				t.Fatalf("n=%d: has(%d) = %v", n, p, s.has(uint16(p)))
			}
		}
		var back portSet
		if !parsePortRanges(s.String(), &back) || !slices.Equal(back.ports(), want) {
			t.Fatalf("n=%d: String %q does not round-trip", n, s.String())
		}
		switch {
		case len(ref) == 1 && s.bytes() != 0:
			t.Errorf("one port holds %d heap bytes, want 0 (inline)", s.bytes())
		case len(ref) > portSetArrayMax && s.bytes() != bitmapBytes:
			t.Errorf("%d ports hold %d bytes, want the %d-byte bitmap", len(ref), s.bytes(), bitmapBytes)
		}
	}
}
