package firewall

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Golden files: testdata/NAME.nft, .iptables, .ip6tables are the scripts for
// goldenConfigs; testdata/NAME.listing is what the kernel lists after loading
// NAME.nft (written by the root test TestApplyListRemove). Regenerate all with
// `sudo go test ./internal/firewall -run 'Golden|TestApplyListRemove' -update`
// and review the diff.
var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// goldenConfigs are the configurations whose scripts are kept in testdata/;
// the root test loads each one into a real kernel.
var goldenConfigs = []struct {
	name string
	cfg  RulesConfig
}{
	{"darknet", RulesConfig{Dark: prefixes("10.99.200.0/24", "fd99:200::/64")}},
	{"darknet_full", RulesConfig{Mode: ModeDarknet, Dark: prefixes("fd99:201::/64", "10.99.201.0/24", "10.99.200.0/24"),
		Iface: "eth1", Group: 7, Prefix: "dark7: ", Notrack: true, CopyRange: 256, Threshold: 64,
		SetSize: 1000, HoneypotPort: 2022, SSHPort: 2200}},
	{"darknet_v4_text", RulesConfig{Dark: prefixes("10.99.200.0/24"), LogText: true, Prefix: "dstext: "}},
	{"host", RulesConfig{Mode: ModeHost}},
	{"host_dark_iface", RulesConfig{Mode: ModeHost, Dark: prefixes("fd99:200::/64"), Iface: "veth*", Notrack: true}},
}

func TestNftScriptGolden(t *testing.T) {
	for _, tc := range goldenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NftScript(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".nft", got)
		})
	}
}

// TestNftScriptStable: the script is a pure function of the config; the
// order in which prefixes are given does not matter.
func TestNftScriptStable(t *testing.T) {
	a, err := NftScript(RulesConfig{Dark: prefixes("10.99.201.0/24", "fd99::/64", "10.99.200.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NftScript(RulesConfig{Dark: prefixes("fd99::/64", "10.99.200.0/24", "10.99.201.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("prefix order changes the script (-a +b):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	ok := prefixes("10.99.200.0/24")
	tests := []struct {
		name string
		cfg  RulesConfig
		want string // substring of the error; "" = valid
	}{
		{"darknet minimal", RulesConfig{Dark: ok}, ""},
		{"host without dark", RulesConfig{Mode: ModeHost}, ""},
		{"host notrack with dark", RulesConfig{Mode: ModeHost, Dark: ok, Notrack: true}, ""},
		{"iface wildcard", RulesConfig{Dark: ok, Iface: "veth*"}, ""},
		{"max prefix", RulesConfig{Dark: ok, Prefix: strings.Repeat("p", 127)}, ""},
		{"darknet without dark", RulesConfig{}, "needs at least one dark prefix"},
		{"unknown mode", RulesConfig{Mode: "router", Dark: ok}, `mode "router"`},
		{"invalid prefix", RulesConfig{Dark: []netip.Prefix{{}}}, "not a valid prefix"},
		{"host bits", RulesConfig{Dark: prefixes("10.99.200.1/24")}, "did you mean 10.99.200.0/24"},
		{"mapped", RulesConfig{Dark: prefixes("::ffff:10.99.200.0/120")}, "IPv4-mapped"},
		{"overlap", RulesConfig{Dark: prefixes("10.99.0.0/16", "10.99.200.0/24")}, "10.99.200.0/24 overlaps 10.99.0.0/16"},
		{"duplicate v6", RulesConfig{Dark: prefixes("fd99::/64", "fd99::/64")}, "overlaps"},
		{"iface too long", RulesConfig{Dark: ok, Iface: "abcdefghijklmnop"}, "1-15 characters"},
		{"iface quote", RulesConfig{Dark: ok, Iface: `eth"0`}, "not allowed"},
		{"iface star only", RulesConfig{Dark: ok, Iface: "*"}, "1-15 characters"},
		{"prefix quote", RulesConfig{Dark: ok, Prefix: `a"b`}, "not allowed"},
		{"prefix newline", RulesConfig{Dark: ok, Prefix: "a\nb"}, "not allowed"},
		{"prefix too long", RulesConfig{Dark: ok, Prefix: strings.Repeat("p", 128)}, "at most 127"},
		{"notrack without dark", RulesConfig{Mode: ModeHost, Notrack: true}, "notrack applies to dark prefixes"},
		{"text with snaplen", RulesConfig{Dark: ok, LogText: true, CopyRange: 128}, "NFLOG only"},
		{"text with threshold", RulesConfig{Dark: ok, LogText: true, Threshold: 8}, "NFLOG only"},
		{"honeypot on ssh port", RulesConfig{Dark: ok, HoneypotPort: 22}, "honeypot port 22 equals"},
		{"honeypot equals custom ssh", RulesConfig{Dark: ok, SSHPort: 2222}, "honeypot port 2222 equals"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Validate() = %v, want it to contain %q", err, tc.want)
			}
			// NftScript refuses exactly what Validate refuses; IptablesScript
			// at least that (its prefix limits are tighter).
			_, nerr := NftScript(tc.cfg)
			_, _, ierr := IptablesScript(tc.cfg)
			if (nerr == nil) != (err == nil) || (err != nil && ierr == nil) {
				t.Fatalf("Validate err %v, NftScript err %v, IptablesScript err %v", err, nerr, ierr)
			}
		})
	}
}

// TestValidateJoinsErrors: every problem is reported, not just the first.
func TestValidateJoinsErrors(t *testing.T) {
	err := RulesConfig{Mode: "x", Dark: prefixes("10.0.0.1/8"), Prefix: `"`, HoneypotPort: 22}.Validate()
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{`mode "x"`, "host bits", "log prefix", "honeypot port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRemoveScript(t *testing.T) {
	want := "add table inet darkscope\ndelete table inet darkscope\n"
	if got := RemoveScript(); got != want {
		t.Errorf("RemoveScript() = %q, want %q", got, want)
	}
}

func TestParseCounters(t *testing.T) {
	// Shape of `nft -j list table inet darkscope` (nftables 1.0.6), trimmed.
	js := `{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
 {"table": {"family": "inet", "name": "darkscope", "handle": 1}},
 {"rule": {"family": "inet", "table": "darkscope", "chain": "block", "handle": 9, "expr": [
   {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@allow4"}}, {"return": null}]}},
 {"rule": {"family": "inet", "table": "darkscope", "chain": "log_prerouting", "handle": 7, "comment": "log dark4", "expr": [
   {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "@dark4"}},
   {"counter": {"packets": 12, "bytes": 840}}, {"log": {"prefix": "darkscope: ", "group": 5}}]}},
 {"rule": {"family": "inet", "table": "darkscope", "chain": "block", "handle": 13, "comment": "drop block4", "expr": [
   {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@block4"}},
   {"counter": {"packets": 3, "bytes": 252}}, {"drop": null}]}}]}`
	got, err := parseCounters([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	want := []RuleCounter{
		{Chain: "log_prerouting", Comment: CommentLogDark4, Packets: 12, Bytes: 840},
		{Chain: "block", Comment: CommentDropBlock4, Packets: 3, Bytes: 252},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseCounters (-want +got):\n%s", diff)
	}
	if _, err := parseCounters([]byte(`{"nftables": []}`)); err == nil {
		t.Error("no counted rules: want error")
	}
	if _, err := parseCounters([]byte(`{`)); err == nil {
		t.Error("bad json: want error")
	}
}

func TestIptablesScriptGolden(t *testing.T) {
	for _, tc := range goldenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			v4, v6, err := IptablesScript(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".iptables", v4)
			golden(t, tc.name+".ip6tables", v6)
		})
	}
}

func TestIptablesPrefixLimits(t *testing.T) {
	dark := prefixes("10.99.200.0/24")
	if _, _, err := IptablesScript(RulesConfig{Dark: dark, LogText: true, Prefix: strings.Repeat("p", 30)}); err == nil ||
		!strings.Contains(err.Error(), "at most 29") {
		t.Errorf("LOG prefix of 30 bytes: err = %v, want at most 29", err)
	}
	if _, _, err := IptablesScript(RulesConfig{Dark: dark, LogText: true, Prefix: strings.Repeat("p", 29)}); err != nil {
		t.Errorf("LOG prefix of 29 bytes: %v", err)
	}
	if _, _, err := IptablesScript(RulesConfig{Dark: dark, Prefix: strings.Repeat("p", 64)}); err == nil ||
		!strings.Contains(err.Error(), "at most 63") {
		t.Errorf("NFLOG prefix of 64 bytes: err = %v, want at most 63", err)
	}
}

func BenchmarkNftScript(b *testing.B) {
	cfg := goldenConfigs[1].cfg
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := NftScript(cfg); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "scripts/s")
}
