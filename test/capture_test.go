package test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/nstest"
)

// probe is one bounded hping3 run from the attacker and the packets it sends.
type probe struct {
	args []string
	n    int
}

func sendProbes(t *testing.T, a *nstest.NS, probes []probe) int {
	t.Helper()
	total := 0
	for _, p := range probes {
		args := append([]string{"timeout", "20", "hping3", "-q", "-i", "u20000"}, p.args...)
		// hping3 exits 1 when nothing answers, which is what a darknet does.
		_, _ = a.Run(args...)
		total += p.n
	}
	return total
}

func enableNetnsLog(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/net/netfilter/nf_log_all_netns", []byte("1"), 0o644); err != nil {
		t.Fatalf("enable nf_log_all_netns (LOG rules in namespaces print only with it): %v", err)
	}
}

// TestNFLOGAndKmsgAgree sends real packets from an attacker namespace to a
// dark prefix behind a sensor namespace whose prerouting chain both logs them
// as text (read by the daemon from /dev/kmsg) and sends them to NFLOG group 7.
// Every packet must be stored once per path, and the two events of a packet
// must agree on every field both carry, their times within 1 s.
func TestNFLOGAndKmsgAgree(t *testing.T) {
	nstest.Require(t, "nft", "hping3", "nmap")
	enableNetnsLog(t)
	s := nstest.New(t, "sensor")
	a := nstest.New(t, "attacker")
	ifS, _ := nstest.Link(t, s, a, "10.204.0.1/24,fd99:204::1/64", "10.204.0.2/24,fd99:204::2/64")
	a.MustRun("ip", "route", "add", "10.204.1.0/24", "via", "10.204.0.1")
	a.MustRun("ip", "-6", "route", "add", "fd99:205::/64", "via", "fd99:204::1")
	prefix := fmt.Sprintf("dse2e%d: ", os.Getpid()%100000)
	s.Nft(fmt.Sprintf(`table inet dse2e {
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		iifname "%[1]s" ip saddr 10.204.0.2 log prefix "%[2]s" flags all
		iifname "%[1]s" ip6 saddr fd99:204::2 meta l4proto != icmpv6 log prefix "%[2]s" flags all
		iifname "%[1]s" ip saddr 10.204.0.2 log group 7
		iifname "%[1]s" ip6 saddr fd99:204::2 meta l4proto != icmpv6 log group 7
	}
}
`, ifS, prefix))
	data := filepath.Join(t.TempDir(), "data")
	stop := daemon(t, data, []string{"ip", "netns", "exec", s.Name}, "--nflog", "7", "--kmsg")

	sent := sendProbes(t, a, []probe{
		{[]string{"-S", "-p", "23", "-c", "3", "10.204.1.1"}, 3},
		{[]string{"-S", "-A", "-s", "80", "-p", "41000", "-c", "2", "10.204.1.2"}, 2}, // backscatter SYN-ACK
		{[]string{"-R", "-A", "-p", "41001", "-c", "2", "10.204.1.2"}, 2},             // backscatter RST
		{[]string{"-F", "-p", "81", "-c", "2", "10.204.1.3"}, 2},                      // FIN
		{[]string{"-p", "82", "-c", "2", "10.204.1.3"}, 2},                            // NULL
		{[]string{"-F", "-P", "-U", "-p", "83", "-c", "2", "10.204.1.3"}, 2},          // Xmas
		{[]string{"-S", "-F", "-P", "-U", "-p", "84", "-c", "1", "10.204.1.3"}, 1},    // nmap fingerprint-style
		{[]string{"-2", "-p", "53", "-d", "20", "-c", "3", "10.204.1.4"}, 3},          // UDP
		{[]string{"-1", "-c", "3", "10.204.1.5"}, 3},                                  // ICMP echo
		{[]string{"-1", "-C", "3", "-K", "3", "-c", "2", "10.204.1.6"}, 2},            // ICMP port unreachable
		{[]string{"-1", "-C", "13", "-c", "1", "10.204.1.7"}, 1},                      // ICMP timestamp
		{[]string{"-S", "-p", "445", "-M", "1000", "-w", "1024", "-t", "200", "-N", "4242", "-c", "1", "10.204.1.8"}, 1},
	})
	// IPv6: a bounded nmap SYN scan of two ports.
	if _, err := a.Run("timeout", "30", "nmap", "-6", "-n", "-Pn", "-sS", "--max-retries", "0", "-p", "22,80", "fd99:205::1"); err != nil {
		t.Fatalf("nmap -6: %v", err)
	}
	sent += 2

	// Wait until both paths have stored everything (NFLOG flush timeout, pipeline flush).
	var nf, km []map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for {
		all := jsonLines(t, ds(t, false, "events", "--data", data, "--json", "--limit", "0"))
		nf, km = nil, nil
		for _, e := range all {
			if e["src_ip"] != "10.204.0.2" && e["src_ip"] != "fd99:204::2" {
				continue
			}
			switch {
			case e["source"] == "nflog:7":
				nf = append(nf, e)
			case e["source"] == "kmsg" && e["prefix"] == strings.TrimRight(prefix, " "):
				km = append(km, e)
			}
		}
		if len(nf) >= sent && len(km) >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(nf) != sent || len(km) != sent {
		t.Fatalf("stored %d NFLOG and %d LOG events for %d packets sent", len(nf), len(km), sent)
	}
	key := func(e map[string]any) string {
		return fmt.Sprint(e["proto"], " ", e["src_ip"], " ", e["dst_ip"], " ", e["src_port"], " ", e["dst_port"], " ", e["ip_id"], " ",
			e["flow_label"], " ", e["tcp_flags"], " ", e["icmp_type"], " ", e["icmp_code"])
	}
	byKey := map[string]map[string]any{}
	for _, e := range km {
		byKey[key(e)] = e
	}
	// Not carried by both: the LOG target prints no header length unless it
	// prints IP options, no hook, group, payload, or quoted TCP sequence.
	skip := map[string]bool{"source": true, "time": true, "uptime_ns": true, "group": true, "truncated": true,
		"payload_hex": true, "payload_len": true, "prefix": true, "hook": true, "ihl": true}
	for _, n := range nf {
		k := key(n)
		l, ok := byKey[k]
		if !ok {
			t.Errorf("NFLOG event has no LOG twin: %v", n)
			continue
		}
		var both []string
		for f := range n {
			if _, ok := l[f]; ok && !skip[f] {
				both = append(both, f)
			}
		}
		sort.Strings(both)
		for _, f := range both {
			nm, ok1 := n[f].(map[string]any)
			lm, ok2 := l[f].(map[string]any)
			if ok1 && ok2 { // the quoted packet of an ICMP error: compare what both carry
				for sk, sv := range nm {
					if lv, ok := lm[sk]; ok && fmt.Sprint(sv) != fmt.Sprint(lv) {
						t.Errorf("%s: field %s.%s: NFLOG %v, LOG %v", k, f, sk, sv, lv)
					}
				}
				continue
			}
			if fmt.Sprint(n[f]) != fmt.Sprint(l[f]) {
				t.Errorf("%s: field %s: NFLOG %v, LOG %v", k, f, n[f], l[f])
			}
		}
		if len(both) < 12 {
			t.Errorf("%s: only %d shared fields (%v): decoders lose fields", k, len(both), both)
		}
		tn, err1 := time.Parse(time.RFC3339Nano, n["time"].(string))
		tl, err2 := time.Parse(time.RFC3339Nano, l["time"].(string))
		if err1 != nil || err2 != nil || math.Abs(tn.Sub(tl).Seconds()) > 1 {
			t.Errorf("%s: times %v and %v more than 1 s apart", k, n["time"], l["time"])
		}
	}
	out := stop()
	st := jsonLines(t, ds(t, false, "stats", "--data", data, "--json"))
	srcs, _ := st[0]["sources"].([]any)
	for _, x := range srcs {
		m := x.(map[string]any)
		if m["source"] == "nflog:7" {
			lost, _ := m["lost"].(map[string]any)
			if num(m, "stored") != float64(sent) || len(lost) != 0 && sumMap(lost) != 0 {
				t.Errorf("nflog counters %v (daemon log: %s)", m, out)
			}
		}
	}
}

func sumMap(m map[string]any) float64 {
	var s float64
	for _, v := range m {
		f, _ := v.(float64)
		s += f
	}
	return s
}

// TestRulesCaptureDarknet applies `darkscope rules` in a sensor namespace and
// checks that the daemon records what a darknet receives, including the
// packets conntrack calls invalid (backscatter, FIN/NULL/Xmas, ICMP errors).
func TestRulesCaptureDarknet(t *testing.T) {
	nstest.Require(t, "nft", "hping3")
	s := nstest.New(t, "sensor")
	a := nstest.New(t, "attacker")
	nstest.Link(t, s, a, "10.206.0.1/24", "10.206.0.2/24")
	a.MustRun("ip", "route", "add", "10.206.1.0/24", "via", "10.206.0.1")
	s.MustRun(bin, "rules", "--dark", "10.206.1.0/24", "--group", "9", "--apply")
	// Applying twice is idempotent.
	s.MustRun(bin, "rules", "--dark", "10.206.1.0/24", "--group", "9", "--apply")
	data := filepath.Join(t.TempDir(), "data")
	stop := daemon(t, data, []string{"ip", "netns", "exec", s.Name}, "--nflog", "9")
	sent := sendProbes(t, a, []probe{
		{[]string{"-S", "-A", "-s", "443", "-p", "50000", "-c", "3", "10.206.1.1"}, 3},
		{[]string{"-R", "-p", "50001", "-c", "3", "10.206.1.2"}, 3},
		{[]string{"-F", "-p", "22", "-c", "2", "10.206.1.3"}, 2},
		{[]string{"-p", "22", "-c", "2", "10.206.1.3"}, 2},
		{[]string{"-F", "-P", "-U", "-p", "22", "-c", "2", "10.206.1.3"}, 2},
		{[]string{"-1", "-C", "3", "-K", "1", "-c", "2", "10.206.1.4"}, 2},
		{[]string{"-1", "-C", "11", "-c", "2", "10.206.1.4"}, 2},
		{[]string{"-S", "-p", "23", "-c", "5", "10.206.1.5"}, 5},
		{[]string{"-2", "-p", "161", "-c", "2", "10.206.1.6"}, 2},
	})
	var top []map[string]any
	deadline := time.Now().Add(15 * time.Second)
	for {
		top = jsonLines(t, ds(t, false, "top", "sources", "--data", data, "--json"))
		if len(top) == 1 && num(top[0], "count") >= float64(sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(top) != 1 || top[0]["key"] != "10.206.0.2" || num(top[0], "count") != float64(sent) {
		t.Fatalf("top sources = %v, want 10.206.0.2 with %d packets", top, sent)
	}
	stop()
	s.MustRun(bin, "rules", "--remove")
	if out := s.MustRun("nft", "list", "tables"); strings.Contains(out, "darkscope") {
		t.Errorf("table still there after --remove: %s", out)
	}
}
