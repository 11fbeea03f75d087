// Package honeypot benchmarks the SSH honeypot end to end on loopback: Go
// SSH clients (16 workers, 6 passwords per connection) against the honeypot
// source, every attempt counted as it leaves the source.
package honeypot

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/source/honeypot"
)

const (
	workers     = 16
	perConn     = 6
	connsPerRun = 4 // connections per worker per b.Loop iteration
)

func BenchmarkHoneypotAttempts(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hp, err := honeypot.New(honeypot.Config{KeyDir: b.TempDir(), MaxPerSource: 64},
		source.NewCounters("honeypot:ssh"), slog.New(slog.NewTextHandler(io.Discard, nil)), honeypot.WithListener(ln))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan source.Batch, 64)
	var recorded atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for bt := range out {
			for i := range bt.Events {
				if bt.Events[i].Auth.Kind == event.AuthPassword {
					recorded.Add(1)
				}
			}
			source.ReleaseEvents(bt.Events)
		}
	}()
	runErr := make(chan error, 1)
	go func() { runErr <- hp.Run(ctx, out); close(out) }()

	sent, failed, elapsed := hammer(b, ln.Addr().String())
	if failed > 0 {
		b.Fatalf("%d connections failed", failed)
	}
	deadline := time.Now().Add(10 * time.Second)
	for recorded.Load() < sent && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-runErr; err != nil {
		b.Fatal(err)
	}
	<-done
	if got := recorded.Load(); got != sent {
		b.Fatalf("%d password attempts recorded, %d sent", got, sent)
	}
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "attempts/s")
}

// hammer runs b.Loop: each iteration, 16 workers each make connsPerRun Go
// client connections trying perConn passwords. It returns the attempts sent
// and the time the loop took.
func hammer(b *testing.B, addr string) (sent, failedConns int64, elapsed time.Duration) {
	dial := func() error {
		n := 0
		cfg := &ssh.ClientConfig{
			User: "root",
			Auth: []ssh.AuthMethod{ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
				n++
				return "password" + string(rune('0'+n)), nil
			}), perConn)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(),
			Timeout:         10 * time.Second,
		}
		nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(20 * time.Second)) // a stuck server must not hang the run
		c, _, _, err := ssh.NewClientConn(nc, addr, cfg)
		if err == nil {
			c.Close()
		} else if !strings.Contains(err.Error(), "unable to authenticate") {
			return err
		}
		return nil
	}
	var failed atomic.Int64
	b.ReportAllocs()
	for b.Loop() {
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range connsPerRun {
					if err := dial(); err != nil {
						failed.Add(1)
						b.Logf("connection failed: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		sent += workers * connsPerRun * perConn
	}
	return sent, failed.Load(), b.Elapsed()
}

// BenchmarkPshittAttempts measures pshitt (github.com/regit/pshitt, paramiko)
// under the same load, for the ratio in docs/honeypot.md. PSHITT names its
// pshitt.py; Debian's python3-paramiko and python3-daemon run it. Without
// PSHITT the benchmark is skipped (pshitt is not packaged).
func BenchmarkPshittAttempts(b *testing.B) {
	script := os.Getenv("PSHITT")
	if script == "" {
		b.Skip("set PSHITT=/path/to/pshitt.py to measure pshitt")
	}
	dir := b.TempDir()
	key := filepath.Join(dir, "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-m", "PEM", "-N", "", "-f", key).CombinedOutput(); err != nil {
		b.Fatalf("ssh-keygen: %v %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	outFile := filepath.Join(dir, "passwords.json")
	cmd := exec.Command("/usr/bin/python3", script, "-o", outFile, "-k", key, "-l", filepath.Join(dir, "log"),
		"-p", strconv.Itoa(port), "-t", "64")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i > 100 {
			b.Fatal("pshitt did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	lines := func() int64 {
		data, _ := os.ReadFile(outFile)
		return int64(bytes.Count(data, []byte("\n")))
	}
	// pshitt loses attempts under concurrency (its Server gets its transport
	// only after start_server returns): report what it recorded, not what was sent.
	sent, failed, elapsed := hammer(b, addr)
	time.Sleep(time.Second)
	got := lines()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "attempts/s")
	b.ReportMetric(float64(sent-got), "lost")
	b.ReportMetric(float64(failed), "failed_conns")
}
