package detect

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"

	"github.com/darkscope/darkscope/internal/event"
)

// stateVersion is the version of the saved state layout Save writes.
//
// Version 1 (read only) is one gob value, a savedState holding every source
// and victim: Save built all of it in memory before encoding, about twice
// the engine's own state at its peak. Version 2 streams: a savedState
// header without lists, carrying the counts, then NSources savedSource
// values (least recently seen first) and NVictims savedVictim values, each
// its own gob message on the same stream, through a bounded buffer.
const stateVersion = 2

// stateVersionV1 is the whole-state-in-one-value layout, still loaded.
const stateVersionV1 = 1

// saveBufferSize bounds the bytes Save buffers before writing.
const saveBufferSize = 64 << 10

// The saved state: plain exported structs for encoding/gob.
type savedState struct {
	Version            int
	WM, Next           int64
	Sources            []savedSource // version 1 only
	Victims            []savedVictim // version 1 only
	NSources, NVictims int           // version 2: values that follow the header
}

type savedSource struct {
	Hi, Lo                 uint64
	Flags                  uint8
	First, Last, LastAlert int64
	Packets, BSPackets     uint32
	RepPackets, MaxAbs     uint32
	RepHosts               uint32
	Types, RepTypes        uint16
	OSProbes               uint16
	Level, RepLevel        uint8
	BSKinds                uint8
	Protos, FlagCombos     []uint8
	Dsts                   []dstRec
	More                   []uint32
	HLL                    []byte
	Ports                  []savedPorts
	Sigs                   []string
	RepSigs                int
	SigLevel               uint8
	OS, RepOS              string
	Tool                   *event.Tool
	RepTool                string
	Member                 uint64
	Origin                 string
}

type savedPorts struct {
	Proto      uint8
	Cum, Fresh []uint16
}

type savedVictim struct {
	Hi, Lo     uint64
	Start, End int64
	Packets    uint64
	Kinds      uint8
	Ports      []uint16
	Reporters  uint32
}

// Save writes the engine's state (every tracked source and victim, the
// watermark and the report-interval position) so that a restarted engine
// continues the same counts with Load. It streams one source at a time
// through a bounded buffer (saveBufferSize): its memory does not grow with
// the number of sources. The engine stays locked while it writes.
func (g *Engine) Save(w io.Writer) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	bw := bufio.NewWriterSize(w, saveBufferSize)
	enc := gob.NewEncoder(bw)
	hdr := savedState{Version: stateVersion, WM: g.wm, Next: g.next, NSources: g.used, NVictims: len(g.victims)}
	if err := enc.Encode(&hdr); err != nil {
		return fmt.Errorf("save detector state: %w", err)
	}
	n := 0
	var ss savedSource
	for i := g.tail; i != nilIdx; {
		s := g.at(i)
		i = s.prev
		g.refreshTool(s)
		g.saveSource(s, &ss)
		if err := enc.Encode(&ss); err != nil {
			return fmt.Errorf("save detector state: source %d: %w", n, err)
		}
		n++
	}
	if n != hdr.NSources {
		return fmt.Errorf("save detector state: %d sources in the recency list, %d in use", n, hdr.NSources)
	}
	var sv savedVictim
	for k, v := range g.victims {
		sv = savedVictim{
			Hi: k[0], Lo: k[1], Start: v.start, End: v.end, Packets: v.packets,
			Kinds: v.kinds, Ports: v.ports.appendPorts(sv.Ports[:0]), Reporters: v.reporters,
		}
		if err := enc.Encode(&sv); err != nil {
			return fmt.Errorf("save detector state: victim: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("save detector state: %w", err)
	}
	return nil
}

// saveSource fills ss from s, reusing ss's slices (the encoder copies
// them out before the next source).
func (g *Engine) saveSource(s *srcState, ss *savedSource) {
	*ss = savedSource{
		Hi: s.hi, Lo: s.lo, Flags: s.flags,
		First: s.first, Last: s.last, LastAlert: s.lastAlert,
		Packets: s.packets, BSPackets: s.bsPackets, RepPackets: s.repPackets, MaxAbs: s.maxAbs,
		RepHosts: s.repHosts, Types: s.types, RepTypes: s.repTypes, OSProbes: s.osProbes,
		Level: uint8(s.level), RepLevel: uint8(s.repLevel), BSKinds: s.bsKinds,
		Protos: s.appendProtos(ss.Protos[:0]), FlagCombos: s.appendFlags(ss.FlagCombos[:0]),
		Dsts:   s.dsts, // read only by the encoder
		Origin: g.originName(s.origin),
		Ports:  ss.Ports[:0],
	}
	for k := range s.ports {
		p := &s.ports[k]
		var cum, fresh []uint16
		if k < cap(ss.Ports) {
			old := ss.Ports[:k+1][k]
			cum, fresh = old.Cum[:0], old.Fresh[:0]
		}
		ss.Ports = append(ss.Ports, savedPorts{Proto: uint8(p.proto), Cum: p.cum.appendPorts(cum), Fresh: p.fresh.appendPorts(fresh)})
	}
	if x := s.x; x != nil {
		ss.More = x.more // read only by the encoder
		if x.hll != nil {
			ss.HLL = x.hll.reg[:]
		}
		ss.Sigs, ss.RepSigs, ss.SigLevel = x.sigs, x.repSigs, uint8(x.sigLevel)
		ss.OS, ss.RepOS, ss.Tool, ss.RepTool, ss.Member = x.os, x.repOS, x.tool, x.repTool, x.member
	}
}

// Load replaces the engine's state with one written by Save (this version
// or version 1). Sources beyond MaxSources (oldest first) are not loaded.
func (g *Engine) Load(r io.Reader) error {
	dec := gob.NewDecoder(bufio.NewReaderSize(r, saveBufferSize))
	var hdr savedState
	if err := dec.Decode(&hdr); err != nil {
		return fmt.Errorf("load detector state: %w", err)
	}
	switch hdr.Version {
	case stateVersion:
		if hdr.NSources < 0 || hdr.NVictims < 0 || len(hdr.Sources) > 0 || len(hdr.Victims) > 0 {
			return fmt.Errorf("load detector state: malformed version %d header", hdr.Version)
		}
	case stateVersionV1:
		hdr.NSources, hdr.NVictims = len(hdr.Sources), len(hdr.Victims)
	default:
		return fmt.Errorf("load detector state: version %d, want %d or %d", hdr.Version, stateVersionV1, stateVersion)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.idx, g.idxN = nil, 0
	g.chunks, g.free, g.dirty = nil, nil, nil
	g.tools, g.toolFree, g.toolUsed = nil, nil, 0 // scanner-tool states are not saved: they start afresh
	g.used, g.head, g.tail, g.varBytes = 0, nilIdx, nilIdx, 0
	g.victims = make(map[[2]uint64]*victim, min(hdr.NVictims, 1<<16))
	g.vdue = nil
	g.wm, g.next = hdr.WM, hdr.Next
	for k := 0; k < hdr.NSources; k++ {
		var ss savedSource // fresh: gob leaves fields absent from the stream untouched, and the state keeps the slices
		if hdr.Version == stateVersionV1 {
			ss, hdr.Sources[k] = hdr.Sources[k], savedSource{}
		} else if err := dec.Decode(&ss); err != nil {
			return fmt.Errorf("load detector state: source %d of %d: %w", k, hdr.NSources, err)
		}
		if err := g.loadSource(&ss); err != nil {
			return err
		}
	}
	for k := 0; k < hdr.NVictims; k++ {
		var sv savedVictim
		if hdr.Version == stateVersionV1 {
			sv = hdr.Victims[k]
		} else if err := dec.Decode(&sv); err != nil {
			return fmt.Errorf("load detector state: victim %d of %d: %w", k, hdr.NVictims, err)
		}
		v := &victim{start: sv.Start, end: sv.End, packets: sv.Packets, kinds: sv.Kinds, reporters: sv.Reporters}
		for _, p := range sv.Ports {
			v.ports.add(p)
		}
		key := [2]uint64{sv.Hi, sv.Lo}
		g.victims[key] = v
		g.vdue.push(victimDue{end: v.end, k: key, v: v})
	}
	return nil
}

// loadSource adds one saved source as the most recently seen.
func (g *Engine) loadSource(ss *savedSource) error {
	if ss.Flags&fLive == 0 {
		return errors.New("load detector state: a source without the live flag")
	}
	agg := ss.Flags&fAgg != 0
	i := g.touch(ss.Hi, ss.Lo, agg, ss.First, nilIdx)
	s := g.at(i)
	s.flags = ss.Flags
	s.first, s.last, s.lastAlert = ss.First, ss.Last, ss.LastAlert
	s.packets, s.bsPackets, s.repPackets, s.maxAbs = ss.Packets, ss.BSPackets, ss.RepPackets, ss.MaxAbs
	s.repHosts, s.types, s.repTypes, s.osProbes = ss.RepHosts, ss.Types, ss.RepTypes, ss.OSProbes
	s.level, s.repLevel, s.bsKinds = event.DangerLevel(ss.Level), event.DangerLevel(ss.RepLevel), ss.BSKinds
	s.origin = g.intern(ss.Origin)
	for _, p := range ss.Protos {
		s.addProto(p)
	}
	for _, f := range ss.FlagCombos {
		s.addFlags(f)
	}
	s.dsts = ss.Dsts
	for _, sp := range ss.Ports {
		pp := s.portsFor(event.Proto(sp.Proto))
		for _, p := range sp.Cum {
			pp.cum.add(p)
		}
		for _, p := range sp.Fresh {
			pp.fresh.add(p)
		}
	}
	if len(ss.HLL) > 0 || len(ss.More) > 0 || len(ss.Sigs) > 0 || ss.OS != "" || ss.Tool != nil || ss.Member != 0 || ss.SigLevel != 0 {
		x := g.extra(s)
		x.more = ss.More
		if len(ss.HLL) == hllM {
			x.hll = new(hll)
			copy(x.hll.reg[:], ss.HLL)
			x.hllEst = x.hll.estimate()
		}
		x.sigs, x.repSigs, x.sigLevel = ss.Sigs, ss.RepSigs, event.DangerLevel(ss.SigLevel)
		x.os, x.repOS, x.tool, x.repTool, x.member = ss.OS, ss.RepOS, ss.Tool, ss.RepTool, ss.Member
	}
	if s.flags&fDirty != 0 {
		g.dirty = append(g.dirty, i)
	}
	s.vb = s.varBytesNow()
	g.varBytes += int64(s.vb)
	return nil
}
