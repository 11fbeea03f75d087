package event

import "fmt"

import "time"

// AuthKind says what an authentication event records.
type AuthKind uint8

const (
	AuthPassword            AuthKind = iota + 1 // a password (SSH "password" method)
	AuthKeyboardInteractive                     // one keyboard-interactive answer
	AuthPublicKey                               // an offered public key (type and fingerprint)
	AuthNone                                    // an SSH "none" request (method discovery)
	AuthConnectionEnd                           // the connection ended; Duration and EndReason are set
)

var authKindNames = [...]string{"", "password", "keyboard-interactive", "publickey", "none", "connection_end"}

func (k AuthKind) String() string {
	if int(k) < len(authKindNames) {
		return authKindNames[k]
	}
	return "unknown"
}

// MarshalText writes the kind's name (JSON).
func (k AuthKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *AuthKind) UnmarshalText(b []byte) error {
	v, ok := ParseAuthKind(string(b))
	if !ok {
		return fmt.Errorf("unknown auth kind %q", b)
	}
	*k = v
	return nil
}

// ParseAuthKind is the inverse of AuthKind.String.
func ParseAuthKind(s string) (AuthKind, bool) {
	for i := 1; i < len(authKindNames); i++ {
		if authKindNames[i] == s {
			return AuthKind(i), true
		}
	}
	return 0, false
}

// Size caps of recorded authentication fields. A longer value is cut at the
// cap; its original length is kept in the matching *Len field.
const (
	MaxAuthUser     = 256  // username bytes kept
	MaxAuthSecret   = 256  // password / keyboard-interactive answer bytes kept
	MaxAuthVersion  = 255  // client version line (RFC 4253 §4.2 limit)
	MaxAuthNameList = 1024 // one KEXINIT name-list
	MaxAuthAlgo     = 64   // one negotiated algorithm name
	MaxAuthKeyType  = 64   // public key type
)

// KexLists are the client's raw KEXINIT name-lists (RFC 4253 §7.1), exactly
// as sent (cut at MaxAuthNameList bytes each).
type KexLists struct {
	Kex     string `json:"kex,omitempty"`
	HostKey string `json:"host_key,omitempty"`
	EncC2S  string `json:"enc_c2s,omitempty"`
	EncS2C  string `json:"enc_s2c,omitempty"`
	MACC2S  string `json:"mac_c2s,omitempty"`
	MACS2C  string `json:"mac_s2c,omitempty"`
	CompC2S string `json:"comp_c2s,omitempty"`
	CompS2C string `json:"comp_s2c,omitempty"`
}

// Negotiated are the algorithms the handshake agreed on (empty when the
// handshake did not complete).
type Negotiated struct {
	Kex       string `json:"kex,omitempty"`
	HostKey   string `json:"host_key,omitempty"`
	CipherC2S string `json:"cipher_c2s,omitempty"`
	CipherS2C string `json:"cipher_s2c,omitempty"`
	MACC2S    string `json:"mac_c2s,omitempty"`
	MACS2C    string `json:"mac_s2c,omitempty"`
	CompC2S   string `json:"comp_c2s,omitempty"`
	CompS2C   string `json:"comp_s2c,omitempty"`
}

// Auth is one authentication attempt (or the end of the connection that
// carried them), recorded by the SSH honeypot. Strings hold valid UTF-8 (a
// value that was not UTF-8 is kept with invalid bytes replaced by U+FFFD in
// the string and its exact bytes in the matching *Raw field).
type Auth struct {
	Kind    AuthKind `json:"kind,omitempty"`
	Session uint64   `json:"session,omitempty"` // connection id, unique within one honeypot run (with the start time: unique)
	Attempt uint16   `json:"attempt,omitempty"` // 1-based number of this request within the connection (every method counts)
	Try     uint16   `json:"try,omitempty"`     // 1-based number among the connection's password and keyboard-interactive attempts (pshitt's "try")

	User    string `json:"user,omitempty"`
	UserLen uint32 `json:"user_len,omitempty"` // original length in bytes
	UserRaw []byte `json:"user_raw,omitempty"` // exact bytes (capped) when the username is not valid UTF-8

	Secret    string `json:"secret,omitempty"` // password or keyboard-interactive answer
	SecretLen uint32 `json:"secret_len,omitempty"`
	SecretRaw []byte `json:"secret_raw,omitempty"`

	Unanswered bool `json:"unanswered,omitempty"` // keyboard-interactive: the prompt was sent, no answer came back

	KeyType        string `json:"key_type,omitempty"`        // publickey: key type, e.g. "ssh-ed25519"
	KeyFingerprint string `json:"key_fingerprint,omitempty"` // publickey: "SHA256:..." as OpenSSH prints it

	ClientVersion    string `json:"client_version,omitempty"` // the client's version line without CR LF, e.g. "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"
	ClientVersionLen uint32 `json:"client_version_len,omitempty"`
	ClientVersionRaw []byte `json:"client_version_raw,omitempty"`

	HASSH      string     `json:"hassh,omitempty"` // MD5 hex of "kex;enc_c2s;mac_c2s;comp_c2s" (empty when the KEXINIT was not seen)
	Client     KexLists   `json:"client,omitempty"`
	Negotiated Negotiated `json:"negotiated,omitempty"`

	// Connection end (Kind == AuthConnectionEnd).
	Duration  time.Duration `json:"duration,omitempty"`
	EndReason string        `json:"end_reason,omitempty"` // e.g. "client_closed", "auth_timeout", "idle_timeout", "attempt_cap", "handshake_failed"
	Attempts  uint16        `json:"attempts,omitempty"`   // requests seen on the connection
}
