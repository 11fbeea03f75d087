package honeypot

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "honeypot-keys-") }

func md5sumOf(t interface {
	Helper()
	Fatal(...any)
}, s string) string {
	t.Helper()
	cmd := exec.Command("md5sum")
	cmd.Stdin = strings.NewReader(s)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
