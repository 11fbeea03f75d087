package detect

import (
	"github.com/darkscope/darkscope/internal/event"
)

// scanType is a bit index of the nmap scan types a defender recognises.
type scanType uint8

const (
	stSYN       scanType = iota // -sS: raw half-open SYN
	stConnect                   // -sT: kernel-stack connect() SYN
	stFIN                       // -sF
	stNULL                      // -sN
	stXmas                      // -sX: FIN PSH URG
	stACK                       // -sA and -sW: identical probes on the wire
	stMaimon                    // -sM: FIN ACK
	stUDP                       // -sU
	stProto                     // -sO: many IP protocols (decided per source)
	stOS                        // -O: the OS-detection probe set (decided per source)
	stEcho                      // -PE: ICMP echo request
	stTimestamp                 // -PP: ICMP timestamp request
	stMask                      // -PM: ICMP address-mask request
	numScanTypes
)

var scanTypeNames = [numScanTypes]string{
	"-sS", "-sT", "-sF", "-sN", "-sX", "-sA/-sW", "-sM", "-sU", "-sO", "-O", "-PE", "-PP", "-PM",
}

func (t scanType) String() string {
	if t < numScanTypes {
		return scanTypeNames[t]
	}
	return ""
}

// Packet classes.
const (
	clsProbe       uint8 = iota // sent by a scanner (or anything that is not a response)
	clsBackscatter              // a response to a packet nobody here sent: the sender is a DoS victim
)

// noType is the scanType of a packet that matches no nmap scan type (odd
// flag combinations, other protocols); it still counts as a probe.
const noType scanType = 0xff

// osProbe describes one probe of nmap's second-generation OS detection, as
// nmap's osscan2.cc builds it (prbOpts[], prbWindowSz[], sendTSeqProbe,
// sendTEcnProbe, sendT1_7Probe, send_icmp_echo_probe, send_closedudp_probe;
// nmap 7.x). The TCP option bytes are exact, timestamps included
// (TSval 0xFFFFFFFF, TSecr 0).
type osProbe struct {
	name   string
	flags  event.TCPFlags
	window uint16
	df     bool // nmap sets DF on T2, T4 and T6 only
	opts   string
}

// osProbes: the six SEQ/OPS/WIN SYNs (T1 is the first of them), ECN, T2..T7.
// Indices 13..15 are the ICMP and UDP probes matched in classify.
var osProbes = [...]osProbe{
	{"T1/SEQ1", event.FlagSYN, 1, false, "\x03\x03\x0a\x01\x02\x04\x05\xb4\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x04\x02"},
	{"SEQ2", event.FlagSYN, 63, false, "\x02\x04\x05\x78\x03\x03\x00\x04\x02\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x00"},
	{"SEQ3", event.FlagSYN, 4, false, "\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x01\x01\x03\x03\x05\x01\x02\x04\x02\x80"},
	{"SEQ4", event.FlagSYN, 4, false, "\x04\x02\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x03\x03\x0a\x00"},
	{"SEQ5", event.FlagSYN, 16, false, "\x02\x04\x02\x18\x04\x02\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x03\x03\x0a\x00"},
	{"SEQ6", event.FlagSYN, 512, false, "\x02\x04\x01\x09\x04\x02\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00"},
	{"ECN", event.FlagSYN | event.FlagECE | event.FlagCWR, 3, false, "\x03\x03\x0a\x01\x02\x04\x05\xb4\x04\x02\x01\x01"},
	{"T2", 0, 128, true, "\x03\x03\x0a\x01\x02\x04\x01\x09\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x04\x02"},
	{"T3", event.FlagSYN | event.FlagFIN | event.FlagURG | event.FlagPSH, 256, false, "\x03\x03\x0a\x01\x02\x04\x01\x09\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x04\x02"},
	{"T4", event.FlagACK, 1024, true, "\x03\x03\x0a\x01\x02\x04\x01\x09\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x04\x02"},
	{"T5", event.FlagSYN, 31337, false, "\x03\x03\x0a\x01\x02\x04\x01\x09\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x04\x02"},
	{"T6", event.FlagACK, 32768, true, "\x03\x03\x0a\x01\x02\x04\x01\x09\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x04\x02"},
	{"T7", event.FlagFIN | event.FlagPSH | event.FlagURG, 65535, false, "\x03\x03\x0f\x01\x02\x04\x01\x09\x08\x0a\xff\xff\xff\xff\x00\x00\x00\x00\x04\x02"},
}

const (
	osProbeIE1 = len(osProbes) + iota // ICMP echo, code 9, DF, 120 data bytes
	osProbeIE2                        // ICMP echo, code 0, TOS 4, 150 data bytes
	osProbeU1                         // UDP, 300 bytes of 'C', IP ID 0x1042
	numOSProbes
)

// nmapWindows are the TCP windows nmap's raw scans use (1024 in nmap 7;
// 2048, 3072 and 4096 in older releases, as the Emerging Threats rules
// 2000537, 2009582-2009584 list them).
func nmapWindow(w uint16) bool { return w == 1024 || w == 2048 || w == 3072 || w == 4096 }

// tcpOptInfo summarises a TCP option list.
type tcpOptInfo struct {
	mss, sack, ts, ws bool
	kinds             int // options other than NOP/EOL
}

func parseTCPOpts(o []byte) tcpOptInfo {
	var r tcpOptInfo
	for i := 0; i < len(o); {
		switch o[i] {
		case 0:
			return r
		case 1:
			i++
			continue
		}
		if i+1 >= len(o) || o[i+1] < 2 {
			return r
		}
		switch o[i] {
		case 2:
			r.mss = true
		case 3:
			r.ws = true
		case 4:
			r.sack = true
		case 8:
			r.ts = true
		}
		r.kinds++
		i += int(o[i+1])
	}
	return r
}

// tcpOptBytes is the length of the TCP options: the logged bytes, or when
// the log carries none (no --log-tcp-options), what the IP length leaves
// after the IP and the 20-byte TCP header (SYN probes carry no payload).
func tcpOptBytes(e *event.Event) int {
	if e.TCPOptLen > 0 {
		return int(e.TCPOptLen)
	}
	n := int(e.TotalLen) - ipHeaderLen(e) - 20 - int(e.PayloadLen)
	if n < 0 || n > 40 {
		return 0
	}
	return n
}

// optBytesFromLen is the TCP option length implied by the IP length, when
// the length is known and plausible.
func optBytesFromLen(e *event.Event) (int, bool) {
	if e.TotalLen == 0 || e.Truncated {
		return 0, false
	}
	n := int(e.TotalLen) - ipHeaderLen(e) - 20 - int(e.PayloadLen)
	if n < 0 || n > 40 {
		return 0, false
	}
	return n, true
}

// ipHeaderLen is the IP header length: the decoded one, else (LOG lines
// without --log-ip-options print none) 20 for IPv4 and 40 for IPv6.
func ipHeaderLen(e *event.Event) int {
	switch {
	case e.IHL != 0:
		return int(e.IHL)
	case e.IPVersion == 6:
		return 40
	}
	return 20
}

func hasDF(e *event.Event) bool { return e.IPVersion == 6 || e.IPFlags&event.IPFlagDF != 0 }

// kernelSYN tells a SYN built by an operating system's TCP stack (a
// connect() call: nmap -sT, or any client) from a raw crafted one (nmap -sS,
// masscan, zmap, hping3). Stacks set DF (path MTU discovery) and send
// several options with SACK-permitted and timestamps and/or window scaling:
// Linux MSS,SACK,TS,NOP,WS (20 bytes, window 64240 at MTU 1500); Windows
// MSS,NOP,WS,NOP,NOP,SACK (12 bytes, window 64240/65535); macOS and BSD
// MSS,NOP,WS,NOP,NOP,TS,SACK,EOL. nmap's raw SYN is window 1024 with MSS
// only and no DF; masscan and zmap (before 4.0) send no options.
// Without logged options the option length is inferred from LEN= and
// at least 8 option bytes with DF outside nmap's windows count as a stack.
func kernelSYN(e *event.Event) bool {
	if !hasDF(e) || nmapWindow(e.Window) {
		return false
	}
	if e.TCPOptLen > 0 {
		o := parseTCPOpts(e.TCPOpts())
		return o.sack && (o.ts || o.ws)
	}
	return tcpOptBytes(e) >= 8
}

// rawSegment reports whether an ACK or FIN-ACK looks crafted (nmap -sA, -sW,
// -sM: window 1024, no options, no DF) rather than a stack's segment of a
// connection (timestamps, DF, a real window).
func rawSegment(e *event.Event) bool {
	if e.TCPOptLen > 0 {
		if parseTCPOpts(e.TCPOpts()).ts {
			return false
		}
	} else if tcpOptBytes(e) >= 8 {
		return false
	}
	return nmapWindow(e.Window) || !hasDF(e)
}

// matchOSProbe returns the index in osProbes of the TCP probe e is, or -1.
// With logged options the option bytes must match exactly; without them
// flags, window and DF must.
func matchOSProbe(e *event.Event) int {
	for i := range osProbes {
		p := &osProbes[i]
		if e.Flags != p.flags || e.Window != p.window {
			continue
		}
		if e.TCPOptLen > 0 {
			if string(e.TCPOpts()) == p.opts {
				return i
			}
			continue
		}
		if p.df && !hasDF(e) {
			continue
		}
		// Without logged options the lengths still tell the option bytes:
		// every probe has options, so a segment with room for none (hping3's
		// default SYN has SEQ6's window 512) is no probe. Only an unknown
		// length (no LEN=) leaves the window and flags to decide.
		if n, known := optBytesFromLen(e); !known || n == len(p.opts) {
			return i
		}
	}
	return -1
}

// icmpData is the ICMP data length after the 8-byte header.
func icmpData(e *event.Event) int {
	n := int(e.TotalLen) - ipHeaderLen(e) - 8
	if n < 0 {
		return 0
	}
	return n
}

// classification is what one packet says about its sender.
type classification struct {
	class   uint8
	scan    scanType // noType if none
	osProbe int8     // index of an nmap OS-detection probe, -1 if none
	bsKind  uint8    // backscatter kind (bs* constants) when class is clsBackscatter
}

// Backscatter kinds.
const (
	bsSynAck uint8 = iota
	bsRst
	bsUnreach
	bsTimeExceeded
	bsEchoReply
	bsOtherICMP
	numBSKinds
)

var bsKindNames = [numBSKinds]string{"syn-ack", "rst", "icmp-unreachable", "icmp-time-exceeded", "echo-reply", "icmp-other-error"}

// classify decides what a packet from e.Src is. It never looks at names of
// files, prefixes or scenarios: only at header fields.
func classify(e *event.Event) classification {
	c := classification{class: clsProbe, scan: noType, osProbe: -1}
	switch e.Proto {
	case event.ProtoTCP:
		f := e.Flags
		base := f &^ (event.FlagECE | event.FlagCWR)
		// A TCP stack answers with RST or RST-ACK, never with SYN, FIN or
		// URG besides: such RST combinations (SYN RST, all six flags) are
		// crafted probes, not backscatter.
		if base&event.FlagRST != 0 && base&(event.FlagSYN|event.FlagFIN|event.FlagURG) == 0 {
			c.class, c.bsKind = clsBackscatter, bsRst
			return c
		}
		if base&(event.FlagSYN|event.FlagACK) == event.FlagSYN|event.FlagACK && base&event.FlagFIN == 0 {
			c.class, c.bsKind = clsBackscatter, bsSynAck
			return c
		}
		if i := matchOSProbe(e); i >= 0 {
			c.scan, c.osProbe = stOS, int8(i)
			return c
		}
		switch base {
		case event.FlagSYN:
			if kernelSYN(e) {
				c.scan = stConnect
			} else {
				c.scan = stSYN
			}
		case event.FlagFIN:
			c.scan = stFIN
		case 0:
			c.scan = stNULL
		case event.FlagFIN | event.FlagPSH | event.FlagURG:
			c.scan = stXmas
		case event.FlagACK:
			if rawSegment(e) {
				c.scan = stACK
			}
		case event.FlagFIN | event.FlagACK:
			if rawSegment(e) {
				c.scan = stMaimon
			}
		}
	case event.ProtoUDP, event.ProtoUDPLite:
		if e.IPVersion == 4 && e.IPID == 0x1042 && e.UDPLen == 308 &&
			(e.PayloadCap == 0 || allBytes(e.PayloadPrefix(), 'C')) {
			c.scan, c.osProbe = stOS, int8(osProbeU1)
			return c
		}
		c.scan = stUDP
	case event.ProtoICMP:
		switch e.ICMPType {
		case 0, 14, 16, 18: // echo, timestamp, information, address-mask replies
			c.class, c.bsKind = clsBackscatter, bsEchoReply
		case 3:
			c.class, c.bsKind = clsBackscatter, bsUnreach
		case 11:
			c.class, c.bsKind = clsBackscatter, bsTimeExceeded
		case 4, 12: // source quench, parameter problem
			c.class, c.bsKind = clsBackscatter, bsOtherICMP
		case 8:
			switch {
			case e.ICMPCode == 9 && icmpData(e) == 120 && hasDF(e):
				c.scan, c.osProbe = stOS, int8(osProbeIE1)
			case e.ICMPCode == 0 && e.TOS == 4 && icmpData(e) == 150:
				c.scan, c.osProbe = stOS, int8(osProbeIE2)
			default:
				c.scan = stEcho
			}
		case 13:
			c.scan = stTimestamp
		case 17:
			c.scan = stMask
		}
	case event.ProtoICMPv6:
		switch e.ICMPType {
		case 129:
			c.class, c.bsKind = clsBackscatter, bsEchoReply
		case 1:
			c.class, c.bsKind = clsBackscatter, bsUnreach
		case 3:
			c.class, c.bsKind = clsBackscatter, bsTimeExceeded
		case 2, 4: // packet too big, parameter problem
			c.class, c.bsKind = clsBackscatter, bsOtherICMP
		case 128:
			c.scan = stEcho
		}
	}
	return c
}

func allBytes(b []byte, v byte) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}
