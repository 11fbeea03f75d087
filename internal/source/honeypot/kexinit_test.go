package honeypot

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/event"
)

// buildKexinit encodes a KEXINIT payload from ten name-lists.
func buildKexinit(lists [10]string, follows bool) []byte {
	b := []byte{msgKexinit}
	b = append(b, make([]byte, 16)...) // cookie
	for _, l := range lists {
		b = binary.BigEndian.AppendUint32(b, uint32(len(l)))
		b = append(b, l...)
	}
	f := byte(0)
	if follows {
		f = 1
	}
	return append(append(b, f), 0, 0, 0, 0)
}

// packet wraps a payload in an unencrypted binary packet (RFC 4253 §6).
func packet(payload []byte) []byte {
	pad := 8 - (len(payload)+5)%8
	if pad < 4 {
		pad += 8
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)+pad+1))
	b = append(b, byte(pad))
	b = append(b, payload...)
	return append(b, make([]byte, pad)...)
}

// libssh's lists end with a comma; HASSH keeps it. The expected digest is
// the MD5 of the joined string computed independently (md5sum).
func TestHASSHKeepsTrailingComma(t *testing.T) {
	l := event.KexLists{Kex: "curve25519-sha256,", EncC2S: "aes128-ctr", MACC2S: "hmac-sha1", CompC2S: "none"}
	if got := HASSH(&l); got != md5sumOf(t, "curve25519-sha256,;aes128-ctr;hmac-sha1;none") {
		t.Errorf("HASSH %s", got)
	}
}

func TestSnifferStream(t *testing.T) {
	lists := [10]string{"curve25519-sha256,kex-strict-c-v00@openssh.com", "ssh-ed25519", "aes128-ctr", "aes256-ctr",
		"hmac-sha2-256", "hmac-sha1", "none", "none,zlib", "", ""}
	stream := "junk line\r\nSSH-2.0-Test_1.0 comment\r\n" + string(packet(buildKexinit(lists, true))) + "ENCRYPTED"
	for _, chunk := range []int{1, 3, 7, 1000} {
		var s sniffer
		for i := 0; i < len(stream); i += chunk {
			if !s.feed([]byte(stream[i:min(i+chunk, len(stream))])) {
				t.Fatalf("chunk %d: overflow %s", chunk, s.overflow)
			}
		}
		if s.state != sniffDone || !s.gotKex {
			t.Fatalf("chunk %d: state %d err %v", chunk, s.state, s.kexErr)
		}
		if string(s.version) != "SSH-2.0-Test_1.0 comment" || s.verLen != len("SSH-2.0-Test_1.0 comment") {
			t.Errorf("version %q len %d", s.version, s.verLen)
		}
		want := event.KexLists{Kex: lists[0], HostKey: lists[1], EncC2S: lists[2], EncS2C: lists[3],
			MACC2S: lists[4], MACS2C: lists[5], CompC2S: lists[6], CompS2C: lists[7]}
		if d := cmp.Diff(want, s.kex.Lists); d != "" {
			t.Errorf("lists (-want +got):\n%s", d)
		}
		if !s.kex.FirstKexPacketFollows {
			t.Error("first_kex_packet_follows lost")
		}
	}
}

func TestSnifferBounds(t *testing.T) {
	var s sniffer
	if s.feed([]byte("SSH-2.0-x\r\n\x7f\xff\xff\xff")) || s.overflow != "kexinit_oversized" {
		t.Errorf("huge packet length accepted: %q", s.overflow)
	}
	s = sniffer{}
	if s.feed([]byte(strings.Repeat("A", maxPreVersion+10))) || s.overflow != "version_too_long" {
		t.Errorf("endless line accepted: %q", s.overflow)
	}
	s = sniffer{}
	long := "SSH-2.0-" + strings.Repeat("v", 1000) + "\r\n"
	s.feed([]byte(long))
	if len(s.version) != event.MaxAuthVersion || s.verLen != len(long)-2 {
		t.Errorf("long version kept %d bytes, length %d", len(s.version), s.verLen)
	}
}

func FuzzKexinit(f *testing.F) {
	f.Add(buildKexinit([10]string{"curve25519-sha256", "ssh-ed25519", "aes128-ctr", "aes128-ctr", "hmac-sha1", "hmac-sha1", "none", "none", "", ""}, false))
	f.Add([]byte{20})
	streams, _ := filepath.Glob(filepath.Join("testdata", "kexinit", "*.stream"))
	for _, p := range streams {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b) // real client streams (version line + KEXINIT)
		}
	}
	f.Add(append([]byte{20}, make([]byte, 60)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKexinit(data)
		if err == nil {
			l := k.Lists
			// The lists must be exactly what an encoder would have written.
			re := buildKexinit([10]string{l.Kex, l.HostKey, l.EncC2S, l.EncS2C, l.MACC2S, l.MACS2C, l.CompC2S, l.CompS2C, k.Languages[0], k.Languages[1]}, k.FirstKexPacketFollows)
			if len(re) > len(data) || string(re[17:len(re)-5]) != string(data[17:len(re)-5]) {
				t.Fatalf("re-encoded lists differ from input")
			}
			if h := HASSH(&l); len(h) != 32 {
				t.Fatalf("bad HASSH %q", h)
			}
		}
		// The stream reader must never panic or exceed its bounds, on the
		// bytes as a whole stream and as the bytes after a version line.
		for _, in := range [][]byte{data, append([]byte("SSH-2.0-f\r\n"), data...)} {
			var s sniffer
			s.feed(in)
			if len(s.pkt) > maxFirstPacket+4 || len(s.version) > event.MaxAuthVersion || len(s.line) > event.MaxAuthVersion+1 {
				t.Fatalf("sniffer over its bounds: pkt %d version %d line %d", len(s.pkt), len(s.version), len(s.line))
			}
			if s.gotKex && len(HASSH(&s.kex.Lists)) != 32 {
				t.Fatal("bad HASSH")
			}
		}
	})
}
