package detect

import (
	"net/netip"
	"slices"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// victim is a host that, by the backscatter reaching the sensor, is being
// attacked with packets that carry spoofed source addresses from our space.
type victim struct {
	start, end int64 // Unix ns
	packets    uint64
	kinds      uint8   // bit per bs* kind
	ports      portSet // the victim's ports that were hit (bounded: array form only)
	reporters  uint32  // packets reported by a third party (an ICMP error from a router)
}

// victimDue is a tracked victim with the end time it had when queued: a
// lower bound of its end, which only grows.
type victimDue struct {
	end int64
	k   [2]uint64
	v   *victim
}

// victimHeap orders victims by queued end (a binary min-heap), so expire
// visits only the victims that may have gone silent instead of every
// tracked one at every report interval (with 1M sources that walk was ~3%
// of an import's CPU). Each tracked victim has exactly one entry.
type victimHeap []victimDue

func (h *victimHeap) push(d victimDue) {
	*h = append(*h, d)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if q[p].end <= q[i].end {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
}

func (h *victimHeap) pop() victimDue {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = victimDue{}
	q = q[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && q[l].end < q[m].end {
			m = l
		}
		if r := l + 1; r < n && q[r].end < q[m].end {
			m = r
		}
		if m == i {
			break
		}
		q[m], q[i] = q[i], q[m]
		i = m
	}
	*h = q
	return top
}

// expireVictims forgets the victims silent since before cutoff: exactly
// those whose end is below it (a queued end below cutoff whose victim has
// since been seen again is queued anew with its current end).
func (g *Engine) expireVictims(cutoff int64) {
	for len(g.vdue) > 0 && g.vdue[0].end < cutoff {
		d := g.vdue.pop()
		if g.victims[d.k] != d.v {
			continue // replaced (a state file with the address twice)
		}
		if d.v.end < cutoff {
			delete(g.victims, d.k)
			continue
		}
		g.vdue.push(victimDue{end: d.v.end, k: d.k, v: d.v})
	}
}

// maxVictimPorts bounds the ports kept per victim.
const maxVictimPorts = portSetArrayMax

// noteVictim records a backscatter packet.
//
// Who the victim is:
//   - TCP SYN-ACK, RST, RST-ACK and ICMP echo/timestamp/mask replies: the
//     sender. An attacker sent it SYNs (or pings) with our address as the
//     source; it answers us.
//   - ICMP/ICMPv6 errors (unreachable, time exceeded, parameter problem,
//     source quench, packet too big): the error quotes the packet that
//     caused it. That packet's source is ours (spoofed by the attacker,
//     which is why the error comes here) and its destination is the host the
//     attacker flooded: the victim is the quoted destination. The ICMP sender
//     is either that host itself or a router on the way to it; a router is
//     not a victim but still no attacker, so its own source state is marked
//     backscatter as well (never blocked). Without a quote the sender is
//     taken as the victim.
func (g *Engine) noteVictim(ev *event.Event, c *classification, t int64) {
	va := ev.Src
	port, hasPort := uint16(0), false
	third := false
	switch {
	case ev.Proto == event.ProtoTCP:
		port, hasPort = ev.SrcPort, true
	case c.bsKind != bsEchoReply && ev.HasQuoted && ev.Quoted.Dst.IsValid():
		va = ev.Quoted.Dst
		third = va.Unmap() != ev.Src.Unmap()
		if ev.Quoted.Proto == event.ProtoTCP || ev.Quoted.Proto == event.ProtoUDP || ev.Quoted.Proto == event.ProtoSCTP || ev.Quoted.Proto == event.ProtoUDPLite {
			port, hasPort = ev.Quoted.DstPort, true
		}
	}
	k := addrKey(va)
	v := g.victims[k]
	if v == nil {
		if len(g.victims) >= g.cfg.MaxVictims {
			g.stats.VictimsDropped++
			return
		}
		v = &victim{start: t, end: t}
		g.victims[k] = v
		g.vdue.push(victimDue{end: t, k: k, v: v})
	}
	if t < v.start {
		v.start = t
	}
	if t > v.end {
		v.end = t
	}
	v.packets++
	v.kinds |= 1 << c.bsKind
	if third {
		v.reporters++
	}
	if hasPort && (v.ports.len() < maxVictimPorts || v.ports.has(port)) {
		v.ports.add(port)
	}
}

// Victim is a DoS victim seen through backscatter.
type Victim struct {
	Addr     netip.Addr `json:"victim"`
	Start    time.Time  `json:"start"`
	End      time.Time  `json:"end"`
	Packets  uint64     `json:"packets"`
	Rate     float64    `json:"rate"`  // packets per second between start and end (at least 1 s)
	Kinds    []string   `json:"kinds"` // syn-ack, rst, icmp-unreachable, icmp-time-exceeded, echo-reply, icmp-other-error
	Ports    string     `json:"ports"` // the victim's ports that were attacked, as ranges
	Reported uint64     `json:"reported_by_third_party"`
}

func rate(packets uint64, start, end int64) float64 {
	d := float64(end-start) / float64(time.Second)
	if d < 1 {
		d = 1
	}
	return float64(packets) / d
}

// Victims returns the backscatter victims seen within the scan timeout,
// most packets first.
func (g *Engine) Victims() []Victim {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Victim, 0, len(g.victims))
	for k, v := range g.victims {
		if g.scanner(k) {
			continue
		}
		out = append(out, victimOf(k, v))
	}
	slices.SortFunc(out, func(a, b Victim) int {
		if a.Packets != b.Packets {
			if a.Packets > b.Packets {
				return -1
			}
			return 1
		}
		return a.Addr.Compare(b.Addr)
	})
	return out
}

// NeverBlock reports whether a must never be blocked: a source whose
// packets are mostly backscatter, or a backscatter victim that sent us
// nothing else (a victim or a
// router reporting errors about spoofed packets). Blocking it would let an
// attacker who spoofs our addresses turn the block list against the hosts
// he attacks.
func (g *Engine) NeverBlock(a netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := addrKey(a)
	if i, ok := g.find(k[0], k[1], false); ok {
		return isBackscatter(g.at(i))
	}
	_, ok := g.victims[k]
	return ok
}

// scanner reports whether the address behind a victim record is itself a
// source that sent more probes than backscatter: the RSTs a scanner's own
// kernel sends when our SYN-ACKs reach its raw SYN scan (nmap -sS, -O)
// make no victim of it.
func (g *Engine) scanner(k [2]uint64) bool {
	i, ok := g.find(k[0], k[1], false)
	return ok && !isBackscatter(g.at(i))
}

// isBackscatter: more backscatter than probe packets.
func isBackscatter(s *srcState) bool { return s.bsPackets > 0 && s.bsPackets >= s.packets }
