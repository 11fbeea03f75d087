//go:build linux

package kmsg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/nstest"
	"github.com/darkscope/darkscope/internal/source"
)

// inject writes one record into the kernel log, as root can. A fresh file
// per write keeps clear of /dev/kmsg's per-open write rate limit. The
// newline matters: without it the kernel keeps the record open for a
// continuation and readers do not see it until the next record arrives.
func inject(t *testing.T, msg string) {
	t.Helper()
	fh, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString("<4>" + msg + "\n"); err != nil {
		t.Fatalf("write /dev/kmsg: %v", err)
	}
}

// runReal runs the source on the real /dev/kmsg until want events carrying
// marker arrived (or 5 s passed), then stops it and returns them.
func runReal(t *testing.T, cfg Config, marker string, want int, afterOpen func()) ([]event.Event, source.Snapshot) {
	t.Helper()
	ctr := source.NewCounters("kmsg")
	src, err := New(cfg, stubParser{marker: []byte(marker)}, classify, &keeper{}, ctr, nil)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	src.open = func(path string, fromStart bool) (recordReader, error) {
		rr, err := openDevice(path, fromStart)
		close(opened)
		return rr, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan source.Batch)
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, out) }()
	select {
	case <-opened:
	case <-time.After(5 * time.Second):
		t.Fatal("source did not open /dev/kmsg")
	}
	afterOpen()
	var got []event.Event
	deadline := time.After(5 * time.Second)
	for {
		select {
		case b := <-out:
			got = append(got, b.Events...)
			b.Counters.AddStored(uint64(len(b.Events)))
			if len(got) >= want {
				cancel()
			}
		case err := <-errc:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			return got, ctr.Snapshot()
		case <-deadline:
			cancel()
		}
	}
}

func TestKmsgRealKernel(t *testing.T) {
	nstest.Require(t)
	var r [6]byte
	rand.Read(r[:])
	marker := "dstest-" + hex.EncodeToString(r[:])
	inject(t, marker+" before")

	host, _ := os.Hostname()
	const n = 5
	var written []time.Time
	got, snap := runReal(t, Config{FlushInterval: 20 * time.Millisecond}, marker, n, func() {
		for i := 1; i <= n; i++ {
			written = append(written, time.Now())
			inject(t, fmt.Sprintf("%s %d", marker, i))
		}
	})
	if len(got) != n {
		t.Fatalf("got %d marked events, want %d (the record written before the source started must not be read): %v", len(got), n, prefixes(got))
	}
	for i, e := range got {
		if want := fmt.Sprintf("%s %d", marker, i+1); e.Prefix != want {
			t.Errorf("event %d = %q, want %q", i, e.Prefix, want)
		}
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Errorf("sequence not increasing: %d after %d", e.Seq, got[i-1].Seq)
		}
		if d := e.Time.Sub(written[i]); d < -2*time.Second || d > 2*time.Second {
			t.Errorf("event %d time %v is %v from when it was written", i, e.Time, d)
		}
		if e.Time.Location() != time.UTC || e.Uptime <= 0 || e.Sensor != host || e.Source != "kmsg" {
			t.Errorf("event %d: time %v uptime %v sensor %q source %q", i, e.Time, e.Uptime, e.Sensor, e.Source)
		}
	}
	if !snap.Balanced() || snap.Stored != n || snap.RejectedTotal() != 0 {
		t.Errorf("counters %+v: want balanced with %d stored", snap, n)
	}
}

func TestKmsgRealKernelFromStart(t *testing.T) {
	nstest.Require(t)
	var r [6]byte
	rand.Read(r[:])
	marker := "dstest-" + hex.EncodeToString(r[:])
	inject(t, marker+" before")
	got, _ := runReal(t, Config{FromStart: true, FlushInterval: 20 * time.Millisecond}, marker, 2, func() {
		inject(t, marker+" after")
	})
	if p := prefixes(got); p != marker+" before|"+marker+" after" {
		t.Errorf("from start got %q, want the record written before the source started, then the one after", p)
	}
}

func prefixes(es []event.Event) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Prefix)
	}
	return strings.Join(s, "|")
}

// TestKmsgRealLogRule: a real nftables log rule in a throw-away namespace
// prints to the kernel log; the source reads those lines from /dev/kmsg.
func TestKmsgRealLogRule(t *testing.T) {
	nstest.Require(t, "nft", "ping")
	// A log rule in a namespace other than the initial one prints only with
	// this set (kmsg is global; every test uses its own prefix).
	if err := os.WriteFile("/proc/sys/net/netfilter/nf_log_all_netns", []byte("1\n"), 0o644); err != nil {
		t.Fatalf("enable nf_log_all_netns: %v", err)
	}
	var r [4]byte
	rand.Read(r[:])
	prefix := "dsk" + hex.EncodeToString(r[:]) + " "
	ns := nstest.New(t, "kmsg")
	ns.Nft(`table inet dstest {
	chain pre {
		type filter hook prerouting priority -450; policy accept;
		icmp type echo-request log prefix "` + prefix + `"
	}
}`)
	const n = 3
	var sent time.Time
	got, snap := runReal(t, Config{FlushInterval: 20 * time.Millisecond}, prefix, n, func() {
		sent = time.Now()
		ns.MustRun("ping", "-c", "3", "-i", "0.2", "-W", "1", "127.0.0.1")
	})
	if len(got) != n {
		t.Fatalf("got %d logged packets, want %d: %v", len(got), n, prefixes(got))
	}
	for i, e := range got {
		if !strings.Contains(e.Prefix, "IN=lo ") || !strings.Contains(e.Prefix, "SRC=127.0.0.1 DST=127.0.0.1 ") || !strings.Contains(e.Prefix, "PROTO=ICMP TYPE=8 ") {
			t.Errorf("record %d is not the logged echo request: %q", i, e.Prefix)
		}
		if d := e.Time.Sub(sent); d < -2*time.Second || d > 3*time.Second {
			t.Errorf("record %d time %v is %v from the ping start", i, e.Time, d)
		}
		if i > 0 && (e.Seq <= got[i-1].Seq || !e.Time.After(got[i-1].Time)) {
			t.Errorf("record %d: seq %d time %v not after %d %v", i, e.Seq, e.Time, got[i-1].Seq, got[i-1].Time)
		}
	}
	if !snap.Balanced() {
		t.Errorf("counters do not balance: %+v", snap)
	}
}
