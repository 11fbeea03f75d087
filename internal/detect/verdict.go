package detect

import (
	"net/netip"
	"slices"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// Verdict is what the engine concludes about one source; its JSON keys are
// those of `darkscope scans --json`.
type Verdict struct {
	Src                string            `json:"src"` // address, or "2001:db8:1:2::/64" for an IPv6 aggregate
	DangerLevel        int               `json:"danger_level"`
	Pattern            string            `json:"pattern"`
	ScanTypes          []string          `json:"scan_types"`
	Signatures         []string          `json:"signatures"`
	OS                 string            `json:"os"`
	Tool               *event.Tool       `json:"tool"`
	Backscatter        bool              `json:"backscatter"`
	FirstSeen          time.Time         `json:"first_seen"`
	LastSeen           time.Time         `json:"last_seen"`
	Packets            uint64            `json:"packets"`
	DstPorts           map[string]string `json:"dst_ports"`
	Destinations       uint64            `json:"destinations"`
	Protocols          []string          `json:"protocols"`
	Flags              []string          `json:"flags"`
	BackscatterPackets uint64            `json:"backscatter_packets"`
	Aggregate          bool              `json:"aggregate,omitempty"`
	// Origin is the import that gave the source's latest packet
	// ("import:<time>:<file>", see ImportID); empty for live traffic.
	Origin string `json:"origin,omitempty"`

	prefix netip.Prefix
}

// Prefix is the source as a prefix (/32, /128 or /64).
func (v *Verdict) Prefix() netip.Prefix { return v.prefix }

// VerdictFilter selects verdicts.
type VerdictFilter struct {
	Since    time.Time         // last seen at or after (zero: all)
	MinLevel event.DangerLevel // at least this level; sources with signatures, a tool or backscatter are listed at any level
	Src      netip.Prefix      // only sources within (zero: all)
}

// scanTypes lists the nmap scan types of s.
func (g *Engine) scanTypes(s *srcState) []string {
	out := []string{}
	t := g.allTypes(s)
	for k := scanType(0); k < numScanTypes; k++ {
		if t&(1<<k) != 0 {
			out = append(out, scanTypeNames[k])
		}
	}
	return out
}

// allTypes is the scan-type set of s including the per-source verdicts
// -sO and -O. nmap -sO probes TCP with an ACK to port 80, UDP with an empty
// datagram and ICMP with an echo request; when -sO is reported and the
// source touched at most one port per transport protocol, those probes are part of it and
// -sA/-sW, -sU and -PE are not reported besides.
func (g *Engine) allTypes(s *srcState) uint16 {
	t := s.types
	if s.protoCount() >= g.cfg.ProtocolScanThreshold {
		t |= 1 << stProto
		single := true
		for k := range s.ports {
			single = single && s.ports[k].cum.len() <= 1
		}
		if single {
			t &^= 1<<stACK | 1<<stUDP | 1<<stEcho
		}
	}
	if bits16(s.osProbes) >= g.cfg.OSProbeMin {
		t |= 1 << stOS
	}
	return t
}

func bits16(x uint16) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func (g *Engine) pattern(s *srcState) string {
	if s.packets == 0 {
		return ""
	}
	h := s.hosts() >= uint64(g.cfg.HorizontalHosts)
	v := s.portCount() >= g.cfg.VerticalPorts
	switch {
	case h && v:
		return "block"
	case h:
		return "horizontal"
	case v:
		return "vertical"
	}
	return "single"
}

func flagName(f uint8) string {
	if f == 0 {
		return "NULL"
	}
	return event.TCPFlags(f).String()
}

func portsMap(s *srcState, fresh bool) map[string]string {
	m := map[string]string{}
	for k := range s.ports {
		ps := &s.ports[k].cum
		if fresh {
			ps = &s.ports[k].fresh
		}
		if ps.len() > 0 {
			m[s.ports[k].proto.String()] = ps.String()
		}
	}
	return m
}

func srcPrefix(s *srcState) netip.Prefix {
	a := keyAddr(s.hi, s.lo)
	if s.flags&fAgg != 0 {
		return netip.PrefixFrom(a, 64)
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// verdict builds the verdict of s.
func (g *Engine) verdict(s *srcState) Verdict {
	g.refreshTool(s)
	p := srcPrefix(s)
	v := Verdict{
		Src:                p.Addr().String(),
		DangerLevel:        int(s.level),
		Pattern:            g.pattern(s),
		ScanTypes:          g.scanTypes(s),
		Signatures:         []string{},
		Backscatter:        isBackscatter(s),
		FirstSeen:          time.Unix(0, s.first).UTC(),
		LastSeen:           time.Unix(0, s.last).UTC(),
		Packets:            uint64(s.packets),
		DstPorts:           portsMap(s, false),
		Destinations:       s.hosts(),
		Protocols:          []string{},
		Flags:              []string{},
		BackscatterPackets: uint64(s.bsPackets),
		Aggregate:          s.flags&fAgg != 0,
		Origin:             g.originName(s.origin),
		prefix:             p,
	}
	if v.Aggregate {
		v.Src = p.String()
	}
	for _, q := range s.protoList() {
		v.Protocols = append(v.Protocols, event.Proto(q).String())
	}
	for _, f := range s.flagList() {
		v.Flags = append(v.Flags, flagName(f))
	}
	if x := s.x; x != nil {
		v.Signatures = append(v.Signatures, x.sigs...)
		v.OS = x.os
		if x.tool != nil {
			t := *x.tool
			t.Evidence = append([]string(nil), t.Evidence...)
			v.Tool = &t
		}
	}
	return v
}

// listed reports whether a source has a verdict worth listing at min level.
func listed(s *srcState, min event.DangerLevel) bool {
	if s.flags&fAgg != 0 && s.flags&fMulti == 0 {
		return false // an aggregate of one address says nothing its address does not
	}
	if s.level >= min && s.level > 0 {
		return true
	}
	if isBackscatter(s) {
		return true
	}
	return s.x != nil && (len(s.x.sigs) > 0 || s.x.tool != nil)
}

// Verdicts returns a snapshot of the verdicts of all tracked sources that
// pass f, highest danger level first, then most probe packets, most
// backscatter packets, then address.
func (g *Engine) Verdicts(f VerdictFilter) []Verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Verdict
	since := int64(0)
	if !f.Since.IsZero() {
		since = f.Since.UnixNano()
	}
	for i := g.head; i != nilIdx; {
		s := g.at(i)
		i = s.next
		if s.last < since || !listed(s, f.MinLevel) {
			continue
		}
		if f.MinLevel > 0 && s.level < f.MinLevel && !isBackscatter(s) && (s.x == nil || (len(s.x.sigs) == 0 && s.x.tool == nil)) {
			continue
		}
		if f.Src.IsValid() {
			p := srcPrefix(s)
			if !f.Src.Contains(p.Addr()) || p.Bits() < f.Src.Bits() {
				continue
			}
		}
		out = append(out, g.verdict(s))
	}
	slices.SortFunc(out, func(a, b Verdict) int {
		switch {
		case a.DangerLevel != b.DangerLevel:
			return b.DangerLevel - a.DangerLevel
		case a.Packets != b.Packets:
			if a.Packets > b.Packets {
				return -1
			}
			return 1
		case a.BackscatterPackets != b.BackscatterPackets:
			if a.BackscatterPackets > b.BackscatterPackets {
				return -1
			}
			return 1
		}
		return a.prefix.Addr().Compare(b.prefix.Addr()) + boolCmp(a.Aggregate, b.Aggregate)
	})
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Verdict returns the verdict about one address (not its aggregate).
func (g *Engine) Verdict(a netip.Addr) (Verdict, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := addrKey(a)
	i, ok := g.find(k[0], k[1], false)
	if !ok {
		return Verdict{}, false
	}
	return g.verdict(g.at(i)), true
}

// report closes the interval ending at end: an alert for every source with
// packets in it that qualifies (danger level at least MinDangerLevel, or
// backscatter when BackscatterAlerts, from a sender below level 1 once it
// sent BackscatterMinPackets) and has something new to say, or
// whose previous alert is older than RepeatAfter.
func (g *Engine) report(end int64, emit func(event.Event)) {
	iv := int64(g.cfg.ReportInterval)
	for _, i := range g.dirty {
		s := g.at(i)
		if s.flags&fDirty == 0 || s.flags&fLive == 0 {
			continue
		}
		s.flags &^= fDirty
		if s.flags&fAgg != 0 && s.flags&fMulti == 0 {
			continue
		}
		bs := isBackscatter(s)
		qualifies := (s.level >= g.cfg.MinDangerLevel && s.level > 0) ||
			(bs && g.cfg.BackscatterAlerts && (s.level > 0 || int(s.bsPackets) >= g.cfg.BackscatterMinPackets))
		if !qualifies {
			continue
		}
		hosts := s.hosts()
		types := g.allTypes(s)
		news := s.lastAlert == 0 || s.level > s.repLevel || types != s.repTypes || uint32(hosts) > s.repHosts
		for k := range s.ports {
			if s.ports[k].fresh.len() > 0 {
				news = true
			}
		}
		if x := s.x; x != nil && (len(x.sigs) != x.repSigs || x.os != x.repOS || (x.tool != nil && x.tool.Name != x.repTool)) {
			news = true
		}
		if !news && (g.cfg.RepeatAfter == 0 || end-s.lastAlert < int64(g.cfg.RepeatAfter)) {
			g.stats.Suppressed++
			continue
		}
		v := g.verdict(s)
		a := &event.Alert{
			Src:                v.prefix.Addr(),
			Prefix:             v.prefix,
			Level:              s.level,
			Pattern:            v.Pattern,
			ScanTypes:          v.ScanTypes,
			Flags:              v.Flags,
			Protocols:          v.Protocols,
			Signatures:         v.Signatures,
			OS:                 v.OS,
			Tool:               v.Tool,
			Backscatter:        bs,
			Origin:             v.Origin,
			FirstSeen:          v.FirstSeen,
			LastSeen:           v.LastSeen,
			Packets:            uint64(s.packets),
			NewPackets:         uint64(s.packets - s.repPackets),
			BackscatterPackets: uint64(s.bsPackets),
			DstPorts:           v.DstPorts,
			NewDstPorts:        portsMap(s, true),
			Destinations:       hosts,
			IntervalStart:      time.Unix(0, end-iv).UTC(),
			IntervalEnd:        time.Unix(0, end).UTC(),
		}
		if bs {
			a.Rate = rate(uint64(s.bsPackets), s.first, s.last)
		}
		// Mark what was reported.
		s.lastAlert = end
		s.repLevel = s.level
		s.repTypes = types
		s.repHosts = uint32(min(hosts, uint64(^uint32(0))))
		s.repPackets = s.packets
		for k := range s.ports {
			s.ports[k].fresh.reset()
		}
		if x := s.x; x != nil {
			x.repSigs = len(x.sigs)
			x.repOS = x.os
			if x.tool != nil {
				x.repTool = x.tool.Name
			}
		}
		nb := s.varBytesNow()
		g.varBytes += int64(nb) - int64(s.vb)
		s.vb = nb
		g.stats.Alerts++
		emit(event.Event{
			Time:      a.IntervalEnd,
			Kind:      event.KindAlert,
			Src:       a.Src,
			IPVersion: uint8(4 + 2*boolInt(a.Src.Is6())),
			Alert:     a,
		})
	}
	g.dirty = g.dirty[:0]
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
