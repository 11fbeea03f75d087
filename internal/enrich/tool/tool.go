// Package tool is the scanner-tool fingerprint step of enrich: per source
// it accumulates header invariants over several probes (IP ID, TTL, TCP
// window, options, sequence number, source port, UDP checksum) and names
// the tool that crafted them — ZMap, Masscan, the Mirai family, Nmap,
// Unicornscan, hping3, a custom scanner with fixed invariants, or a kernel
// TCP stack — with a confidence and the evidence behind it. It also tags
// known research scanners (benign.txt) so detection can report them
// without alerting.
//
// One packet is never enough: a 16-bit field matches a constant by chance
// once in 65,536 packets, so every verdict needs agreeing evidence from
// several packets and, except for the 32-bit Mirai invariant, more than
// one field.
//
// Wiring: the detection engine keeps one State per source in its own
// per-source record (State is a fixed-size value, no pointers, 120 bytes)
// and asks Tracker.ObserveIdentifyState / VerdictState, which add the
// benign list; standalone users call Tracker.Observe / Verdict, which keep
// States in a bounded two-generation map keyed by source address.
package tool

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
)

// Tool is a verdict about the software that sent a source's probes.
type Tool struct {
	Name       string   `json:"name"`
	Confidence float64  `json:"confidence"` // 0..1
	Evidence   []string `json:"evidence"`
	Benign     string   `json:"benign,omitempty"` // research project, when the source is a known benign scanner
}

// Tool names.
const (
	NameZMap        = "zmap"
	NameMasscan     = "masscan"
	NameMirai       = "mirai"
	NameNmap        = "nmap"
	NameUnicornscan = "unicornscan"
	NameHping3      = "hping3"
	NameCustom      = "custom-scanner"
	NameKernel      = "kernel-connect"
)

// Header invariants the rules use; the source of each fact is in
// docs/fingerprints.md.
const (
	zmapIPID         = 54321 // ZMap < 4.0: fixed IP ID
	zmapWindow       = 65535 // ZMap TCP SYN probe window
	masscanWin13     = 1024  // Masscan 1.3.x SYN window
	masscanWinNew    = 1025  // newer Masscan builds (window 1025, with MSS)
	nmapWindow       = 1024  // Nmap -sS probes
	nmapMSS          = 1460  // Nmap -sS: MSS option 1460 only
	hpingWindow      = 512   // hping3 default window (observed 3.0.0-alpha-2)
	unicornWindow    = 4128  // Unicornscan default "-W 0" (Cisco IOS) profile
	highTTL          = 192   // an arriving TTL above this started at 255
	minPackets       = 3     // probes before a multi-field verdict
	strongFraction   = 0.9   // share of probes an invariant must hold for
	genericMinProbes = 5
)

// State accumulates one source's probe invariants. The zero value is
// ready; it holds no pointers and never allocates.
type State struct {
	SYNs, UDPs uint32 // TCP SYN (no ACK) probes and UDP probes seen

	ipid54321, ttlHigh, win65535, udpCsum0 uint32
	masscanID, win1024, win1025MSS         uint32
	seqIsDst, port23                       uint32
	mssOnly1460, mssOnly, noOpts           uint32
	win512, win4128, kernelLayout          uint32
	sportStep, sameSport, sameSeq, sameWin uint32
	newTarget                              uint32
	firstSeq                               uint32
	lastDst                                uint32  // the last destination: IPv4 address, or a 32-bit hash of an IPv6 one (dstKey)
	lastConf                               float64 // confidence of the last ObserveIdentifyState answer
	firstSport, lastSport, firstWin        uint16
	lastDport                              uint16
	benign                                 uint16 // Tracker's cached benign-list lookup (see Tracker.benignOf)
	ttlMin, ttlMax                         uint8
	kernelOS                               uint8 // last kernel-like layout family
	dfSet                                  bool  // a SYN had DF
	lastName                               uint8 // name of the last ObserveIdentifyState answer (nameCode), 0 before the first
}

// names are the tool names nameCode numbers.
var names = [...]string{NameZMap, NameMasscan, NameMirai, NameNmap, NameUnicornscan, NameHping3, NameCustom, NameKernel}

// nameCode numbers an ObserveIdentifyState answer's name and ok for
// State.lastName: 1 not ok, 2 ok without a name (a benign-list source),
// 3+k names[k].
func nameCode(name string, ok bool) uint8 {
	if !ok {
		return 1
	}
	for k, n := range names {
		if n == name {
			return uint8(3 + k)
		}
	}
	return 2
}

// dstKey identifies a destination for the new-target count in 32 bits: an
// IPv4 address exactly, an IPv6 address by a hash (two addresses in a row
// that collide, one chance in 2^32, count as one target).
func dstKey(a netip.Addr) uint32 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	b := a.As16()
	var h uint64 = 14695981039346656037 // FNV-1a
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return uint32(h ^ h>>32)
}

// Kernel option layouts (first bytes of the option area).
const (
	layoutNone uint8 = iota
	layoutLinux
	layoutWindows
	layoutBSD
)

// Observe adds one event. Only TCP SYNs without ACK and UDP datagrams
// count; everything else is ignored.
func (s *State) Observe(e *event.Event) {
	switch {
	case e.Proto == event.ProtoTCP && e.Flags&(event.FlagSYN|event.FlagACK|event.FlagRST|event.FlagFIN) == event.FlagSYN:
		s.observeSYN(e)
	case e.Proto == event.ProtoUDP:
		s.UDPs++
		if e.IPVersion == 4 && e.IPID == zmapIPID {
			s.ipid54321++
		}
		if e.HasUDPChecksum && e.UDPChecksum == 0 {
			s.udpCsum0++
		}
		s.ttl(e.TTL)
	}
}

func (s *State) ttl(t uint8) {
	if s.SYNs+s.UDPs == 1 || t < s.ttlMin {
		s.ttlMin = t
	}
	if t > s.ttlMax {
		s.ttlMax = t
	}
	if t > highTTL {
		s.ttlHigh++
	}
}

func (s *State) observeSYN(e *event.Event) {
	s.SYNs++
	n := s.SYNs
	s.ttl(e.TTL)
	if e.IPVersion == 4 && e.IPID == zmapIPID {
		s.ipid54321++
	}
	if e.Window == zmapWindow {
		s.win65535++
	}
	if e.IPFlags&event.IPFlagDF != 0 {
		s.dfSet = true
	}
	dst := dstKey(e.Dst)
	if e.Dst.Is4() && e.HasSeq {
		d4 := e.Dst.As4()
		dv := uint32(d4[0])<<24 | uint32(d4[1])<<16 | uint32(d4[2])<<8 | uint32(d4[3])
		if e.Seq == dv {
			s.seqIsDst++
		}
		if e.IPID&0xffff == (dv^uint32(e.DstPort)^e.Seq)&0xffff {
			s.masscanID++
		}
	}
	if e.DstPort == 23 || e.DstPort == 2323 {
		s.port23++
	}
	opts := e.TCPOpts()
	mss, hasMSS := e.MSS()
	switch {
	case len(opts) == 0:
		s.noOpts++
	case len(opts) == 4 && hasMSS:
		s.mssOnly++
		if mss == nmapMSS {
			s.mssOnly1460++
		}
	}
	if fam := kernelFamily(opts); fam != layoutNone && e.IPFlags&event.IPFlagDF != 0 {
		s.kernelLayout++
		s.kernelOS = fam
	}
	switch e.Window {
	case masscanWin13:
		s.win1024++
	case masscanWinNew:
		if hasMSS {
			s.win1025MSS++
		}
	case hpingWindow:
		s.win512++
	case unicornWindow:
		s.win4128++
	}
	if n == 1 {
		s.firstSport, s.firstWin, s.firstSeq = e.SrcPort, e.Window, e.Seq
		s.sameSport, s.sameWin, s.sameSeq = 1, 1, 1
		s.newTarget = 1
	} else {
		if e.SrcPort == s.firstSport {
			s.sameSport++
		}
		if e.Window == s.firstWin {
			s.sameWin++
		}
		if e.HasSeq && e.Seq == s.firstSeq {
			s.sameSeq++
		}
		if e.SrcPort == s.lastSport+1 {
			s.sportStep++
		}
		if dst != s.lastDst || e.DstPort != s.lastDport {
			s.newTarget++
		}
	}
	s.lastSport, s.lastDst, s.lastDport = e.SrcPort, dst, e.DstPort
}

// kernelFamily recognises the SYN option layouts of common kernel stacks:
// Linux (MSS, SACK-permitted, timestamps, NOP, window scale — or with the
// SACK/timestamp pair as NOP,NOP,TS when SACK is off), Windows (MSS, NOP,
// WS, NOP, NOP, SACK-permitted) and BSD/macOS (MSS, NOP, WS, ... TS).
func kernelFamily(o []byte) uint8 {
	if len(o) < 8 || o[0] != 2 || o[1] != 4 {
		return layoutNone
	}
	rest := o[4:]
	switch {
	case len(rest) >= 4 && rest[0] == 4 && rest[1] == 2 && rest[2] == 8: // sok,ts
		return layoutLinux
	case len(rest) >= 4 && rest[0] == 1 && rest[1] == 1 && (rest[2] == 8 || rest[2] == 4): // nop,nop,ts / nop,nop,sok
		return layoutLinux
	case len(rest) >= 4 && rest[0] == 4 && rest[1] == 2 && rest[2] == 1 && rest[3] == 3: // sok,nop,ws (no timestamps)
		return layoutLinux
	case len(rest) >= 4 && rest[0] == 1 && rest[1] == 3 && rest[2] == 3: // nop,ws
		if len(rest) >= 8 && rest[4] == 1 && rest[5] == 1 && rest[6] == 4 {
			return layoutWindows
		}
		return layoutBSD
	}
	return layoutNone
}

func frac(k, n uint32) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}

// Verdict names the tool, or false when the evidence is not enough.
// Rules are tried from the most specific invariant to the least.
func (s *State) Verdict() (Tool, bool) { return s.verdict(true) }

// Identify is Verdict without the evidence strings: the same name and
// confidence, and it never allocates, so it can run for every packet.
func (s *State) Identify() (name string, confidence float64, ok bool) {
	t, ok := s.verdict(false)
	return t.Name, t.Confidence, ok
}

// evidence collects a verdict's evidence lines, or nothing when off.
type evidence struct {
	on   bool
	list []string
}

// addf appends a formatted line. Callers test e.on first: boxing the
// arguments for fmt allocates before the call, so the test must come before it.
func (e *evidence) addf(format string, args ...any) {
	e.list = append(e.list, fmt.Sprintf(format, args...))
}

// verdict applies the rules; evidence strings are built only when withEvidence.
func (s *State) verdict(withEvidence bool) (Tool, bool) {
	n := s.SYNs
	ev := evidence{on: withEvidence}
	// Mirai family: TCP sequence number equals the destination address.
	// A 32-bit coincidence, so two packets suffice.
	if s.seqIsDst >= 2 && frac(s.seqIsDst, n) >= strongFraction {
		if ev.on {
			ev.addf("%d/%d SYNs have TCP seq == destination IPv4 address", s.seqIsDst, n)
		}
		if s.port23 > 0 {
			if ev.on {
				ev.addf("%d/%d SYNs to telnet ports 23/2323", s.port23, n)
			}
		}
		return Tool{Name: NameMirai, Confidence: 0.99, Evidence: ev.list}, true
	}
	// Masscan: IP ID == (dst ^ dport ^ seq) & 0xffff, plus its window.
	if s.masscanID >= 2 && frac(s.masscanID, n) >= strongFraction {
		conf := 0.9
		if n >= minPackets || frac(s.win1024, n) >= strongFraction || frac(s.win1025MSS, n) >= strongFraction {
			if ev.on {
				ev.addf("%d/%d SYNs have IP ID == (dst ^ dport ^ seq) & 0xffff", s.masscanID, n)
			}
			switch {
			case frac(s.win1024, n) >= strongFraction:
				if ev.on {
					ev.addf("%d/%d SYNs with window 1024 (masscan 1.3.x)", s.win1024, n)
				}
				conf = 0.99
			case frac(s.win1025MSS, n) >= strongFraction:
				if ev.on {
					ev.addf("%d/%d SYNs with window 1025 and an MSS option (newer masscan)", s.win1025MSS, n)
				}
				conf = 0.99
			}
			if s.sameSport == n && n >= 2 {
				if ev.on {
					ev.addf("one source port %d for all %d SYNs", s.firstSport, n)
				}
			}
			return Tool{Name: NameMasscan, Confidence: conf, Evidence: ev.list}, true
		}
	}
	// ZMap (< 4.0): IP ID 54321 and an initial TTL of 255, on TCP or UDP.
	probes := n + s.UDPs
	if s.ipid54321 >= 2 && frac(s.ipid54321, probes) >= strongFraction && frac(s.ttlHigh, probes) >= strongFraction {
		if ev.on {
			ev.addf("%d/%d probes with IP ID 54321", s.ipid54321, probes)
		}
		if ev.on {
			ev.addf("%d/%d probes arriving with TTL > %d (initial 255)", s.ttlHigh, probes, highTTL)
		}
		conf := 0.95
		if n > 0 && frac(s.win65535, n) >= strongFraction {
			if ev.on {
				ev.addf("%d/%d SYNs with window 65535", s.win65535, n)
			}
			conf = 0.99
		}
		if s.UDPs > 0 && s.udpCsum0 > 0 {
			if ev.on {
				ev.addf("%d/%d UDP probes with checksum 0", s.udpCsum0, s.UDPs)
			}
		}
		return Tool{Name: NameZMap, Confidence: conf, Evidence: ev.list}, true
	}
	if n < minPackets {
		return Tool{}, false
	}
	// Unicornscan default profile (-W 0, "cisco"): window 4128, MSS-only
	// options, initial TTL 255, DF clear.
	if frac(s.win4128, n) >= strongFraction && frac(s.mssOnly, n) >= strongFraction && frac(s.ttlHigh, n) >= strongFraction && !s.dfSet {
		if ev.on {
			ev.addf("%d/%d SYNs with window 4128", s.win4128, n)
		}
		if ev.on {
			ev.addf("%d/%d SYNs whose only option is MSS", s.mssOnly, n)
		}
		if ev.on {
			ev.addf("%d/%d SYNs with initial TTL 255", s.ttlHigh, n)
		}
		if ev.on {
			ev.addf("DF never set")
		}
		return Tool{Name: NameUnicornscan, Confidence: 0.8, Evidence: ev.list}, true
	}
	// Nmap SYN scan: window 1024, only an MSS 1460 option, DF clear; one
	// source port and one sequence number for a pass; a random TTL per probe.
	if frac(s.win1024, n) >= strongFraction && frac(s.mssOnly1460, n) >= strongFraction && !s.dfSet {
		if ev.on {
			ev.addf("%d/%d SYNs with window 1024", s.win1024, n)
		}
		if ev.on {
			ev.addf("%d/%d SYNs whose only option is MSS 1460", s.mssOnly1460, n)
		}
		if ev.on {
			ev.addf("DF never set")
		}
		conf := 0.7
		if frac(s.sameSport, n) >= 0.5 {
			if ev.on {
				ev.addf("source port %d reused by %d/%d SYNs", s.firstSport, s.sameSport, n)
			}
			conf += 0.1
		}
		if frac(s.sameSeq, n) >= 0.5 {
			if ev.on {
				ev.addf("sequence number %d reused by %d/%d SYNs", s.firstSeq, s.sameSeq, n)
			}
			conf += 0.1
		}
		if s.ttlMax != s.ttlMin {
			if ev.on {
				ev.addf("TTL varies %d-%d between probes", s.ttlMin, s.ttlMax)
			}
			conf += 0.05
		}
		return Tool{Name: NameNmap, Confidence: conf, Evidence: ev.list}, true
	}
	// hping3 defaults: window 512, no options, DF clear, source port
	// counting up by one from a random base.
	if frac(s.win512, n) >= strongFraction && frac(s.noOpts, n) >= strongFraction && !s.dfSet {
		if ev.on {
			ev.addf("%d/%d SYNs with window 512", s.win512, n)
		}
		if ev.on {
			ev.addf("%d/%d SYNs without TCP options", s.noOpts, n)
		}
		if ev.on {
			ev.addf("DF never set")
		}
		conf := 0.7
		if frac(s.sportStep, n-1) >= 0.5 {
			if ev.on {
				ev.addf("source port increments by one in %d/%d steps", s.sportStep, n-1)
			}
			conf = 0.9
		}
		return Tool{Name: NameHping3, Confidence: conf, Evidence: ev.list}, true
	}
	// Kernel stack: DF and a kernel option layout on (nearly) every SYN.
	if frac(s.kernelLayout, n) >= strongFraction {
		if ev.on {
			ev.addf("%d/%d SYNs with DF and a %s-like kernel option layout (connect(), not raw packets)", s.kernelLayout, n, familyName(s.kernelOS))
		}
		return Tool{Name: NameKernel, Confidence: 0.8, Evidence: ev.list}, true
	}
	// Generic invariant: one source port and one window across many
	// targets, which no kernel stack does.
	if n >= genericMinProbes && s.newTarget >= genericMinProbes && s.sameSport == n && s.sameWin == n {
		if ev.on {
			ev.addf("all %d SYNs from source port %d with window %d across %d targets", n, s.firstSport, s.firstWin, s.newTarget)
		}
		return Tool{Name: NameCustom, Confidence: 0.7, Evidence: ev.list}, true
	}
	return Tool{}, false
}

// familyName names a kernel option layout family.
func familyName(f uint8) string {
	switch f {
	case layoutLinux:
		return "Linux"
	case layoutWindows:
		return "Windows"
	case layoutBSD:
		return "BSD/macOS"
	}
	return ""
}

// String renders a verdict for logs.
func (t Tool) String() string {
	return fmt.Sprintf("%s (%.2f): %s", t.Name, t.Confidence, strings.Join(t.Evidence, "; "))
}

// Tracker keeps a State per source address with bounded memory: two
// generations of at most Max/2 sources each; when the current generation
// fills, the previous one is dropped. It is not safe for concurrent use.
type Tracker struct {
	max       int
	cur, prev map[netip.Addr]*State
	benign    *Benign
}

// Config configures a Tracker.
type Config struct {
	MaxSources int     // upper bound of tracked sources (default 200000)
	Benign     *Benign // known research scanners; nil uses the embedded list
}

// New returns a Tracker.
func New(cfg Config) (*Tracker, error) {
	if cfg.MaxSources == 0 {
		cfg.MaxSources = 200000
	}
	if cfg.MaxSources < 2 {
		return nil, fmt.Errorf("tool tracker: MaxSources %d is below 2", cfg.MaxSources)
	}
	if cfg.Benign == nil {
		b, err := DefaultBenign()
		if err != nil {
			return nil, err
		}
		cfg.Benign = b
	}
	return &Tracker{max: cfg.MaxSources, cur: map[netip.Addr]*State{}, prev: map[netip.Addr]*State{}, benign: cfg.Benign}, nil
}

// Observe adds a packet event to its source's State.
func (t *Tracker) Observe(e *event.Event) { t.observe(e) }

// observe adds e to its source's State and returns it (nil for an event
// without a valid source).
func (t *Tracker) observe(e *event.Event) *State {
	if !e.Src.IsValid() {
		return nil
	}
	src := e.Src.Unmap()
	s := t.cur[src]
	if s == nil {
		if s = t.prev[src]; s != nil {
			delete(t.prev, src)
		} else {
			s = &State{}
		}
		if len(t.cur) >= t.max/2 {
			t.prev, t.cur = t.cur, make(map[netip.Addr]*State, len(t.cur))
		}
		t.cur[src] = s
	}
	s.Observe(e)
	return s
}

// ObserveIdentify is Observe then Identify for the event's source, with
// one lookup of its State; it never allocates once the source is tracked.
func (t *Tracker) ObserveIdentify(e *event.Event) (name string, confidence float64, benign string, ok bool) {
	s := t.observe(e)
	if s == nil {
		return "", 0, "", false
	}
	name, confidence, ok = s.Identify()
	if b, found := t.benignOf(s, e.Src); found {
		benign, ok = b.Org, true
	}
	return name, confidence, benign, ok
}

// benignOf looks src up in the benign list once per State and keeps the
// answer in it (State.benign: 0 not looked up, 1 not listed, k+2 entry k).
func (t *Tracker) benignOf(s *State, src netip.Addr) (BenignEntry, bool) {
	if s.benign == 0 {
		s.benign = 1
		if k, found := t.benign.lookupIndex(src); found && k < 1<<16-2 {
			s.benign = uint16(k + 2)
		}
	}
	if s.benign < 2 {
		return BenignEntry{}, false
	}
	return t.benign.prefixes[s.benign-2], true
}

// Counts reports whether State.Observe counts e (a TCP SYN without ACK,
// RST or FIN, or a UDP datagram); other events leave a State unchanged.
func Counts(e *event.Event) bool {
	return e.Proto == event.ProtoTCP && e.Flags&(event.FlagSYN|event.FlagACK|event.FlagRST|event.FlagFIN) == event.FlagSYN ||
		e.Proto == event.ProtoUDP
}

// ObserveIdentifyState is ObserveIdentify for a State the caller keeps in
// its own per-source record (the detection engine does: a packet then
// costs no lookup here, and the State lives and expires with the source).
// It adds e to s and returns the verdict without evidence; same is true
// when the answer (name, confidence, ok) equals the previous call's for s,
// so a caller that recorded that answer has nothing to update. s may be
// nil for an event that Counts rejects: then only the benign list is asked
// (and same is false).
func (t *Tracker) ObserveIdentifyState(s *State, e *event.Event) (name string, confidence float64, benign string, ok, same bool) {
	if s == nil {
		if b, found := t.benign.Lookup(e.Src); found {
			return "", 0, b.Org, true, false
		}
		return "", 0, "", false, false
	}
	s.Observe(e)
	name, confidence, ok = s.Identify()
	if b, found := t.benignOf(s, e.Src); found {
		benign, ok = b.Org, true
	}
	code := nameCode(name, ok)
	same = s.lastName == code && s.lastConf == confidence
	s.lastName, s.lastConf = code, confidence
	return name, confidence, benign, ok, same
}

// VerdictState is Verdict for a State the caller keeps (nil: none yet).
func (t *Tracker) VerdictState(s *State, src netip.Addr) (Tool, bool) {
	var v Tool
	ok := false
	if s != nil {
		v, ok = s.Verdict()
	}
	return t.withBenign(v, ok, src)
}

// State returns the accumulated state of src, if tracked.
func (t *Tracker) State(src netip.Addr) (*State, bool) {
	src = src.Unmap()
	if s, ok := t.cur[src]; ok {
		return s, true
	}
	s, ok := t.prev[src]
	return s, ok
}

// Verdict returns the tool verdict for src. A source on the benign list is
// reported with Benign set even when no tool is named (Name "").
func (t *Tracker) Verdict(src netip.Addr) (Tool, bool) {
	var v Tool
	ok := false
	if s, found := t.State(src); found {
		v, ok = s.Verdict()
	}
	return t.withBenign(v, ok, src)
}

// withBenign adds the benign-list entry of src, if any, to verdict v.
func (t *Tracker) withBenign(v Tool, ok bool, src netip.Addr) (Tool, bool) {
	if b, found := t.benign.Lookup(src); found {
		v.Benign = b.Org
		v.Evidence = append(v.Evidence, "known research scanner: "+b.Org+" ("+b.Source+")")
		ok = true
	}
	return v, ok
}

// Identify is Verdict without the evidence strings (see State.Identify):
// the tool's name and confidence and, for a source on the benign list, the
// research project. It never allocates, so callers can ask for every packet
// and build the evidence with Verdict only when the answer changes or is
// reported.
func (t *Tracker) Identify(src netip.Addr) (name string, confidence float64, benign string, ok bool) {
	if s, found := t.State(src); found {
		name, confidence, ok = s.Identify()
	}
	if b, found := t.benign.Lookup(src); found {
		benign, ok = b.Org, true
	}
	return name, confidence, benign, ok
}

// Len is the number of tracked sources.
func (t *Tracker) Len() int { return len(t.cur) + len(t.prev) }
