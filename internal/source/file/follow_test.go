package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/source"
	"github.com/google/go-cmp/cmp"
)

// follower test rig: a followed file, its counters, the in-memory offset
// store and a collector; start/stop run the source like the supervisor.
type rig struct {
	t    *testing.T
	path string
	ctr  *source.Counters
	offs *offsets
	k    *keeper
	c    *collector

	cancel context.CancelFunc
	errc   chan error
	states chan string
}

func newRig(t *testing.T) *rig {
	path := filepath.Join(t.TempDir(), "kern.log")
	r := &rig{t: t, path: path, ctr: source.NewCounters("file:" + path), offs: &offsets{}, k: &keeper{}}
	r.c = newCollector(r.offs, 0)
	t.Cleanup(func() {
		r.stop()
		r.c.close()
	})
	return r
}

func (r *rig) start(cfg Config, opts ...Option) {
	r.t.Helper()
	cfg.Path, cfg.Follow, cfg.Sensor = r.path, true, "s1"
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 20 * time.Millisecond
	}
	opts = append([]Option{WithRotateGrace(100 * time.Millisecond)}, opts...)
	f, err := New(cfg, fakeParser{}, classify, r.k, r.ctr, r.offs, nil, opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.states = make(chan string, 8)
	f.hook = func(s string) { r.states <- s }
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.errc = cancel, make(chan error, 1)
	go func() { r.errc <- f.Run(ctx, r.c.out) }()
}

// reach waits until the source reports state ("waiting", "positioned").
func (r *rig) reach(state string) {
	r.t.Helper()
	for {
		select {
		case s := <-r.states:
			if s == state {
				return
			}
		case <-time.After(5 * time.Second):
			r.t.Fatalf("source did not reach %q", state)
		}
	}
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.errc:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		r.t.Error("Run did not return after cancel")
	}
	r.cancel = nil
}

// settle waits until the source had time for several polls and flushes.
func settle() { time.Sleep(150 * time.Millisecond) }

func TestFollowFromEndPartialLine(t *testing.T) {
	r := newRig(t)
	// Existing content, ending in an unterminated line, is skipped: a new
	// file is followed from the end of its last complete line.
	appendFile(t, r.path, fwLines(1, 10)+"FW 1")
	r.start(Config{})
	r.reach("positioned")
	appendFile(t, r.path, "1\n") // completes "FW 11"
	appendFile(t, r.path, "FW 12\nFW 1")
	r.c.waitFor(t, 2)
	settle()
	if diff := cmp.Diff([]uint32{11, 12}, r.c.got()); diff != "" {
		t.Fatalf("partial line delivered early or lost (-want +got):\n%s", diff)
	}
	appendFile(t, r.path, "3\n")
	r.c.waitFor(t, 3)
	r.stop()
	if diff := cmp.Diff([]uint32{11, 12, 13}, r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	off, _, _ := r.offs.Offset(t.Context(), "file:"+r.path)
	fi, _ := os.Stat(r.path)
	if off.Offset != fi.Size() || off.Line != 13 || off.Inode != inodeOf(fi) {
		t.Errorf("saved offset %+v, want %d bytes, line 13 (true line numbers from the start)", off, fi.Size())
	}
	checkBalance(t, r.ctr, source.Snapshot{Received: 3, Stored: 3})
}

func TestFollowFromStartLowTrafficFlush(t *testing.T) {
	r := newRig(t)
	appendFile(t, r.path, fwLines(1, 3)+"noise\nBAD\n")
	r.start(Config{FromStart: true, PollInterval: 50 * time.Millisecond, FlushInterval: 50 * time.Millisecond})
	r.c.waitFor(t, 3)
	// One line at low traffic arrives without waiting for a full batch.
	t0 := time.Now()
	appendFile(t, r.path, "FW 4\n")
	r.c.waitFor(t, 4)
	if d := time.Since(t0); d > time.Second {
		t.Errorf("single line took %v to arrive", d)
	}
	r.stop()
	if diff := cmp.Diff(seqRange(1, 4), r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"5 bad_line BAD"}, r.k.lines()); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
	checkBalance(t, r.ctr, source.Snapshot{Received: 6, Stored: 4, Ignored: 1, Rejected: map[string]uint64{"bad_line": 1}})
}

func TestFollowWaitsForMissingFile(t *testing.T) {
	r := newRig(t)
	r.start(Config{}) // no FromStart: a file that appears later is still read whole
	r.reach("waiting")
	appendFile(t, r.path, fwLines(1, 5))
	r.c.waitFor(t, 5)
	r.stop()
	if diff := cmp.Diff(seqRange(1, 5), r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestFollowRenameRotation(t *testing.T) {
	r := newRig(t)
	appendFile(t, r.path, "")
	r.start(Config{}, WithRotateGrace(time.Second))
	r.reach("positioned")
	appendFile(t, r.path, fwLines(1, 100))
	r.c.waitFor(t, 100)
	// logrotate "create": rename, create a new file; the writer keeps writing
	// to the renamed file until it reopens, and the last line has no newline.
	old, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	appendFile(t, r.path, fwLines(101, 150))
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, r.path, fwLines(201, 250))
	settle() // the source notices the new inode, still reading the old one
	old.WriteString(fwLines(151, 199) + "FW 200")
	old.Close()
	r.c.waitFor(t, 250)
	appendFile(t, r.path, fwLines(251, 260))
	r.c.waitFor(t, 260)
	r.stop()
	if diff := cmp.Diff(seqRange(1, 260), r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	off, _, _ := r.offs.Offset(t.Context(), "file:"+r.path)
	fi, _ := os.Stat(r.path)
	if off.Inode != inodeOf(fi) || off.Offset != fi.Size() || off.Line != 60 {
		t.Errorf("saved offset %+v, want the new file's inode %d, size %d, line 60", off, inodeOf(fi), fi.Size())
	}
	checkBalance(t, r.ctr, source.Snapshot{Received: 260, Stored: 260})
}

func TestFollowCopytruncate(t *testing.T) {
	r := newRig(t)
	appendFile(t, r.path, "")
	r.start(Config{})
	r.reach("positioned")
	appendFile(t, r.path, fwLines(1, 50))
	r.c.waitFor(t, 50)
	// logrotate copytruncate: copy, then truncate in place (same inode).
	data, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(r.path, 0); err != nil {
		t.Fatal(err)
	}
	settle()
	appendFile(t, r.path, fwLines(51, 60))
	r.c.waitFor(t, 60)
	r.stop()
	if diff := cmp.Diff(seqRange(1, 60), r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	off, _, _ := r.offs.Offset(t.Context(), "file:"+r.path)
	if off.Line != 10 {
		t.Errorf("saved offset %+v, want line 10 of the truncated file", off)
	}
	checkBalance(t, r.ctr, source.Snapshot{Received: 60, Stored: 60})
}

// TestFollowCopytruncateUnreadLines: lines written after the source's last
// read but before logrotate's copy are only in the copy; they are read there.
func TestFollowCopytruncateUnreadLines(t *testing.T) {
	r := newRig(t)
	appendFile(t, r.path, "")
	r.start(Config{})
	r.reach("positioned")
	appendFile(t, r.path, fwLines(1, 50))
	r.c.waitFor(t, 50)
	r.c.gate.Lock() // the pipeline stalls: the source blocks in its next send
	appendFile(t, r.path, "FW 51\n")
	settle()
	appendFile(t, r.path, fwLines(52, 60)+"FW 6") // unread, ends mid-line
	data, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(r.path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, r.path, fwLines(62, 65))
	r.c.gate.Unlock()
	r.c.waitFor(t, 64)
	settle()
	r.stop()
	// "FW 6" was cut by the rotation: parsed as it stands, it is event 6.
	want := append(seqRange(1, 60), 6, 62, 63, 64, 65)
	if diff := cmp.Diff(want, r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	checkBalance(t, r.ctr, source.Snapshot{Received: 65, Stored: 65})
}

func TestFollowRestartFromSavedOffset(t *testing.T) {
	r := newRig(t)
	appendFile(t, r.path, fwLines(1, 20))
	r.start(Config{FromStart: true})
	r.c.waitFor(t, 20)
	r.stop()
	// Written while darkscope was stopped, with a partial line at the end.
	appendFile(t, r.path, fwLines(21, 30)+"BAD\nFW 3")
	r.start(Config{}) // no FromStart: the saved offset wins over "from the end"
	r.c.waitFor(t, 30)
	appendFile(t, r.path, "1\n")
	r.c.waitFor(t, 31)
	r.stop()
	if diff := cmp.Diff(seqRange(1, 31), r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"31 bad_line BAD"}, r.k.lines()); diff != "" {
		t.Errorf("rejects keep true line numbers across restarts (-want +got):\n%s", diff)
	}
	checkBalance(t, r.ctr, source.Snapshot{Received: 32, Stored: 31, Rejected: map[string]uint64{"bad_line": 1}})
}

func TestFollowRestartAfterRotationWhileStopped(t *testing.T) {
	r := newRig(t)
	appendFile(t, r.path, fwLines(1, 10))
	r.start(Config{FromStart: true})
	r.c.waitFor(t, 10)
	r.stop()
	// While stopped: more lines, rotation by rename, lines in the new file.
	appendFile(t, r.path, fwLines(11, 15))
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, r.path, fwLines(16, 20))
	r.start(Config{})
	r.c.waitFor(t, 20)
	r.stop()
	if diff := cmp.Diff(seqRange(1, 20), r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	checkBalance(t, r.ctr, source.Snapshot{Received: 20, Stored: 20})
}

func TestFollowRestartAfterTruncateWhileStopped(t *testing.T) {
	r := newRig(t)
	appendFile(t, r.path, fwLines(1, 10))
	r.start(Config{FromStart: true})
	r.c.waitFor(t, 10)
	r.stop()
	if err := os.Truncate(r.path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, r.path, fwLines(11, 12))
	r.start(Config{})
	r.c.waitFor(t, 12)
	r.stop()
	if diff := cmp.Diff(seqRange(1, 12), r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestFollowBlocksNeverDrops writes faster than a slow consumer takes:
// the source must block, and every line must arrive exactly once.
func TestFollowBlocksNeverDrops(t *testing.T) {
	r := newRig(t)
	r.c.delay = 2 * time.Millisecond
	appendFile(t, r.path, "")
	r.start(Config{})
	r.reach("positioned")
	const n = 20000
	for i := 0; i < n; i += 1000 {
		appendFile(t, r.path, fwLines(i+1, i+1000))
	}
	r.c.waitFor(t, n)
	r.stop()
	if diff := cmp.Diff(seqRange(1, n), r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	checkBalance(t, r.ctr, source.Snapshot{Received: n, Stored: n})
}

func TestFollowGzipIsPermanentError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log.2.gz")
	if err := os.WriteFile(path, []byte{0x1f, 0x8b, 8, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Path: path, Follow: true}, fakeParser{}, nil, &keeper{}, source.NewCounters("x"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Run(t.Context(), make(chan source.Batch))
	var perm *source.Permanent
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("Run = %v, want a permanent gzip error", err)
	}
}

// TestFollowTruncateAndRegrow: truncated and grown past our position between
// two polls; the size alone cannot tell, the changed bytes do.
func TestFollowTruncateAndRegrow(t *testing.T) {
	r := newRig(t)
	appendFile(t, r.path, "")
	r.start(Config{PollInterval: 200 * time.Millisecond})
	r.reach("positioned")
	appendFile(t, r.path, fwLines(1, 3))
	r.c.waitFor(t, 3)
	// Within one poll interval: truncate, then write more than was there.
	if err := os.Truncate(r.path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, r.path, fwLines(1001, 1010))
	r.c.waitFor(t, 13)
	r.stop()
	if diff := cmp.Diff(append(seqRange(1, 3), seqRange(1001, 1010)...), r.c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestFollowRestartWithoutStore: a run the supervisor restarts continues
// where the last one handed over, also without an offset store.
func TestFollowRestartWithoutStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendFile(t, path, fwLines(1, 5))
	ctr := source.NewCounters("file:" + path)
	f, err := New(Config{Path: path, Follow: true, FromStart: true, Sensor: "s1", PollInterval: 10 * time.Millisecond, FlushInterval: 10 * time.Millisecond},
		fakeParser{}, classify, &keeper{}, ctr, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(nil, 0)
	defer c.close()
	run := func(want int) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- f.Run(ctx, c.out) }()
		c.waitFor(t, want)
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	run(5)
	appendFile(t, path, fwLines(6, 8))
	run(8)
	if diff := cmp.Diff(seqRange(1, 8), c.got()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	checkBalance(t, ctr, source.Snapshot{Received: 8, Stored: 8})
}
