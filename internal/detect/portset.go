package detect

import (
	"math/bits"
	"slices"
	"strconv"
)

// portSetArrayMax is the largest sorted-array port set; one more port turns
// it into a 65536-bit bitmap (8 KiB). Below it a set costs 2 bytes a port.
const portSetArrayMax = 512

// bitmapBytes is the size of a port set in bitmap form.
const bitmapBytes = 65536 / 8

// bitmapWords is the length of a in bitmap form: 16 ports a word.
const bitmapWords = 65536 / 16

// portSet is a set of 16-bit ports: one port inline (no heap memory: most
// darknet sources probe one port), then a sorted array while small (at
// most portSetArrayMax entries, 1 KiB), then a bitmap of 8 KiB. The zero
// value is an empty set.
//
// It is 32 bytes: the bitmap lives in a as well (bitmapWords words).
type portSet struct {
	a   []uint16 // sorted ports, or the bitmap when bm
	n   uint32   // cardinality
	one uint16   // the port, while n == 1 and a is nil
	bm  bool     // a is a bitmap: bit p&15 of a[p>>4] is port p
}

// single reports whether the set is one inline port.
func (s *portSet) single() bool { return s.n == 1 && s.a == nil }

// add inserts p and reports whether it was new.
func (s *portSet) add(p uint16) bool {
	if s.n == 0 && s.a == nil {
		s.one, s.n = p, 1
		return true
	}
	if s.single() {
		if p == s.one {
			return false
		}
		s.a = make([]uint16, 1, 4)
		s.a[0] = s.one
		s.n = 1
	}
	if s.bm {
		w, b := p>>4, uint16(1)<<(p&15)
		if s.a[w]&b != 0 {
			return false
		}
		s.a[w] |= b
		s.n++
		return true
	}
	// Fast path: scans mostly walk ports upwards.
	if k := len(s.a); k > 0 && s.a[k-1] < p {
		if k < portSetArrayMax {
			s.a = append(s.a, p)
			s.n++
			return true
		}
	}
	i, found := slices.BinarySearch(s.a, p)
	if found {
		return false
	}
	if len(s.a) >= portSetArrayMax {
		s.toBitmap()
		return s.add(p)
	}
	s.a = slices.Insert(s.a, i, p)
	s.n++
	return true
}

func (s *portSet) toBitmap() {
	bm := make([]uint16, bitmapWords)
	for _, p := range s.a {
		bm[p>>4] |= 1 << (p & 15)
	}
	s.a, s.bm = bm, true
}

// has reports whether p is in the set.
func (s *portSet) has(p uint16) bool {
	if s.single() {
		return p == s.one
	}
	if s.bm {
		return s.a[p>>4]&(1<<(p&15)) != 0
	}
	_, ok := slices.BinarySearch(s.a, p)
	return ok
}

// len returns the number of ports.
func (s *portSet) len() int { return int(s.n) }

// reset empties the set and drops its memory.
func (s *portSet) reset() { *s = portSet{} }

// bytes is the heap memory the set holds.
func (s *portSet) bytes() int {
	if s.bm {
		return bitmapBytes
	}
	return 2 * cap(s.a)
}

// each calls f for every port in ascending order.
func (s *portSet) each(f func(uint16)) {
	if s.single() {
		f(s.one)
		return
	}
	if s.bm {
		for w, x := range s.a {
			for x != 0 {
				t := bits.TrailingZeros16(x)
				f(uint16(w<<4 | t))
				x &= x - 1
			}
		}
		return
	}
	for _, p := range s.a {
		f(p)
	}
}

// ports returns the ports in ascending order.
func (s *portSet) ports() []uint16 { return s.appendPorts(make([]uint16, 0, s.n)) }

// appendPorts appends the ports in ascending order to dst.
func (s *portSet) appendPorts(dst []uint16) []uint16 {
	s.each(func(p uint16) { dst = append(dst, p) })
	return dst
}

// String formats the set as a range list: "1-1024,3389"; "" when empty.
func (s *portSet) String() string {
	var b []byte
	first := true
	var lo, hi uint16
	flush := func() {
		if !first && len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(lo), 10)
		if hi != lo {
			b = append(b, '-')
			b = strconv.AppendUint(b, uint64(hi), 10)
		}
	}
	started := false
	s.each(func(p uint16) {
		if started && p == hi+1 {
			hi = p
			return
		}
		if started {
			flush()
			first = false
		}
		lo, hi, started = p, p, true
	})
	if started {
		flush()
	}
	return string(b)
}

// parsePortRanges is the inverse of portSet.String (used by state restore and tests).
func parsePortRanges(s string, into *portSet) bool {
	if s == "" {
		return true
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ',' {
			continue
		}
		part := s[start:i]
		start = i + 1
		lo, hi := part, part
		for j := 0; j < len(part); j++ {
			if part[j] == '-' {
				lo, hi = part[:j], part[j+1:]
				break
			}
		}
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || h < l {
			return false
		}
		for p := l; p <= h; p++ {
			into.add(uint16(p))
		}
	}
	return true
}
