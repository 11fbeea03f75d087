// Package detect is the detect stage of darkscope's flow: it takes the typed
// packet events that decode and enrich produce and turns them into per-source
// verdicts (psad's danger levels, nmap scan types, scan patterns,
// backscatter) and alert events, driven by event time only.
//
// The Engine tracks every source address (IPv6 also per /64) in compact
// state bounded in count (Config.MaxSources) and in variable-size bytes
// (Config.MaxStateBytes); see docs/detection.md for the model and the
// memory bound. Time comes from the events and from Advance, never from the
// wall clock, so replaying a log yields exactly the alerts the live daemon
// emitted for the same packets in the same order.
package detect

import (
	"log/slog"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/darkscope/darkscope/internal/enrich/tool"
	"github.com/darkscope/darkscope/internal/event"
)

// Detector is the contract of every detector (docs/architecture.md, GUIDE §3).
type Detector interface {
	// Observe takes one event; its time is e.Time, never the wall clock.
	Observe(e *event.Event, emit func(event.Event))
	// Advance moves the event-time watermark to t: report intervals that end
	// at or before t close (emitting alerts) and silent sources expire.
	Advance(t time.Time, emit func(event.Event))
}

// Annotator adds per-packet knowledge that the engine does not compute
// itself (signature hits, passive OS and scanner-tool fingerprints) to the
// source a packet came from. It is called after the engine counted the
// packet, for every packet event, with a view valid only during the call.
type Annotator interface {
	Annotate(e *event.Event, v *SourceView)
}

// ToolSource is implemented by an Annotator that records scanner-tool
// verdicts lazily: it calls SourceView.SetTool only when a source's tool
// or confidence changes, so the evidence it recorded (counts such as
// "40/40 SYNs") may be older than the source's latest packets. Before the
// engine reports a source's tool (verdicts, alerts, explain, save) it asks
// ToolVerdict for the current one, passing the scanner-tool state the
// engine keeps for the address (SourceView.ToolState; nil if none); false
// keeps what was recorded. IPv6 /64 aggregates keep the tool recorded from
// their addresses' packets.
type ToolSource interface {
	ToolVerdict(src netip.Addr, st *tool.State) (event.Tool, bool)
}

// Option configures an Engine.
type Option func(*Engine)

// WithAnnotator adds an Annotator; annotators run in the order given.
func WithAnnotator(a Annotator) Option { return func(g *Engine) { g.ann = append(g.ann, a) } }

// WithOrigin tags everything this engine observes with origin, an import
// id such as "import:2026-11-23T12:00:00Z:kern.log" (see ImportID): the
// verdicts and alerts of the sources it sees carry it (Verdict.Origin,
// event.Alert.Origin). The empty origin is live traffic.
func WithOrigin(origin string) Option { return func(g *Engine) { g.origin = g.intern(origin) } }

// maxOrigins caps the distinct origins an engine remembers; later imports
// share the last slot's name.
const maxOrigins = 1 << 16

// intern returns the index of origin in g.origins, adding it.
func (g *Engine) intern(origin string) uint16 {
	if origin == "" {
		return 0
	}
	if len(g.origins) == 0 {
		g.origins = append(g.origins, "")
	}
	for i := len(g.origins) - 1; i > 0; i-- {
		if g.origins[i] == origin {
			return uint16(i)
		}
	}
	if len(g.origins) == maxOrigins {
		g.origins[maxOrigins-1] = origin
		return maxOrigins - 1
	}
	g.origins = append(g.origins, origin)
	return uint16(len(g.origins) - 1)
}

func (g *Engine) originName(i uint16) string {
	if int(i) < len(g.origins) {
		return g.origins[i]
	}
	return ""
}

// TagSource tags the events whose Event.Source is source (a finite import
// running inside the daemon's pipeline, e.g. "file:/var/log/kern.log.1")
// with origin until UntagSource; other events keep the engine's origin.
func (g *Engine) TagSource(source, origin string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tags == nil {
		g.tags = make(map[string]uint16)
	}
	g.tags[source] = g.intern(origin)
	g.lastTag, g.lastOK = "", false
}

// UntagSource ends a TagSource.
func (g *Engine) UntagSource(source string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.tags, source)
	g.lastTag, g.lastOK = "", false
}

// ImportID names one import run: "import:<UTC time>:<file base name>".
func ImportID(t time.Time, path string) string {
	base := path
	if i := strings.LastIndexAny(base, "/\\"); i >= 0 {
		base = base[i+1:]
	}
	return "import:" + t.UTC().Format(time.RFC3339) + ":" + base
}

// State flags.
const (
	fLive  uint8 = 1 << iota // slot in use
	fAgg                     // an IPv6 /64 aggregate
	fDirty                   // packets since the last report
	fMulti                   // aggregate: at least two distinct addresses seen
)

const nilIdx int32 = -1

// dstRec holds psad's per source→destination counters.
type dstRec struct {
	H       uint32 // hash of the destination address
	Abs     uint32 // packets (psad absnum)
	Lo, Hi  uint16 // lowest and highest TCP/UDP/SCTP destination port (psad abs_sp, abs_ep)
	Protos  uint32 // bit (proto % 32) per IP protocol seen (psad tot_protocols)
	HasPort bool
}

// protoPorts are the destination ports of one transport protocol.
type protoPorts struct {
	proto event.Proto
	cum   portSet // all ports within the scan timeout
	fresh portSet // ports first seen since the last report
}

// srcExtra holds the rarely needed parts of a source.
type srcExtra struct {
	more      []uint32 // sorted hashes of hosts beyond the exact records, up to maxExactHosts in all
	hll       *hll
	hllEst    uint64
	protoBits [4]uint64 // all protocols, once more than len(srcState.protos)
	flagBits  [4]uint64 // all flag combinations, once more than len(srcState.flagc)
	sigs      []string
	repSigs   int
	sigLevel  event.DangerLevel
	os, repOS string
	tool      *event.Tool
	repTool   string
	member    uint64 // aggregate: low 64 bits of the first address seen
}

// srcState is everything kept about one source.
//
// Memory bound per source: 256 bytes fixed (pinned by TestStateSizes), 16-32
// bytes of index entry and, for an address that sent a SYN or UDP probe, a
// 120-byte tool.State; a typical darknet source (one destination, one port)
// adds nothing: its record and port are inline. At most it adds MaxDstRecords × 20 bytes of
// destination records, 4 KiB of exact host hashes or a 1 KiB sketch, a
// 208-byte srcExtra, 32 signature names, and per transport protocol two port
// sets of at most 8 KiB each. All variable parts together are capped by
// Config.MaxStateBytes and the number of sources by Config.MaxSources, the
// least recently seen being evicted (docs/detection.md).
type srcState struct {
	hi, lo                 uint64
	prev, next             int32
	first, last, lastAlert int64 // Unix ns, event time
	packets, bsPackets     uint32
	repPackets, maxAbs     uint32
	repHosts               uint32
	types, repTypes        uint16
	osProbes               uint16
	level, repLevel        event.DangerLevel
	flags, bsKinds         uint8
	nProtos, nFlags        uint8
	protos                 [4]uint8
	flagc                  [6]uint8
	lastDst                uint16
	origin                 uint16       // index into Engine.origins of the latest packet's origin (0 = live)
	tool                   int32        // 1 + slot in Engine.tools of the scanner-tool state (0: none)
	vb                     uint32       // variable bytes accounted to this source
	dsts                   []dstRec     // dst0[:1:1] while one record; on the heap beyond
	ports                  []protoPorts // port0[:1:1] while one protocol; on the heap beyond
	x                      *srcExtra
	// Inline room for the first destination record and the first
	// protocol's port sets: a typical darknet source (one destination,
	// one protocol) then allocates only its two small port arrays.
	// srcState values are never copied (they stay in their chunk), so
	// dsts and ports may point into them.
	dst0  [1]dstRec
	port0 [1]protoPorts
}

const chunkBits = 12
const chunkSize = 1 << chunkBits

// Engine is the detector: per-source tracking, scan classification,
// psad danger levels, backscatter victims and per-interval alerts. Its
// methods are safe for concurrent use; emit is called with the engine
// locked and must not call back into it.
type Engine struct {
	mu  sync.Mutex
	cfg Config
	log *slog.Logger
	ann []Annotator

	origin  uint16            // WithOrigin, as an index into origins
	origins []string          // origin names; origins[0] is "" (live)
	tags    map[string]uint16 // TagSource: Event.Source → origin index
	lastTag string            // one-entry cache of the tags lookup (sources send runs of events)
	lastIdx uint16
	lastOK  bool

	idx    []uint64 // source key → slot (index.go)
	idxN   int      // entries in idx
	chunks [][]srcState
	free   []int32
	used   int
	head   int32 // most recently observed
	tail   int32 // least recently observed
	dirty  []int32

	// Scanner-tool states (tool.State, no pointers: the GC never scans
	// them), one per address that sent a probe tool.Counts takes, in
	// chunks like the sources; they live and expire with their source.
	tools    [][]tool.State
	toolFree []int32
	toolUsed int

	victims map[[2]uint64]*victim
	vdue    victimHeap // every tracked victim, by when it may expire

	varBytes int64
	wm       int64 // event-time watermark, Unix ns
	next     int64 // end of the current report interval, Unix ns; 0 before the first event

	stats Stats
	view  SourceView
}

// Stats counts what the engine did.
type Stats struct {
	Observed       uint64 // packet events taken
	Sources        int    // tracked sources (addresses and aggregates)
	ToolStates     int    // scanner-tool states held (addresses that sent a SYN or UDP probe)
	Victims        int    // tracked backscatter victims
	StateBytes     int64  // variable-size state held
	Alerts         uint64 // alerts emitted
	Suppressed     uint64 // alerts held back by RepeatAfter (nothing new)
	Expired        uint64 // sources forgotten after ScanTimeout
	Evicted        uint64 // sources evicted by MaxSources or MaxStateBytes
	VictimsDropped uint64 // victims not tracked because MaxVictims was reached
}

// New validates cfg and returns an Engine.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Engine{
		cfg:     cfg,
		log:     logger,
		victims: make(map[[2]uint64]*victim),
		head:    nilIdx,
		tail:    nilIdx,
	}
	for _, o := range opts {
		o(g)
	}
	g.view.g = g
	return g, nil
}

// Config returns the engine's configuration.
func (g *Engine) Config() Config { return g.cfg }

// Stats returns the counters.
func (g *Engine) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.stats
	st.Sources = g.used
	st.ToolStates = g.toolUsed
	st.Victims = len(g.victims)
	st.StateBytes = g.varBytes
	return st
}

func (g *Engine) at(i int32) *srcState { return &g.chunks[i>>chunkBits][i&(chunkSize-1)] }

func addrKey(a netip.Addr) [2]uint64 {
	a = a.Unmap()
	b := a.As16()
	return [2]uint64{be64(b[:8]), be64(b[8:])}
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func keyAddr(hi, lo uint64) netip.Addr {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b).Unmap()
}

func dstHash(a netip.Addr) uint32 {
	k := addrKey(a)
	return uint32(mix64(k[0] ^ mix64(k[1])))
}

// alloc returns a free slot, evicting the least recently seen source if the
// table is full (never the protected slot).
func (g *Engine) alloc(protect int32) int32 {
	for g.used >= g.cfg.MaxSources && g.tail != nilIdx && g.tail != protect {
		g.stats.Evicted++
		g.drop(g.tail)
	}
	var i int32
	if n := len(g.free); n > 0 {
		i = g.free[n-1]
		g.free = g.free[:n-1]
	} else {
		n := int32(len(g.chunks)) << chunkBits
		g.chunks = append(g.chunks, make([]srcState, chunkSize))
		for k := chunkSize - 1; k >= 1; k-- {
			g.free = append(g.free, n+int32(k))
		}
		i = n
	}
	g.used++
	return i
}

// drop forgets a source.
func (g *Engine) drop(i int32) {
	s := g.at(i)
	g.unindex(i)
	g.unlink(i, s)
	g.varBytes -= int64(s.vb)
	if s.tool != 0 {
		k := s.tool - 1
		g.tools[k>>chunkBits][k&(chunkSize-1)] = tool.State{}
		g.toolFree = append(g.toolFree, k)
		g.toolUsed--
	}
	*s = srcState{}
	g.free = append(g.free, i)
	g.used--
}

func (g *Engine) unlink(i int32, s *srcState) {
	if s.prev != nilIdx {
		g.at(s.prev).next = s.next
	} else if g.head == i {
		g.head = s.next
	}
	if s.next != nilIdx {
		g.at(s.next).prev = s.prev
	} else if g.tail == i {
		g.tail = s.prev
	}
	s.prev, s.next = nilIdx, nilIdx
}

func (g *Engine) pushFront(i int32, s *srcState) {
	s.prev = nilIdx
	s.next = g.head
	if g.head != nilIdx {
		g.at(g.head).prev = i
	}
	g.head = i
	if g.tail == nilIdx {
		g.tail = i
	}
}

// touch finds or creates the state of an address (agg false) or /64 (agg
// true) and makes it the most recently seen.
func (g *Engine) touch(hi, lo uint64, agg bool, t int64, protect int32) int32 {
	if agg {
		lo = 0
	}
	i, ok := g.find(hi, lo, agg)
	if ok {
		if g.head != i {
			s := g.at(i)
			g.unlink(i, s)
			g.pushFront(i, s)
		}
		return i
	}
	i = g.alloc(protect)
	s := g.at(i)
	*s = srcState{hi: hi, lo: lo, first: t, last: t, flags: fLive, prev: nilIdx, next: nilIdx}
	if agg {
		s.flags |= fAgg
	}
	g.index(i)
	g.pushFront(i, s)
	return i
}

// Observe implements Detector.
func (g *Engine) Observe(ev *event.Event, emit func(event.Event)) {
	if ev.Kind != event.KindPacket || !ev.Src.IsValid() || linkControl(ev) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.observe(ev, emit)
}

// ObserveBatch observes the events in order under one lock; the result is
// the same as calling Observe for each.
func (g *Engine) ObserveBatch(evs []event.Event, emit func(event.Event)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		if ev.Kind != event.KindPacket || !ev.Src.IsValid() || linkControl(ev) {
			continue
		}
		g.observe(ev, emit)
	}
}

func (g *Engine) observe(ev *event.Event, emit func(event.Event)) {
	t := g.wm
	if !ev.Time.IsZero() {
		t = ev.Time.UnixNano()
	}
	if t > g.wm {
		g.wm = t
	}
	g.tick(g.wm, emit)
	g.stats.Observed++

	c := classify(ev)
	if c.class == clsBackscatter {
		g.noteVictim(ev, &c, t)
	}
	k := addrKey(ev.Src)
	i := g.touch(k[0], k[1], false, t, nilIdx)
	dh := dstHash(ev.Dst)
	g.update(i, ev, &c, t, dh)
	j := nilIdx
	if g.cfg.AggregateIPv6 && ev.Src.Unmap().Is6() {
		j = g.touch(k[0], 0, true, t, i)
		a := g.at(j)
		if a.flags&fMulti == 0 {
			x := g.extra(a)
			if a.packets+a.bsPackets == 0 {
				x.member = k[1]
			} else if x.member != k[1] {
				a.flags |= fMulti
			}
		}
		g.update(j, ev, &c, t, dh)
	}
	origin := g.origin
	if len(g.tags) > 0 {
		if ev.Source != g.lastTag {
			g.lastIdx, g.lastOK = g.tags[ev.Source]
			g.lastTag = ev.Source
		}
		if g.lastOK {
			origin = g.lastIdx
		}
	}
	g.at(i).origin = origin
	if j != nilIdx {
		g.at(j).origin = origin
	}
	if len(g.ann) > 0 {
		g.view.i, g.view.j, g.view.bs = i, j, c.class == clsBackscatter
		for _, a := range g.ann {
			a.Annotate(ev, &g.view)
		}
		g.view.i, g.view.j = nilIdx, nilIdx
	}
	if g.varBytes > g.cfg.MaxStateBytes {
		for g.varBytes > g.cfg.MaxStateBytes && g.tail != nilIdx && g.tail != i && g.tail != j {
			g.stats.Evicted++
			g.drop(g.tail)
		}
	}
}

// linkControl reports ICMPv6 neighbour discovery, router discovery and
// multicast listener messages (types 130-137, 143): link-local control
// traffic every IPv6 host sends, no probe and no backscatter.
func linkControl(e *event.Event) bool {
	return e.Proto == event.ProtoICMPv6 && (e.ICMPType >= 130 && e.ICMPType <= 137 || e.ICMPType == 143)
}

func (g *Engine) extra(s *srcState) *srcExtra {
	if s.x == nil {
		s.x = &srcExtra{}
	}
	return s.x
}

// update counts one packet into source slot i.
func (g *Engine) update(i int32, ev *event.Event, c *classification, t int64, dh uint32) {
	s := g.at(i)
	if t > s.last {
		s.last = t
	}
	if t < s.first {
		s.first = t
	}
	if s.flags&fDirty == 0 {
		s.flags |= fDirty
		g.dirty = append(g.dirty, i)
	}
	if c.class == clsBackscatter {
		s.bsPackets = satInc(s.bsPackets)
		s.bsKinds |= 1 << c.bsKind
		return
	}
	s.packets = satInc(s.packets)
	s.addProto(uint8(ev.Proto))
	if ev.Proto == event.ProtoTCP {
		s.addFlags(uint8(ev.Flags))
	}
	if c.scan != noType && c.scan != stOS {
		s.types |= 1 << c.scan
	}
	if c.osProbe >= 0 {
		s.osProbes |= 1 << uint(c.osProbe)
	}
	hasPort := ev.Proto == event.ProtoTCP || ev.Proto == event.ProtoUDP || ev.Proto == event.ProtoSCTP || ev.Proto == event.ProtoUDPLite
	grew := false
	if hasPort {
		pp := s.portsFor(ev.Proto)
		if !pp.cum.has(ev.DstPort) {
			b0 := pp.cum.bytes() + pp.fresh.bytes()
			pp.cum.add(ev.DstPort)
			pp.fresh.add(ev.DstPort)
			grew = pp.cum.bytes()+pp.fresh.bytes() != b0
		}
	}
	d, g2 := g.dstFor(s, dh)
	grew = grew || g2
	if d != nil {
		d.Abs = satInc(d.Abs)
		if d.Abs > s.maxAbs {
			s.maxAbs = d.Abs
		}
		d.Protos |= 1 << (uint8(ev.Proto) & 31)
		if hasPort {
			if !d.HasPort {
				d.Lo, d.Hi, d.HasPort = ev.DstPort, ev.DstPort, true
			} else if ev.DstPort < d.Lo {
				d.Lo = ev.DstPort
			} else if ev.DstPort > d.Hi {
				d.Hi = ev.DstPort
			}
		}
	}
	g.raise(s, d)
	if grew || s.vb == 0 {
		nb := s.varBytesNow()
		g.varBytes += int64(nb) - int64(s.vb)
		s.vb = nb
	}
}

func satInc(x uint32) uint32 {
	if x != ^uint32(0) {
		x++
	}
	return x
}

// sizes used by the memory accounting.
const (
	dstRecBytes     = int(unsafe.Sizeof(dstRec{}))
	protoPortsBytes = int(unsafe.Sizeof(protoPorts{}))
	extraBytes      = int(unsafe.Sizeof(srcExtra{}))
	hllBytes        = int(unsafe.Sizeof(hll{}))
)

func (s *srcState) varBytesNow() uint32 {
	n := cap(s.dsts)*dstRecBytes + cap(s.ports)*protoPortsBytes
	for k := range s.ports {
		n += s.ports[k].cum.bytes() + s.ports[k].fresh.bytes()
	}
	if s.x != nil {
		n += extraBytes
		n += 4 * cap(s.x.more)
		if s.x.hll != nil {
			n += hllBytes
		}
	}
	return uint32(n)
}

func (s *srcState) addProto(p uint8) {
	for k := uint8(0); k < s.nProtos && k < uint8(len(s.protos)); k++ {
		if s.protos[k] == p {
			return
		}
	}
	if s.nProtos < uint8(len(s.protos)) {
		s.protos[s.nProtos] = p
		s.nProtos++
		return
	}
	if s.x == nil {
		s.x = &srcExtra{}
	}
	if s.nProtos == uint8(len(s.protos)) {
		for _, q := range s.protos {
			s.x.protoBits[q>>6] |= 1 << (q & 63)
		}
	}
	if s.x.protoBits[p>>6]&(1<<(p&63)) == 0 {
		s.x.protoBits[p>>6] |= 1 << (p & 63)
		if s.nProtos < 255 {
			s.nProtos++
		}
	}
}

// protoCount is the number of distinct IP protocols seen.
func (s *srcState) protoCount() int { return int(s.nProtos) }

func (s *srcState) protoList() []uint8 { return s.appendProtos(nil) }

// appendProtos appends the sorted list to dst.
func (s *srcState) appendProtos(dst []uint8) []uint8 {
	if int(s.nProtos) <= len(s.protos) {
		k := len(dst)
		dst = append(dst, s.protos[:s.nProtos]...)
		sortU8(dst[k:])
		return dst
	}
	for w, x := range s.x.protoBits {
		for x != 0 {
			dst = append(dst, uint8(w<<6|bits.TrailingZeros64(x)))
			x &= x - 1
		}
	}
	return dst
}

func (s *srcState) addFlags(f uint8) {
	for k := uint8(0); k < s.nFlags && k < uint8(len(s.flagc)); k++ {
		if s.flagc[k] == f {
			return
		}
	}
	if s.nFlags < uint8(len(s.flagc)) {
		s.flagc[s.nFlags] = f
		s.nFlags++
		return
	}
	if s.x == nil {
		s.x = &srcExtra{}
	}
	if s.nFlags == uint8(len(s.flagc)) {
		for _, q := range s.flagc {
			s.x.flagBits[q>>6] |= 1 << (q & 63)
		}
	}
	if s.x.flagBits[f>>6]&(1<<(f&63)) == 0 {
		s.x.flagBits[f>>6] |= 1 << (f & 63)
		if s.nFlags < 255 {
			s.nFlags++
		}
	}
}

func (s *srcState) flagList() []uint8 { return s.appendFlags(nil) }

// appendFlags appends the sorted list to dst.
func (s *srcState) appendFlags(dst []uint8) []uint8 {
	if int(s.nFlags) <= len(s.flagc) {
		k := len(dst)
		dst = append(dst, s.flagc[:s.nFlags]...)
		sortU8(dst[k:])
		return dst
	}
	for w, x := range s.x.flagBits {
		for x != 0 {
			dst = append(dst, uint8(w<<6|bits.TrailingZeros64(x)))
			x &= x - 1
		}
	}
	return dst
}

func sortU8(b []uint8) {
	for i := 1; i < len(b); i++ {
		for j := i; j > 0 && b[j] < b[j-1]; j-- {
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
}

func (s *srcState) portsFor(p event.Proto) *protoPorts {
	for k := range s.ports {
		if s.ports[k].proto == p {
			return &s.ports[k]
		}
	}
	if cap(s.ports) == 0 {
		s.port0[0] = protoPorts{proto: p}
		s.ports = s.port0[:1:1]
		return &s.ports[0]
	}
	s.ports = append(s.ports, protoPorts{proto: p})
	return &s.ports[len(s.ports)-1]
}

// portCount is the number of distinct destination ports over all protocols.
func (s *srcState) portCount() int {
	n := 0
	for k := range s.ports {
		n += s.ports[k].cum.len()
	}
	return n
}

// dstFor returns the exact record for destination hash h, adding it while
// there is room; past MaxDstRecords the host goes into the sketch and the
// result is nil. grew reports new memory.
func (g *Engine) dstFor(s *srcState, h uint32) (d *dstRec, grew bool) {
	if int(s.lastDst) < len(s.dsts) && s.dsts[s.lastDst].H == h {
		return &s.dsts[s.lastDst], false
	}
	for k := range s.dsts {
		if s.dsts[k].H == h {
			s.lastDst = uint16(k)
			return &s.dsts[k], false
		}
	}
	if len(s.dsts) < g.cfg.MaxDstRecords {
		c := cap(s.dsts)
		if c == 0 {
			s.dst0[0] = dstRec{H: h}
			s.dsts = s.dst0[:1:1]
			s.lastDst = 0
			return &s.dsts[0], true
		}
		s.dsts = append(s.dsts, dstRec{H: h})
		s.lastDst = uint16(len(s.dsts) - 1)
		return &s.dsts[s.lastDst], cap(s.dsts) != c
	}
	x := g.extra(s)
	if x.hll == nil {
		// Exact hashes up to maxExactHosts hosts in all, then the sketch.
		k, found := slices.BinarySearch(x.more, h)
		if found {
			return nil, false
		}
		if len(s.dsts)+len(x.more) < maxExactHosts {
			c := cap(x.more)
			x.more = slices.Insert(x.more, k, h)
			return nil, cap(x.more) != c
		}
		x.hll = new(hll)
		for k := range s.dsts {
			x.hll.add(mix64(uint64(s.dsts[k].H)))
		}
		for _, m := range x.more {
			x.hll.add(mix64(uint64(m)))
		}
		x.more = nil
		x.hll.add(mix64(uint64(h)))
		x.hllEst = x.hll.estimate()
		return nil, true
	}
	if x.hll.add(mix64(uint64(h))) {
		x.hllEst = x.hll.estimate()
	}
	return nil, false
}

// maxExactHosts is how many distinct destination hosts per source are
// counted exactly (records plus 4-byte hashes); beyond, a 1 KiB HyperLogLog.
const maxExactHosts = 1024

// hosts is the number of distinct destination hosts: exact up to
// MaxDstRecords, estimated beyond.
func (s *srcState) hosts() uint64 {
	n := uint64(len(s.dsts))
	if s.x != nil {
		n += uint64(len(s.x.more))
		if s.x.hll != nil && s.x.hllEst > n {
			return s.x.hllEst
		}
	}
	return n
}

func levelOf(v uint64, th *[5]uint32) event.DangerLevel {
	l := event.DangerLevel(1)
	for k := 1; k < 5; k++ {
		if v >= uint64(th[k]) {
			l = event.DangerLevel(k + 1)
		}
	}
	return l
}

// raise applies psad's danger-level assignment after a packet to
// destination d (nil when the destination is beyond the exact records):
// a destination counts once it has DANGER_LEVEL1 packets or the source
// swept DL1_UNIQUE_HOSTS hosts, and its port range reaches
// PORT_RANGE_SCAN_THRESHOLD (packets for portless protocols), or it saw
// PROTOCOL_SCAN_THRESHOLD protocols, or the sweep threshold is met; the
// level is then the higher of the packet-count level of the destination and
// the unique-host level of the source. Levels never fall until the source
// expires; signature levels raise them too.
func (g *Engine) raise(s *srcState, d *dstRec) {
	cfg := &g.cfg
	hosts := s.hosts()
	sweep := cfg.DangerHosts[0] > 0 && hosts >= uint64(cfg.DangerHosts[0])
	var lv event.DangerLevel
	switch {
	case sweep:
		lv = max(levelOf(uint64(s.maxAbs), &cfg.DangerPackets), levelOf(hosts, &cfg.DangerHosts))
	case d != nil && d.Abs >= cfg.DangerPackets[0]:
		rng := uint64(d.Abs)
		if d.HasPort {
			rng = uint64(d.Hi - d.Lo)
		}
		if rng >= uint64(cfg.PortRangeScanThreshold) || bits.OnesCount32(d.Protos) >= cfg.ProtocolScanThreshold {
			lv = levelOf(uint64(d.Abs), &cfg.DangerPackets)
		}
	}
	if lv > s.level {
		s.level = lv
	}
}

// tick closes the report interval(s) ending at or before now.
func (g *Engine) tick(now int64, emit func(event.Event)) {
	iv := int64(g.cfg.ReportInterval)
	if g.next == 0 {
		if now <= 0 {
			return
		}
		g.next = (now/iv + 1) * iv
		return
	}
	if now < g.next {
		return
	}
	alerts := g.stats.Alerts
	g.report(g.next, emit)
	last := (now / iv) * iv // the latest boundary reached
	expired := g.stats.Expired
	g.expire(last)
	g.log.Debug("report interval closed", "interval_end", time.Unix(0, g.next).UTC(),
		"alerts", g.stats.Alerts-alerts, "expired", g.stats.Expired-expired, "sources", g.used, "state_bytes", g.varBytes)
	g.next = last + iv
}

// expire forgets sources and victims silent since before boundary-ScanTimeout.
func (g *Engine) expire(boundary int64) {
	cutoff := boundary - int64(g.cfg.ScanTimeout)
	for g.tail != nilIdx {
		s := g.at(g.tail)
		if s.last >= cutoff {
			break
		}
		g.stats.Expired++
		g.drop(g.tail)
	}
	g.expireVictims(cutoff)
}

// Advance implements Detector.
func (g *Engine) Advance(t time.Time, emit func(event.Event)) {
	if t.IsZero() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := t.UnixNano(); n > g.wm {
		g.wm = n
	}
	g.tick(g.wm, emit)
}

// AdvanceLive moves event time to now when the engine follows live
// traffic: its watermark is at most within behind now. A quiet live sensor
// then still closes its report intervals (and emits their alerts) on time;
// an engine whose latest events are old (an import of past logs, state
// loaded after downtime) is left alone, so replayed verdicts keep their own
// event time. It reports whether it advanced.
func (g *Engine) AdvanceLive(now time.Time, within time.Duration, emit func(event.Event)) bool {
	n := now.UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.wm == 0 || n <= g.wm || n-g.wm > int64(within) {
		return false
	}
	g.wm = n
	g.tick(g.wm, emit)
	return true
}

// SourceView lets an Annotator read and extend the state of the source of
// the packet being observed (and of its IPv6 /64 aggregate).
type SourceView struct {
	g    *Engine
	i, j int32
	bs   bool // the packet is backscatter
}

func (v *SourceView) each(f func(s *srcState)) {
	if v.i != nilIdx {
		f(v.g.at(v.i))
	}
	if v.j != nilIdx {
		f(v.g.at(v.j))
	}
}

// Addr is the source address.
func (v *SourceView) Addr() netip.Addr {
	s := v.g.at(v.i)
	return keyAddr(s.hi, s.lo)
}

// Packets is the number of probe packets counted for the source so far.
func (v *SourceView) Packets() uint64 { return uint64(v.g.at(v.i).packets) }

// maxSigs caps signature names kept per source.
const maxSigs = 32

// AddSignature records a signature hit; level (psad's signature danger
// level) raises the source's danger level, unless the packet is
// backscatter (an ICMP reply or error with an odd code, say): its sender is
// a victim or a router, and backscatter never raises a danger level.
func (v *SourceView) AddSignature(name string, level event.DangerLevel) {
	if v.bs {
		level = 0
	}
	v.each(func(s *srcState) {
		x := v.g.extra(s)
		found := false
		for _, n := range x.sigs {
			if n == name {
				found = true
				break
			}
		}
		if !found && len(x.sigs) < maxSigs {
			x.sigs = append(x.sigs, name)
		}
		if level > event.MaxDangerLevel {
			level = event.MaxDangerLevel
		}
		if level > x.sigLevel {
			x.sigLevel = level
		}
		if level > s.level {
			s.level = level
		}
	})
}

// RaiseLevel raises the source's danger level to at least level (a tool
// fingerprint that implies one); levels never fall.
func (v *SourceView) RaiseLevel(level event.DangerLevel) {
	level = min(level, event.MaxDangerLevel)
	v.each(func(s *srcState) {
		if level > s.level {
			s.level = level
		}
	})
}

// SetOS records the passive OS fingerprint label.
func (v *SourceView) SetOS(label string) {
	v.each(func(s *srcState) { v.g.extra(s).os = label })
}

// Tool returns the scanner-tool fingerprint recorded for the source (its
// evidence must not be modified).
func (v *SourceView) Tool() (event.Tool, bool) {
	s := v.g.at(v.i)
	if s.x == nil || s.x.tool == nil {
		return event.Tool{}, false
	}
	return *s.x.tool, true
}

// refreshTool replaces the recorded tool of s (an address, not an
// aggregate) with the current verdict of the annotators that record tools
// lazily (ToolSource).
func (g *Engine) refreshTool(s *srcState) {
	if s.x == nil || s.x.tool == nil || s.flags&fAgg != 0 {
		return
	}
	for _, a := range g.ann {
		ts, ok := a.(ToolSource)
		if !ok {
			continue
		}
		if t, ok := ts.ToolVerdict(keyAddr(s.hi, s.lo), g.toolOf(s)); ok {
			s.x.tool = &t
		}
	}
}

// toolOf is the scanner-tool state of s, nil if it has none.
func (g *Engine) toolOf(s *srcState) *tool.State {
	if s.tool == 0 {
		return nil
	}
	k := s.tool - 1
	return &g.tools[k>>chunkBits][k&(chunkSize-1)]
}

// ToolState is the scanner-tool state the engine keeps for the source
// address (not its /64 aggregate): a tool.State that lives and expires
// with the source, so a packet costs an annotator no lookup of its own.
// With alloc false it is nil until allocated; allocate it only for a
// packet the state counts (tool.Counts), so sources that never probe
// (backscatter senders) hold none.
func (v *SourceView) ToolState(alloc bool) *tool.State {
	g := v.g
	s := g.at(v.i)
	if s.tool == 0 && alloc {
		var k int32
		if n := len(g.toolFree); n > 0 {
			k = g.toolFree[n-1]
			g.toolFree = g.toolFree[:n-1]
		} else {
			n := int32(len(g.tools)) << chunkBits
			g.tools = append(g.tools, make([]tool.State, chunkSize))
			for j := chunkSize - 1; j >= 1; j-- {
				g.toolFree = append(g.toolFree, n+int32(j))
			}
			k = n
		}
		g.toolUsed++
		s.tool = k + 1
	}
	return g.toolOf(s)
}

// SetTool records the scanner-tool fingerprint (copied).
func (v *SourceView) SetTool(t event.Tool) {
	v.each(func(s *srcState) {
		c := t
		c.Evidence = append([]string(nil), t.Evidence...)
		v.g.extra(s).tool = &c
	})
}
