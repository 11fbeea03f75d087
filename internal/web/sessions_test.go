package web

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
)

// sessionFake adds the session reports to fakeReader.
type sessionFake struct {
	fakeReader
	sessions []report.SessionRow
	tl       report.Timeline
	gotSrc   netip.Addr
	gotLimit int
}

func (f *sessionFake) CredSessions(_ context.Context, flt report.Filter, limit int) ([]report.SessionRow, error) {
	f.gotF, f.gotLimit = flt, limit
	return f.sessions, nil
}

func (f *sessionFake) CredTimeline(_ context.Context, src netip.Addr, flt report.Filter, limit int) (report.Timeline, error) {
	f.gotSrc, f.gotF, f.gotLimit = src, flt, limit
	return f.tl, nil
}

func TestSessionRoutesRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	a := netip.MustParseAddr("2001:db8::7")
	rd := &sessionFake{
		sessions: []report.SessionRow{{Sensor: "s", Session: 3, Src: a, SrcPort: 4000, Start: t0, End: t0.Add(time.Second),
			EndReason: "client_closed", Attempts: 2, Passwords: 1, Usernames: []string{"root"}, ClientVersion: "SSH-2.0-x", HASSH: "h"}},
		tl: report.Timeline{Src: a, Darknet: report.Darknet{Packets: 2, First: t0, Last: t0, Protocols: []string{"tcp"}, Ports: []report.PortCount{{Proto: "tcp", Port: 22, Packets: 2}}},
			Scans:    []report.ScanRow{{Time: t0, Alert: event.Alert{Src: a, Prefix: netip.MustParsePrefix("2001:db8::/64"), Level: 2, FirstSeen: t0, DstPorts: map[string]string{"tcp": "22"}}}},
			Attempts: []report.AttemptRow{{Time: t0.Add(time.Hour), Session: 3, Attempt: 1, Kind: event.AuthPassword, Username: "root", Password: "x"}}, AttemptsTotal: 1},
	}
	rd.tl.Correlate()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- NewServer(rd, &fakeIngester{}, nil).Serve(ctx, sock) }()
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
	addrs := cmp.Options{cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })}
	f := report.AnyFilter()
	f.Src = netip.MustParsePrefix("2001:db8::/64")
	f.Since = t0
	rows, err := c.CredSessions(ctx, f, 5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rd.sessions, rows, addrs); diff != "" || rd.gotLimit != 5 {
		t.Errorf("sessions (limit %d) (-want +got):\n%s", rd.gotLimit, diff)
	}
	if diff := cmp.Diff(f, rd.gotF, addrs); diff != "" {
		t.Errorf("filter (-sent +got):\n%s", diff)
	}
	tl, err := c.CredTimeline(ctx, a, report.AnyFilter(), 9)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rd.tl, tl, addrs); diff != "" || rd.gotSrc != a || rd.gotLimit != 9 || !tl.ScanFirst {
		t.Errorf("timeline (src %v limit %d) (-want +got):\n%s", rd.gotSrc, rd.gotLimit, diff)
	}
	if _, err := c.CredTimeline(ctx, netip.Addr{}, report.AnyFilter(), 0); err == nil || !strings.Contains(err.Error(), "addr") {
		t.Errorf("timeline without an address: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
