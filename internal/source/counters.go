package source

import (
	"maps"
	"sort"
	"sync"
	"sync/atomic"
)

// Loss reasons (Counters.Lost).
const (
	LostKernelOverrun = "kernel_overrun" // NFULA_SEQ gap or ENOBUFS on the netlink socket
	LostQueueFull     = "queue_full"     // the pipeline queue was full and the source cannot block
	LostStoreError    = "store_error"    // the store failed to write the batch
	LostUDPRcvbuf     = "udp_rcvbuf"     // syslog UDP receive buffer overflow (SO_RXQ_OVFL)
	LostKmsgGap       = "kmsg_gap"       // /dev/kmsg sequence numbers skipped (ring buffer overwritten)
)

// Counters is one source's accounting. Its invariant, once the pipeline has
// drained: received = stored + rejected + ignored + lost.
type Counters struct {
	name     string
	received atomic.Uint64
	stored   atomic.Uint64
	ignored  atomic.Uint64

	mu       sync.Mutex
	rejected map[string]uint64
	lost     map[string]uint64
}

// NewCounters returns zeroed counters for the named source.
func NewCounters(name string) *Counters {
	return &Counters{name: name, rejected: map[string]uint64{}, lost: map[string]uint64{}}
}

// Merge adds a snapshot's counts (counts saved before a restart, or those
// of a finished import) to c.
func (c *Counters) Merge(s Snapshot) {
	c.received.Add(s.Received)
	c.stored.Add(s.Stored)
	c.ignored.Add(s.Ignored)
	c.mu.Lock()
	for k, v := range s.Rejected {
		c.rejected[k] += v
	}
	for k, v := range s.Lost {
		c.lost[k] += v
	}
	c.mu.Unlock()
}

// Name is the source name the counters belong to.
func (c *Counters) Name() string { return c.name }

// AddReceived counts n units (lines, packets, messages) taken in.
func (c *Counters) AddReceived(n uint64) { c.received.Add(n) }

// AddStored counts n events the store committed.
func (c *Counters) AddStored(n uint64) { c.stored.Add(n) }

// AddIgnored counts n inputs that were not firewall records (other kernel lines, ...).
func (c *Counters) AddIgnored(n uint64) { c.ignored.Add(n) }

// AddRejected counts one firewall record that did not parse, by reason.
func (c *Counters) AddRejected(reason string, n uint64) {
	c.mu.Lock()
	c.rejected[reason] += n
	c.mu.Unlock()
}

// AddLost counts n records lost, by reason (Lost* constants).
func (c *Counters) AddLost(reason string, n uint64) {
	c.mu.Lock()
	c.lost[reason] += n
	c.mu.Unlock()
}

// Snapshot is a point-in-time copy of Counters.
type Snapshot struct {
	Source   string            `json:"source"`
	Received uint64            `json:"received"`
	Stored   uint64            `json:"stored"`
	Rejected map[string]uint64 `json:"rejected"`
	Ignored  uint64            `json:"ignored"`
	Lost     map[string]uint64 `json:"lost"`
}

// RejectedTotal sums Rejected over all reasons.
func (s Snapshot) RejectedTotal() uint64 { return sum(s.Rejected) }

// LostTotal sums Lost over all reasons.
func (s Snapshot) LostTotal() uint64 { return sum(s.Lost) }

// Balanced reports whether received = stored + rejected + ignored + lost.
func (s Snapshot) Balanced() bool {
	return s.Received == s.Stored+s.RejectedTotal()+s.Ignored+s.LostTotal()
}

// Add adds o's counts to s (used to continue counts saved before a restart).
func (s *Snapshot) Add(o Snapshot) {
	s.Received += o.Received
	s.Stored += o.Stored
	s.Ignored += o.Ignored
	if s.Rejected == nil {
		s.Rejected = map[string]uint64{}
	}
	if s.Lost == nil {
		s.Lost = map[string]uint64{}
	}
	for k, v := range o.Rejected {
		s.Rejected[k] += v
	}
	for k, v := range o.Lost {
		s.Lost[k] += v
	}
}

func sum(m map[string]uint64) uint64 {
	var t uint64
	for _, v := range m {
		t += v
	}
	return t
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Snapshot{
		Source:   c.name,
		Received: c.received.Load(),
		Stored:   c.stored.Load(),
		Ignored:  c.ignored.Load(),
		Rejected: maps.Clone(c.rejected),
		Lost:     maps.Clone(c.lost),
	}
}

// Registry holds the counters of every source of one process.
type Registry struct {
	mu sync.Mutex
	m  map[string]*Counters
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]*Counters{}} }

// Get returns the counters for name, creating them on first use.
func (r *Registry) Get(name string) *Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.m[name]
	if !ok {
		c = NewCounters(name)
		r.m[name] = c
	}
	return c
}

// Snapshots returns every source's counters, sorted by source name.
func (r *Registry) Snapshots() []Snapshot {
	r.mu.Lock()
	cs := make([]*Counters, 0, len(r.m))
	for _, c := range r.m {
		cs = append(cs, c)
	}
	r.mu.Unlock()
	out := make([]Snapshot, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}
