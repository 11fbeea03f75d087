package signature

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/nstest"
)

// TestRealPackets sends each crafted packet with hping3 from an attacker
// namespace, captures it in the sensor namespace with tcpdump, decodes it
// with darkscope's decoder and checks that the expected rule fires. With
// -update the capture is kept as testdata/hping3.pcap for TestCapturedPackets.
func TestRealPackets(t *testing.T) {
	nstest.Require(t, "tcpdump", "hping3")
	s := nstest.New(t, "sensor")
	a := nstest.New(t, "attack")
	_, ifs := nstest.Link(t, a, s, "10.99.10.2/24", "10.99.10.1/24")
	pcap := filepath.Join(t.TempDir(), "cap.pcap")
	td := s.Start("tcpdump", "--immediate-mode", "-Z", "root", "-U", "-n", "-i", ifs, "-w", pcap, "src 10.99.10.2")
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
	for _, c := range hpingCases {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		argv := append([]string{"hping3", "-q", "-c", "1"}, c.args...)
		out, _ := a.Command(ctx, append(argv, "10.99.10.1")...).CombinedOutput() // hping3 exits 1 when nothing answers
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			t.Fatalf("%s timed out: %s", c.name, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	_ = td.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = td.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not stop")
	}
	if *update {
		b, err := os.ReadFile(pcap)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/hping3.pcap", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checkCaptured(t, pcap)
}
