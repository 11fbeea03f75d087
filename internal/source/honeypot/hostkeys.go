package honeypot

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// Host key files in the key directory, named as OpenSSH names them.
var hostKeyFiles = [...]string{"ssh_host_ed25519_key", "ssh_host_ecdsa_key", "ssh_host_rsa_key"}

// LoadHostKeys reads the ed25519, ECDSA P-256 and RSA 3072 host keys from dir,
// generating and saving (mode 0600, OpenSSH private key format) any that is
// missing, so the honeypot keeps its identity across restarts.
func LoadHostKeys(dir string) ([]ssh.Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("host key directory: %w", err)
	}
	var out []ssh.Signer
	for _, name := range hostKeyFiles {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			b, err = generateHostKey(path, name)
		}
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func generateHostKey(path, name string) ([]byte, error) {
	var key crypto.PrivateKey
	var err error
	switch name {
	case "ssh_host_ed25519_key":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ssh_host_ecdsa_key":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ssh_host_rsa_key":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	}
	if err != nil {
		return nil, err
	}
	blk, err := ssh.MarshalPrivateKey(key, "darkscope honeypot")
	if err != nil {
		return nil, err
	}
	b := pem.EncodeToMemory(blk)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return b, nil
}
