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

// portSet is a set of 16-bit ports: a sorted array while small (at most
// portSetArrayMax entries, 1 KiB), then a bitmap of 8 KiB. The zero value is
// an empty set.
type portSet struct {
	a  []uint16
	bm *[1024]uint64
	n  uint32 // cardinality
}

// add inserts p and reports whether it was new.
func (s *portSet) add(p uint16) bool {
	if s.bm != nil {
		w, b := p>>6, uint64(1)<<(p&63)
		if s.bm[w]&b != 0 {
			return false
		}
		s.bm[w] |= b
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
	s.bm = new([1024]uint64)
	for _, p := range s.a {
		s.bm[p>>6] |= 1 << (p & 63)
	}
	s.a = nil
}

// has reports whether p is in the set.
func (s *portSet) has(p uint16) bool {
	if s.bm != nil {
		return s.bm[p>>6]&(1<<(p&63)) != 0
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
	if s.bm != nil {
		return bitmapBytes
	}
	return 2 * cap(s.a)
}

// each calls f for every port in ascending order.
func (s *portSet) each(f func(uint16)) {
	if s.bm != nil {
		for w, x := range s.bm {
			for x != 0 {
				t := bits.TrailingZeros64(x)
				f(uint16(w<<6 | t))
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
