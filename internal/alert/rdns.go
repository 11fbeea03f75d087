package alert

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DialFunc dials a network address; it is the seam for the resolver's
// connections (tests dial into a network namespace).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// RDNSCounters counts reverse DNS lookups.
type RDNSCounters struct {
	Lookups  uint64 `json:"lookups"`   // asked of the resolver
	CacheHit uint64 `json:"cache_hit"` // answered from the cache
	NoName   uint64 `json:"no_name"`   // the resolver said the address has no name
	Failed   uint64 `json:"failed"`    // timeouts and other errors (not cached)
}

// Resolver looks up the PTR name of addresses through one resolver with a
// timeout, and keeps answers in an LRU cache whose entries expire after a
// TTL. It is safe for concurrent use.
type Resolver struct {
	r       *net.Resolver
	timeout time.Duration
	ttl     time.Duration
	max     int
	now     func() time.Time

	mu    sync.Mutex
	lru   *list.List // of *rdnsEntry, most recent at the front
	items map[netip.Addr]*list.Element

	lookups, hits, noName, failed atomic.Uint64
}

type rdnsEntry struct {
	addr    netip.Addr
	name    string // "" = no name
	expires time.Time
	fwd     int8 // forward confirmation of name: 0 not asked, 1 confirmed, -1 not
}

// NewResolver returns a resolver for cfg. server "" uses the system
// resolver configuration; dial nil uses a net.Dialer.
func NewResolver(cfg RDNSConfig, dial DialFunc, now func() time.Time) (*Resolver, error) {
	if cfg.Timeout <= 0 || cfg.CacheTTL < 0 || cfg.CacheMax <= 0 {
		return nil, fmt.Errorf("rdns: timeout and cache_max must be > 0, cache_ttl >= 0 (got %v, %d, %v)", cfg.Timeout, cfg.CacheMax, cfg.CacheTTL)
	}
	if now == nil {
		now = time.Now
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	r := &net.Resolver{PreferGo: true}
	if cfg.Server != "" {
		if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
			return nil, fmt.Errorf("rdns: server %q: %w", cfg.Server, err)
		}
		server := cfg.Server
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial(ctx, network, server)
		}
	} else {
		r.Dial = dial
	}
	return &Resolver{
		r: r, timeout: cfg.Timeout, ttl: cfg.CacheTTL, max: cfg.CacheMax, now: now,
		lru: list.New(), items: map[netip.Addr]*list.Element{},
	}, nil
}

// Lookup returns the first PTR name of a without the trailing dot, "" when
// the address has no name. Errors (timeouts, an unreachable resolver) are
// returned and not cached, so the next alert asks again.
func (r *Resolver) Lookup(ctx context.Context, a netip.Addr) (string, error) {
	a = a.Unmap()
	now := r.now()
	r.mu.Lock()
	if el, ok := r.items[a]; ok {
		e := el.Value.(*rdnsEntry)
		if now.Before(e.expires) {
			r.lru.MoveToFront(el)
			r.mu.Unlock()
			r.hits.Add(1)
			return e.name, nil
		}
		r.lru.Remove(el)
		delete(r.items, a)
	}
	r.mu.Unlock()

	r.lookups.Add(1)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	names, err := r.r.LookupAddr(ctx, a.String())
	name := ""
	switch {
	case err == nil && len(names) > 0:
		name = strings.TrimSuffix(names[0], ".")
	case err == nil, isNotFound(err):
		r.noName.Add(1)
	default:
		r.failed.Add(1)
		return "", fmt.Errorf("reverse dns %s: %w", a, err)
	}
	r.put(a, name, r.now().Add(r.ttl))
	return name, nil
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func (r *Resolver) put(a netip.Addr, name string, expires time.Time) {
	if r.ttl == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.items[a]; ok {
		el.Value = &rdnsEntry{addr: a, name: name, expires: expires}
		r.lru.MoveToFront(el)
		return
	}
	r.items[a] = r.lru.PushFront(&rdnsEntry{addr: a, name: name, expires: expires})
	for r.lru.Len() > r.max {
		old := r.lru.Back()
		r.lru.Remove(old)
		delete(r.items, old.Value.(*rdnsEntry).addr)
	}
}

// Confirmed reports whether name (the PTR name Lookup returned for a)
// resolves forward to a — forward-confirmed reverse DNS, since anyone who
// controls a reverse zone can claim any name. The answer is cached with
// the PTR entry; errors are returned and not cached.
func (r *Resolver) Confirmed(ctx context.Context, a netip.Addr, name string) (bool, error) {
	a = a.Unmap()
	if name == "" {
		return false, nil
	}
	r.mu.Lock()
	if el, ok := r.items[a]; ok {
		if e := el.Value.(*rdnsEntry); e.name == name && e.fwd != 0 {
			r.mu.Unlock()
			return e.fwd > 0, nil
		}
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ips, err := r.r.LookupNetIP(ctx, "ip", name)
	ok := false
	switch {
	case err == nil:
		for _, ip := range ips {
			if ip.Unmap() == a {
				ok = true
			}
		}
	case isNotFound(err):
	default:
		r.failed.Add(1)
		return false, fmt.Errorf("forward dns %s: %w", name, err)
	}
	r.mu.Lock()
	if el, found := r.items[a]; found {
		if e := el.Value.(*rdnsEntry); e.name == name {
			e.fwd = -1
			if ok {
				e.fwd = 1
			}
		}
	}
	r.mu.Unlock()
	return ok, nil
}

// Len is the number of cached addresses.
func (r *Resolver) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}

// Counters returns the lookup counters.
func (r *Resolver) Counters() RDNSCounters {
	return RDNSCounters{Lookups: r.lookups.Load(), CacheHit: r.hits.Load(), NoName: r.noName.Load(), Failed: r.failed.Load()}
}
