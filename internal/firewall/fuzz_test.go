package firewall

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

var quoted = regexp.MustCompile(`"[^"]*"`)

// FuzzNftScript: no input panics, and whatever the user puts in a prefix,
// an interface name or a log prefix, a valid config yields only nft
// commands and comments: nothing can inject a line of its own.
func FuzzNftScript(f *testing.F) {
	f.Add("10.99.200.0/24", "fd99::/64", "eth0", "darkscope: ", uint16(5), false, true)
	f.Add("10.99.200.1/24", "", `eth"0`, "a\nadd table ip x", uint16(0), true, false)
	f.Add("0.0.0.0/0", "::/0", "veth*", `x" ; flush ruleset ; "`, uint16(65535), false, false)
	f.Add("10.0.0.0/8", "", "", "x ; flush ruleset; delete table ip y", uint16(1), false, false)
	f.Fuzz(func(t *testing.T, p4, p6, iface, prefix string, group uint16, text, notrack bool) {
		var dark []netip.Prefix
		for _, s := range []string{p4, p6} {
			if p, err := netip.ParsePrefix(s); err == nil {
				dark = append(dark, p)
			}
		}
		for _, mode := range []Mode{ModeDarknet, ModeHost} {
			c := RulesConfig{Mode: mode, Dark: dark, Iface: iface, Prefix: prefix, Group: group, LogText: text, Notrack: notrack}
			script, err := NftScript(c)
			if err != nil {
				if c.Validate() == nil {
					t.Fatalf("NftScript failed on a valid config: %v", err)
				}
				continue
			}
			for line := range strings.SplitSeq(script, "\n") {
				ok := line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "add ") ||
					strings.HasPrefix(line, "flush ") || strings.HasPrefix(line, "delete ")
				if !ok {
					t.Fatalf("unexpected line %q in script for %+v", line, c)
				}
				if strings.HasPrefix(line, "#") {
					continue
				}
				line = quoted.ReplaceAllString(line, `""`) // what the user wrote stays inside quotes
				if strings.Contains(line, "ruleset") || (strings.Contains(line, " table ") && !strings.Contains(line, " table inet darkscope")) {
					t.Fatalf("line %q reaches beyond table inet darkscope", line)
				}
			}
			if _, _, err := IptablesScript(c); err != nil && !strings.Contains(err.Error(), "prefix is") {
				t.Fatalf("IptablesScript failed where NftScript did not: %v", err)
			}
		}
	})
}

// FuzzParseCounters: arbitrary nft JSON never panics.
func FuzzParseCounters(f *testing.F) {
	f.Add([]byte(`{"nftables":[{"rule":{"chain":"block","comment":"drop block4","expr":[{"counter":{"packets":1,"bytes":2}}]}}]}`))
	f.Add([]byte(`{"nftables":[{"rule":{"comment":"x","expr":[1,"a",{"counter":null}]}}]}`))
	f.Add([]byte(`{"nftables":[{"rule":null}]}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		cs, err := parseCounters(js)
		if err == nil && len(cs) == 0 {
			t.Fatal("nil error with no counters")
		}
	})
}
