package honeypot

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Flood parameters: connections the child holds, and the documented bound
// on the honeypot's peak memory growth under them (docs/honeypot.md).
const (
	floodConns    = 10000
	floodBoundMiB = 256
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("HP_FLOOD_CLIENT"); addr != "" {
		n, _ := strconv.Atoi(os.Getenv("HP_FLOOD_N"))
		os.Exit(floodClient(addr, n))
	}
	code := m.Run()
	if keyDir != "" {
		os.RemoveAll(keyDir)
	}
	os.Exit(code)
}

func raiseNoFile() error {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return err
	}
	r.Cur = r.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
}

// floodClient opens n slow connections from sources spread over 127.0.0.0/8
// (a third silent, a third stopping mid version line, a third stopping in the
// middle of a 1,500-byte KEXINIT), prints "ready", and holds them until
// stdin closes.
func floodClient(addr string, n int) int {
	if err := raiseNoFile(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var conns []net.Conn
	partialKex := binary.BigEndian.AppendUint32(nil, 1500)
	partialKex = append(partialKex, 10, 20)
	partialKex = append(partialKex, make([]byte, 200)...)
	for i := range n {
		src := net.IPv4(127, byte(1+i/60000), byte(i/250%240), byte(1+i%250))
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			return 1
		}
		switch i % 3 {
		case 1:
			c.Write([]byte("SSH-2.0-slow"))
		case 2:
			c.Write(append([]byte("SSH-2.0-slowkex\r\n"), partialKex...))
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	for _, c := range conns {
		c.Close()
	}
	return 0
}

func procStatusKiB(t *testing.T, key string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key+":") {
			v, _ := strconv.Atoi(strings.Fields(l)[1])
			return v
		}
	}
	t.Fatalf("%s not in /proc/self/status", key)
	return 0
}

// TestFloodMemory holds 10,000 slow or half-open connections from a separate
// process and checks the honeypot's peak resident memory growth (VmHWM)
// stays within the documented bound.
func TestFloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test in -short mode")
	}
	if err := raiseNoFile(); err != nil {
		t.Fatal(err)
	}
	h := startHoneypot(t, Config{MaxConns: floodConns, HandshakeTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute})
	// Reset the peak (clear_refs 5, Linux ≥ 4.0) so VmHWM measures the flood only.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
	base := procStatusKiB(t, "VmHWM")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HP_FLOOD_CLIENT="+h.addr, "HP_FLOOD_N="+strconv.Itoa(floodConns))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("flood client: %q", line)
	}
	deadline := time.Now().Add(60 * time.Second)
	for h.hp.Stats().Active < floodConns && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // let every connection read what was sent
	s := h.hp.Stats()
	peak := procStatusKiB(t, "VmHWM")
	growth := float64(peak-base) / 1024
	t.Logf("%d connections held (refused %d/%d): VmHWM %d KiB → %d KiB, growth %.1f MiB (%.1f KiB per connection)",
		s.Active, s.RefusedGlobal, s.RefusedSource, base, peak, growth, float64(peak-base)/float64(max(s.Active, 1)))
	if s.Active != floodConns {
		t.Errorf("%d connections active, want %d", s.Active, floodConns)
	}
	if growth > floodBoundMiB {
		t.Errorf("peak memory grew %.1f MiB, documented bound %d MiB", growth, floodBoundMiB)
	}
}
