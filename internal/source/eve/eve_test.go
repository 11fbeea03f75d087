package eve

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/source/file"
)

func fixture(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/eve-ssh.json")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
}

func TestParse(t *testing.T) {
	lines := fixture(t)
	ts := func(s string) time.Time {
		x, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return x.UTC()
	}
	tests := []struct {
		name   string
		line   string
		want   Record
		reason string // "" = no error
	}{
		{"libssh", string(lines[0]), Record{
			Time: ts("2026-11-20T09:14:02.118734Z"), Src: netip.MustParseAddr("198.51.100.23"), Dst: netip.MustParseAddr("192.0.2.10"),
			SrcPort: 40412, DstPort: 22, ProtoVersion: "2.0", SoftwareVersion: "libssh_0.9.6", HasProtoVersion: true, HasSoftwareVersion: true,
		}, ""},
		{"no client section", string(lines[3]), Record{
			Time: ts("2026-11-20T09:14:07Z"), Src: netip.MustParseAddr("198.51.100.5"), Dst: netip.MustParseAddr("192.0.2.10"),
			SrcPort: 40000, DstPort: 22,
		}, ""},
		{"flow event", string(lines[4]), Record{}, reasonNotSSH},
		{"ipv6", string(lines[5]), Record{
			Time: ts("2026-11-20T09:14:09.4Z"), Src: netip.MustParseAddr("2001:db8::66"), Dst: netip.MustParseAddr("2001:db8::1"),
			SrcPort: 50123, DstPort: 22, ProtoVersion: "2.0", SoftwareVersion: "libssh_0.10.4", HasProtoVersion: true, HasSoftwareVersion: true,
		}, ""},
		{"offset timestamp, mapped address", `{"timestamp":"2017-04-07T22:24:37.251547+0100","event_type":"ssh","src_ip":"::ffff:10.1.2.3","src_port":1,"dest_ip":"10.0.0.1","dest_port":22,"ssh":{"client":{"software_version":""}}}`,
			Record{Time: ts("2017-04-07T21:24:37.251547Z"), Src: netip.MustParseAddr("10.1.2.3"), Dst: netip.MustParseAddr("10.0.0.1"), SrcPort: 1, DstPort: 22, HasSoftwareVersion: true}, ""},
		{"bad timestamp kept zero", `{"timestamp":"yesterday","event_type":"ssh","src_ip":"10.1.2.3"}`, Record{Src: netip.MustParseAddr("10.1.2.3")}, ""},
		{"not json", `Nov 20 09:14:02 host sshd[1]: hello ssh`, Record{}, ReasonNotJSON},
		{"not json without ssh", `garbage`, Record{}, ReasonNotJSON},
		{"truncated json", `{"event_type":"ssh","src_ip":"10.1.2.3"`, Record{}, ReasonNotJSON},
		{"empty", ``, Record{}, ReasonNotJSON},
		{"other event", `{"event_type":"dns","src_ip":"10.1.2.3"}`, Record{}, reasonNotSSH},
		{"port as string", `{"event_type":"ssh","src_ip":"10.1.2.3","src_port":"22"}`, Record{}, ReasonBadField},
		{"other event with an odd field", `{"event_type":"alert","src_port":"22","app_proto":"ssh"}`, Record{}, reasonNotSSH},
		{"port out of range", `{"event_type":"ssh","src_ip":"10.1.2.3","src_port":70000}`, Record{}, ReasonBadField},
		{"version not a string", `{"event_type":"ssh","src_ip":"10.1.2.3","ssh":{"client":{"software_version":5}}}`, Record{}, ReasonBadField},
		{"bad src_ip", `{"event_type":"ssh","src_ip":"10.1.2","ssh":{}}`, Record{}, ReasonBadSrcIP},
		{"missing src_ip", `{"event_type":"ssh","ssh":{}}`, Record{}, ReasonBadSrcIP},
		{"zoned src_ip", `{"event_type":"ssh","src_ip":"fe80::1%eth0"}`, Record{}, ReasonBadSrcIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.line))
			var le *LineError
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.reason != "" && (!errors.As(err, &le) || le.Reason != tt.reason):
				t.Fatalf("Parse error = %v, want reason %q", err, tt.reason)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatcher(t *testing.T) {
	lines := fixture(t)
	// Which fixture lines (0..5) each configuration selects; every other
	// line's reason.
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"default libssh", Config{}, []string{"select", reasonNoMatch, "select", ReasonNoSoftware, reasonNotSSH, "select"}},
		{"invert openssh", Config{Match: "^OpenSSH_", Invert: true}, []string{"select", reasonNoMatch, "select", ReasonNoSoftware, reasonNotSSH, "select"}},
		{"exact libssh not libssh2", Config{Match: `^libssh_`}, []string{"select", reasonNoMatch, reasonNoMatch, ReasonNoSoftware, reasonNotSSH, "select"}},
		{"proto version", Config{Field: FieldProtoVersion, Match: `^2\.0$`}, []string{"select", "select", "select", ReasonNoProto, reasonNotSSH, "select"}},
		{"allowlist", Config{Allowlist: []string{"198.51.100.0/24", "2001:db8::66"}}, []string{reasonAllowlisted, reasonNoMatch, reasonAllowlisted, ReasonNoSoftware, reasonNotSSH, reasonAllowlisted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMatcher(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range lines {
				r, err := Parse(l)
				if err == nil {
					err = m.Select(&r)
				}
				var le *LineError
				switch {
				case err == nil:
					got = append(got, "select")
				case errors.As(err, &le):
					got = append(got, le.Reason)
				default:
					t.Fatalf("unexpected error %v", err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Path: "/x"}.WithDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if good.Field != FieldSoftwareVersion || good.Match != DefaultMatch || good.Timeout != DefaultTimeout {
		t.Errorf("defaults = %+v", good)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no path", func(c *Config) { c.Path = "" }, "path"},
		{"bad field", func(c *Config) { c.Field = "hassh" }, "field"},
		{"bad regex", func(c *Config) { c.Match = "lib(ssh" }, "match"},
		{"short timeout", func(c *Config) { c.Timeout = time.Millisecond }, "timeout"},
		{"long timeout", func(c *Config) { c.Timeout = 365 * 24 * time.Hour }, "timeout"},
		{"bad allowlist", func(c *Config) { c.Allowlist = []string{"10.0.0.0/33"} }, "allowlist"},
		{"negative poll", func(c *Config) { c.PollInterval = -time.Second }, "poll_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error about %s", err, tt.want)
			}
			if _, err := New(c, RedirectFunc(nil), source.NewCounters("x"), nil, nil); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestReason(t *testing.T) {
	got := reasonFor(FieldSoftwareVersion, "libssh\x00\"\\\n\xffé"+strings.Repeat("x", 200))
	if !strings.HasPrefix(got, "eve software_version libssh??????") || len(got) > maxReason {
		t.Errorf("reason %q", got)
	}
	for _, c := range []byte(got) {
		if c < 0x20 || c > 0x7e {
			t.Errorf("reason %q has byte %#x", got, c)
		}
	}
}

// fakeSet records redirections; fail makes the next calls fail.
type fakeSet struct {
	mu    sync.Mutex
	calls []string
	fail  bool
}

func (f *fakeSet) Redirect(_ context.Context, p netip.Prefix, ttl time.Duration, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("nft: no such set")
	}
	f.calls = append(f.calls, p.String()+" "+ttl.String()+" "+reason)
	return nil
}

func (f *fakeSet) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeSet) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

func appendLines(t *testing.T, path string, lines ...[]byte) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	for _, l := range lines {
		if _, err := fh.Write(append(append([]byte(nil), l...), '\n')); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFollow follows a file from its end through rename and copytruncate
// rotation, redirecting each selected client once per half timeout, and
// checks the line accounting balances.
func TestFollow(t *testing.T) {
	lines := fixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "eve.json")
	appendLines(t, path, lines[0]) // before the start: not replayed
	set := &fakeSet{}
	counters := source.NewCounters("eve")
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	fw, err := New(Config{Path: path, PollInterval: 20 * time.Millisecond, Timeout: 10 * time.Minute}, set, counters, nil, nil,
		WithClock(func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }),
		WithFileOptions(file.WithRotateGrace(100*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx, nil) }()
	time.Sleep(200 * time.Millisecond) // positioned at the end

	appendLines(t, path, lines...)
	appendLines(t, path, []byte(`not json at all`), lines[0]) // lines[0] again: already redirected, no second add
	want := []string{
		"198.51.100.23/32 10m0s eve software_version libssh_0.9.6",
		"198.51.100.99/32 10m0s eve software_version libssh2_1.10.0",
		"2001:db8::66/128 10m0s eve software_version libssh_0.10.4",
	}
	waitFor(t, "three redirections", func() bool { return counters.Snapshot().Received == 8 })
	if diff := cmp.Diff(want, set.got()); diff != "" {
		t.Fatalf("redirections (-want +got):\n%s", diff)
	}

	// Rename rotation: the new file is read from its start.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, []byte(`{"timestamp":"2026-11-20T10:00:00.000000+0000","event_type":"ssh","src_ip":"192.0.2.200","src_port":1,"dest_ip":"192.0.2.10","dest_port":22,"ssh":{"client":{"proto_version":"2.0","software_version":"libssh_0.8.0"}}}`))
	waitFor(t, "redirect after rename", func() bool { return len(set.got()) == 4 })

	// Past half the timeout the same source is added again (refresh).
	clockMu.Lock()
	now = now.Add(6 * time.Minute)
	clockMu.Unlock()
	// Copytruncate: the file shrinks; lines written after it are read.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	appendLines(t, path, lines[0])
	waitFor(t, "refresh after copytruncate", func() bool { return len(set.got()) == 5 })

	// A failing firewall is counted as lost, not stored.
	set.setFail(true)
	appendLines(t, path, []byte(`{"event_type":"ssh","src_ip":"192.0.2.201","ssh":{"client":{"software_version":"libssh_0.9.0"}}}`))
	waitFor(t, "lost redirect", func() bool { return counters.Snapshot().Lost[LostRedirect] == 1 })

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := counters.Snapshot()
	if !s.Balanced() {
		t.Errorf("counters do not balance: %+v", s)
	}
	// 8 + 1 (after rename) + 1 (after truncate) + 1 (failing) lines.
	wantSnap := source.Snapshot{Received: 11, Stored: 6, Ignored: 2,
		Rejected: map[string]uint64{ReasonNotJSON: 1, ReasonNoSoftware: 1}, Lost: map[string]uint64{LostRedirect: 1}}
	if s.Received != wantSnap.Received || s.Stored != wantSnap.Stored || s.Ignored != wantSnap.Ignored ||
		!cmp.Equal(s.Rejected, wantSnap.Rejected) || !cmp.Equal(s.Lost, wantSnap.Lost) {
		t.Errorf("counters = %+v, want %+v", s, wantSnap)
	}
}

// TestFollowFromStart replays the file when from_start is set.
func TestFollowFromStart(t *testing.T) {
	lines := fixture(t)
	path := filepath.Join(t.TempDir(), "eve.json")
	appendLines(t, path, lines...)
	set := &fakeSet{}
	counters := source.NewCounters("eve")
	fw, err := New(Config{Path: path, FromStart: true, Match: "^OpenSSH_", Invert: true, PollInterval: 20 * time.Millisecond}, set, counters, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx, nil) }()
	waitFor(t, "all lines", func() bool { return counters.Snapshot().Received == uint64(len(lines)) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(set.got()); got != 3 {
		t.Errorf("redirections %v, want the three non-OpenSSH clients", set.got())
	}
}
