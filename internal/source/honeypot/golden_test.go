package honeypot

import (
	"bufio"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateKexinit = flag.Bool("update-kexinit", false, "rewrite testdata/kexinit from TestRealClientsAgainstTshark's capture")

// writeKexinitGolden saves, per client, the bytes its connection sent up to
// and including its KEXINIT (as tshark reassembled them) and tshark's HASSH
// and version for that connection. Run:
//
//	go test -run TestRealClientsAgainstTshark -update-kexinit ./internal/source/honeypot
func writeKexinitGolden(t *testing.T, pcap, port string) {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-d", "tcp.port=="+port+",ssh", "-Y", "tcp.dstport=="+port+" && tcp.len>0",
		"-T", "fields", "-E", "separator=|", "-e", "tcp.srcport", "-e", "tcp.payload", "-e", "ssh.message_code",
		"-e", "ssh.kex.hassh", "-e", "ssh.protocol").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	type acc struct {
		stream         []byte
		hassh, version string
		done           bool
	}
	by := map[string]*acc{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) < 5 {
			continue
		}
		a := by[f[0]]
		if a == nil {
			a = &acc{}
			by[f[0]] = a
		}
		if a.done {
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(f[1], ":", ""))
		if err != nil {
			t.Fatal(err)
		}
		a.stream = append(a.stream, b...)
		if f[4] != "" {
			a.version = f[4]
		}
		if f[3] != "" {
			a.hassh = f[3]
			a.done = true
		}
	}
	dir := filepath.Join("testdata", "kexinit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range by {
		if !a.done {
			continue
		}
		name := strings.SplitN(strings.TrimPrefix(a.version, "SSH-2.0-"), "_", 2)[0]
		if seen[name] {
			continue
		}
		seen[name] = true
		// A client may put packets after its KEXINIT in the same segment; the
		// reader stops at the end of the KEXINIT, so they do no harm.
		if err := os.WriteFile(filepath.Join(dir, name+".stream"), a.stream, 0o644); err != nil {
			t.Fatal(err)
		}
		meta := "hassh " + a.hassh + "\nversion " + strconv.Quote(a.version) + "\n"
		if err := os.WriteFile(filepath.Join(dir, name+".tshark"), []byte(meta), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKexinitGolden: the client byte streams captured from real clients give
// the HASSH and version tshark computed for the same connection.
func TestKexinitGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "kexinit", "*.stream"))
	if len(files) < 5 {
		t.Fatalf("%d captured streams in testdata/kexinit, want 5 (regenerate with -update-kexinit)", len(files))
	}
	for _, f := range files {
		stream, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := os.ReadFile(strings.TrimSuffix(f, ".stream") + ".tshark")
		if err != nil {
			t.Fatal(err)
		}
		var hassh, version string
		for _, l := range strings.Split(string(meta), "\n") {
			if v, ok := strings.CutPrefix(l, "hassh "); ok {
				hassh = v
			}
			if v, ok := strings.CutPrefix(l, "version "); ok {
				version, _ = strconv.Unquote(v)
			}
		}
		var s sniffer
		if !s.feed(stream) || !s.gotKex {
			t.Errorf("%s: no KEXINIT (overflow %q, err %v)", f, s.overflow, s.kexErr)
			continue
		}
		l := s.kex.Lists
		if got := HASSH(&l); got != hassh {
			t.Errorf("%s: HASSH %s, tshark %s", f, got, hassh)
		}
		if string(s.version) != version {
			t.Errorf("%s: version %q, tshark %q", f, s.version, version)
		}
	}
}
