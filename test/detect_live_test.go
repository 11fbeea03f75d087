package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/nstest"
)

// liveCase is one attacker source address, the real tool runs it makes and
// what darkscope must say about it.
type liveCase struct {
	name string
	src  string // attacker source address (its own, so verdicts do not mix)
	runs [][]string
	// Expected verdict.
	level       int      // exact danger level (-1: not checked)
	scanTypes   []string // exactly these nmap scan types (nil: not checked)
	signatures  []string // at least these signature names
	tool        string   // tool name ("" : not checked)
	backscatter bool
}

// TestDetectLive runs real scanners (nmap, hping3, masscan, zmap) from an
// attacker namespace against a dark prefix behind a sensor namespace that
// runs `darkscope rules --apply` and `darkscope run --nflog`, and checks
// the verdict `darkscope scans --json` gives for every source: scan types,
// danger level, signatures, tool and backscatter. Danger levels follow
// psad's model from the packets each case sends: 5 packets to one host is
// level 1, 15 is 2, a signature raises to its own level. Then the tcpdump
// capture of the same traffic, imported into a fresh data directory, must
// give every source the same verdict (imported or live, same packets, same
// verdicts).
func TestDetectLive(t *testing.T) {
	nstest.Require(t, "nft", "nmap", "hping3", "masscan", "zmap", "python3", "tcpdump", "ping")
	start := time.Now()
	s := nstest.New(t, "sensor")
	a := nstest.New(t, "attacker")
	const net0, dark = "10.207.0", "10.207.1"
	var aAddrs []string
	aAddrs = append(aAddrs, net0+".2/24")
	for h := 11; h <= 40; h++ {
		aAddrs = append(aAddrs, fmt.Sprintf("%s.%d/32", net0, h))
	}
	aAddrs = append(aAddrs, "fd99:207::2/64")
	ifA, ifS := nstest.Link(t, a, s, strings.Join(aAddrs, ","), net0+".1/24,fd99:207::1/64")
	a.MustRun("ip", "route", "add", dark+".0/24", "via", net0+".1")
	a.MustRun("ip", "-6", "route", "add", "fd99:208::/64", "via", "fd99:207::1")
	mac := strings.Fields(s.MustRun("cat", "/sys/class/net/"+ifS+"/address"))[0]
	// Raw-packet tools (masscan, zmap) need the router's MAC; a neighbour
	// entry spares nmap and hping3 an ARP round trip.
	a.MustRun("ip", "neigh", "replace", net0+".1", "lladdr", mac, "dev", ifA)
	// One dark address answers on tcp/80 so nmap -O finds an open and a
	// closed port; packets to it are still logged as dark.
	s.MustRun("ip", "addr", "add", dark+".200/32", "dev", "lo")
	s.Start("timeout", "120", "python3", "-c", `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("`+dark+`.200", 80)); s.listen(64)
while True:
    c, _ = s.accept(); c.close()`)

	s.MustRun(bin, "rules", "--dark", dark+".0/24", "--dark", "fd99:208::/64", "--group", "11", "--apply")
	data := filepath.Join(t.TempDir(), "data")
	stop := daemon(t, data, []string{"ip", "netns", "exec", s.Name}, "--nflog", "11")

	dir := t.TempDir()
	block, allow := filepath.Join(dir, "zmap-block"), filepath.Join(dir, "zmap-allow")
	must(t, os.WriteFile(block, nil, 0o644))
	must(t, os.WriteFile(allow, []byte(dark+".0/24\n"), 0o644))

	// Payloads for the content signatures: a DNS CHAOS TXT query for
	// version.bind and an SSDP discovery request.
	dnsQ, ssdp := filepath.Join(dir, "dns"), filepath.Join(dir, "ssdp")
	dnsPayload := "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03"
	ssdpPayload := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n"
	must(t, os.WriteFile(dnsQ, []byte(dnsPayload), 0o644))
	must(t, os.WriteFile(ssdp, []byte(ssdpPayload), 0o644))

	nmap := func(src string, args ...string) []string {
		base := []string{"timeout", "40", "nmap", "-n", "-Pn", "--send-ip", "-e", ifA, "-S", src, "-T5",
			"--max-retries", "0", "--host-timeout", "30s"}
		return append(base, args...)
	}
	ping := func(src, opt, targets string) []string {
		return []string{"timeout", "30", "nmap", "-n", "-sn", "--disable-arp-ping", "--send-ip", opt, "-e", ifA, "-S", src,
			"-T5", "--max-retries", "0", targets}
	}
	hp := func(src string, args ...string) []string {
		base := []string{"timeout", "15", "hping3", "-q", "-n", "-a", src, "-i", "u10000"}
		return append(base, args...)
	}
	ip := func(h int) string { return fmt.Sprintf("%s.%d", net0, h) }
	d := func(h int) string { return fmt.Sprintf("%s.%d", dark, h) }
	seqOf := func(h int) string { return fmt.Sprint(uint32(10)<<24 | 207<<16 | 1<<8 | uint32(h)) }

	cases := []liveCase{
		// 30 probes to one host: level 2 (psad DANGER_LEVEL2 = 15 packets).
		{name: "nmap -sS", src: ip(11), runs: [][]string{nmap(ip(11), "-sS", "-p", "1-30", d(1))},
			level: 2, scanTypes: []string{"-sS"}, tool: "nmap"},
		{name: "nmap -sF", src: ip(13), runs: [][]string{nmap(ip(13), "-sF", "-p", "1-30", d(3))},
			level: 2, scanTypes: []string{"-sF"}, signatures: []string{"FIN scan"}},
		{name: "nmap -sN", src: ip(14), runs: [][]string{nmap(ip(14), "-sN", "-p", "1-30", d(4))},
			level: 2, scanTypes: []string{"-sN"}, signatures: []string{"NULL scan (no flags)"}},
		{name: "nmap -sX", src: ip(15), runs: [][]string{nmap(ip(15), "-sX", "-p", "1-30", d(5))},
			level: 2, scanTypes: []string{"-sX"}, signatures: []string{"XMAS scan (FIN PSH URG)"}},
		{name: "nmap -sA", src: ip(16), runs: [][]string{nmap(ip(16), "-sA", "-p", "1-30", d(6))},
			level: 2, scanTypes: []string{"-sA/-sW"}},
		{name: "nmap -sW", src: ip(17), runs: [][]string{nmap(ip(17), "-sW", "-p", "1-30", d(7))},
			level: 2, scanTypes: []string{"-sA/-sW"}},
		{name: "nmap -sM", src: ip(18), runs: [][]string{nmap(ip(18), "-sM", "-p", "1-30", d(8))},
			level: 2, scanTypes: []string{"-sM"}},
		{name: "nmap -sU", src: ip(19), runs: [][]string{nmap(ip(19), "-sU", "-p", "50-69", d(9))},
			level: 2, scanTypes: []string{"-sU"}},
		// 20 protocols to one host: level 2 and an -sO verdict.
		{name: "nmap -sO", src: ip(20), runs: [][]string{nmap(ip(20), "-sO", "-p", "1-20", d(10))},
			level: 2, scanTypes: []string{"-sO"}},
		// -O: the OS-detection probe set (T2-T7 carry NULL, fingerprint and
		// Xmas flag sets, so their signatures fire: level 3).
		{name: "nmap -O", src: ip(21), runs: [][]string{{"timeout", "60", "nmap", "-n", "-Pn", "--send-ip", "-e", ifA, "-S", ip(21),
			"-O", "--osscan-guess", "-p", "80,81", "--max-retries", "1", "--host-timeout", "40s", d(200)}},
			level: 3, scanTypes: []string{"-sS", "-O"}, signatures: []string{"NMAP fingerprint attempt (URG PSH SYN FIN)"}},
		// Sweeps: one echo/timestamp/mask request to each of 20 hosts: the
		// unique-host level DL2 (20 hosts).
		{name: "nmap -PE", src: ip(22), runs: [][]string{ping(ip(22), "-PE", d(20)+"-39")},
			level: 2, scanTypes: []string{"-PE"}},
		{name: "nmap -PP", src: ip(23), runs: [][]string{ping(ip(23), "-PP", d(40)+"-59")},
			level: 2, scanTypes: []string{"-PP"}, signatures: []string{"ICMP timestamp request"}},
		{name: "nmap -PM", src: ip(24), runs: [][]string{ping(ip(24), "-PM", d(60)+"-79")},
			level: 2, scanTypes: []string{"-PM"}, signatures: []string{"ICMP address mask request"}},
		// masscan: 16 hosts × 6 ports, one SYN each: horizontal sweep, level 1 (10 hosts).
		{name: "masscan", src: ip(25), runs: [][]string{{"timeout", "30", "masscan", d(80) + "-" + d(95), "-p", "20-25",
			"--rate", "500", "-e", ifA, "--router-mac", mac, "--source-ip", ip(25), "--wait", "0"}},
			level: 1, scanTypes: []string{"-sS"}, tool: "masscan"},
		// zmap: 200 probes of tcp/80 over the /24 (-n 200): 200 hosts, level 5 (500: no; 100: 4).
		{name: "zmap", src: ip(26), runs: [][]string{{"timeout", "30", "zmap", "-p", "80", "-B", "1M", "-n", "200", "-b", block, "-w", allow,
			"-i", ifA, "-G", mac, "-S", ip(26), "-c", "1", "-q"}},
			level: 4, scanTypes: []string{"-sS"}, tool: "zmap"},
		// Mirai-style: TCP SYN to 23 with seq == destination address.
		{name: "mirai", src: ip(27), runs: [][]string{
			hp(ip(27), "-S", "-p", "23", "-M", seqOf(101), "-c", "2", d(101)),
			hp(ip(27), "-S", "-p", "23", "-M", seqOf(102), "-c", "2", d(102)),
			hp(ip(27), "-S", "-p", "23", "-M", seqOf(103), "-c", "2", d(103)),
		}, level: 2, scanTypes: []string{"-sS"}, tool: "mirai"}, // a Mirai fingerprint implies level 2
		// hping3 defaults: 6 SYNs to ports 445-450 of one host: level 1 (psad
		// also needs a port range: one port alone never counts).
		{name: "hping3 SYN", src: ip(28), runs: [][]string{hp(ip(28), "-S", "-p", "++445", "-c", "6", d(110))},
			level: 1, scanTypes: []string{"-sS"}, tool: "hping3"},
		// Signatures, one crafted packet each (hping3).
		{name: "tcp flag signatures", src: ip(31), runs: [][]string{
			hp(ip(31), "-S", "-F", "-P", "-U", "-p", "80", "-c", "1", d(120)),
			hp(ip(31), "-S", "-F", "-p", "81", "-c", "1", d(120)),
			hp(ip(31), "-F", "-S", "-R", "-P", "-A", "-U", "-p", "82", "-c", "1", d(120)),
			hp(ip(31), "-S", "-R", "-p", "83", "-c", "1", d(120)),
		}, level: 3, signatures: []string{"NMAP fingerprint attempt (URG PSH SYN FIN)", "SYN FIN scan", "XMAS scan (all flags)",
			"SYN RST (no stack sends both)"}},
		{name: "port signatures", src: ip(32), runs: [][]string{
			hp(ip(32), "-S", "-p", "0", "-c", "1", d(121)),
			hp(ip(32), "-S", "-p", "15104", "-c", "1", d(121)),
			hp(ip(32), "-S", "-p", "27374", "-c", "1", d(121)),
			hp(ip(32), "-S", "-p", "12345", "-c", "1", d(121)),
			hp(ip(32), "-S", "-p", "27665", "-c", "1", d(121)),
		}, level: 2, signatures: []string{"TCP destination port 0", "DDOS mstream client to handler", "BACKDOOR SubSeven connection attempt",
			"BACKDOOR NetBus connection attempt", "DDOS Trin00 attacker to master"}},
		{name: "udp signatures", src: ip(33), runs: [][]string{
			hp(ip(33), "-2", "-p", "1434", "-d", "376", "-c", "1", d(122)),
			hp(ip(33), "-2", "-p", "27444", "-d", "10", "-c", "1", d(122)),
			hp(ip(33), "-2", "-p", "31335", "-d", "10", "-c", "1", d(122)),
		}, level: 3, signatures: []string{"MS-SQL Slammer worm (UDP 1434, 404-byte packet)", "DDOS Trin00 master to daemon",
			"DDOS Trin00 daemon to master"}},
		{name: "icmp signatures", src: ip(34), runs: [][]string{
			hp(ip(34), "-1", "-C", "13", "-c", "1", d(123)),
			hp(ip(34), "-1", "-C", "17", "-c", "1", d(123)),
			hp(ip(34), "-1", "-d", "1000", "-c", "1", d(123)),
			hp(ip(34), "-1", "-K", "1", "-c", "1", d(123)),
			hp(ip(34), "-1", "-C", "4", "-c", "1", d(123)),
		}, level: 2, signatures: []string{"ICMP timestamp request", "ICMP address mask request",
			"Large ICMP packet", "ICMP echo request with undefined code", "ICMP source quench"}},
		{name: "ip option signatures", src: ip(35), runs: [][]string{
			hp(ip(35), "-S", "-p", "80", "--lsrr", d(124), "-c", "1", d(124)),
			hp(ip(35), "-S", "-p", "80", "--ssrr", d(124), "-c", "1", d(124)),
			hp(ip(35), "-S", "-p", "80", "--rroute", "-c", "1", d(124)),
		}, level: 3, signatures: []string{"Loose source routed packet (LSRR)", "Strict source routed packet (SSRR)", "Record route IP option"}},
		{name: "more tcp signatures", src: ip(39), runs: [][]string{
			hp(ip(39), "-S", "-s", "0", "-k", "-p", "80", "-c", "1", d(125)),
			hp(ip(39), "-S", "-F", "-N", "39426", "-p", "81", "-c", "1", d(125)),
			hp(ip(39), "-S", "-p", "20034", "-c", "1", d(125)),
			hp(ip(39), "-S", "-p", "17300", "-c", "1", d(125)),
			hp(ip(39), "-S", "-w", "55808", "-p", "82", "-c", "1", d(125)),
			hp(ip(39), "-S", "-t", "0", "-p", "83", "-c", "1", d(125)),
		}, level: 2, signatures: []string{"TCP source port 0", "synscan SYN FIN with IP ID 39426", "SYN FIN scan",
			"BACKDOOR NetBus Pro 2.0 connection attempt", "Kuang2 virus communication attempt", "BACKDOOR typot trojan (SYN window 55808)",
			"IP TTL 0"}},
		// IPv6: one 1000-byte echo request (the kernel's ping).
		{name: "large icmpv6", src: "fd99:207::2", runs: [][]string{{"timeout", "10", "ping", "-6", "-n", "-c", "1", "-W", "1", "-s", "1000",
			"-I", "fd99:207::2", "fd99:208::5"}},
			level: 2, scanTypes: []string{"-PE"}, signatures: []string{"Large ICMPv6 packet"}},
		// LAND: source address = destination address (a dark one).
		{name: "land", src: d(126), runs: [][]string{hp(d(126), "-S", "-p", "139", "-c", "1", d(126))},
			level: 3, signatures: []string{"LAND attack (source equals destination)"}},
		{name: "more udp signatures", src: ip(40), runs: [][]string{
			hp(ip(40), "-2", "-p", "0", "-c", "1", d(127)),
			hp(ip(40), "-2", "-s", "0", "-k", "-p", "54", "-c", "1", d(127)),
			hp(ip(40), "-2", "-p", "53", "-E", dnsQ, "-d", fmt.Sprint(len(dnsPayload)), "-c", "1", d(127)),
			hp(ip(40), "-2", "-p", "1900", "-E", ssdp, "-d", fmt.Sprint(len(ssdpPayload)), "-c", "1", d(127)),
		}, level: 2, signatures: []string{"UDP destination port 0", "UDP source port 0", "DNS version.bind query", "SSDP M-SEARCH discovery"}},
		{name: "more icmp signatures", src: ip(30), runs: [][]string{
			hp(ip(30), "-1", "-C", "5", "-K", "0", "-c", "1", d(128)),
			hp(ip(30), "-1", "-C", "5", "-K", "4", "-c", "1", d(128)),
		}, level: 2, signatures: []string{"ICMP redirect", "ICMP redirect with undefined code"}},
		// What hping3 cannot craft (it sends timestamp and mask requests with
		// code 0 whatever -K says, has no type 15, and no IP timestamp
		// option): a raw ICMP socket from python3.
		{name: "raw icmp signatures", src: ip(12), runs: [][]string{
			rawICMP(ip(12), d(128), 13, 1, ""),
			rawICMP(ip(12), d(128), 17, 1, ""),
			rawICMP(ip(12), d(128), 15, 0, ""),
			rawICMP(ip(12), d(128), 8, 0, "4408050000000000"),
			rawICMP(ip(12), d(128), 1, 0, ""),
			rawICMP(ip(12), d(128), 7, 0, ""),
			rawICMP(ip(12), d(128), 41, 0, ""),
		}, level: 2, signatures: []string{"ICMP timestamp with undefined code", "ICMP address mask with undefined code",
			"ICMP information request", "IP timestamp option", "ICMP unassigned or deprecated type", "ICMP unassigned type 7",
			"ICMP type above 40"}},
		// Replies and errors with odd codes are backscatter: their signatures
		// are named but raise no danger level (the sender is a victim).
		{name: "icmp reply signatures", src: ip(29), runs: [][]string{
			hp(ip(29), "-1", "-C", "0", "-K", "1", "-c", "1", d(129)),
			hp(ip(29), "-1", "-C", "14", "-c", "1", d(129)),
			hp(ip(29), "-1", "-C", "18", "-c", "1", d(129)),
			hp(ip(29), "-1", "-C", "3", "-K", "16", "-c", "1", d(129)),
			hp(ip(29), "-1", "-C", "11", "-K", "2", "-c", "1", d(129)),
			rawICMP(ip(29), d(129), 12, 3, ""),
		}, level: 0, backscatter: true, signatures: []string{"ICMP echo reply with undefined code", "ICMP timestamp reply",
			"ICMP address mask reply", "ICMP destination unreachable with undefined code", "ICMP time exceeded with undefined code",
			"ICMP parameter problem with undefined code"}},
		// Backscatter: a victim's SYN-ACKs, RST-ACKs and an ICMP port unreachable
		// quoting a packet "from" a dark address.
		{name: "backscatter SYN-ACK", src: ip(36), runs: [][]string{
			hp(ip(36), "-S", "-A", "-s", "443", "-k", "-p", "40001", "-c", "1", d(130)),
			hp(ip(36), "-S", "-A", "-s", "443", "-k", "-p", "40002", "-c", "1", d(131)),
			hp(ip(36), "-S", "-A", "-s", "443", "-k", "-p", "40003", "-c", "1", d(132)),
		}, level: 0, backscatter: true},
		{name: "backscatter RST", src: ip(37), runs: [][]string{
			hp(ip(37), "-R", "-A", "-s", "80", "-k", "-p", "40010", "-c", "2", d(133)),
		}, level: 0, backscatter: true},
		{name: "backscatter ICMP", src: ip(38), runs: [][]string{
			hp(ip(38), "-1", "-C", "3", "-K", "3", "--icmp-ipsrc", d(134), "--icmp-ipdst", "203.0.113.99", "--icmp-ipproto", "17",
				"--icmp-srcport", "1234", "--icmp-dstport", "53", "-c", "2", d(134)),
		}, level: 0, backscatter: true},
	}
	// nmap -sT uses the kernel's connect(): from the primary address.
	cases = append(cases, liveCase{name: "nmap -sT", src: ip(2), runs: [][]string{{"timeout", "40", "nmap", "-n", "-Pn", "-sT", "-T5",
		"--max-retries", "0", "--host-timeout", "30s", "-p", "1-20", d(2)}}, level: 2, scanTypes: []string{"-sT"}, tool: "kernel-connect"})

	// Record what reaches the sensor for the dark prefixes, for the import
	// comparison at the end.
	pcap := filepath.Join(dir, "live.pcap")
	td := s.Start("tcpdump", "--immediate-mode", "-B", "8192", "-Z", "root", "-U", "-n", "-i", ifS, "-w", pcap,
		"dst net "+dark+".0/24 or dst net fd99:208::/64")
	for deadline := time.Now().Add(10 * time.Second); ; {
		if fi, err := os.Stat(pcap); err == nil && fi.Size() >= 24 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tcpdump did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Run the cases concurrently (each from its own address), each case's
	// runs in order; every run is bounded by timeout(1).
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			for _, r := range c.runs {
				ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
				out, err := a.Command(ctx, r...).CombinedOutput()
				cancel()
				// Scanners and hping3 exit non-zero when nothing answers (a darknet).
				if err != nil && strings.Contains(string(out), "invalid") {
					t.Errorf("%s: %v: %v: %s", c.name, r, err, out)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("tools done after %v", time.Since(start).Round(time.Millisecond))

	// Wait until every source has a verdict with its expected content (the
	// NFLOG flush and the pipeline batch add a little delay).
	var by map[string]map[string]any
	deadline := time.Now().Add(15 * time.Second)
	for {
		by = map[string]map[string]any{}
		for _, v := range jsonLines(t, ds(t, false, "scans", "--data", data, "--json", "--min-level", "1")) {
			by[v["src"].(string)] = v
		}
		missing := 0
		for _, c := range cases {
			if by[c.src] == nil {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	// A settle period: late NFLOG batches can still raise counts.
	time.Sleep(time.Second)
	by = map[string]map[string]any{}
	for _, v := range jsonLines(t, ds(t, false, "scans", "--data", data, "--json", "--min-level", "1")) {
		by[v["src"].(string)] = v
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := by[c.src]
			if v == nil {
				t.Fatalf("%s: no verdict for %s", c.name, c.src)
			}
			t.Logf("%s: %v", c.name, compact(v))
			if c.level >= 0 && int(num(v, "danger_level")) != c.level {
				t.Errorf("danger level %v, want %d", v["danger_level"], c.level)
			}
			if c.scanTypes != nil && !slices.Equal(strs(v["scan_types"]), c.scanTypes) {
				t.Errorf("scan types %v, want %v", v["scan_types"], c.scanTypes)
			}
			got := strs(v["signatures"])
			for _, sg := range c.signatures {
				if !slices.Contains(got, sg) {
					t.Errorf("signature %q missing: %v", sg, got)
				}
			}
			if c.tool != "" {
				tl, _ := v["tool"].(map[string]any)
				if tl == nil || tl["name"] != c.tool {
					t.Errorf("tool %v, want %s", v["tool"], c.tool)
				}
			}
			if bs, _ := v["backscatter"].(bool); bs != c.backscatter {
				t.Errorf("backscatter %v, want %v", bs, c.backscatter)
			}
		})
	}
	stop()

	// The same packets give the same verdicts imported: the capture of
	// everything sent to the dark prefixes, imported into a fresh data
	// directory, must give every source the verdict the live daemon gave.
	_ = td.Process.Signal(syscall.SIGINT)
	tdDone := make(chan struct{})
	go func() { _ = td.Wait(); close(tdDone) }()
	select {
	case <-tdDone:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not stop on SIGINT")
	}
	data2 := filepath.Join(t.TempDir(), "data")
	ds(t, false, "import", "--data", data2, pcap)
	imported := map[string]map[string]any{}
	for _, v := range jsonLines(t, ds(t, false, "scans", "--data", data2, "--json", "--min-level", "1")) {
		imported[v["src"].(string)] = v
	}
	for _, c := range cases {
		lv, iv := by[c.src], imported[c.src]
		if iv == nil {
			t.Errorf("%s: no verdict after importing the capture", c.name)
			continue
		}
		for _, k := range []string{"danger_level", "pattern", "scan_types", "signatures", "tool", "backscatter", "packets", "dst_ports"} {
			if fmt.Sprint(lv[k]) != fmt.Sprint(iv[k]) {
				t.Errorf("%s: %s live %v, imported %v", c.name, k, lv[k], iv[k])
			}
		}
	}
	if el := time.Since(start); el > 120*time.Second {
		t.Errorf("the live acceptance took %v (budget ~90 s)", el)
	}
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// rawICMP is a python3 command that sends one ICMP message of type and
// code (8 data bytes after the id/seq header) from src to dst through a
// raw socket, with the IP options given in hex.
func rawICMP(src, dst string, typ, code int, optsHex string) []string {
	const prog = `
import socket, struct, sys
src, dst, typ, code, opts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), bytes.fromhex(sys.argv[5])
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
body = struct.pack("!BBHHH", typ, code, 0, 0x4242, 1) + bytes(12)
body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.bind((src, 0))
if opts:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, opts)
s.sendto(body, (dst, 0))
`
	return []string{"timeout", "10", "python3", "-c", prog, src, dst, fmt.Sprint(typ), fmt.Sprint(code), optsHex}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// compact renders a verdict's main fields for the log.
func compact(v map[string]any) string {
	tl := "-"
	if m, _ := v["tool"].(map[string]any); m != nil {
		tl = fmt.Sprint(m["name"], " ", m["confidence"])
	}
	return fmt.Sprintf("level=%v pattern=%v types=%v sigs=%v tool=%s bs=%v packets=%v ports=%v dsts=%v", v["danger_level"], v["pattern"],
		v["scan_types"], v["signatures"], tl, v["backscatter"], v["packets"], v["dst_ports"], v["destinations"])
}
