package tool

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
)

// Addresses of the real-tool captures: scanner and sensor.
const (
	scanAddr   = "10.99.9.2"
	sensorAddr = "10.99.9.1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.pcap from the real-tool captures (root)")

// TestCapturedTools replays the packets real tools sent in
// TestRealTools (testdata/*.pcap, rewritten with go test -run RealTools
// -update as root) and checks each label, without root.
func TestCapturedTools(t *testing.T) {
	for file, want := range map[string]string{
		"nmap-sS": NameNmap, "nmap-sT": NameKernel, "hping3": NameHping3, "mirai-hping3": NameMirai,
		"custom-sport6000": NameCustom, "masscan": NameMasscan, "zmap": NameZMap,
	} {
		t.Run(file, func(t *testing.T) {
			assertTool(t, readPcap(t, "testdata/"+file+".pcap"), want)
		})
	}
}

func readPcap(t *testing.T, path string) []event.Event {
	t.Helper()
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
			continue // ARP and the like
		}
		evs = append(evs, e)
	}
	return evs
}

func assertTool(t *testing.T, evs []event.Event, want string) {
	t.Helper()
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	syns := 0
	for i := range evs {
		tr.Observe(&evs[i])
		if evs[i].Proto == event.ProtoTCP && evs[i].Flags&(event.FlagSYN|event.FlagACK) == event.FlagSYN || evs[i].Proto == event.ProtoUDP {
			syns++
		}
	}
	v, ok := tr.Verdict(netip.MustParseAddr(scanAddr))
	if !ok || v.Name != want {
		t.Fatalf("%d probes captured; verdict %v (ok %v), want %s", syns, v, ok, want)
	}
	t.Logf("%d probes: %s", syns, v)
}
