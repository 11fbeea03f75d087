package store

import (
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// randText returns a recorded SSH string as the honeypot keeps it: valid
// UTF-8 text, its original length and, when the bytes were not UTF-8, the
// exact bytes (the text then has U+FFFD in their place).
func randText(r *rand.Rand, words []string) (string, uint32, []byte) {
	if r.IntN(4) == 0 {
		raw := make([]byte, 1+r.IntN(40))
		for i := range raw {
			raw[i] = byte(r.IntN(256))
		}
		raw = append(raw, 0xff, 0xc3) // never valid UTF-8
		return strings.ToValidUTF8(string(raw), "\uFFFD"), uint32(len(raw) + r.IntN(3)*1000), raw
	}
	s := words[r.IntN(len(words))]
	return s, uint32(len(s)), nil
}

var (
	authUsers   = []string{"root", "admin", "", "ubuntu", "üser 日本", "it's \"q\"\n\t", "a\x00b", "\\x41;--"}
	authSecrets = []string{"123456", "password", "", "root", "admin", "p@ss word", "ça\u00a0va", "x\x00\x01y"}
	authKex     = []string{"", "curve25519-sha256,ecdh-sha2-nistp256,", "diffie-hellman-group14-sha1", "aes128-ctr,aes256-gcm@openssh.com"}
)

func pick(r *rand.Rand, from []string) string { return from[r.IntN(len(from))] }

func randAuth(r *rand.Rand) *event.Auth {
	a := &event.Auth{
		Kind:    event.AuthKind(1 + r.IntN(5)),
		Session: r.Uint64(),
		Attempt: uint16(r.IntN(128)),
		Try:     uint16(r.IntN(128)),
	}
	a.User, a.UserLen, a.UserRaw = randText(r, authUsers)
	a.Secret, a.SecretLen, a.SecretRaw = randText(r, authSecrets)
	a.Unanswered = r.IntN(5) == 0
	if r.IntN(3) == 0 {
		a.KeyType, a.KeyFingerprint = "ssh-ed25519", "SHA256:"+strings.Repeat("Ab+/", r.IntN(12))
	}
	a.ClientVersion, a.ClientVersionLen, a.ClientVersionRaw = randText(r, []string{"SSH-2.0-libssh_0.9.6", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", "", "SSH-2.0-Go"})
	if r.IntN(4) != 0 {
		var h [16]byte
		for i := range h {
			h[i] = byte(r.IntN(256))
		}
		a.HASSH = hex.EncodeToString(h[:])
	}
	a.Client = event.KexLists{Kex: pick(r, authKex), HostKey: pick(r, authKex), EncC2S: pick(r, authKex), EncS2C: pick(r, authKex),
		MACC2S: pick(r, authKex), MACS2C: pick(r, authKex), CompC2S: pick(r, []string{"none", "none,zlib@openssh.com", ""}), CompS2C: "none"}
	if r.IntN(2) == 0 {
		a.Negotiated = event.Negotiated{Kex: "curve25519-sha256", HostKey: "ssh-ed25519", CipherC2S: "aes128-ctr", CipherS2C: "chacha20-poly1305@openssh.com",
			MACC2S: "hmac-sha2-256", MACS2C: "", CompC2S: "none", CompS2C: "none"}
	}
	if a.Kind == event.AuthConnectionEnd {
		a.Duration = time.Duration(r.Int64N(1e12))
		a.EndReason = pick(r, []string{"client_closed", "auth_timeout", "attempt_cap", ""})
		a.Attempts = uint16(r.IntN(200))
	}
	return a
}

func randStrings(r *rand.Rand, from []string) []string {
	if r.IntN(3) == 0 {
		return nil
	}
	out := make([]string, 1+r.IntN(3))
	for i := range out {
		out[i] = pick(r, from)
	}
	return out
}

func randPorts(r *rand.Rand) map[string]string {
	if r.IntN(3) == 0 {
		return nil
	}
	m := map[string]string{"tcp": pick(r, []string{"22", "1-1024,3389", "80,443"})}
	if r.IntN(2) == 0 {
		m["udp"] = "53"
	}
	return m
}

func randAlert(r *rand.Rand, t time.Time) *event.Alert {
	a := &event.Alert{
		Level:         event.DangerLevel(r.IntN(6)),
		Pattern:       pick(r, []string{"horizontal", "vertical", "block", "single", ""}),
		ScanTypes:     randStrings(r, []string{"-sS", "-sA/-sW", "-O", "-PE"}),
		Flags:         randStrings(r, []string{"SYN", "FIN PSH URG", "NULL"}),
		Protocols:     randStrings(r, []string{"tcp", "udp", "icmp", "47"}),
		Signatures:    randStrings(r, []string{"ssh scan", "ET \"quoted\" sig"}),
		OS:            pick(r, []string{"", "Linux:3.x", "Windows"}),
		Backscatter:   r.IntN(4) == 0,
		FirstSeen:     t.Add(-time.Duration(r.Int64N(1e12))),
		LastSeen:      t,
		Packets:       r.Uint64(),
		NewPackets:    uint64(r.IntN(1000)),
		Rate:          r.Float64() * 1e4,
		DstPorts:      randPorts(r),
		NewDstPorts:   randPorts(r),
		Destinations:  r.Uint64(),
		IntervalStart: t.Add(-time.Minute),
		IntervalEnd:   t,
	}
	if r.IntN(5) != 0 {
		v := uint8(4 + 2*r.IntN(2))
		a.Src = randAddr(r, v)
		bits := 32
		if a.Src.Is6() {
			bits = []int{128, 64}[r.IntN(2)]
		}
		a.Prefix = netip.PrefixFrom(a.Src, bits).Masked()
	}
	if r.IntN(2) == 0 {
		a.Tool = &event.Tool{Name: pick(r, []string{"nmap", "masscan", "zmap"}), Confidence: r.Float64(), Evidence: randStrings(r, []string{"window 1024", "ip id 54321"})}
	}
	if r.IntN(5) == 0 {
		a.FirstSeen, a.IntervalStart = time.Time{}, time.Time{}
	}
	return a
}
