package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scenarioInput returns the input section of a detection scenario file:
// kernel LOG lines captured from real nmap and hping3 runs
// (internal/detect/testdata/capture-scans.sh).
func scenarioInput(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "internal", "detect", "testdata", "scenarios", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "-- input --\n")
	j := strings.Index(s, "-- expected --")
	if i < 0 || j < i {
		t.Fatalf("%s: no input section", name)
	}
	return s[i+len("-- input --\n") : j]
}

// TestScansFromImport imports real captured scans and checks what `scans`,
// `backscatter` and `explain` say, without and with the daemon.
func TestScansFromImport(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "scans.log")
	var all strings.Builder
	for _, n := range []string{"real-nmap-sS.txtar", "real-nmap-sX.txtar", "real-backscatter.txtar"} {
		all.WriteString(scenarioInput(t, n))
	}
	if err := os.WriteFile(log, []byte(all.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	ds(t, false, "import", "--data", data, log)

	check := func(label string) {
		vs := jsonLines(t, ds(t, false, "scans", "--data", data, "--json"))
		by := map[string]map[string]any{}
		for _, v := range vs {
			by[v["src"].(string)] = v
		}
		syn := by["10.99.88.11"]
		if syn == nil || !strings.Contains(strings.Join(strs(syn["scan_types"]), ","), "-sS") {
			t.Fatalf("%s: no -sS verdict for the nmap SYN scanner: %v", label, vs)
		}
		if tool, _ := syn["tool"].(map[string]any); tool == nil || tool["name"] != "nmap" {
			t.Errorf("%s: nmap SYN scan not fingerprinted as nmap: %v", label, syn["tool"])
		}
		if p, _ := syn["dst_ports"].(map[string]any); p["tcp"] != "1-100" {
			t.Errorf("%s: -sS ports %v", label, syn["dst_ports"])
		}
		xmas := by["10.99.88.15"]
		if xmas == nil || strings.Join(strs(xmas["scan_types"]), ",") != "-sX" || !strings.Contains(strings.Join(strs(xmas["signatures"]), ","), "XMAS") {
			t.Errorf("%s: Xmas scan verdict %v", label, xmas)
		}
		vic := jsonLines(t, ds(t, false, "backscatter", "--data", data, "--json"))
		if len(vic) < 3 {
			t.Errorf("%s: backscatter victims %v", label, vic)
		}
		if out := ds(t, false, "explain", "--data", data, "10.99.88.15"); !strings.Contains(out, "-sX") {
			t.Errorf("%s: explain: %s", label, out)
		}
	}
	check("saved state")
	follow := filepath.Join(dir, "f.log")
	_ = os.WriteFile(follow, nil, 0o644)
	stop := daemon(t, data, nil, "--follow", follow)
	check("daemon")
	stop()
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		out = append(out, x.(string))
	}
	return out
}
