package web

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/event"
)

// TestSummaryRoute: GET /v1/summary gives what BuildSummary computes from
// the same engine and store, and rejects a bad limit.
func TestSummaryRoute(t *testing.T) {
	eng, err := detect.New(detect.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for p := 1; p <= 20; p++ {
		e := event.Event{Kind: event.KindPacket, Time: t0.Add(time.Duration(p) * time.Millisecond), IPVersion: 4, IHL: 20, TotalLen: 40,
			Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("192.0.2.1"), Proto: event.ProtoTCP,
			SrcPort: 40000, DstPort: uint16(p), Flags: event.FlagFIN, Window: 1024, TTL: 50}
		eng.Observe(&e, func(event.Event) {})
	}
	rd := &fakeReader{}
	sock := filepath.Join(t.TempDir(), "api.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = NewServer(rd, &fakeIngester{}, nil).WithIntel(eng).Serve(ctx, sock) }()
	var c *Client
	for range 100 {
		if c, err = Dial(ctx, sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Summary(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	want, err := BuildSummary(ctx, eng, rd, 5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b detect.Verdict) bool { return a.Src == b.Src && a.Packets == b.Packets })); diff != "" {
		t.Errorf("summary through the API (-direct +api):\n%s", diff)
	}
	if got.ByLevel[2] != 1 || len(got.TopPorts) != 5 || got.TopPorts[0].Port != "1/tcp" || len(got.PortPackets) != 1 {
		t.Errorf("summary %+v", got)
	}
	if _, err := c.getJSONErr(ctx, "/v1/summary?limit=x"); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("bad limit: %v", err)
	}
}

// getJSONErr fetches a raw path and returns the API's error.
func (c *Client) getJSONErr(ctx context.Context, pathQuery string) (any, error) {
	path, q, _ := strings.Cut(pathQuery, "?")
	k, v, _ := strings.Cut(q, "=")
	var out any
	err := c.getJSON(ctx, path, map[string][]string{k: {v}}, &out)
	return out, err
}
