// Package decode holds the pure parsers of the flow's first stage: raw packet
// headers, kernel LOG lines, syslog framing and ulogd JSON, each turning bytes
// into a typed event.Event without allocating on the common path.
package decode

// Interner returns one shared string per distinct byte sequence, so that the
// few distinct log prefixes, interface and host names of a stream are
// allocated once instead of per event. It is not safe for concurrent use;
// each parser owns one. It stops adding after max entries (a hostile stream
// of unique names then costs one allocation each, never unbounded memory).
type Interner struct {
	m   map[string]string
	max int
}

// NewInterner returns an Interner holding at most max strings (0 means 4096).
func NewInterner(max int) *Interner {
	if max <= 0 {
		max = 4096
	}
	return &Interner{m: make(map[string]string), max: max}
}

// Intern returns a string equal to b.
func (in *Interner) Intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.m[string(b)]; ok { // no allocation: the compiler optimises this lookup
		return s
	}
	s := string(b)
	if len(in.m) < in.max {
		in.m[s] = s
	}
	return s
}
