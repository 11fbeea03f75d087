package detect

import "math"

// hllP is the precision of the host-count sketch: 2^hllP one-byte registers
// (1 KiB). Below about 2.5·2^hllP distinct hosts the estimate uses linear
// counting, which is within about 1% at psad's sweep thresholds (10..500);
// above it the standard error is 1.04/sqrt(2^hllP) ≈ 3.3%.
const hllP = 10

const hllM = 1 << hllP

// hll is a HyperLogLog sketch of 64-bit hashes.
type hll struct {
	reg [hllM]uint8
}

// add records x and reports whether the sketch changed.
func (h *hll) add(x uint64) bool {
	i := x >> (64 - hllP)
	w := x<<hllP | 1<<(hllP-1) // guard bit keeps the rank bounded
	r := uint8(1)
	for w&(1<<63) == 0 {
		r++
		w <<= 1
	}
	if r > h.reg[i] {
		h.reg[i] = r
		return true
	}
	return false
}

func (h *hll) estimate() uint64 {
	sum := 0.0
	zeros := 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	m := float64(hllM)
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return uint64(e + 0.5)
}

// mix64 is the splitmix64 finaliser: a fast, well-spread 64-bit hash step.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
