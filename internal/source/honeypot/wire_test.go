package honeypot

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/darkscope/darkscope/internal/nstest"
)

// startCapture runs tshark on loopback for port until stop is called.
func startCapture(t *testing.T, port string) (pcap string, stop func()) {
	t.Helper()
	pcap = filepath.Join(t.TempDir(), "c.pcap")
	capt := exec.Command("tshark", "-i", "lo", "-f", "tcp port "+port, "-w", pcap)
	stderr, _ := capt.StderrPipe()
	if err := capt.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "Capturing on") {
				once = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		capt.Process.Kill()
		capt.Wait()
		t.Fatal("tshark did not start")
	}
	time.Sleep(500 * time.Millisecond)
	return pcap, func() {
		time.Sleep(500 * time.Millisecond)
		_ = capt.Process.Signal(os.Interrupt)
		_ = capt.Wait()
	}
}

// TestServerOnWire checks, with tshark, what the honeypot announces: the
// Debian version line and OpenSSH 9.2's algorithm order (what x/crypto
// implements of it); the legacy algorithms only with Legacy.
func TestServerOnWire(t *testing.T) {
	nstest.Require(t, "tshark")
	ins := ssh.InsecureAlgorithms()
	kex := strings.Join(debianKex, ",")
	tests := []struct {
		legacy                      bool
		kex, hostkeys, ciphers, mac string
	}{
		{false, kex + ",kex-strict-s-v00@openssh.com", "rsa-sha2-256,rsa-sha2-512,ecdsa-sha2-nistp256,ssh-ed25519",
			strings.Join(debianCiphers, ","), strings.Join(debianMACs, ",")},
		{true, kex + "," + strings.Join(ins.KeyExchanges, ",") + ",kex-strict-s-v00@openssh.com",
			"rsa-sha2-256,rsa-sha2-512,ssh-rsa,ecdsa-sha2-nistp256,ssh-ed25519",
			strings.Join(append(append([]string(nil), debianCiphers...), ins.Ciphers...), ","),
			strings.Join(append(append([]string(nil), debianMACs...), ins.MACs...), ",")},
	}
	for _, tc := range tests {
		h := startHoneypot(t, Config{Legacy: tc.legacy})
		port := h.addr[strings.LastIndexByte(h.addr, ':')+1:]
		pcap, stop := startCapture(t, port)
		if err := goAttempt(h.addr, "root", []string{"x"}); err != nil {
			t.Fatal(err)
		}
		stop()
		h.stop(t)
		out, err := exec.Command("tshark", "-r", pcap, "-d", "tcp.port=="+port+",ssh", "-Y", "tcp.srcport=="+port,
			"-T", "fields", "-E", "separator=|", "-e", "ssh.protocol", "-e", "ssh.kex_algorithms",
			"-e", "ssh.server_host_key_algorithms", "-e", "ssh.encryption_algorithms_server_to_client",
			"-e", "ssh.mac_algorithms_server_to_client", "-e", "ssh.compression_algorithms_server_to_client").Output()
		if err != nil {
			t.Fatal(err)
		}
		var version string
		var lists []string
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Split(l, "|")
			if len(f) < 6 {
				continue
			}
			if f[0] != "" {
				version = f[0]
			}
			if f[1] != "" {
				lists = f[1:]
			}
		}
		if version != DefaultServerVersion {
			t.Errorf("legacy=%v: version %q", tc.legacy, version)
		}
		want := []string{tc.kex, tc.hostkeys, tc.ciphers, tc.mac, "none"}
		if strings.Join(lists, "|") != strings.Join(want, "|") {
			t.Errorf("legacy=%v: server KEXINIT\n got %q\nwant %q", tc.legacy, lists, want)
		}
	}
}
