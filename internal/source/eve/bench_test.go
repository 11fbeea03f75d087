package eve

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// BenchmarkParseLine runs the matcher over the fixture mix (ssh events of
// several clients, one without a client section, a flow event) and reports
// lines/s.
func BenchmarkParseLine(b *testing.B) {
	lines := fixture(b)
	m, err := NewMatcher(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var e event.Event
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			e.Reset()
			_ = m.ParseLine(l, &e)
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParseLineOther measures the common case of a busy EVE file: a
// line of another event type (a flow record), which only gets a JSON
// validity check.
func BenchmarkParseLineOther(b *testing.B) {
	line := []byte(`{"timestamp":"2026-11-20T09:14:08.000000+0000","flow_id":1287456690418247,"in_iface":"eth0","event_type":"flow","src_ip":"198.51.100.23","src_port":40412,"dest_ip":"192.0.2.10","dest_port":443,"proto":"TCP","app_proto":"tls","flow":{"pkts_toserver":12,"pkts_toclient":10,"bytes_toserver":2130,"bytes_toclient":3211,"start":"2026-11-20T09:14:02.100000+0000","end":"2026-11-20T09:14:09.000000+0000","age":7,"state":"closed","reason":"timeout","alerted":false}}`)
	m, err := NewMatcher(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var e event.Event
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		_ = m.ParseLine(line, &e)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkFollow measures the whole follower: a 60,000-line EVE file (the
// six fixture lines over and over: five ssh events, one flow record; the
// first libssh client gets a new address each time, so one line in six is
// a new redirection) read from its start through the file source and
// matched, each selected client handed to a no-op redirector; reports
// lines/s.
func BenchmarkFollow(b *testing.B) {
	lines := fixture(b)
	path := filepath.Join(b.TempDir(), "eve.json")
	var buf bytes.Buffer
	const n = 60000
	for i := range n {
		l := lines[i%len(lines)]
		if i%len(lines) == 0 { // a distinct libssh client each time
			l = bytes.Replace(l, []byte(`"198.51.100.23"`), []byte(fmt.Sprintf(`"10.%d.%d.%d"`, i>>16&255, i>>8&255, i&255)), 1)
		}
		buf.Write(l)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	nop := RedirectFunc(func(context.Context, netip.Prefix, time.Duration, string) error { return nil })
	total := 0
	b.ReportAllocs()
	for b.Loop() {
		counters := source.NewCounters("eve")
		fw, err := New(Config{Path: path, FromStart: true, PollInterval: time.Millisecond}, nop, counters, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- fw.Run(ctx, nil) }()
		for counters.Snapshot().Received < n {
			time.Sleep(100 * time.Microsecond)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "lines/s")
}
