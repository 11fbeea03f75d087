package firewall

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeNft writes an executable that stands in for nft: it records its
// arguments and stdin, prints stderr and exits with code.
func fakeNft(t *testing.T, stderr string, code int) (path, record string) {
	t.Helper()
	dir := t.TempDir()
	record = filepath.Join(dir, "record")
	path = filepath.Join(dir, "nft")
	script := "#!/bin/sh\necho \"$@\" > " + record + ".args\ncat > " + record + ".stdin\n" +
		"printf '%s' '" + stderr + "' >&2\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, record
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplierRunsOneTransaction(t *testing.T) {
	nft, rec := fakeNft(t, "", 0)
	a, err := NewApplier(nil, WithNft(nft))
	if err != nil {
		t.Fatal(err)
	}
	cfg := RulesConfig{Dark: prefixes("10.99.200.0/24")}
	if err := a.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	want, _ := NftScript(cfg)
	if diff := cmp.Diff(want, readFile(t, rec+".stdin")); diff != "" {
		t.Errorf("Apply fed nft something else than NftScript (-want +got):\n%s", diff)
	}
	if got := readFile(t, rec+".args"); got != "-f -\n" {
		t.Errorf("nft args %q, want -f -", got)
	}
	if err := a.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, rec+".stdin"); got != RemoveScript() {
		t.Errorf("Remove fed nft %q", got)
	}
}

func TestApplierErrors(t *testing.T) {
	if _, err := NewApplier(nil, WithNft(filepath.Join(t.TempDir(), "no-nft"))); err == nil {
		t.Error("NewApplier with a missing nft: want error")
	}
	nft, rec := fakeNft(t, "", 0)
	a, err := NewApplier(nil, WithNft(nft))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(context.Background(), RulesConfig{}); err == nil || !strings.Contains(err.Error(), "dark prefix") {
		t.Errorf("Apply of an invalid config: err = %v", err)
	}
	if _, err := os.Stat(rec + ".stdin"); err == nil {
		t.Error("invalid config reached nft")
	}
	for _, tc := range []struct{ stderr, want string }{
		{"Error: Could not process rule: Operation not permitted", "CAP_NET_ADMIN"},
		{"Error: Could not process rule: File exists", "rules --remove"},
	} {
		nft, _ := fakeNft(t, tc.stderr, 1)
		a, err := NewApplier(nil, WithNft(nft))
		if err != nil {
			t.Fatal(err)
		}
		err = a.Apply(context.Background(), RulesConfig{Dark: prefixes("10.99.200.0/24")})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.stderr) {
			t.Errorf("nft failing with %q: err = %v, want it to mention %q", tc.stderr, err, tc.want)
		}
	}
}
