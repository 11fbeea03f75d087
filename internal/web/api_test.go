package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
	"github.com/darkscope/darkscope/internal/source"
)

type fakeReader struct {
	events []event.Event
	gotF   report.Filter
}

func (f *fakeReader) Top(_ context.Context, dim report.Dimension, flt report.Filter, limit int) ([]report.TopRow, error) {
	f.gotF = flt
	return []report.TopRow{{Key: string(dim), Count: uint64(limit)}}, nil
}
func (f *fakeReader) Histogram(_ context.Context, w time.Duration, _ report.Filter) ([]report.Bucket, error) {
	return []report.Bucket{{Start: time.Unix(3600, 0).UTC(), Count: uint64(w / time.Second)}}, nil
}
func (f *fakeReader) Events(_ context.Context, _ report.Filter, limit int, fn func(*event.Event) error) error {
	for i := range f.events {
		if err := fn(&f.events[i]); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeReader) Query(_ context.Context, sql string, fn func([]string, []any) error) error {
	if !strings.HasPrefix(sql, "SELECT") {
		return errors.New("only SELECT")
	}
	if err := fn([]string{"a", "b"}, nil); err != nil {
		return err
	}
	return fn([]string{"a", "b"}, []any{int64(1), "x"})
}
func (f *fakeReader) Stats(context.Context) (report.Stats, error) {
	return report.Stats{Events: 42}, nil
}
func (f *fakeReader) Counters(context.Context) ([]source.Snapshot, error) {
	return []source.Snapshot{{Source: "kmsg", Received: 3, Stored: 3}}, nil
}

type fakeIngester struct{ got string }

func (f *fakeIngester) Import(_ context.Context, path, format string) ([]source.Snapshot, error) {
	if path == "" {
		return nil, errors.New("no path")
	}
	return []source.Snapshot{{Source: "file:" + path}}, nil
}
func (f *fakeIngester) Ingest(_ context.Context, r io.Reader, format, name string) ([]source.Snapshot, error) {
	b, _ := io.ReadAll(r)
	f.got = format + ":" + string(b)
	return []source.Snapshot{{Source: name, Received: 1}}, nil
}

func TestAPIRoundTrip(t *testing.T) {
	var e event.Event
	e.Time = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	e.Src = netip.MustParseAddr("2001:db8::1")
	e.Dst = netip.MustParseAddr("192.0.2.7")
	e.Proto = event.ProtoTCP
	e.SrcPort, e.DstPort = 40000, 22
	e.Flags = event.FlagSYN | event.FlagECE
	e.SetTCPOptions([]byte{2, 4, 5, 0xb4})
	e.Prefix = "darkscope: "
	rd := &fakeReader{events: []event.Event{e, {}}}
	ing := &fakeIngester{}
	sock := filepath.Join(t.TempDir(), "api.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- NewServer(rd, ing, nil).Serve(ctx, sock) }()
	var c *Client
	var err error
	for range 100 {
		if c, err = Dial(ctx, sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	f := report.AnyFilter()
	f.Src = netip.MustParsePrefix("10.0.0.0/8")
	f.Port = 22
	f.Since = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows, err := c.Top(ctx, report.Ports, f, 7)
	if err != nil || len(rows) != 1 || rows[0].Key != "ports" || rows[0].Count != 7 {
		t.Fatalf("top = %v, %v", rows, err)
	}
	if diff := cmp.Diff(f, rd.gotF, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("filter (-sent +got):\n%s", diff)
	}
	if _, err := c.Top(ctx, "bogus", f, 1); err == nil || !strings.Contains(err.Error(), "unknown report") {
		t.Errorf("bad dimension: %v", err)
	}
	var got []event.Event
	if err := c.Events(ctx, f, 0, func(e *event.Event) error { got = append(got, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rd.events, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	var cells [][]any
	if err := c.Query(ctx, "SELECT 1", func(_ []string, row []any) error { cells = append(cells, row); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(cells) != 2 || cells[0] != nil || fmt.Sprint(cells[1][0]) != "1" || cells[1][1] != "x" {
		t.Errorf("query cells = %v", cells)
	}
	if err := c.Query(ctx, "DROP TABLE x", func([]string, []any) error { return nil }); err == nil || !strings.Contains(err.Error(), "only SELECT") {
		t.Errorf("query error not passed through: %v", err)
	}
	st, err := c.Stats(ctx)
	if err != nil || st.Events != 42 {
		t.Errorf("stats = %v, %v", st, err)
	}
	if _, err := c.Import(ctx, "", ""); err == nil || !strings.Contains(err.Error(), "no path") {
		t.Errorf("import error = %v", err)
	}
	snaps, err := c.Ingest(ctx, strings.NewReader("line1\n"), "kernlog", "api")
	if err != nil || len(snaps) != 1 || ing.got != "kernlog:line1\n" {
		t.Errorf("ingest = %v %v %q", snaps, err, ing.got)
	}
	// A second server on the same socket must refuse.
	if err := NewServer(rd, ing, nil).Serve(ctx, sock); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second daemon: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
