package honeypot

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/darkscope/darkscope/internal/event"
)

// SSH message numbers and limits used by the KEXINIT reader (RFC 4253).
const (
	msgKexinit = 20
	// maxFirstPacket caps the first binary packet (the client's KEXINIT).
	// Real clients send 1–3 KiB; RFC 4253 §6.1 only requires 35000 bytes.
	maxFirstPacket = 16 << 10
	// maxPreVersion caps the bytes a client may send before its version line.
	maxPreVersion = 8 << 10
)

// ClientKexinit is the parsed client SSH_MSG_KEXINIT (RFC 4253 §7.1).
type ClientKexinit struct {
	Lists                 event.KexLists // full lists, not capped
	Languages             [2]string      // languages c2s, s2c
	FirstKexPacketFollows bool
}

var errShort = errors.New("kexinit: truncated")

// ParseKexinit parses a KEXINIT payload: the message byte 20, a 16-byte
// cookie, ten name-lists (uint32 length + bytes), first_kex_packet_follows
// and a reserved uint32.
func ParseKexinit(payload []byte) (ClientKexinit, error) {
	var k ClientKexinit
	if len(payload) < 1 || payload[0] != msgKexinit {
		return k, errors.New("kexinit: not a KEXINIT message")
	}
	p := payload[1:]
	if len(p) < 16 {
		return k, errShort
	}
	p = p[16:]
	var lists [10]string
	for i := range lists {
		if len(p) < 4 {
			return k, fmt.Errorf("name-list %d: %w", i, errShort)
		}
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if uint64(n) > uint64(len(p)) {
			return k, fmt.Errorf("name-list %d: length %d beyond packet: %w", i, n, errShort)
		}
		lists[i] = string(p[:n])
		p = p[n:]
	}
	if len(p) < 5 {
		return k, fmt.Errorf("first_kex_packet_follows: %w", errShort)
	}
	k.FirstKexPacketFollows = p[0] != 0
	k.Lists = event.KexLists{
		Kex: lists[0], HostKey: lists[1], EncC2S: lists[2], EncS2C: lists[3],
		MACC2S: lists[4], MACS2C: lists[5], CompC2S: lists[6], CompS2C: lists[7],
	}
	k.Languages = [2]string{lists[8], lists[9]}
	return k, nil
}

// HASSH returns the client fingerprint: the MD5 hex digest of
// "kex;enc_c2s;mac_c2s;comp_c2s", the lists exactly as sent.
func HASSH(l *event.KexLists) string {
	h := md5.New()
	h.Write([]byte(l.Kex))
	h.Write([]byte{';'})
	h.Write([]byte(l.EncC2S))
	h.Write([]byte{';'})
	h.Write([]byte(l.MACC2S))
	h.Write([]byte{';'})
	h.Write([]byte(l.CompC2S))
	return hex.EncodeToString(h.Sum(nil))
}

// sniffer follows the client's byte stream up to the end of its first binary
// packet: the version line (after any pre-version lines, RFC 4253 §4.2), then
// the unencrypted KEXINIT. Its buffers are bounded by maxPreVersion and
// maxFirstPacket; once the KEXINIT is parsed it holds nothing.
type sniffer struct {
	state    uint8 // 0 version, 1 packet, 2 done
	line     []byte
	lineLen  int // bytes of the current line, including those not kept
	lastCR   bool
	pre      int // bytes before the version line
	version  []byte
	verLen   int
	pkt      []byte
	pktNeed  int
	kex      ClientKexinit
	kexErr   error
	gotKex   bool
	overflow string // set when a bound was exceeded: the connection is dropped
}

const (
	sniffVersion = iota
	sniffPacket
	sniffDone
)

// feed consumes bytes the client sent. It returns false when the client
// exceeded a bound (s.overflow says which).
func (s *sniffer) feed(b []byte) bool {
	for len(b) > 0 && s.state != sniffDone {
		switch s.state {
		case sniffVersion:
			i := 0
			for ; i < len(b); i++ {
				c := b[i]
				if c == '\n' {
					break
				}
				if len(s.line) < event.MaxAuthVersion+1 {
					s.line = append(s.line, c)
				}
				s.lineLen++
				s.lastCR = c == '\r'
			}
			if i == len(b) {
				if s.pre+s.lineLen > maxPreVersion {
					s.overflow = "version_too_long"
					return false
				}
				return true
			}
			b = b[i+1:]
			line, n := s.line, s.lineLen
			if s.lastCR {
				n--
				if len(line) > n {
					line = line[:n]
				}
			}
			s.lastCR = false
			if len(line) >= 4 && string(line[:4]) == "SSH-" {
				if len(line) > event.MaxAuthVersion {
					line = line[:event.MaxAuthVersion]
				}
				s.version = append([]byte(nil), line...)
				s.verLen = n
				s.line = nil
				s.state = sniffPacket
				s.pkt = make([]byte, 0, 2048)
				continue
			}
			s.pre += s.lineLen + 1
			s.line, s.lineLen = s.line[:0], 0
			if s.pre > maxPreVersion {
				s.overflow = "version_too_long"
				return false
			}
		case sniffPacket:
			if s.pktNeed == 0 {
				need := 4 - len(s.pkt)
				take := min(need, len(b))
				s.pkt = append(s.pkt, b[:take]...)
				b = b[take:]
				if len(s.pkt) < 4 {
					return true
				}
				n := binary.BigEndian.Uint32(s.pkt)
				if n > maxFirstPacket || n < 5 {
					s.overflow = "kexinit_oversized"
					return false
				}
				s.pktNeed = int(n) + 4
				if cap(s.pkt) < s.pktNeed {
					s.pkt = append(make([]byte, 0, s.pktNeed), s.pkt...)
				}
			}
			take := min(s.pktNeed-len(s.pkt), len(b))
			s.pkt = append(s.pkt, b[:take]...)
			b = b[take:]
			if len(s.pkt) < s.pktNeed {
				return true
			}
			s.finishPacket()
		}
	}
	return true
}

func (s *sniffer) finishPacket() {
	pad := int(s.pkt[4])
	end := len(s.pkt) - pad
	if end < 5 {
		s.kexErr = errors.New("kexinit: padding longer than packet")
	} else {
		s.kex, s.kexErr = ParseKexinit(s.pkt[5:end])
		s.gotKex = s.kexErr == nil
	}
	s.pkt = nil
	s.state = sniffDone
}
