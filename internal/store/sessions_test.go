package store

import (
	"context"
	"net/netip"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
)

// sessionScenario is a scan then brute force from a, spread over two day
// files, plus an unrelated honeypot client b.
func sessionScenario(t0 time.Time) []event.Event {
	a, b := netip.MustParseAddr("192.0.2.66"), netip.MustParseAddr("2001:db8::b")
	sensor := netip.MustParseAddr("198.51.100.1")
	var evs []event.Event
	pkt := func(at time.Time, proto event.Proto, port uint16) {
		evs = append(evs, event.Event{Time: at, Kind: event.KindPacket, Sensor: "s1", IPVersion: 4, Src: a, Dst: sensor,
			Proto: proto, SrcPort: 40000, DstPort: port})
	}
	pkt(t0, event.ProtoTCP, 22)
	pkt(t0.Add(time.Second), event.ProtoTCP, 23)
	pkt(t0.Add(2*time.Second), event.ProtoTCP, 22)
	pkt(t0.Add(3*time.Second), event.Proto(1), 0)
	evs = append(evs, event.Event{Time: t0.Add(time.Minute), Kind: event.KindAlert, Src: a, IPVersion: 4, Alert: &event.Alert{
		Src: a, Prefix: netip.PrefixFrom(a, 32), Level: 2, Pattern: "vertical", ScanTypes: []string{"-sS"}, Protocols: []string{"tcp"},
		FirstSeen: t0, LastSeen: t0.Add(2 * time.Second), Packets: 3, DstPorts: map[string]string{"tcp": "22-23"},
	}})
	auth := func(at time.Time, src netip.Addr, port uint16, id uint64, n uint16, kind event.AuthKind, user, secret string) {
		e := event.Event{Time: at, Kind: event.KindAuth, Sensor: "hp", Src: src, Dst: sensor, Proto: event.ProtoTCP, SrcPort: port, DstPort: 2222,
			Auth: &event.Auth{Kind: kind, Session: id, Attempt: n, User: user, Secret: secret, ClientVersion: "SSH-2.0-libssh_0.9.6", HASSH: "0123456789abcdef0123456789abcdef"}}
		e.IPVersion = 4
		if src.Is6() {
			e.IPVersion = 6
		}
		evs = append(evs, e)
	}
	bf := t0.Add(26 * time.Hour) // the next day
	auth(bf, a, 50001, 1, 1, event.AuthNone, "root", "")
	auth(bf.Add(time.Second), a, 50001, 1, 2, event.AuthPassword, "root", "123456")
	auth(bf.Add(2*time.Second), a, 50001, 1, 3, event.AuthPassword, "admin", "admin")
	end := event.Event{Time: bf.Add(3 * time.Second), Kind: event.KindAuth, Sensor: "hp", Src: a, Dst: sensor, IPVersion: 4, Proto: event.ProtoTCP, SrcPort: 50001, DstPort: 2222,
		Auth: &event.Auth{Kind: event.AuthConnectionEnd, Session: 1, ClientVersion: "SSH-2.0-libssh_0.9.6", HASSH: "0123456789abcdef0123456789abcdef",
			Duration: 3500 * time.Millisecond, EndReason: "client_closed", Attempts: 3}}
	evs = append(evs, end)
	auth(bf.Add(10*time.Second), a, 50002, 2, 1, event.AuthKeyboardInteractive, "oracle", "oracle") // still open
	auth(bf.Add(5*time.Second), b, 60000, 3, 1, event.AuthPassword, "pi", "raspberry")
	return evs
}

func TestCredSessionsAndTimeline(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	t0 := time.Date(2026, 6, 1, 20, 0, 0, 0, time.UTC)
	if err := s.Append(ctx, sessionScenario(t0), nil); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("192.0.2.66")
	bf := t0.Add(26 * time.Hour)
	hassh := "0123456789abcdef0123456789abcdef"
	wantSessions := []report.SessionRow{
		{Sensor: "hp", Session: 1, Src: a, SrcPort: 50001, Start: bf.Add(3*time.Second - 3500*time.Millisecond), End: bf.Add(3 * time.Second),
			EndReason: "client_closed", Attempts: 3, Passwords: 2, Usernames: []string{"admin", "root"}, ClientVersion: "SSH-2.0-libssh_0.9.6", HASSH: hassh},
		{Sensor: "hp", Session: 3, Src: netip.MustParseAddr("2001:db8::b"), SrcPort: 60000, Start: bf.Add(5 * time.Second),
			Attempts: 1, Passwords: 1, Usernames: []string{"pi"}, ClientVersion: "SSH-2.0-libssh_0.9.6", HASSH: hassh},
		{Sensor: "hp", Session: 2, Src: a, SrcPort: 50002, Start: bf.Add(10 * time.Second),
			Attempts: 1, Passwords: 1, Usernames: []string{"oracle"}, ClientVersion: "SSH-2.0-libssh_0.9.6", HASSH: hassh},
	}
	addrCmp := gocmp.Comparer(func(x, y netip.Addr) bool { return x == y })
	got, err := s.CredSessions(ctx, NoFilter(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(wantSessions, got, addrCmp); diff != "" {
		t.Errorf("CredSessions (-want +got):\n%s", diff)
	}
	f := NoFilter()
	f.Src = netip.MustParsePrefix("192.0.2.66/32")
	got, err = s.CredSessions(ctx, f, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(wantSessions[:1], got, addrCmp); diff != "" {
		t.Errorf("CredSessions --src --limit 1 (-want +got):\n%s", diff)
	}

	tl, err := s.CredTimeline(ctx, a, NoFilter(), 2)
	if err != nil {
		t.Fatal(err)
	}
	wantDark := report.Darknet{Packets: 4, First: t0, Last: t0.Add(3 * time.Second), Protocols: []string{"icmp", "tcp"},
		Ports: []report.PortCount{{Proto: "tcp", Port: 22, Packets: 2}, {Proto: "icmp", Packets: 1}, {Proto: "tcp", Port: 23, Packets: 1}}}
	if diff := gocmp.Diff(wantDark, tl.Darknet); diff != "" {
		t.Errorf("darknet (-want +got):\n%s", diff)
	}
	if len(tl.Scans) != 1 || tl.Scans[0].Alert.Level != 2 || !tl.Scans[0].Time.Equal(t0.Add(time.Minute)) || !tl.Scans[0].Alert.FirstSeen.Equal(t0) {
		t.Errorf("scans = %+v", tl.Scans)
	}
	if diff := gocmp.Diff([]report.SessionRow{wantSessions[0], wantSessions[2]}, tl.Sessions, addrCmp); diff != "" {
		t.Errorf("timeline sessions (-want +got):\n%s", diff)
	}
	wantAttempts := []report.AttemptRow{
		{Time: bf, Sensor: "hp", Session: 1, Attempt: 1, Kind: event.AuthNone, Username: "root"},
		{Time: bf.Add(time.Second), Sensor: "hp", Session: 1, Attempt: 2, Kind: event.AuthPassword, Username: "root", Password: "123456"},
	}
	if diff := gocmp.Diff(wantAttempts, tl.Attempts); diff != "" || tl.AttemptsTotal != 4 {
		t.Errorf("attempts (total %d, want 4) (-want +got):\n%s", tl.AttemptsTotal, diff)
	}
	if !tl.ScanFirst || tl.Lead != 26*time.Hour || !tl.ScanStart.Equal(t0) || !tl.BruteForceStart.Equal(bf) {
		t.Errorf("correlation: scan first %v lead %s start %s brute force %s", tl.ScanFirst, tl.Lead, tl.ScanStart, tl.BruteForceStart)
	}
	es := tl.Entries()
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.What)
	}
	wantKinds := []string{"first_packet", "last_packet", "scan", "session_start", "attempt", "attempt", "session_end", "session_start"}
	if diff := gocmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}

	// A source the sensor never saw: an empty timeline, no correlation.
	tl, err = s.CredTimeline(ctx, netip.MustParseAddr("203.0.113.9"), NoFilter(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if tl.Darknet.Packets != 0 || len(tl.Scans) != 0 || len(tl.Sessions) != 0 || len(tl.Attempts) != 0 || tl.ScanFirst {
		t.Errorf("unknown source timeline %+v", tl)
	}
	// Brute force only (no darknet packets): not preceded by a scan.
	tl, err = s.CredTimeline(ctx, netip.MustParseAddr("2001:db8::b"), NoFilter(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if tl.ScanFirst || len(tl.Sessions) != 1 || tl.BruteForceStart.IsZero() || !tl.ScanStart.IsZero() {
		t.Errorf("brute-force-only timeline %+v", tl)
	}
}
