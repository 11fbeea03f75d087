package tool

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

//go:embed benign.txt
var benignTxt []byte

// BenignEntry is one known research scanner range or PTR suffix.
type BenignEntry struct {
	Prefix netip.Prefix // valid for prefix entries
	Suffix string       // for rdns entries, lower case, with a leading dot
	Org    string
	Source string // public page documenting it
}

// Benign is a list of known research scanners.
type Benign struct {
	prefixes []BenignEntry
	suffixes []BenignEntry
}

// DefaultBenign parses the embedded benign.txt.
func DefaultBenign() (*Benign, error) { return ParseBenign(bytes.NewReader(benignTxt), "benign.txt") }

// ParseBenign reads the benign.txt format (see the file's header).
func ParseBenign(r io.Reader, file string) (*Benign, error) {
	b := &Benign{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		f := strings.Fields(s)
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: want kind value organisation source", file, line)
		}
		e := BenignEntry{Org: f[2], Source: f[3]}
		switch f[0] {
		case "prefix":
			p, err := netip.ParsePrefix(f[1])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, line, err)
			}
			e.Prefix = p.Masked()
			b.prefixes = append(b.prefixes, e)
		case "rdns":
			if !strings.HasPrefix(f[1], ".") || len(f[1]) < 3 {
				return nil, fmt.Errorf("%s:%d: rdns suffix %q must start with a dot", file, line, f[1])
			}
			e.Suffix = strings.ToLower(f[1])
			b.suffixes = append(b.suffixes, e)
		default:
			return nil, fmt.Errorf("%s:%d: unknown kind %q", file, line, f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return b, nil
}

// Lookup finds the entry whose prefix holds a.
func (b *Benign) Lookup(a netip.Addr) (BenignEntry, bool) {
	if k, ok := b.lookupIndex(a); ok {
		return b.prefixes[k], true
	}
	return BenignEntry{}, false
}

// lookupIndex returns the index in b.prefixes of the entry holding a.
func (b *Benign) lookupIndex(a netip.Addr) (int, bool) {
	a = a.Unmap()
	for k := range b.prefixes {
		if b.prefixes[k].Prefix.Contains(a) {
			return k, true
		}
	}
	return 0, false
}

// LookupName finds the entry whose PTR suffix ends host (a reverse DNS
// name; callers must have forward-confirmed it, since anyone can set a PTR).
func (b *Benign) LookupName(host string) (BenignEntry, bool) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, e := range b.suffixes {
		if strings.HasSuffix(h, e.Suffix) {
			return e, true
		}
	}
	return BenignEntry{}, false
}
