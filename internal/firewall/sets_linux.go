package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Sets adds, deletes and lists elements of the run-time sets of table inet
// darkscope over netlink (github.com/google/nftables), without the nft
// tool. Each call is one netlink batch; the IPv4 or IPv6 set of a kind is
// chosen from the prefix. Elements are intervals: a prefix is stored as its
// first address and the first address after it (an interval end), each
// with the element's timeout, exactly as `nft add element` stores it, so nft
// lists it as the prefix. Sets is safe for concurrent use.
type Sets struct {
	setsNS
	mu sync.Mutex
}

// NewSets returns Sets for the caller's network namespace, or the one named
// by an option. It does not require the table to exist yet.
func NewSets(logger *slog.Logger, opts ...SetsOption) (*Sets, error) {
	ns, err := openSetsNS(logger, opts)
	if err != nil {
		return nil, err
	}
	return &Sets{setsNS: ns}, nil
}

func (s *Sets) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if s.nsFd != 0 {
		opts = append(opts, nftables.WithNetNSFd(s.nsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables netlink: %w", err)
	}
	return c, nil
}

// explain adds what to do to the kernel errors users hit.
func explain(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w (%w)", ErrNoTable, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w (changing nftables sets needs CAP_NET_ADMIN: run as root)", err)
	}
	return err
}

// set looks up the kind's set for the address family of p.
func (s *Sets) set(c *nftables.Conn, kind SetKind, v6 bool) (*nftables.Set, error) {
	name, err := kind.SetName(v6)
	if err != nil {
		return nil, err
	}
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	set, err := c.GetSetByName(t, name)
	if err != nil {
		return nil, fmt.Errorf("find set inet %s %s: %w", Table, name, explain(err))
	}
	if !set.Interval || !set.HasTimeout {
		return nil, fmt.Errorf("set inet %s %s lacks flags interval,timeout: `darkscope rules --remove` and apply again", Table, name)
	}
	return set, nil
}

func elementsFor(p netip.Prefix, timeout time.Duration, comment string) []nftables.SetElement {
	start, end, open := bounds(p)
	if len(comment) > MaxElementComment {
		comment = comment[:MaxElementComment]
	}
	els := []nftables.SetElement{{Key: start, Timeout: timeout, Comment: comment}}
	if !open {
		els = append(els, nftables.SetElement{Key: end, IntervalEnd: true}) // the kernel refuses a timeout or comment on an end
	}
	return els
}

// Add puts p into the kind's set with a timeout (0: until deleted or the
// table is removed). The kernel counts the timeout in milliseconds. Adding
// a prefix that overlaps an element already in the set fails.
func (s *Sets) Add(ctx context.Context, kind SetKind, p netip.Prefix, timeout time.Duration, comment string) error {
	p, err := CheckElementPrefix(p)
	if err != nil {
		return fmt.Errorf("add to %s set: %w", kind, err)
	}
	if timeout < 0 || (timeout > 0 && timeout < time.Millisecond) {
		return fmt.Errorf("add %s to %s set: timeout %s: want 0 (none) or at least 1ms", p, kind, timeout)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.conn()
	if err != nil {
		return err
	}
	set, err := s.set(c, kind, p.Addr().Is6())
	if err != nil {
		return fmt.Errorf("add %s: %w", p, err)
	}
	if p.Bits() < p.Addr().BitLen() {
		if err := checkOverlap(c, set, kind, p); err != nil {
			return err
		}
	}
	if err := c.SetAddElements(set, elementsFor(p, timeout, comment)); err != nil {
		return fmt.Errorf("add %s to set %s: %w", p, set.Name, err)
	}
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add %s to set %s: overlaps an element already in the set (`darkscope %s list`): %w", p, set.Name, kind, err)
		}
		return fmt.Errorf("add %s to set %s: %w", p, set.Name, explain(err))
	}
	s.logger.Debug("set element added", "set", set.Name, "prefix", p.String(), "timeout", timeout)
	return nil
}

// checkOverlap refuses a range that overlaps an element other than
// itself. The kernel refuses a single address inside a range, but takes a
// range that contains elements when they share its end, which would leave
// a start without an end (open to the top of the address space) once the
// range is deleted. nft checks ranges in user space, and so do we; the
// cost is one dump of the set (about 18 ms per 1,000 elements).
func checkOverlap(c *nftables.Conn, set *nftables.Set, kind SetKind, p netip.Prefix) error {
	raw, err := c.GetSetElements(set)
	if err != nil {
		return fmt.Errorf("add %s: list set %s: %w", p, set.Name, explain(err))
	}
	present, err := pairIntervals(raw, p.Addr().Is6())
	if err != nil {
		return fmt.Errorf("add %s: list set %s: %w", p, set.Name, err)
	}
	for _, e := range present {
		if e.Prefix != p && e.Prefix.Overlaps(p) {
			return fmt.Errorf("add %s to set %s: overlaps element %s (`darkscope %s del %s` first)", p, set.Name, e.Prefix, kind, e.Prefix)
		}
	}
	return nil
}

// Del removes p from the kind's set. p must be an element as listed (not a
// part of one); deleting an absent element fails.
func (s *Sets) Del(ctx context.Context, kind SetKind, p netip.Prefix) error {
	p, err := CheckElementPrefix(p)
	if err != nil {
		return fmt.Errorf("delete from %s set: %w", kind, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.conn()
	if err != nil {
		return err
	}
	set, err := s.set(c, kind, p.Addr().Is6())
	if err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	if err := c.SetDeleteElements(set, elementsFor(p, 0, "")); err != nil {
		return fmt.Errorf("delete %s from set %s: %w", p, set.Name, err)
	}
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete %s from set %s: no such element: %w", p, set.Name, err)
		}
		return fmt.Errorf("delete %s from set %s: %w", p, set.Name, explain(err))
	}
	s.logger.Debug("set element deleted", "set", set.Name, "prefix", p.String())
	return nil
}

// List returns the elements of the kind's IPv4 and IPv6 sets, sorted, with
// the time each has left as the kernel reports it. A range that is not one
// prefix (nft merges adjacent elements added by hand) is listed as the
// prefixes that cover it, each with the range's timeout.
func (s *Sets) List(ctx context.Context, kind SetKind) ([]Element, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	var out []Element
	for _, v6 := range []bool{false, true} {
		set, err := s.set(c, kind, v6)
		if err != nil {
			return nil, fmt.Errorf("list %s set: %w", kind, err)
		}
		raw, err := c.GetSetElements(set)
		if err != nil {
			return nil, fmt.Errorf("list set %s: %w", set.Name, explain(err))
		}
		els, err := pairIntervals(raw, v6)
		if err != nil {
			return nil, fmt.Errorf("list set %s: %w", set.Name, err)
		}
		out = append(out, els...)
	}
	return out, nil
}

// pairIntervals turns the kernel's interval elements (starts and ends, in
// any order) into prefixes.
func pairIntervals(raw []nftables.SetElement, v6 bool) ([]Element, error) {
	size, ver := 4, 4
	if v6 {
		size, ver = 16, 6
	}
	raw = slices.Clone(raw)
	slices.SortStableFunc(raw, func(a, b nftables.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		// At the same key an end closes the previous range before a start opens the next.
		switch {
		case a.IntervalEnd && !b.IntervalEnd:
			return -1
		case !a.IntervalEnd && b.IntervalEnd:
			return 1
		}
		return 0
	})
	var out []Element
	for i := 0; i < len(raw); i++ {
		e := raw[i]
		if e.IntervalEnd {
			continue // the end of the range before, or the kernel's 0.0.0.0 end marker
		}
		if len(e.Key) != size {
			return nil, fmt.Errorf("element key of %d bytes in an IPv%d set", len(e.Key), ver)
		}
		start, _ := netip.AddrFromSlice(e.Key)
		// The range ends at its end element or, as nft reads it, where the
		// next range starts (two starts may share one end); only the last
		// start without an end runs to the top of the address space.
		var end netip.Addr
		if i+1 < len(raw) {
			end, _ = netip.AddrFromSlice(raw[i+1].Key)
			if raw[i+1].IntervalEnd {
				i++
			}
		}
		for _, p := range rangePrefixes(start, end) {
			el := Element{Prefix: p, Timeout: e.Timeout, Expires: e.Expires, Comment: e.Comment}
			if el.Timeout == 0 {
				el.Expires = 0
			}
			out = append(out, el)
		}
	}
	return out, nil
}
