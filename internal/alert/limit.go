package alert

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// bucket is a token bucket: it holds up to burst tokens, refilled at rate
// tokens per minute; each delivered alert takes one. Not safe for
// concurrent use (the channel's mutex guards it).
type bucket struct {
	rate   float64 // tokens per minute; 0 = unlimited
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(ratePerMinute float64, burst int) bucket {
	b := float64(burst)
	if b == 0 {
		b = math.Max(1, ratePerMinute)
	}
	return bucket{rate: ratePerMinute, burst: b, tokens: b}
}

// take reports whether a token was available at now, and takes it.
func (b *bucket) take(now time.Time) bool {
	if b.rate == 0 {
		return true
	}
	if !b.last.IsZero() {
		if d := now.Sub(b.last); d > 0 {
			b.tokens = math.Min(b.burst, b.tokens+d.Minutes()*b.rate)
		}
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// dedupMax bounds the dedup table; beyond it expired entries are swept and,
// if still full, the oldest half is dropped.
const dedupMax = 1 << 16

// deduper remembers, per source prefix, the content hash of the last alert
// delivered and when. An alert with the same source and content within the
// window is a duplicate. Not safe for concurrent use.
type deduper struct {
	window time.Duration
	seen   map[netip.Prefix]dedupEntry
	max    int
}

type dedupEntry struct {
	hash uint64
	at   time.Time
}

func newDeduper(window time.Duration) deduper {
	return deduper{window: window, seen: map[netip.Prefix]dedupEntry{}, max: dedupMax}
}

// duplicate reports whether an alert about key with content hash h
// repeats one delivered within the window before now.
func (d *deduper) duplicate(key netip.Prefix, h uint64, now time.Time) bool {
	if d.window <= 0 {
		return false
	}
	e, ok := d.seen[key]
	return ok && e.hash == h && now.Sub(e.at) < d.window
}

// remember records that an alert about key with hash h went out at now.
// A duplicate is never remembered, so the window runs from the delivery
// and a steady condition is repeated once per window.
func (d *deduper) remember(key netip.Prefix, h uint64, now time.Time) {
	if d.window <= 0 {
		return
	}
	if _, ok := d.seen[key]; !ok && len(d.seen) >= d.max {
		d.sweep(now)
	}
	d.seen[key] = dedupEntry{hash: h, at: now}
}

func (d *deduper) sweep(now time.Time) {
	for k, e := range d.seen {
		if now.Sub(e.at) >= d.window {
			delete(d.seen, k)
		}
	}
	if len(d.seen) < d.max {
		return
	}
	ats := make([]time.Time, 0, len(d.seen))
	for _, e := range d.seen {
		ats = append(ats, e.at)
	}
	slices.SortFunc(ats, time.Time.Compare)
	cut := ats[len(ats)/2]
	for k, e := range d.seen {
		if !e.at.After(cut) {
			delete(d.seen, k)
		}
	}
}

// contentHash hashes what an alert says about its source, leaving out what
// changes every interval while the story stays the same: times, packet
// counts, rates, the destination count and the ports new in this interval.
// A higher danger level, a new scan type, signature or tool verdict, or
// new cumulative ports change the hash.
func contentHash(a *event.Alert) uint64 {
	h := fnv.New64a()
	var n [8]byte
	str := func(s string) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	strs := func(ss []string) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(ss)))
		h.Write(n[:])
		for _, s := range ss {
			str(s)
		}
	}
	h.Write([]byte{byte(a.Level), boolByte(a.Backscatter)})
	str(a.Pattern)
	strs(a.ScanTypes)
	strs(a.Flags)
	strs(a.Protocols)
	strs(a.Signatures)
	str(a.OS)
	if a.Tool != nil {
		str(a.Tool.Name)
	} else {
		str("\x00")
	}
	keys := make([]string, 0, len(a.DstPorts))
	for k := range a.DstPorts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		str(k)
		str(a.DstPorts[k])
	}
	return h.Sum64()
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
