package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/enrich/tool"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeClock is a settable clock for rate limits, dedup and the rDNS cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is a deliverer that keeps what it was sent.
type recorder struct {
	mu   sync.Mutex
	msgs []*Message
}

func (r *recorder) Send(_ context.Context, m *Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) sources() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		out = append(out, fmt.Sprintf("%s/%d", m.Event.Alert.Src, m.Event.Alert.Level))
	}
	return out
}

// scanAlert is a typical SYN scan alert from src at the given level.
func scanAlert(src string, level event.DangerLevel) event.Event {
	a := netip.MustParseAddr(src)
	t0 := time.Date(2026, 11, 23, 11, 58, 0, 0, time.UTC)
	return event.Event{
		Time: t0.Add(time.Minute), Kind: event.KindAlert, Sensor: "sensor1", Source: "nflog:5",
		Alert: &event.Alert{
			Src: a, Prefix: netip.PrefixFrom(a, a.BitLen()), Level: level, Pattern: "vertical",
			ScanTypes: []string{"-sS"}, Flags: []string{"SYN"}, Protocols: []string{"tcp"},
			Signatures: []string{"NMAP SYN scan"}, OS: "Linux 2.2.x-3.x",
			Tool:      &event.Tool{Name: "nmap", Confidence: 0.9, Evidence: []string{"window 1024", "MSS 1460 only"}},
			FirstSeen: t0, LastSeen: t0.Add(50 * time.Second), Packets: 1000, NewPackets: 400,
			DstPorts: map[string]string{"tcp": "1-1024", "udp": "53"}, NewDstPorts: map[string]string{"tcp": "600-1024"},
			Destinations: 1, IntervalStart: t0, IntervalEnd: t0.Add(time.Minute),
		},
	}
}

func backscatterAlert(src string) event.Event {
	ev := scanAlert(src, 0)
	a := ev.Alert
	a.Pattern, a.ScanTypes, a.Signatures, a.Tool, a.OS = "", nil, nil, nil, ""
	a.Flags, a.Protocols = []string{"SYN ACK"}, []string{"tcp"}
	a.Backscatter, a.BackscatterPackets, a.Rate, a.Packets, a.NewPackets = true, 5000, 83.3, 0, 0
	a.DstPorts, a.NewDstPorts = nil, nil
	return ev
}

func packets(n int) []event.Event {
	b := make([]event.Event, n)
	for i := range b {
		b[i] = event.Event{Kind: event.KindPacket, Src: netip.MustParseAddr("10.99.9.9"), Proto: event.ProtoTCP, DstPort: uint16(i)}
	}
	return b
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func newTestSink(t *testing.T, cfg Config, opts ...Option) *Sink {
	t.Helper()
	s, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func write(t *testing.T, s *Sink, evs ...event.Event) {
	t.Helper()
	if err := s.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimit(t *testing.T) {
	clk := newFakeClock()
	rec := &recorder{}
	s := newTestSink(t, Config{}, WithClock(clk.Now),
		WithDeliverer(ChannelConfig{Name: "r", RatePerMinute: 2, Burst: 2}, rec))
	// Three alerts at once: the bucket holds two.
	write(t, s, scanAlert("10.99.0.1", 3), scanAlert("10.99.0.2", 3), scanAlert("10.99.0.3", 3))
	clk.Advance(29 * time.Second) // 0.97 of a token
	write(t, s, scanAlert("10.99.0.4", 3))
	clk.Advance(time.Second) // one token
	write(t, s, scanAlert("10.99.0.5", 3), scanAlert("10.99.0.6", 3))
	clk.Advance(time.Hour) // refills to the burst, not beyond
	write(t, s, scanAlert("10.99.0.7", 3), scanAlert("10.99.0.8", 3), scanAlert("10.99.0.9", 3))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.99.0.1/3", "10.99.0.2/3", "10.99.0.5/3", "10.99.0.7/3", "10.99.0.8/3"}
	if d := cmp.Diff(want, rec.sources()); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
	if d := cmp.Diff(Counters{Sent: 5, RateLimited: 4}, s.Counters()["r"]); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
}

func TestDedup(t *testing.T) {
	clk := newFakeClock()
	rec := &recorder{}
	s := newTestSink(t, Config{}, WithClock(clk.Now),
		WithDeliverer(ChannelConfig{Name: "d", DedupWindow: 10 * time.Minute}, rec))

	write(t, s, scanAlert("10.99.0.1", 2)) // new: sent
	clk.Advance(time.Minute)
	again := scanAlert("10.99.0.1", 2) // same story, new counts and times: deduped
	again.Alert.Packets, again.Alert.NewPackets, again.Alert.LastSeen = 2000, 1000, again.Alert.LastSeen.Add(time.Minute)
	again.Alert.NewDstPorts = map[string]string{"tcp": "1-10"}
	write(t, s, again)
	write(t, s, scanAlert("10.99.0.2", 2)) // other source, same content: sent
	clk.Advance(time.Minute)
	up := scanAlert("10.99.0.1", 3) // level raised: sent
	write(t, s, up)
	clk.Advance(time.Minute)
	ports := scanAlert("10.99.0.1", 3) // new cumulative ports: sent
	ports.Alert.DstPorts = map[string]string{"tcp": "1-2048"}
	write(t, s, ports)
	clk.Advance(9 * time.Minute) // 9 min after the last delivery: still a duplicate
	write(t, s, ports)
	clk.Advance(time.Minute) // the window (from the last delivery) is over: sent again
	write(t, s, ports)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.99.0.1/2", "10.99.0.2/2", "10.99.0.1/3", "10.99.0.1/3", "10.99.0.1/3"}
	if d := cmp.Diff(want, rec.sources()); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
	if d := cmp.Diff(Counters{Sent: 5, Deduped: 2}, s.Counters()["d"]); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
}

func TestDedupBeforeRateLimit(t *testing.T) {
	// A duplicate must not spend a token.
	clk := newFakeClock()
	rec := &recorder{}
	s := newTestSink(t, Config{}, WithClock(clk.Now),
		WithDeliverer(ChannelConfig{Name: "x", RatePerMinute: 1, DedupWindow: time.Hour}, rec))
	write(t, s, scanAlert("10.99.0.1", 2), scanAlert("10.99.0.1", 2), scanAlert("10.99.0.1", 2))
	clk.Advance(time.Minute)
	write(t, s, scanAlert("10.99.0.2", 2), scanAlert("10.99.0.3", 2))
	_ = s.Close()
	if d := cmp.Diff(Counters{Sent: 2, Deduped: 2, RateLimited: 1}, s.Counters()["x"]); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
	// 10.99.0.3 was rate-limited, not delivered: it must not be deduplicated later.
	if d := cmp.Diff([]string{"10.99.0.1/2", "10.99.0.2/2"}, rec.sources()); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
}

func TestRateLimitedNotRemembered(t *testing.T) {
	clk := newFakeClock()
	rec := &recorder{}
	s := newTestSink(t, Config{}, WithClock(clk.Now),
		WithDeliverer(ChannelConfig{Name: "x", RatePerMinute: 1, DedupWindow: time.Hour}, rec))
	write(t, s, scanAlert("10.99.0.1", 2), scanAlert("10.99.0.2", 2)) // .2 rate-limited
	clk.Advance(time.Minute)
	write(t, s, scanAlert("10.99.0.2", 2)) // not a duplicate of an alert that never went out
	_ = s.Close()
	if d := cmp.Diff([]string{"10.99.0.1/2", "10.99.0.2/2"}, rec.sources()); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
	if d := cmp.Diff(Counters{Sent: 2, RateLimited: 1}, s.Counters()["x"]); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
}

func TestDedupTableBounded(t *testing.T) {
	d := newDeduper(time.Hour)
	d.max = 100
	now := newFakeClock().Now()
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 99, byte(i >> 8), byte(i)})
		now = now.Add(time.Second)
		if d.duplicate(netip.PrefixFrom(a, 32), 1, now) {
			t.Fatalf("%s: first sighting called a duplicate", a)
		}
		d.remember(netip.PrefixFrom(a, 32), 1, now)
		if len(d.seen) > d.max {
			t.Fatalf("dedup table grew to %d (max %d)", len(d.seen), d.max)
		}
	}
	// The most recent source is still remembered.
	last := netip.AddrFrom4([4]byte{10, 99, 3, 231})
	if !d.duplicate(netip.PrefixFrom(last, 32), 1, now) {
		t.Error("most recent entry was evicted")
	}
}

// blocker blocks every Send until released, to fill a queue.
type blocker struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
	recorder
}

func (b *blocker) Send(ctx context.Context, m *Message) error {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return b.recorder.Send(ctx, m)
}

func TestQueueFull(t *testing.T) {
	b := &blocker{started: make(chan struct{}), release: make(chan struct{})}
	s := newTestSink(t, Config{QueueSize: 2}, WithDeliverer(ChannelConfig{Name: "slow"}, b))
	write(t, s, scanAlert("10.99.0.1", 3))
	<-b.started // the worker holds alert 1; the queue is empty
	start := time.Now()
	for i := 2; i <= 6; i++ {
		write(t, s, scanAlert(fmt.Sprintf("10.99.0.%d", i), 3))
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Write blocked %v on a stuck channel", el)
	}
	if got := s.Counters()["slow"].QueueFull; got != 3 {
		t.Errorf("queue_full = %d, want 3", got)
	}
	close(b.release)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Counters{Sent: 3, QueueFull: 3}, s.Counters()["slow"]); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"10.99.0.1/3", "10.99.0.2/3", "10.99.0.3/3"}, b.sources()); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
}

func TestMinLevelBenignBackscatterAndFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	benign, err := tool.ParseBenign(strings.NewReader("prefix 10.99.7.0/24 Test-Research https://example.org/\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	high := &recorder{}
	s := newTestSink(t, Config{Files: []FileConfig{{Path: path}}}, WithBenign(benign),
		WithDeliverer(ChannelConfig{Name: "high", MinLevel: 3}, high))

	benignTagged := scanAlert("10.99.8.1", 4) // not on the list, but tagged by the tool fingerprinter
	benignTagged.Alert.Tool = &event.Tool{Name: "zmap", Confidence: 0.9, Evidence: []string{"known research scanner: X (https://x)"}}
	batch := append(packets(10), scanAlert("10.99.0.1", 2), scanAlert("10.99.7.7", 5), backscatterAlert("10.99.0.9"))
	batch = append(batch, packets(5)...)
	batch = append(batch, scanAlert("10.99.0.3", 3), benignTagged)
	batch = append(batch, event.Event{Kind: event.KindAlert}) // no payload: ignored
	write(t, s, batch...)
	// Write must not keep the batch: scribble over it.
	for i := range batch {
		if batch[i].Alert != nil {
			batch[i].Alert.Src = netip.MustParseAddr("192.0.2.1")
			if len(batch[i].Alert.ScanTypes) > 0 {
				batch[i].Alert.ScanTypes[0] = "XX"
			}
		}
		batch[i] = event.Event{}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"10.99.0.3/3"}, high.sources()); d != "" {
		t.Errorf("min_level 3 channel (-want +got):\n%s", d)
	}
	c := s.Counters()
	if d := cmp.Diff(Counters{Sent: 1, Filtered: 2}, c["high"]); d != "" {
		t.Errorf("high counters (-want +got):\n%s", d)
	}
	if d := cmp.Diff(Counters{Sent: 3}, c["file[0]"]); d != "" {
		t.Errorf("file counters (-want +got):\n%s", d)
	}
	if got := s.Skipped().Benign; got != 2 {
		t.Errorf("benign skipped = %d, want 2", got)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type line struct {
		Time            time.Time    `json:"time"`
		Kind            string       `json:"kind"`
		Sensor          string       `json:"sensor"`
		Alert           event.Alert  `json:"alert"`
		BackscatterOnly bool         `json:"backscatter_only"`
		RDNS            string       `json:"rdns"`
		Extra           *json.Number `json:"src_ip"` // packet keys must not appear
	}
	var got []line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, l)
	}
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3", len(got))
	}
	want0 := scanAlert("10.99.0.1", 2)
	if d := cmp.Diff(*want0.Alert, got[0].Alert, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); d != "" {
		t.Errorf("alert JSON round trip (-want +got):\n%s", d)
	}
	if got[0].Kind != "alert" || got[0].Sensor != "sensor1" || !got[0].Time.Equal(want0.Time) || got[0].BackscatterOnly || got[0].Extra != nil {
		t.Errorf("line 0 envelope: %+v", got[0])
	}
	if !got[1].BackscatterOnly || !got[1].Alert.Backscatter || got[1].Alert.Src != netip.MustParseAddr("10.99.0.9") {
		t.Errorf("backscatter line not marked: %+v", got[1])
	}
	if got[2].Alert.Src != netip.MustParseAddr("10.99.0.3") || got[2].Alert.ScanTypes[0] != "-sS" {
		t.Errorf("line 2 changed after Write returned: %+v", got[2].Alert)
	}
}

func TestIncludeBenign(t *testing.T) {
	benign, err := tool.ParseBenign(strings.NewReader("prefix 10.99.7.0/24 Test-Research https://example.org/\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := newTestSink(t, Config{IncludeBenign: true}, WithBenign(benign), WithDeliverer(ChannelConfig{}, rec))
	write(t, s, scanAlert("10.99.7.7", 5))
	_ = s.Close()
	if len(rec.sources()) != 1 || s.Skipped().Benign != 0 {
		t.Errorf("include_benign: delivered %v, skipped %+v", rec.sources(), s.Skipped())
	}
}

// TestImportedSkipped: verdicts of an imported log (Origin set) alert only
// with WithImports (import --respond).
func TestImportedSkipped(t *testing.T) {
	imported := scanAlert("10.99.7.8", 4)
	imported.Alert.Origin = "import:2026-11-23T12:00:00Z:kern.log"
	for _, with := range []bool{false, true} {
		rec := &recorder{}
		opts := []Option{WithDeliverer(ChannelConfig{}, rec)}
		if with {
			opts = append(opts, WithImports())
		}
		s := newTestSink(t, Config{}, opts...)
		write(t, s, imported, scanAlert("10.99.7.9", 4))
		_ = s.Close()
		want, skipped := []string{"10.99.7.9/4"}, uint64(1)
		if with {
			want, skipped = []string{"10.99.7.8/4", "10.99.7.9/4"}, 0
		}
		if got := rec.sources(); strings.Join(got, ",") != strings.Join(want, ",") || s.Skipped().Import != skipped {
			t.Errorf("imports=%v: delivered %v, skipped %+v; want %v", with, got, s.Skipped(), want)
		}
	}
}

func TestWriteAfterClose(t *testing.T) {
	s := newTestSink(t, Config{}, WithDeliverer(ChannelConfig{}, &recorder{}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), []event.Event{scanAlert("10.99.0.1", 1)}); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none = valid
	}{
		{"empty", Config{}, nil},
		{"good", Config{
			Files:    []FileConfig{{Path: "/tmp/x"}},
			Syslog:   []SyslogConfig{{Network: "udp", Address: "127.0.0.1:514"}, {Network: "unix", Address: "/dev/log", Facility: "auth"}},
			Webhooks: []WebhookConfig{{URL: "https://hooks.example.org/x", Headers: map[string]string{"Authorization": "Bearer t"}}},
			Email:    []EmailConfig{{Server: "smtp.example.org:587", From: "ds@example.org", To: []string{"Ops <ops@example.org>"}, Username: "u", Password: "p"}},
			RDNS:     RDNSConfig{Enabled: true, Server: "127.0.0.53:53"},
		}, nil},
		{"bad everything", Config{
			Files:    []FileConfig{{ChannelConfig: ChannelConfig{Name: "a", MinLevel: 6}}},
			Syslog:   []SyslogConfig{{ChannelConfig: ChannelConfig{Name: "a"}, Network: "sctp", Facility: "nope"}},
			Webhooks: []WebhookConfig{{URL: "ftp://x/y", ChannelConfig: ChannelConfig{RatePerMinute: -1}}},
			Email:    []EmailConfig{{Server: "smtp.example.org", From: "not an address", StartTLS: "off", Auth: "login"}},
			RDNS:     RDNSConfig{Enabled: true, Server: "127.0.0.53"},
		}, []string{
			"alerts.files[0].min_level: 6 is not between 0 and 5",
			"alerts.files[0].path: must not be empty",
			`alerts.syslog[0].name: "a" already names alerts.files[0]`,
			`alerts.syslog[0].network: "sctp" is not udp, tcp, unix or unixgram`,
			`alerts.syslog[0].facility: "nope" is not a syslog facility`,
			`alerts.webhooks[0].url: "ftp://x/y" is not an http:// or https:// URL`,
			"alerts.webhooks[0].rate_per_minute: must not be negative",
			`alerts.email[0].server: "smtp.example.org" is not host:port`,
			`alerts.email[0].from: "not an address"`,
			"alerts.email[0].to: at least one recipient is needed",
			"alerts.email[0].username: auth login needs a username",
			"alerts.email[0].auth: login would send the password in clear text",
			`alerts.rdns.server: "127.0.0.53" is not host:port`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if _, nerr := New(tt.cfg, nil); nerr == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Config{Webhooks: []WebhookConfig{{URL: "http://127.0.0.1/"}}, Email: []EmailConfig{{Username: "u"}}, Syslog: []SyslogConfig{{}}}.WithDefaults()
	if c.QueueSize != DefaultQueueSize || *c.Webhooks[0].Retries != DefaultWebhookRetry || *c.Email[0].Retries != 0 || c.Webhooks[0].Timeout != DefaultTimeout ||
		c.Email[0].StartTLS != "required" || c.Email[0].Auth != "plain" || c.Syslog[0].Facility != "local7" || c.Syslog[0].AppName != "darkscope" {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestMessageText(t *testing.T) {
	ev := scanAlert("10.99.0.1", 3)
	m := newMessage(&ev)
	m.RDNS = "scanner.example.test"
	line := m.Line()
	for _, w := range []string{"scan detected: 10.99.0.1 (scanner.example.test) -> 1 hosts", "tcp: [1-1024] udp: [53]", "flags: [SYN]", "scan: -sS", "level: 3", "signatures: NMAP SYN scan", "tool: nmap (confidence 0.90)", "os: Linux 2.2.x-3.x", "packets: 1000 new: 400"} {
		if !strings.Contains(line, w) {
			t.Errorf("line lacks %q: %s", w, line)
		}
	}
	bs := backscatterAlert("10.99.0.9")
	bm := newMessage(&bs)
	if !bm.BackscatterOnly() || !strings.HasPrefix(bm.Line(), "backscatter from DoS victim 10.99.0.9") || !strings.Contains(bm.Line(), "victim: do not block") {
		t.Errorf("backscatter line: %s", bm.Line())
	}
	if !strings.Contains(bm.Body(), "Never block it") || !strings.HasPrefix(bm.Subject(), "backscatter victim: 10.99.0.9") {
		t.Errorf("backscatter mail:\n%s\n%s", bm.Subject(), bm.Body())
	}
	v6 := scanAlert("fd99::1", 2)
	v6.Alert.Prefix = netip.MustParsePrefix("fd99::/64")
	if got := newMessage(&v6).Subject(); !strings.HasPrefix(got, "DL2 src: fd99::/64") {
		t.Errorf("aggregate subject: %s", got)
	}
}
