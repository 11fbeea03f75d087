// Package test holds darkscope's end-to-end tests: they build the binary and
// run it as a user would — import, run as a daemon, report with and without
// the daemon — and check its output and its database. Tests that need root
// and network namespaces create their own (internal/nstest) and fail rather
// than skip under CI.
package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "darkscope-e2e")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "darkscope")
	_, self, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", bin, "./cmd/darkscope")
	build.Dir = filepath.Dir(filepath.Dir(self))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build darkscope:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ds runs the binary with args and returns stdout; it fails the test on a
// non-zero exit unless wantErr.
func ds(t *testing.T, wantErr bool, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if (err != nil) != wantErr {
		t.Fatalf("darkscope %s: err=%v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	if wantErr {
		return errb.String()
	}
	return out.String()
}

// jsonLines decodes JSON Lines into generic objects.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// daemon starts `darkscope run` with args and waits for its API socket; it
// is stopped with SIGINT (by PID) at cleanup or by the returned stop func.
func daemon(t *testing.T, data string, prefix []string, args ...string) (stop func() string) {
	t.Helper()
	all := append(append([]string{}, prefix...), append([]string{bin, "run", "--data", data}, args...)...)
	cmd := exec.Command(all[0], all[1:]...)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	sock := filepath.Join(data, "darkscope.sock")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("daemon exited early: %v\n%s", err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("daemon did not open its socket\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopped := false
	stop = func() string {
		if stopped {
			return errb.String()
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("daemon exit: %v\n%s", err, errb.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("daemon did not stop on SIGINT\n%s", errb.String())
		}
		return errb.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}
