package detect

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// Summary is the detector's part of `darkscope summary` (psad -S): how
// many sources sit at each danger level, the ports scanned by the most
// sources, the most frequent signatures and tools, the top sources and the
// backscatter victims with the most packets.
type Summary struct {
	Sources       int         `json:"sources"`          // tracked source addresses (IPv6 /64 aggregates not counted)
	ByLevel       [6]int      `json:"by_level"`         // sources per danger level 0..5
	Backscatter   int         `json:"backscatter"`      // sources that sent backscatter (DoS victims)
	TopPorts      []PortCount `json:"top_ports"`        // ports scanned by the most sources (level ≥ 1, a signature or a tool)
	TopSignatures []NameCount `json:"top_signatures"`   // signatures by sources that matched them
	TopTools      []NameCount `json:"top_tools"`        // scanner tools by sources fingerprinted as them
	TopSources    []Verdict   `json:"top_sources"`      // highest danger level first, then most packets
	TopVictims    []Victim    `json:"top_victims"`      // backscatter victims with the most packets
	Victims       int         `json:"victims"`          // all tracked backscatter victims
	Watermark     string      `json:"watermark"`        // the event-time watermark (RFC 3339), "" before any event
	Origins       []NameCount `json:"origins,omitzero"` // imports whose packets were last seen from listed sources ("" = live excluded)
}

// PortCount is a destination port with the number of scanning sources
// that touched it.
type PortCount struct {
	Port    string `json:"port"` // "22/tcp"
	Sources uint64 `json:"sources"`
}

// NameCount is a name with a number of sources.
type NameCount struct {
	Name    string `json:"name"`
	Sources uint64 `json:"sources"`
}

// Summary computes the summary with at most n rows per top list (n ≤ 0: 20).
func (g *Engine) Summary(n int) Summary {
	if n <= 0 {
		n = 20
	}
	vs := g.Verdicts(VerdictFilter{MinLevel: 1})
	victims := g.Victims()

	g.mu.Lock()
	var sm Summary
	ports := map[uint32]uint64{} // proto<<16 | port → sources
	sigs, tools, origins := map[string]uint64{}, map[string]uint64{}, map[string]uint64{}
	for i := g.head; i != nilIdx; {
		s := g.at(i)
		i = s.next
		if s.flags&fAgg != 0 {
			continue
		}
		sm.Sources++
		sm.ByLevel[min(s.level, event.MaxDangerLevel)]++
		if isBackscatter(s) {
			sm.Backscatter++
		}
		if !listed(s, 1) || s.packets == 0 {
			continue
		}
		for k := range s.ports {
			proto := uint32(s.ports[k].proto) << 16
			s.ports[k].cum.each(func(p uint16) { ports[proto|uint32(p)]++ })
		}
		if x := s.x; x != nil {
			for _, name := range x.sigs {
				sigs[name]++
			}
			if x.tool != nil {
				tools[x.tool.Name]++
			}
		}
		if o := g.originName(s.origin); o != "" {
			origins[o]++
		}
	}
	if g.wm > 0 {
		sm.Watermark = timeRFC3339(g.wm)
	}
	g.mu.Unlock()

	pc := make([]PortCount, 0, len(ports))
	for k, c := range ports {
		pc = append(pc, PortCount{Port: strconv.Itoa(int(k&0xffff)) + "/" + event.Proto(k>>16).String(), Sources: c})
	}
	slices.SortFunc(pc, func(a, b PortCount) int {
		return cmp.Or(cmp.Compare(b.Sources, a.Sources), portKeyCmp(a.Port, b.Port))
	})
	sm.TopPorts = pc[:min(n, len(pc))]
	sm.TopSignatures = topNames(sigs, n)
	sm.TopTools = topNames(tools, n)
	sm.Origins = topNames(origins, n)
	if len(sm.Origins) == 0 {
		sm.Origins = nil
	}
	sm.TopSources = vs[:min(n, len(vs))]
	sm.Victims = len(victims)
	sm.TopVictims = victims[:min(n, len(victims))]
	return sm
}

func topNames(m map[string]uint64, n int) []NameCount {
	out := make([]NameCount, 0, len(m))
	for k, c := range m {
		out = append(out, NameCount{k, c})
	}
	slices.SortFunc(out, func(a, b NameCount) int {
		return cmp.Or(cmp.Compare(b.Sources, a.Sources), cmp.Compare(a.Name, b.Name))
	})
	return out[:min(n, len(out))]
}

// portKeyCmp orders "22/tcp" keys by protocol name, then port number.
func portKeyCmp(a, b string) int {
	pa, na := splitPortKey(a)
	pb, nb := splitPortKey(b)
	return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(na, nb))
}

func splitPortKey(k string) (string, int) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			n, _ := strconv.Atoi(k[:i])
			return k[i+1:], n
		}
	}
	return k, 0
}

func timeRFC3339(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
