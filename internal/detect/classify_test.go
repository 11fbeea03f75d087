package detect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// pkt builds a packet event. Options are hex-free byte strings.
type pkt struct {
	src, dst         string
	proto            event.Proto
	sport, dport     uint16
	flags            event.TCPFlags
	win              uint16
	opts             string
	df               bool
	ttl              uint8
	ipid             uint32
	totLen           uint16
	tos              uint8
	icmpType, icmpCd uint8
	udpLen           uint16
	at               time.Duration
	quoted           *event.Quoted
	payload          string
}

func (p pkt) ev() event.Event {
	var e event.Event
	e.Kind = event.KindPacket
	e.Time = t0.Add(p.at)
	e.Src = netip.MustParseAddr(p.src)
	e.Dst = netip.MustParseAddr(p.dst)
	e.IPVersion = 4
	e.IHL = 20
	if e.Src.Is6() {
		e.IPVersion, e.IHL = 6, 40
	}
	e.Proto = p.proto
	e.SrcPort, e.DstPort = p.sport, p.dport
	e.Flags, e.Window = p.flags, p.win
	e.SetTCPOptions([]byte(p.opts))
	if p.df {
		e.IPFlags |= event.IPFlagDF
	}
	e.TTL, e.IPID, e.TOS = p.ttl, p.ipid, p.tos
	e.ICMPType, e.ICMPCode = p.icmpType, p.icmpCd
	e.UDPLen = p.udpLen
	if p.udpLen >= 8 {
		e.PayloadLen = p.udpLen - 8
	}
	if p.payload != "" {
		e.SetPayload([]byte(p.payload), int(e.PayloadLen))
	}
	e.TotalLen = p.totLen
	if e.TotalLen == 0 {
		switch p.proto {
		case event.ProtoTCP:
			e.TotalLen = uint16(e.IHL) + 20 + uint16(len(p.opts))
		case event.ProtoUDP:
			e.TotalLen = uint16(e.IHL) + p.udpLen
		case event.ProtoICMP, event.ProtoICMPv6:
			e.TotalLen = uint16(e.IHL) + 8
		default:
			e.TotalLen = uint16(e.IHL)
		}
	}
	if p.quoted != nil {
		e.HasQuoted = true
		e.Quoted = *p.quoted
	}
	return e
}

// Wire facts used below, with their sources:
//   - nmap raw TCP scans (-sS -sF -sN -sX -sA -sW -sM): window 1024, SYN
//     with one option MSS 1460 (02 04 05 b4), no DF, fixed source port per
//     pass — nmap 7.93 on this machine (tcpdump of `nmap -sS`), and the
//     Emerging Threats rules "ET SCAN NMAP -sS window 1024" (sid 2009582).
//   - nmap -sT uses connect(): the Linux stack's SYN, window 64240, options
//     MSS,SACK_PERM,TS,NOP,WS(7) (20 bytes), DF, TTL 64 (Linux tcp_output.c
//     option order; seen in the foundation's kernel LOG golden files).
//   - Windows connect SYN: window 64240, MSS,NOP,WS(8),NOP,NOP,SACK_PERM, DF.
//   - nmap -O probes: osscan2.cc prbOpts[]/prbWindowSz[] (see osProbes).
//   - nmap -PE/-PP/-PM: ICMP types 8/13/17 (nmap man page, "Host Discovery").
var (
	optNmapMSS  = "\x02\x04\x05\xb4"
	optLinuxSYN = "\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x01\x02\x03\x00\x00\x00\x00\x01\x03\x03\x07"
	optWinSYN   = "\x02\x04\x05\xb4\x01\x03\x03\x08\x01\x01\x04\x02"
	optLinuxACK = "\x01\x01\x08\x0a\x00\x01\x02\x03\x00\x01\x02\x03"
)

func TestClassify(t *testing.T) {
	const A, V = "198.51.100.7", "192.0.2.10"
	tests := []struct {
		name  string
		p     pkt
		class uint8
		scan  scanType
		os    int
	}{
		{"nmap -sS", pkt{src: A, dst: V, proto: event.ProtoTCP, sport: 40000, dport: 22, flags: event.FlagSYN, win: 1024, opts: optNmapMSS, ttl: 47}, clsProbe, stSYN, -1},
		{"nmap -sS old window 4096 no options", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 4096}, clsProbe, stSYN, -1},
		{"masscan SYN window 1024 no options", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 1024, ttl: 255}, clsProbe, stSYN, -1},
		{"zmap SYN window 65535 no DF", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 65535, ipid: 54321, ttl: 255}, clsProbe, stSYN, -1},
		{"linux connect -sT", pkt{src: A, dst: V, proto: event.ProtoTCP, sport: 51234, dport: 22, flags: event.FlagSYN, win: 64240, opts: optLinuxSYN, df: true, ttl: 64}, clsProbe, stConnect, -1},
		{"linux connect -sT with ECN", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN | event.FlagECE | event.FlagCWR, win: 64240, opts: optLinuxSYN, df: true}, clsProbe, stConnect, -1},
		{"windows connect", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 64240, opts: optWinSYN, df: true, ttl: 128}, clsProbe, stConnect, -1},
		{"linux connect, options not logged (LEN=60)", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 64240, df: true, totLen: 60}, clsProbe, stConnect, -1},
		{"nmap SYN, options not logged (LEN=44)", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 1024, totLen: 44}, clsProbe, stSYN, -1},
		{"-sF", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagFIN, win: 1024}, clsProbe, stFIN, -1},
		{"-sN", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: 0, win: 1024}, clsProbe, stNULL, -1},
		{"-sX", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagFIN | event.FlagPSH | event.FlagURG, win: 1024}, clsProbe, stXmas, -1},
		{"-sA/-sW", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagACK, win: 1024}, clsProbe, stACK, -1},
		{"-sM", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagFIN | event.FlagACK, win: 1024}, clsProbe, stMaimon, -1},
		{"stack ACK of a connection is no -sA", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagACK, win: 502, opts: optLinuxACK, df: true}, clsProbe, noType, -1},
		{"stack FIN-ACK is no -sM", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagFIN | event.FlagACK, win: 502, opts: optLinuxACK, df: true}, clsProbe, noType, -1},
		{"SYN+FIN is no scan type", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN | event.FlagFIN, win: 1024}, clsProbe, noType, -1},
		{"-sU", pkt{src: A, dst: V, proto: event.ProtoUDP, sport: 40000, dport: 161, udpLen: 8}, clsProbe, stUDP, -1},
		{"-PE", pkt{src: A, dst: V, proto: event.ProtoICMP, icmpType: 8}, clsProbe, stEcho, -1},
		{"-PP", pkt{src: A, dst: V, proto: event.ProtoICMP, icmpType: 13, totLen: 40}, clsProbe, stTimestamp, -1},
		{"-PM", pkt{src: A, dst: V, proto: event.ProtoICMP, icmpType: 17, totLen: 32}, clsProbe, stMask, -1},
		{"ICMPv6 echo", pkt{src: "2001:db8::7", dst: "2001:db8:1::1", proto: event.ProtoICMPv6, icmpType: 128}, clsProbe, stEcho, -1},
		{"GRE probe (-sO material)", pkt{src: A, dst: V, proto: event.ProtoGRE}, clsProbe, noType, -1},
		// nmap -O, osscan2.cc: SEQ probes 1..6, ECN, T2..T7, IE, U1.
		{"-O T1", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 1, opts: osProbes[0].opts}, clsProbe, stOS, 0},
		{"-O SEQ2", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 63, opts: osProbes[1].opts}, clsProbe, stOS, 1},
		{"-O SEQ4 (same window as SEQ3)", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 4, opts: osProbes[3].opts}, clsProbe, stOS, 3},
		{"-O ECN", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN | event.FlagECE | event.FlagCWR, win: 3, opts: osProbes[6].opts}, clsProbe, stOS, 6},
		{"-O T2 (null flags, DF)", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: 0, win: 128, df: true, opts: osProbes[7].opts}, clsProbe, stOS, 7},
		{"-O T3", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN | event.FlagFIN | event.FlagURG | event.FlagPSH, win: 256, opts: osProbes[8].opts}, clsProbe, stOS, 8},
		{"-O T4 vs -sA: DF and options", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagACK, win: 1024, df: true, opts: osProbes[9].opts}, clsProbe, stOS, 9},
		{"-O T4 without logged options: DF", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagACK, win: 1024, df: true, totLen: 60}, clsProbe, stOS, 9},
		{"-O T7 vs -sX: window 65535 and WS 15", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagFIN | event.FlagPSH | event.FlagURG, win: 65535, opts: osProbes[12].opts}, clsProbe, stOS, 12},
		{"-O IE1", pkt{src: A, dst: V, proto: event.ProtoICMP, icmpType: 8, icmpCd: 9, df: true, totLen: 20 + 8 + 120}, clsProbe, stOS, osProbeIE1},
		{"-O IE2", pkt{src: A, dst: V, proto: event.ProtoICMP, icmpType: 8, tos: 4, totLen: 20 + 8 + 150}, clsProbe, stOS, osProbeIE2},
		{"-O U1", pkt{src: A, dst: V, proto: event.ProtoUDP, ipid: 0x1042, udpLen: 308, payload: "CCCCCCCCCC"}, clsProbe, stOS, osProbeU1},
		// Backscatter.
		{"SYN-ACK", pkt{src: A, dst: V, proto: event.ProtoTCP, sport: 80, flags: event.FlagSYN | event.FlagACK, win: 65535}, clsBackscatter, noType, -1},
		{"RST", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagRST}, clsBackscatter, noType, -1},
		{"RST-ACK", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagRST | event.FlagACK}, clsBackscatter, noType, -1},
		{"echo reply", pkt{src: A, dst: V, proto: event.ProtoICMP, icmpType: 0}, clsBackscatter, noType, -1},
		{"port unreachable", pkt{src: A, dst: V, proto: event.ProtoICMP, icmpType: 3, icmpCd: 3}, clsBackscatter, noType, -1},
		{"time exceeded", pkt{src: A, dst: V, proto: event.ProtoICMP, icmpType: 11}, clsBackscatter, noType, -1},
		{"ICMPv6 unreachable", pkt{src: "2001:db8::7", dst: "2001:db8:1::1", proto: event.ProtoICMPv6, icmpType: 1, icmpCd: 4}, clsBackscatter, noType, -1},
		// Found by TestDetectLive: no stack answers with SYN+RST or all six
		// flags (hping3 -S -R, -FSRPAU): crafted probes, not backscatter.
		{"SYN RST is a probe", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN | event.FlagRST, win: 512}, clsProbe, noType, -1},
		{"all six flags is a probe", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagFIN | event.FlagSYN | event.FlagRST | event.FlagPSH | event.FlagACK | event.FlagURG, win: 512}, clsProbe, noType, -1},
		{"RST-ACK with ECE is backscatter", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagRST | event.FlagACK | event.FlagECE}, clsBackscatter, noType, -1},
		// hping3's default SYN: SEQ6's window 512 but no options (LEN=40):
		// an -sS probe, not nmap's OS probe; with LEN unknown the window decides.
		{"hping3 SYN window 512 no options", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 512, ttl: 64}, clsProbe, stSYN, -1},
		{"-O SEQ6 options not logged (LEN=56)", pkt{src: A, dst: V, proto: event.ProtoTCP, flags: event.FlagSYN, win: 512, totLen: 56}, clsProbe, stOS, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.p.ev()
			c := classify(&e)
			if c.class != tc.class || c.scan != tc.scan || int(c.osProbe) != tc.os {
				t.Errorf("classify = class %d scan %q os %d, want class %d scan %q os %d",
					c.class, c.scan, c.osProbe, tc.class, tc.scan, tc.os)
			}
		})
	}
}
