package p0f

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
)

// Observed is what p0f reads from one SYN or SYN+ACK.
type Observed struct {
	SYNACK    bool
	Ver       uint8
	TTL       uint8
	OptLen    uint8 // IPv4 options length
	TOS       uint8 // DSCP (TOS >> 2)
	MSS       uint16
	Win       uint16
	Scale     uint8
	Layout    [maxTCPOpt]byte
	LayoutLen uint8
	EOLPad    uint8
	Quirks    Quirk
	PayLen    uint16
	TotHdr    uint16
	TS1       uint32
}

// Observe extracts p0f's view of e. It reports false for what p0f does not
// fingerprint: non-TCP, fragments, IPv6 with extension headers, and flag
// combinations other than SYN and SYN+ACK (p0f drops SYN+FIN, SYN+RST and
// the like before fingerprinting).
//
// Events from firewall log lines lack some fields: without SEQ/ACK in the
// line (HasSeq false) the seq- and ack+/ack- quirks cannot be seen and are
// left out; the TCP options must be in the line (OPT (...)) for the layout.
func Observe(e *event.Event) (Observed, bool) {
	var o Observed
	if e.Proto != event.ProtoTCP || e.IPVersion == 0 || e.FragOff != 0 || e.IPFlags&event.IPFlagMF != 0 || e.ExtHdrLen != 0 {
		return o, false
	}
	f := e.Flags
	switch {
	case f&event.FlagSYN != 0 && f&(event.FlagFIN|event.FlagRST) != 0:
		return o, false
	case f&(event.FlagSYN|event.FlagACK|event.FlagFIN|event.FlagRST) == event.FlagSYN:
	case f&(event.FlagSYN|event.FlagACK|event.FlagFIN|event.FlagRST) == event.FlagSYN|event.FlagACK:
		o.SYNACK = true
	default:
		return o, false
	}
	o.Ver, o.TTL, o.TOS, o.Win = e.IPVersion, e.TTL, e.TOS>>2, e.Window
	if e.TOS&3 != 0 {
		o.Quirks |= QuirkECN
	}
	if e.IPVersion == 4 {
		if e.IHL > 20 {
			o.OptLen = e.IHL - 20
		}
		o.TotHdr = uint16(max(e.IHL, 20))
		if e.IPFlags&event.IPFlagCE != 0 {
			o.Quirks |= QuirkNZMBZ
		}
		if e.IPFlags&event.IPFlagDF != 0 {
			o.Quirks |= QuirkDF
			if e.IPID&0xffff != 0 {
				o.Quirks |= QuirkNZID
			}
		} else if e.IPID&0xffff == 0 {
			o.Quirks |= QuirkZeroID
		}
	} else {
		o.TotHdr = 40
		if e.FlowLabel != 0 {
			o.Quirks |= QuirkFlow
		}
	}
	o.TotHdr += 20 + uint16(e.TCPOptLen)
	if f&(event.FlagECE|event.FlagCWR) != 0 || e.Reserved&0x04 != 0 { // 0x04: the NS bit in RES= scale
		o.Quirks |= QuirkECN
	}
	if e.HasSeq {
		if e.Seq == 0 {
			o.Quirks |= QuirkZeroSeq
		}
		if f&event.FlagACK != 0 {
			if e.Ack == 0 {
				o.Quirks |= QuirkZeroAck
			}
		} else if e.Ack>>24&1 != 0 {
			// p0f 3.09b tests "raw 32-bit word & 1" on the ACK field as it
			// lies in memory, which on little-endian hosts is the lowest bit
			// of the first (most significant) byte. Matching p0f -r means
			// matching that.
			o.Quirks |= QuirkNZAck
		}
	}
	if f&event.FlagURG != 0 {
		o.Quirks |= QuirkURG
	} else if e.Urgent != 0 {
		o.Quirks |= QuirkNZUrg
	}
	if f&event.FlagPSH != 0 {
		o.Quirks |= QuirkPush
	}
	o.PayLen = e.PayloadLen
	o.parseOptions(e.TCPOpts())
	return o, true
}

// parseOptions walks the TCP options the way p0f does, recording the
// layout, MSS, window scale, timestamp and the option quirks.
func (o *Observed) parseOptions(b []byte) {
	i := 0
	end := len(b)
	for i < end && o.LayoutLen < maxTCPOpt {
		kind := b[i]
		o.Layout[o.LayoutLen] = kind
		o.LayoutLen++
		i++
		switch kind {
		case optEOL:
			o.EOLPad = uint8(end - i)
			for i < end {
				c := b[i]
				i++
				if c != 0 {
					break
				}
			}
			// As in p0f, a non-zero last byte goes unnoticed.
			if i != end {
				o.Quirks |= QuirkOptEOLNZ
				i = end
			}
		case optNOP:
		case optMSS:
			if i+3 > end {
				o.Quirks |= QuirkOptBad
				return
			}
			if b[i] != 4 {
				o.Quirks |= QuirkOptBad
			}
			o.MSS = binary.BigEndian.Uint16(b[i+1:])
			i += 3
		case optWS:
			if i+2 > end {
				o.Quirks |= QuirkOptBad
				return
			}
			if b[i] != 3 {
				o.Quirks |= QuirkOptBad
			}
			o.Scale = b[i+1]
			if o.Scale > 14 {
				o.Quirks |= QuirkExWS
			}
			i += 2
		case optSACKOK:
			if i+1 > end {
				o.Quirks |= QuirkOptBad
				return
			}
			if b[i] != 2 {
				o.Quirks |= QuirkOptBad
			}
			i++
		case optSACK:
			if i == end || b[i] < 10 || b[i] > 34 || i-1+int(b[i]) > end {
				o.Quirks |= QuirkOptBad
				return
			}
			i += int(b[i]) - 1
		case optTS:
			if i+9 > end {
				o.Quirks |= QuirkOptBad
				return
			}
			if b[i] != 10 {
				o.Quirks |= QuirkOptBad
			}
			o.TS1 = binary.BigEndian.Uint32(b[i+1:])
			if o.TS1 == 0 {
				o.Quirks |= QuirkZeroTS1
			}
			if !o.SYNACK && binary.BigEndian.Uint32(b[i+5:]) != 0 {
				o.Quirks |= QuirkNZTS2
			}
			i += 9
		default:
			if i == end || b[i] < 2 || b[i] > 40 || i-1+int(b[i]) > end {
				o.Quirks |= QuirkOptBad
				return
			}
			i += int(b[i]) - 1
		}
	}
	if i != end {
		o.Quirks |= QuirkOptBad
	}
}

// guessDist is the distance to the nearest common initial TTL.
func guessDist(ttl uint8) uint8 {
	switch {
	case ttl <= 32:
		return 32 - ttl
	case ttl <= 64:
		return 64 - ttl
	case ttl <= 128:
		return 128 - ttl
	}
	return 255 - ttl
}

// winMulti finds whether the window is a multiple of the MSS or MTU, as p0f
// does; it returns the multiplier (or -1) and whether it is of the MTU.
func (o *Observed) winMulti(synMSS uint16) (int, bool) {
	win, mss := int(o.Win), int(o.MSS)
	if win == 0 || mss < 100 {
		return -1, false
	}
	try := func(div int) bool { return div > 0 && win%div == 0 }
	switch {
	case try(mss):
		return win / mss, false
	case o.TS1 != 0 && try(mss-12):
		return win / (mss - 12), false
	case try(1500 - minTCP4):
		return win / (1500 - minTCP4), false
	case try(1500 - minTCP4 - 12):
		return win / (1500 - minTCP4 - 12), false
	case o.Ver == 6 && try(1500-minTCP6):
		return win / (1500 - minTCP6), false
	case o.Ver == 6 && try(1500-minTCP6-12):
		return win / (1500 - minTCP6 - 12), false
	case try(mss + minTCP4):
		return win / (mss + minTCP4), true
	case try(mss + int(o.TotHdr)):
		return win / (mss + int(o.TotHdr)), true
	case o.Ver == 6 && try(mss+minTCP6):
		return win / (mss + minTCP6), true
	case try(1500):
		return win / 1500, true
	case synMSS != 0 && try(int(synMSS)):
		return win / int(synMSS), false
	case synMSS != 0 && try(int(synMSS)-12):
		return win / (int(synMSS) - 12), false
	}
	return -1, false
}

// Result is a fingerprint verdict.
type Result struct {
	Obs     Observed
	Sig     *Sig // the matched signature; nil when unknown
	Fuzzy   bool
	Dist    uint8
	winMult int
	winMTU  bool
}

// Label returns the matched label or nil.
func (r *Result) Label() *Label {
	if r.Sig == nil {
		return nil
	}
	return r.Sig.Label
}

// Fingerprint matches a SYN (against [tcp:request]) or SYN+ACK (against
// [tcp:response]) event. synMSS is the MSS of the SYN a SYN+ACK answers
// (0 if unknown; p0f uses it for window multiples). ok is false when e is
// not something p0f fingerprints (see Observe).
func (db *DB) Fingerprint(e *event.Event, synMSS uint16) (Result, bool) {
	o, ok := Observe(e)
	if !ok {
		return Result{}, false
	}
	return db.Match(&o, synMSS), true
}

// Match runs p0f's signature search on an observation: signatures with the
// same option layout, in file order; the first exact specific match wins,
// else the first generic one, else the first fuzzy one (quirks df or id+
// gone, id- or ecn new, or TTL out of range); tools (class !) never match
// fuzzily. Like p0f 3.09b it does not compare the signature's IP version
// (it only selects which quirks count).
func (db *DB) Match(o *Observed, synMSS uint16) Result {
	r := Result{Obs: *o}
	r.winMult, r.winMTU = o.winMulti(synMSS)
	dir := 0
	if o.SYNACK {
		dir = 1
	}
	var fmatch, gmatch *Sig
	for _, ref := range db.byLayout[dir][string(o.Layout[:o.LayoutLen])] {
		fuzzy := false
		rq := ref.Quirks
		if ref.Ver == -1 {
			if o.Ver == 4 {
				rq &^= QuirkFlow
			} else {
				rq &^= QuirkDF | QuirkNZID | QuirkZeroID
			}
		}
		if rq != o.Quirks {
			deleted := (rq ^ o.Quirks) & rq
			added := (rq ^ o.Quirks) & o.Quirks
			if fmatch != nil || deleted&^(QuirkDF|QuirkNZID) != 0 || added&^(QuirkZeroID|QuirkECN) != 0 {
				continue
			}
			fuzzy = true
		}
		if ref.EOLPad != o.EOLPad || ref.OptLen != o.OptLen {
			continue
		}
		if ref.BadTTL {
			if ref.TTL < o.TTL {
				continue
			}
		} else if ref.TTL < o.TTL || int(ref.TTL)-int(o.TTL) > maxDist {
			fuzzy = true
		}
		if ref.MSS != -1 && ref.MSS != int32(o.MSS) {
			continue
		}
		if ref.Scale != -1 && ref.Scale != int16(o.Scale) {
			continue
		}
		if ref.PayClass != -1 && (ref.PayClass == 1) != (o.PayLen != 0) {
			continue
		}
		switch ref.WinType {
		case WinNormal:
			if ref.Win != o.Win {
				continue
			}
		case WinMod:
			if o.Win%ref.Win != 0 {
				continue
			}
		case WinMSS:
			if r.winMTU || int(ref.Win) != r.winMult {
				continue
			}
		case WinMTU:
			if !r.winMTU || int(ref.Win) != r.winMult {
				continue
			}
		}
		if !fuzzy {
			if !ref.Label.Generic {
				r.Sig, r.Dist = ref, ref.TTL-o.TTL
				return r
			}
			if gmatch == nil {
				gmatch = ref
			}
		} else if fmatch == nil {
			fmatch = ref
		}
	}
	if gmatch != nil {
		r.Sig, r.Dist = gmatch, gmatch.TTL-o.TTL
		return r
	}
	if fmatch != nil && fmatch.Label.App {
		return r // p0f reports unknown with distance 0 here
	}
	if fmatch == nil || fmatch.TTL < o.TTL || (!fmatch.BadTTL && int(fmatch.TTL)-int(o.TTL) > maxDist) {
		r.Dist = guessDist(o.TTL)
	} else {
		r.Dist = fmatch.TTL - o.TTL
	}
	if fmatch != nil {
		r.Sig, r.Fuzzy = fmatch, true
	}
	return r
}

// OS is p0f's "os=" / "app=" value: the label, or "???" when unknown.
func (r *Result) OS() string {
	if r.Sig == nil {
		return "???"
	}
	return r.Sig.Label.String()
}

// DistString is p0f's "dist=" value ("<= N" for random-TTL tools).
func (r *Result) DistString() string {
	if r.Sig != nil && r.Sig.BadTTL {
		return "<= " + strconv.Itoa(int(r.Dist))
	}
	return strconv.Itoa(int(r.Dist))
}

// Params is p0f's "params=" value.
func (r *Result) Params() string {
	var p []string
	if r.Sig != nil {
		if r.Sig.Label.Generic {
			p = append(p, "generic")
		}
		if r.Fuzzy {
			p = append(p, "fuzzy")
		}
		if r.Sig.BadTTL {
			p = append(p, "random_ttl")
		}
	}
	if r.Dist > maxDist {
		p = append(p, "excess_dist")
	}
	if r.Obs.TOS != 0 {
		p = append(p, "tos:0x"+hex2(r.Obs.TOS))
	}
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(p, " ")
}

func hex2(b uint8) string {
	const h = "0123456789abcdef"
	return string([]byte{h[b>>4], h[b&15]})
}

// RawSig is the observed signature in p0f.fp syntax, as p0f prints it.
func (r *Result) RawSig() string {
	o := &r.Obs
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(o.Ver)))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(int(o.TTL)))
	if d := guessDist(o.TTL); d > maxDist {
		b.WriteString("+?")
	} else {
		b.WriteString("+" + strconv.Itoa(int(d)))
	}
	b.WriteString(":" + strconv.Itoa(int(o.OptLen)) + ":" + strconv.Itoa(int(o.MSS)) + ":")
	if r.winMult > 0 {
		if r.winMTU {
			b.WriteString("mtu*")
		} else {
			b.WriteString("mss*")
		}
		b.WriteString(strconv.Itoa(r.winMult))
	} else {
		b.WriteString(strconv.Itoa(int(o.Win)))
	}
	b.WriteString("," + strconv.Itoa(int(o.Scale)) + ":")
	writeLayout(&b, o.Layout[:o.LayoutLen], o.EOLPad)
	b.WriteString(":" + o.Quirks.String() + ":")
	if o.PayLen != 0 {
		b.WriteByte('+')
	} else {
		b.WriteByte('0')
	}
	return b.String()
}

// Evidence lists the observed fields behind the verdict, for explain output.
func (r *Result) Evidence() []string {
	ev := []string{"raw_sig=" + r.RawSig(), "dist=" + r.DistString(), "params=" + r.Params()}
	if r.Sig != nil {
		ev = append(ev, "p0f.fp line "+strconv.Itoa(r.Sig.Line))
	}
	return ev
}

// Link is the [mtu] label for the observed MSS (MTU = MSS + 40 for IPv4,
// + 60 for IPv6), or "" when there is no MSS or no label.
func (db *DB) Link(o *Observed) (string, uint16) {
	if o.MSS == 0 {
		return "", 0
	}
	mtu := o.MSS + minTCP4
	if o.Ver == 6 {
		mtu = o.MSS + minTCP6
	}
	for _, m := range db.MTUs {
		if m.MTU == mtu {
			return m.Link, mtu
		}
	}
	return "", mtu
}
