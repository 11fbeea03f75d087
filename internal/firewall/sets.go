package firewall

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"time"
)

// SetKind names one pair of run-time sets in table inet darkscope (an IPv4
// and an IPv6 set); Sets picks the member of the pair from each prefix.
type SetKind int

// The run-time sets.
const (
	Allow    SetKind = iota // allow4/allow6: never blocked or redirected
	Block                   // block4/block6: dropped in chain block
	Redirect                // redirect4/redirect6: SSH goes to the honeypot
)

// String returns "allow", "block" or "redirect".
func (k SetKind) String() string {
	switch k {
	case Allow:
		return "allow"
	case Block:
		return "block"
	case Redirect:
		return "redirect"
	}
	return fmt.Sprintf("SetKind(%d)", int(k))
}

// ParseSetKind is the inverse of SetKind.String.
func ParseSetKind(s string) (SetKind, error) {
	for _, k := range []SetKind{Allow, Block, Redirect} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("set kind %q: want allow, block or redirect", s)
}

// SetName returns the name of the kind's set for IPv4 (v6 false) or IPv6.
func (k SetKind) SetName(v6 bool) (string, error) {
	names := map[SetKind][2]string{
		Allow:    {SetAllow4, SetAllow6},
		Block:    {SetBlock4, SetBlock6},
		Redirect: {SetRedirect4, SetRedirect6},
	}
	n, ok := names[k]
	if !ok {
		return "", fmt.Errorf("unknown set kind %d", int(k))
	}
	if v6 {
		return n[1], nil
	}
	return n[0], nil
}

// Element is one member of a run-time set as the kernel reports it.
type Element struct {
	Prefix  netip.Prefix  `json:"prefix"`
	Timeout time.Duration `json:"timeout"` // 0: the element never expires
	Expires time.Duration `json:"expires"` // time left before the kernel removes it (0 with no timeout)
	Comment string        `json:"comment,omitempty"`
}

// ErrNoTable is returned (wrapped) when table inet darkscope or one of its
// run-time sets does not exist in the network namespace.
var ErrNoTable = errors.New("table inet " + Table + " or its sets are missing: run `darkscope rules --apply` first")

// MaxElementComment is the longest element comment kept (longer ones are
// cut); nft's own limit for comments is 128 bytes.
const MaxElementComment = 128

// SetsOption configures NewSets.
type SetsOption func(*setsConfig)

type setsConfig struct {
	nsPath string
	nsFd   int
}

// WithSetsNetNS makes Sets work in the network namespace bound at path (for
// example /var/run/netns/NAME) instead of the caller's; tests use it.
func WithSetsNetNS(path string) SetsOption { return func(c *setsConfig) { c.nsPath = path } }

// WithSetsNetNSFd makes Sets work in the network namespace of an open file
// descriptor (owned by the caller, which keeps it open while Sets is used).
func WithSetsNetNSFd(fd int) SetsOption { return func(c *setsConfig) { c.nsFd = fd } }

// CheckElementPrefix returns p in the form the sets store it (IPv4-mapped
// IPv6 unmapped), or an error for a prefix that is invalid, zoned or has
// host bits set.
func CheckElementPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, errors.New("invalid prefix")
	}
	a := p.Addr()
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("prefix %s: zones are not allowed", p)
	}
	if a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("prefix %s: IPv4-mapped IPv6 shorter than /96", p)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("prefix %s has host bits set (did you mean %s?)", p, p.Masked())
	}
	return p, nil
}

// ParseElementPrefix reads an address (a /32 or /128) or a prefix.
func ParseElementPrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return CheckElementPrefix(p)
}

// bounds returns the interval-set keys of p: its first address and the
// first address after it (end exclusive). open is true when p reaches the
// top of the address space, where there is no end key.
func bounds(p netip.Prefix) (start, end []byte, open bool) {
	first := p.Addr()
	start = first.AsSlice()
	n := new(big.Int).SetBytes(start)
	n.Add(n, new(big.Int).Lsh(big.NewInt(1), uint(first.BitLen()-p.Bits())))
	size := len(start)
	if n.BitLen() > size*8 {
		return start, nil, true
	}
	end = make([]byte, size)
	n.FillBytes(end)
	return start, end, false
}

// rangePrefixes splits [start, end) into the fewest CIDR prefixes; end
// invalid means "to the top of the address space". Sets filled by hand
// (nft merges adjacent elements) may hold ranges that are not one prefix.
func rangePrefixes(start, end netip.Addr) []netip.Prefix {
	bits := start.BitLen()
	lo := new(big.Int).SetBytes(start.AsSlice())
	var hi *big.Int // exclusive
	if end.IsValid() {
		hi = new(big.Int).SetBytes(end.AsSlice())
	} else {
		hi = new(big.Int).Lsh(big.NewInt(1), uint(bits))
	}
	var out []netip.Prefix
	buf := make([]byte, bits/8)
	for lo.Cmp(hi) < 0 {
		// Largest aligned block at lo that fits below hi.
		size := 0
		for size < bits {
			if lo.Bit(size) != 0 {
				break
			}
			next := new(big.Int).Add(lo, new(big.Int).Lsh(big.NewInt(1), uint(size+1)))
			if next.Cmp(hi) > 0 {
				break
			}
			size++
		}
		lo.FillBytes(buf)
		a, _ := netip.AddrFromSlice(buf)
		out = append(out, netip.PrefixFrom(a, bits-size))
		lo.Add(lo, new(big.Int).Lsh(big.NewInt(1), uint(size)))
	}
	return out
}
