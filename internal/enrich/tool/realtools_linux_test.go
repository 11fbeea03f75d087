package tool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/nstest"
)

// capture runs the real tool in an attacker namespace against a sensor
// namespace (addresses 10.99.9.1, .3, .4, .5) while tcpdump in the sensor
// records what arrives from the attacker; it returns the decoded packets.
// With -update, each capture is also written to testdata/<name>.pcap for
// TestCapturedTools, which replays them without root.
func capture(t *testing.T, name string, run func(a *nstest.NS, ifa, sensorMAC string)) []event.Event {
	t.Helper()
	s := nstest.New(t, "sensor")
	a := nstest.New(t, "scan")
	ifa, ifs := nstest.Link(t, a, s, scanAddr+"/24", sensorAddr+"/24,10.99.9.3/24,10.99.9.4/24,10.99.9.5/24")
	mac := strings.Fields(s.MustRun("cat", "/sys/class/net/"+ifs+"/address"))[0]
	// Neighbour entries so raw-packet tools need no ARP round trip.
	a.MustRun("ip", "neigh", "replace", sensorAddr, "lladdr", mac, "dev", ifa)
	pcap := filepath.Join(t.TempDir(), "cap.pcap")
	// --immediate-mode: deliver each packet at once, not per kernel block.
	td := s.Start("tcpdump", "--immediate-mode", "-Z", "root", "-U", "-n", "-i", ifs, "-w", pcap, "src "+scanAddr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(pcap); err == nil && fi.Size() >= 24 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tcpdump did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	run(a, ifa, mac)
	time.Sleep(time.Second)
	_ = td.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = td.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not stop on SIGINT")
	}
	if *update {
		b, err := os.ReadFile(pcap)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name+".pcap"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return readPcap(t, pcap)
}

func runIn(t *testing.T, a *nstest.NS, argv ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := a.Command(ctx, argv...).CombinedOutput()
	if err != nil && ctx.Err() != nil {
		t.Fatalf("%v timed out: %s", argv, out)
	}
	// Scanners exit non-zero for closed ports; only a missing result matters.
	t.Logf("%s: %v: %s", strings.Join(argv, " "), err, out)
}

func TestRealTools(t *testing.T) {
	nstest.Require(t, "tcpdump")
	targets := "10.99.9.1,10.99.9.3,10.99.9.4,10.99.9.5"
	t.Run("nmap -sS", func(t *testing.T) {
		nstest.Require(t, "nmap")
		evs := capture(t, "nmap-sS", func(a *nstest.NS, _, _ string) {
			runIn(t, a, "nmap", "-n", "-Pn", "-sS", "-p", "20-30", "--max-retries", "0", "--host-timeout", "30s", sensorAddr)
		})
		assertTool(t, evs, NameNmap)
	})
	t.Run("nmap -sT is a kernel connect", func(t *testing.T) {
		nstest.Require(t, "nmap")
		evs := capture(t, "nmap-sT", func(a *nstest.NS, _, _ string) {
			runIn(t, a, "nmap", "-n", "-Pn", "-sT", "-p", "20-30", "--max-retries", "0", "--host-timeout", "30s", sensorAddr)
		})
		assertTool(t, evs, NameKernel)
	})
	t.Run("hping3 defaults", func(t *testing.T) {
		nstest.Require(t, "hping3")
		evs := capture(t, "hping3", func(a *nstest.NS, _, _ string) {
			runIn(t, a, "hping3", "-q", "-S", "-p", "80", "-c", "5", "-i", "u20000", sensorAddr)
		})
		assertTool(t, evs, NameHping3)
	})
	t.Run("mirai-style hping3 seq=dst", func(t *testing.T) {
		nstest.Require(t, "hping3")
		seq := fmt.Sprint(uint32(10)<<24 | 99<<16 | 9<<8 | 1)
		evs := capture(t, "mirai-hping3", func(a *nstest.NS, _, _ string) {
			runIn(t, a, "hping3", "-q", "-S", "-p", "23", "-M", seq, "-c", "4", "-i", "u20000", sensorAddr)
		})
		assertTool(t, evs, NameMirai)
	})
	t.Run("custom ssh scanner: fixed sport 6000 window 16384", func(t *testing.T) {
		nstest.Require(t, "hping3")
		evs := capture(t, "custom-sport6000", func(a *nstest.NS, _, _ string) {
			for _, d := range strings.Split(targets, ",") {
				runIn(t, a, "hping3", "-q", "-S", "-s", "6000", "-k", "-w", "16384", "-p", "++22", "-c", "2", "-i", "u10000", d)
			}
		})
		assertTool(t, evs, NameCustom)
	})
	t.Run("masscan", func(t *testing.T) {
		nstest.Require(t, "masscan")
		evs := capture(t, "masscan", func(a *nstest.NS, ifa, mac string) {
			runIn(t, a, "timeout", "30", "masscan", targets, "-p", "20-25", "--rate", "1000", "-e", ifa,
				"--router-mac", mac, "--wait", "0")
		})
		assertTool(t, evs, NameMasscan)
	})
	t.Run("zmap", func(t *testing.T) {
		nstest.Require(t, "zmap")
		dir := t.TempDir()
		bl, wl := filepath.Join(dir, "block"), filepath.Join(dir, "allow")
		if err := os.WriteFile(bl, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(wl, []byte("10.99.9.0/29\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		evs := capture(t, "zmap", func(a *nstest.NS, ifa, mac string) {
			runIn(t, a, "timeout", "30", "zmap", "-p", "80", "-B", "1M", "-n", "200", "-b", bl, "-w", wl,
				"-i", ifa, "-G", mac, "-S", scanAddr, "-c", "1", "-q")
		})
		assertTool(t, evs, NameZMap)
	})
}
