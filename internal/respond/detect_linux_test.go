//go:build linux

package respond

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/firewall"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/source/pcap"
)

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// capturePackets runs tcpdump on the sensor's veth while fn sends traffic,
// and returns the capture file.
func (l *lab) capturePackets(t *testing.T, filter string, fn func()) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "scan.pcap")
	cmd := l.sensor.Command(context.Background(), "tcpdump", "-Z", "root", "--immediate-mode", "-i", l.sensorIf, "-n", "-U", "-w", file, filter)
	stderr := &lockedBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(stderr.String(), "listening on"); {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	fn()
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("tcpdump did not stop: %s", stderr.String())
	}
	return file
}

// detectAlerts decodes a capture with darkscope's pcap source, runs the
// detection engine over the events (event time), closes the report
// interval and returns the alerts.
func detectAlerts(t *testing.T, file string, cfg detect.Config) []event.Event {
	t.Helper()
	rd, err := pcap.New(pcap.Config{Path: file, Sensor: "test"}, nil, source.NewCounters("pcap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan source.Batch, 16)
	errc := make(chan error, 1)
	go func() { errc <- rd.Run(t.Context(), out); close(out) }()
	eng, err := detect.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var alerts []event.Event
	emit := func(e event.Event) {
		if e.Kind == event.KindAlert {
			alerts = append(alerts, e)
		}
	}
	var last time.Time
	n := 0
	for b := range out {
		for i := range b.Events {
			eng.Observe(&b.Events[i], emit)
			last = b.Events[i].Time
			n++
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no packets captured")
	}
	eng.Advance(last.Add(2*cfg.ReportInterval), emit)
	return alerts
}

// TestDetectedScanBlocked is the whole chain on real packets: hping3 SYN-scans
// the sensor, tcpdump captures it, darkscope's pcap decoder and detection
// engine produce the verdict, the responder blocks the source, and the
// kernel drops the attacker's next packets.
func TestDetectedScanBlocked(t *testing.T) {
	l := newLab(t)
	ctx := testCtx(t)
	file := l.capturePackets(t, "tcp and src host "+attackerAddr, func() {
		// 40 SYNs to ports 1-40: psad's level 2 (≥ 15 packets to one host).
		out, err := l.attacker.Run("timeout", "20", "hping3", "-q", "-S", "-p", "++1", "-c", "40", "-i", "u10000", sensorAddr)
		if err != nil && !strings.Contains(out, "40 packets transmitted") {
			t.Fatalf("hping3 scan: %v\n%s", err, out)
		}
	})
	alerts := detectAlerts(t, file, detect.DefaultConfig())
	i := slices.IndexFunc(alerts, func(e event.Event) bool { return e.Alert.Src.String() == attackerAddr })
	if i < 0 {
		t.Fatalf("no alert for %s in %d alerts", attackerAddr, len(alerts))
	}
	a := alerts[i].Alert
	t.Logf("verdict: level %d pattern %s scan types %v ports %v tool %+v", a.Level, a.Pattern, a.ScanTypes, a.DstPorts, a.Tool)
	if a.Level < 2 || a.Backscatter || a.Packets != 40 || a.DstPorts["tcp"] != "1-40" {
		t.Fatalf("verdict for the scan: %+v", a)
	}

	cfg := DefaultConfig()
	cfg.Block.Enabled, cfg.Block.MinLevel, cfg.Block.Timeout = true, 2, 5*time.Minute
	r, err := New(cfg, l.sets, filepath.Join(t.TempDir(), StateFileName), nil, WithLocalNetNS(l.sensor.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.synReplies(t, attackerAddr, 2); got != 2 {
		t.Fatalf("before the block: %d of 2 answered", got)
	}
	if err := r.Write(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	if c := r.Counters(); c.Blocked != 1 {
		t.Fatalf("counters %+v", c)
	}
	el, ok := l.inSet(t, firewall.Block, attackerAddr+"/32")
	if !ok || !strings.Contains(el.Comment, "level ") {
		t.Fatalf("block element %+v %v", el, ok)
	}
	before := l.dropCounter(t, firewall.CommentDropBlock4)
	if got := l.synReplies(t, attackerAddr, 3); got != 0 {
		t.Errorf("after the block: %d of 3 answered, want 0", got)
	}
	if d := l.dropCounter(t, firewall.CommentDropBlock4) - before; d != 3 {
		t.Errorf("drop block4 grew by %d, want 3", d)
	}
}
