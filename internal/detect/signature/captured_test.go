package signature

import (
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
)

var update = flag.Bool("update", false, "rewrite testdata/hping3.pcap from TestRealPackets (root)")

// TestCapturedPackets replays testdata/hping3.pcap (the packets hping3
// sent in TestRealPackets) without root.
func TestCapturedPackets(t *testing.T) { checkCaptured(t, "testdata/hping3.pcap") }

// checkCaptured decodes a capture of the hpingCases, in order, and checks
// that each packet fires its rule.
func checkCaptured(t *testing.T, path string) {
	t.Helper()
	m, _, err := Load(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var e event.Event
		if err := decode.DecodeEthernet(data, &e); err != nil {
			continue
		}
		evs = append(evs, e)
	}
	if len(evs) != len(hpingCases) {
		t.Fatalf("captured %d packets, sent %d", len(evs), len(hpingCases))
	}
	for i, c := range hpingCases {
		ids := matchIDs(m, &evs[i])
		if !slices.Contains(ids, c.want) {
			t.Errorf("%s (hping3 %s): rules %v, want %d", c.name, joinArgs(c.args), ids, c.want)
		}
	}
}

func joinArgs(a []string) string { return strings.Join(a, " ") }

// hpingCases are hping3 command lines crafting one packet for a default
// signature each, with the rule id it must fire. Destination 10.99.10.1.
var hpingCases = []struct {
	name string
	args []string
	want uint32
}{
	{"nmap-fingerprint", []string{"-S", "-F", "-P", "-U", "-p", "80"}, 1001},
	{"syn-fin", []string{"-S", "-F", "-p", "80"}, 1002},
	{"xmas-fpu", []string{"-F", "-P", "-U", "-p", "80"}, 1003},
	{"xmas-all", []string{"-S", "-F", "-R", "-P", "-A", "-U", "-p", "80"}, 1004},
	{"null", []string{"-p", "80"}, 1005},
	{"fin", []string{"-F", "-p", "80"}, 1006},
	{"tcp-port-0", []string{"-S", "-p", "0"}, 1010},
	{"ttl-0", []string{"-S", "-p", "80", "-t", "0"}, 1014},
	{"lsrr", []string{"-S", "-p", "80", "--lsrr", "10.99.10.2"}, 1020},
	{"ssrr", []string{"-S", "-p", "80", "--ssrr", "10.99.10.2"}, 1021},
	{"record-route", []string{"-1", "-G"}, 1022},
	{"mstream", []string{"-S", "-p", "15104"}, 1030},
	{"subseven", []string{"-S", "-p", "27374"}, 1031},
	{"netbus", []string{"-S", "-p", "12345"}, 1032},
	{"slammer", []string{"-2", "-p", "1434", "-d", "376"}, 1034},
	{"trin00-udp", []string{"-2", "-p", "27444", "-d", "10"}, 1035},
	{"trin00-tcp", []string{"-S", "-p", "27665"}, 1037},
	{"icmp-timestamp", []string{"-1", "-C", "13"}, 1050},
	{"icmp-addrmask", []string{"-1", "-C", "17"}, 1052},
	{"icmp-large", []string{"-1", "-d", "1000"}, 1055},
	{"icmp-echo-code", []string{"-1", "-C", "8", "-K", "5"}, 1057},
}
