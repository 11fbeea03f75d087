package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Ipsets adds, deletes and lists elements of the run-time sets of the
// iptables variant (the ipsets darkscope-allow4, darkscope-block4, …) over
// netlink (the ipset protocol of nfnetlink, github.com/mdlayher/netlink),
// without the ipset tool. It has the methods of Sets, so the respond stage
// and the block commands take either. Each Add lists the set first, to
// refuse a prefix that overlaps another element (hash:net would take it,
// table inet darkscope does not). The kernel counts ipset timeouts in
// whole seconds: a timeout is rounded up to the next second, and since
// ipset keeps only the time left, List reports that as both Timeout and
// Expires. Ipsets is safe for concurrent use.
type Ipsets struct {
	setsNS
	mu sync.Mutex
}

// NewIpsets returns Ipsets for the caller's network namespace, or the one
// named by WithSetsNetNS / WithSetsNetNSFd. It does not require the sets
// to exist yet.
func NewIpsets(logger *slog.Logger, opts ...SetsOption) (*Ipsets, error) {
	ns, err := openSetsNS(logger, opts)
	if err != nil {
		return nil, err
	}
	return &Ipsets{setsNS: ns}, nil
}

// errNoElement marks the kernel's IPSET_ERR_EXIST on delete.
var errNoElement = errors.New("no such element")

// execute sends one ipset request and returns the replies.
func (s *Ipsets) execute(ctx context.Context, msg netlink.Message) ([]netlink.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: s.nsFd})
	if err != nil {
		return nil, fmt.Errorf("ipset netlink: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	return c.Execute(msg)
}

// explainIpset adds what to do to the kernel errors users hit.
func explainIpset(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case unix.ENOENT:
		return fmt.Errorf("%w (%w)", ErrNoIpsets, err)
	case unix.EPERM:
		return fmt.Errorf("%w (changing ipsets needs CAP_NET_ADMIN: run as root)", err)
	case ipsetErrExist:
		return fmt.Errorf("%w (ipset error %d)", errNoElement, int(errno))
	case ipsetErrHashFull:
		return fmt.Errorf("the set is full: its size cap is rules --set-size (ipset error %d)", int(errno))
	}
	if errno >= 4096 {
		return fmt.Errorf("ipset error %d (linux/netfilter/ipset/ip_set.h)", int(errno))
	}
	return err
}

// Add puts p into the kind's ipset with a timeout (0: until deleted or the
// set is destroyed), rounded up to whole seconds, and a comment. Adding
// an element that is already there sets its timeout and comment anew.
// Adding a prefix that overlaps another element fails, as with Sets; ipset
// cannot hold /0.
func (s *Ipsets) Add(ctx context.Context, kind SetKind, p netip.Prefix, timeout time.Duration, comment string) error {
	p, err := CheckElementPrefix(p)
	if err != nil {
		return fmt.Errorf("add to %s set: %w", kind, err)
	}
	if p.Bits() == 0 {
		return fmt.Errorf("add %s to %s set: an ipset hash:net cannot hold /0", p, kind)
	}
	secs, err := ipsetTimeout(timeout)
	if err != nil {
		return fmt.Errorf("add %s to %s set: %w", p, kind, err)
	}
	name, err := IpsetName(kind, p.Addr().Is6())
	if err != nil {
		return err
	}
	attrs, err := encodeIpsetElement(name, p, secs, ipsetComment(comment), true)
	if err != nil {
		return fmt.Errorf("add %s to set %s: %w", p, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	present, err := s.list(ctx, name, p.Addr().Is6())
	if err != nil {
		return fmt.Errorf("add %s: %w", p, err)
	}
	for _, e := range present {
		if e.Prefix != p && e.Prefix.Overlaps(p) {
			return fmt.Errorf("add %s to set %s: overlaps element %s (`darkscope %s del %s` first)", p, name, e.Prefix, kind, e.Prefix)
		}
	}
	// Without NLM_F_EXCL the kernel adds with -exist: an element already
	// there gets the new timeout and comment.
	if _, err := s.execute(ctx, ipsetMessage(ipsetCmdAdd, netlink.Request|netlink.Acknowledge, attrs)); err != nil {
		return fmt.Errorf("add %s to set %s: %w", p, name, explainIpset(err))
	}
	s.logger.Debug("ipset element added", "set", name, "prefix", p.String(), "timeout", timeout)
	return nil
}

// Del removes p from the kind's ipset. p must be an element as listed;
// deleting an absent element fails.
func (s *Ipsets) Del(ctx context.Context, kind SetKind, p netip.Prefix) error {
	p, err := CheckElementPrefix(p)
	if err != nil {
		return fmt.Errorf("delete from %s set: %w", kind, err)
	}
	if p.Bits() == 0 {
		return fmt.Errorf("delete %s from %s set: %w", p, kind, errNoElement)
	}
	name, err := IpsetName(kind, p.Addr().Is6())
	if err != nil {
		return err
	}
	attrs, err := encodeIpsetElement(name, p, 0, "", false)
	if err != nil {
		return fmt.Errorf("delete %s from set %s: %w", p, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// NLM_F_EXCL: an absent element is an error (IPSET_ERR_EXIST), as `ipset del` without -exist.
	if _, err := s.execute(ctx, ipsetMessage(ipsetCmdDel, netlink.Request|netlink.Acknowledge|netlink.Excl, attrs)); err != nil {
		return fmt.Errorf("delete %s from set %s: %w", p, name, explainIpset(err))
	}
	s.logger.Debug("ipset element deleted", "set", name, "prefix", p.String())
	return nil
}

// List returns the elements of the kind's IPv4 and IPv6 ipsets, sorted
// (IPv4 first), with the time each has left (whole seconds) as Timeout and
// Expires; 0 for elements without a timeout.
func (s *Ipsets) List(ctx context.Context, kind SetKind) ([]Element, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Element
	for _, v6 := range []bool{false, true} {
		name, err := IpsetName(kind, v6)
		if err != nil {
			return nil, err
		}
		els, err := s.list(ctx, name, v6)
		if err != nil {
			return nil, fmt.Errorf("list %s set: %w", kind, err)
		}
		out = append(out, els...)
	}
	return out, nil
}

func (s *Ipsets) list(ctx context.Context, name string, v6 bool) ([]Element, error) {
	attrs, err := encodeIpsetList(name)
	if err != nil {
		return nil, err
	}
	msgs, err := s.execute(ctx, ipsetMessage(ipsetCmdList, netlink.Request|netlink.Dump, attrs))
	if err != nil {
		return nil, fmt.Errorf("list set %s: %w", name, explainIpset(err))
	}
	var out []Element
	for _, m := range msgs {
		els, err := decodeIpsetList(m.Data, v6)
		if err != nil {
			return nil, fmt.Errorf("list set %s: %w", name, err)
		}
		out = append(out, els...)
	}
	sortElements(out)
	return out, nil
}
