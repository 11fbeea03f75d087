package detect

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// Explanation is every verdict about one address and the evidence behind
// it (`darkscope explain ADDR`).
type Explanation struct {
	Verdict    Verdict  `json:"verdict"`
	Aggregate  *Verdict `json:"aggregate,omitempty"` // the /64 of an IPv6 source, once it saw two addresses
	Victim     *Victim  `json:"victim,omitempty"`    // the address as a backscatter victim
	NeverBlock bool     `json:"never_block"`
	Evidence   []string `json:"evidence"`
}

// scanEvidence says what each scan type was recognised from.
var scanEvidence = [numScanTypes]string{
	stSYN:       "SYNs not built by a TCP stack (no DF with SACK-permitted and timestamps/window scale): nmap's window 1024 and MSS-only option, masscan, zmap, hping3",
	stConnect:   "SYNs built by an operating system's TCP stack (DF, SACK-permitted with timestamps and/or window scale): connect() calls",
	stFIN:       "FIN-only segments",
	stNULL:      "segments without any flag",
	stXmas:      "FIN PSH URG segments",
	stACK:       "bare ACKs without timestamps, nmap's window or no DF (-sA and -sW send the same probe)",
	stMaimon:    "FIN ACK segments without timestamps, nmap's window or no DF",
	stUDP:       "UDP datagrams",
	stProto:     "",
	stOS:        "",
	stEcho:      "ICMP echo requests",
	stTimestamp: "ICMP timestamp requests",
	stMask:      "ICMP address-mask requests",
}

var osProbeNames = func() [numOSProbes]string {
	var n [numOSProbes]string
	for i, p := range osProbes {
		n[i] = p.name
	}
	n[osProbeIE1], n[osProbeIE2], n[osProbeU1] = "IE1", "IE2", "U1"
	return n
}()

// Explain returns what the engine knows about address a.
func (g *Engine) Explain(a netip.Addr) (Explanation, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := addrKey(a)
	var x Explanation
	_, ok := g.find(k[0], k[1], false)
	if v := g.victims[k]; v != nil && !g.scanner(k) {
		vv := victimOf(k, v)
		x.Victim = &vv
		ok = true
		x.NeverBlock = true
	}
	if !ok {
		return x, false
	}
	if i, found := g.find(k[0], k[1], false); found {
		s := g.at(i)
		x.Verdict = g.verdict(s)
		x.Evidence = g.evidence(s)
		if isBackscatter(s) {
			x.NeverBlock = true
		}
	} else {
		x.Verdict = Verdict{Src: a.String(), ScanTypes: []string{}, Signatures: []string{}, Protocols: []string{}, Flags: []string{}, DstPorts: map[string]string{}}
	}
	if a.Unmap().Is6() {
		if j, found := g.find(k[0], 0, true); found && g.at(j).flags&fMulti != 0 {
			v := g.verdict(g.at(j))
			x.Aggregate = &v
		}
	}
	if x.Victim != nil {
		x.Evidence = append(x.Evidence, fmt.Sprintf("backscatter victim: %d packets (%s) from %s to %s, %.1f packets/s",
			x.Victim.Packets, strings.Join(x.Victim.Kinds, ", "), x.Victim.Start.Format(time.RFC3339), x.Victim.End.Format(time.RFC3339), x.Victim.Rate))
	}
	return x, true
}

func (g *Engine) evidence(s *srcState) []string {
	cfg := &g.cfg
	var ev []string
	hosts := s.hosts()
	ev = append(ev, fmt.Sprintf("%d probe packets to %d hosts over %d ports: pattern %q (horizontal from %d hosts, vertical from %d ports)",
		s.packets, hosts, s.portCount(), g.pattern(s), cfg.HorizontalHosts, cfg.VerticalPorts))
	if s.level > 0 {
		why := []string{fmt.Sprintf("busiest destination %d packets (levels at %v packets)", s.maxAbs, cfg.DangerPackets)}
		if cfg.DangerHosts[0] > 0 {
			why = append(why, fmt.Sprintf("%d hosts (sweep levels at %v hosts)", hosts, cfg.DangerHosts))
		}
		if s.x != nil && s.x.sigLevel > 0 {
			why = append(why, fmt.Sprintf("signature level %d", s.x.sigLevel))
		}
		ev = append(ev, fmt.Sprintf("danger level %d: %s", s.level, strings.Join(why, "; ")))
	}
	t := g.allTypes(s)
	for k := scanType(0); k < numScanTypes; k++ {
		if t&(1<<k) == 0 {
			continue
		}
		switch k {
		case stProto:
			var names []string
			for _, p := range s.protoList() {
				names = append(names, event.Proto(p).String())
			}
			ev = append(ev, fmt.Sprintf("-sO: %d IP protocols (%s), threshold %d", len(names), strings.Join(names, ", "), cfg.ProtocolScanThreshold))
		case stOS:
			var names []string
			for p := 0; p < numOSProbes; p++ {
				if s.osProbes&(1<<p) != 0 {
					names = append(names, osProbeNames[p])
				}
			}
			ev = append(ev, fmt.Sprintf("-O: %d of nmap's %d OS-detection probes (%s), threshold %d", len(names), numOSProbes, strings.Join(names, " "), cfg.OSProbeMin))
		default:
			ev = append(ev, k.String()+": "+scanEvidence[k])
		}
	}
	if s.bsPackets > 0 {
		var kinds []string
		for b := uint8(0); b < numBSKinds; b++ {
			if s.bsKinds&(1<<b) != 0 {
				kinds = append(kinds, bsKindNames[b])
			}
		}
		verdict := "not a victim: fewer than its probes (a raw scanner's own kernel resets our SYN-ACKs)"
		if isBackscatter(s) {
			verdict = "a DoS victim or a router reporting spoofed packets: never blocked"
		}
		ev = append(ev, fmt.Sprintf("%d backscatter packets (%s) against %d probes: %s", s.bsPackets, strings.Join(kinds, ", "), s.packets, verdict))
	}
	return ev
}

func victimOf(k [2]uint64, v *victim) Victim {
	var kinds []string
	for b := uint8(0); b < numBSKinds; b++ {
		if v.kinds&(1<<b) != 0 {
			kinds = append(kinds, bsKindNames[b])
		}
	}
	return Victim{
		Addr:     keyAddr(k[0], k[1]),
		Start:    time.Unix(0, v.start).UTC(),
		End:      time.Unix(0, v.end).UTC(),
		Packets:  v.packets,
		Rate:     rate(v.packets, v.start, v.end),
		Kinds:    kinds,
		Ports:    v.ports.String(),
		Reported: uint64(v.reporters),
	}
}
