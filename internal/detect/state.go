package detect

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"

	"github.com/darkscope/darkscope/internal/event"
)

// stateVersion is the version of the saved state layout.
const stateVersion = 1

// The saved state: plain exported structs for encoding/gob.
type savedState struct {
	Version  int
	WM, Next int64
	Sources  []savedSource // least recently seen first, so loading rebuilds the LRU order
	Victims  []savedVictim
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
// continues the same counts with Load.
func (g *Engine) Save(w io.Writer) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := savedState{Version: stateVersion, WM: g.wm, Next: g.next}
	for i := g.tail; i != nilIdx; {
		s := g.at(i)
		i = s.prev
		ss := savedSource{
			Hi: s.hi, Lo: s.lo, Flags: s.flags,
			First: s.first, Last: s.last, LastAlert: s.lastAlert,
			Packets: s.packets, BSPackets: s.bsPackets, RepPackets: s.repPackets, MaxAbs: s.maxAbs,
			RepHosts: s.repHosts, Types: s.types, RepTypes: s.repTypes, OSProbes: s.osProbes,
			Level: uint8(s.level), RepLevel: uint8(s.repLevel), BSKinds: s.bsKinds,
			Protos: s.protoList(), FlagCombos: s.flagList(),
			Dsts:   append([]dstRec(nil), s.dsts...),
			Origin: g.originName(s.origin),
		}
		for k := range s.ports {
			p := &s.ports[k]
			ss.Ports = append(ss.Ports, savedPorts{Proto: uint8(p.proto), Cum: p.cum.ports(), Fresh: p.fresh.ports()})
		}
		if x := s.x; x != nil {
			ss.More = append([]uint32(nil), x.more...)
			if x.hll != nil {
				ss.HLL = append([]byte(nil), x.hll.reg[:]...)
			}
			ss.Sigs, ss.RepSigs, ss.SigLevel = x.sigs, x.repSigs, uint8(x.sigLevel)
			ss.OS, ss.RepOS, ss.Tool, ss.RepTool, ss.Member = x.os, x.repOS, x.tool, x.repTool, x.member
		}
		st.Sources = append(st.Sources, ss)
	}
	for k, v := range g.victims {
		st.Victims = append(st.Victims, savedVictim{
			Hi: k[0], Lo: k[1], Start: v.start, End: v.end, Packets: v.packets,
			Kinds: v.kinds, Ports: v.ports.ports(), Reporters: v.reporters,
		})
	}
	if err := gob.NewEncoder(w).Encode(&st); err != nil {
		return fmt.Errorf("save detector state: %w", err)
	}
	return nil
}

// Load replaces the engine's state with one written by Save. Sources beyond
// MaxSources (oldest first) are not loaded.
func (g *Engine) Load(r io.Reader) error {
	var st savedState
	if err := gob.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("load detector state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("load detector state: version %d, want %d", st.Version, stateVersion)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.addrs = make(map[[2]uint64]int32, len(st.Sources))
	g.aggs = make(map[uint64]int32)
	g.chunks, g.free, g.dirty = nil, nil, nil
	g.used, g.head, g.tail, g.varBytes = 0, nilIdx, nilIdx, 0
	g.victims = make(map[[2]uint64]*victim, len(st.Victims))
	g.wm, g.next = st.WM, st.Next
	for _, ss := range st.Sources {
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
	}
	for _, sv := range st.Victims {
		v := &victim{start: sv.Start, end: sv.End, packets: sv.Packets, kinds: sv.Kinds, reporters: sv.Reporters}
		for _, p := range sv.Ports {
			v.ports.add(p)
		}
		g.victims[[2]uint64{sv.Hi, sv.Lo}] = v
	}
	return nil
}
