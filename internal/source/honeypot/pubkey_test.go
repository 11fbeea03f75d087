package honeypot

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/nstest"
)

// TestPublicKeyOffers: keys an OpenSSH client offers are recorded with the
// type and the SHA256 fingerprint ssh-keygen prints for them, and never accepted.
func TestPublicKeyOffers(t *testing.T) {
	nstest.Require(t, "ssh", "ssh-keygen")
	h := startHoneypot(t, Config{})
	port := h.addr[strings.LastIndexByte(h.addr, ':')+1:]
	dir := t.TempDir()
	want := map[string]string{} // fingerprint → type
	var args []string
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		key := filepath.Join(dir, typ)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub").Output()
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(out)) // bits fingerprint comment (TYPE)
		want[f[1]] = map[string]string{"ed25519": "ssh-ed25519", "ecdsa": "ecdsa-sha2-nistp256", "rsa": "ssh-rsa"}[typ]
		args = append(args, "-i", key)
	}
	args = append(args, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-p", port, "root@127.0.0.1", "true")
	out, err := exec.Command("ssh", args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Fatalf("ssh: %v %s", err, out)
	}
	evs := h.wait(t, 1)
	got := map[string]string{}
	for _, e := range evs {
		if e.Auth.Kind == event.AuthPublicKey {
			if _, dup := got[e.Auth.KeyFingerprint]; dup {
				t.Errorf("key %s recorded twice", e.Auth.KeyFingerprint)
			}
			got[e.Auth.KeyFingerprint] = e.Auth.KeyType
		}
	}
	if len(got) != len(want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	for fp, typ := range want {
		if got[fp] != typ {
			t.Errorf("key %s: type %q, want %q", fp, got[fp], typ)
		}
	}
}
