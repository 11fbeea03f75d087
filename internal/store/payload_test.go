package store

import (
	"cmp"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
)

// v1Events are the events testdata/mkv1.go wrote into testdata/v1 with the
// version-1 store (keep both lists equal).
func v1Events() []event.Event {
	var evs []event.Event
	for i := range 5 {
		evs = append(evs, event.Event{
			Time: time.Date(2026, 1, 1, 10, i, 0, 0, time.UTC), Kind: event.KindPacket,
			Sensor: "v1", Source: "kmsg", Prefix: "DARK ", IPVersion: 4,
			Src:   netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)}),
			Dst:   netip.AddrFrom4([4]byte{198, 51, 100, 7}),
			Proto: event.ProtoTCP, SrcPort: uint16(40000 + i), DstPort: 22, TTL: 64, Flags: event.TCPFlags(2),
		})
	}
	return evs
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func queryInts(t *testing.T, s *Store, q string) []int64 {
	t.Helper()
	var out []int64
	if err := s.Query(context.Background(), q, func(_ []string, row []any) error {
		for _, v := range row {
			switch v := v.(type) {
			case int32:
				out = append(out, int64(v))
			case int64:
				out = append(out, v)
			default:
				t.Fatalf("%s: column type %T", q, v)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// TestV1DataDirMigrates opens a data directory written by the version-1
// store (testdata/v1, made by testdata/mkv1.go): read-only it is refused,
// writable it migrates to the current version with its events intact
// (keeping its version-2 columns: only new files are packed), takes payload
// events, and reads back read-only afterwards.
func TestV1DataDirMigrates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	copyTree(t, filepath.Join("testdata", "v1"), dir)

	if _, err := Open(ctx, dir, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("state schema version 2, this darkscope needs %d: open it once writable", stateMigrations[len(stateMigrations)-1].version)) {
		t.Fatalf("read-only open of the v1 directory: %v", err)
	}
	s := openT(t, dir, Options{})
	want := v1Events()
	if diff := gocmp.Diff(want, allEvents(t, s, NoFilter()), addrCmp); diff != "" {
		t.Fatalf("v1 events after migration (-want +got):\n%s", diff)
	}
	if got := queryInts(t, s, "SELECT max(version) FROM d20260101.schema_migrations"); !slices.Equal(got, []int64{event.SchemaVersion}) {
		t.Fatalf("day schema version after migration: %v", got)
	}
	if d := s.days["2026-01-01"]; d == nil || d.packed {
		t.Fatalf("migrated day with events: %+v, want the version-2 layout kept", d)
	}
	if got := queryInts(t, s, "SELECT count(*) FROM events WHERE username IS NULL AND danger_level IS NULL AND auth_extra IS NULL AND alert IS NULL"); !slices.Equal(got, []int64{5}) {
		t.Fatalf("migrated rows with NULL payload columns: %v", got)
	}
	// The migrated file takes payload events next to its old rows.
	at := time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)
	au := event.Event{Time: at, Kind: event.KindAuth, Sensor: "v1", IPVersion: 4, Src: netip.MustParseAddr("192.0.2.9"), DstPort: 22, Proto: event.ProtoTCP,
		Auth: &event.Auth{Kind: event.AuthPassword, Session: 1, Attempt: 1, Try: 1, User: "root", UserLen: 4, Secret: "toor", SecretLen: 4, ClientVersion: "SSH-2.0-libssh_0.9.6", HASSH: "h"}}
	al := event.Event{Time: at.Add(time.Second), Kind: event.KindAlert, Sensor: "v1",
		Alert: &event.Alert{Src: netip.MustParseAddr("192.0.2.9"), Prefix: netip.MustParsePrefix("192.0.2.9/32"), Level: 3, Pattern: "horizontal"}}
	if err := s.Append(ctx, []event.Event{au, al}, nil); err != nil {
		t.Fatal(err)
	}
	want = append(want, au, al)
	if diff := gocmp.Diff(want, allEvents(t, s, NoFilter()), addrCmp); diff != "" {
		t.Fatalf("events after appending payloads (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro := openT(t, dir, Options{ReadOnly: true})
	if diff := gocmp.Diff(want, allEvents(t, ro, NoFilter()), addrCmp); diff != "" {
		t.Fatalf("events read-only after migration (-want +got):\n%s", diff)
	}
	// The version-2 day's rollups (keyed on address halves computed from
	// its UHUGEINT columns) answer top like its events do.
	for _, dim := range []Dimension{Sources, Destinations} {
		got, err := ro.Top(ctx, dim, NoFilter(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(naiveTop(want, dim, NoFilter()), got); diff != "" || len(got) == 0 {
			t.Fatalf("top %s after migration (-want +got):\n%s", dim, diff)
		}
	}
}

// TestPayloadEdgeCases: nil payloads next to full ones in one batch, raw
// non-UTF-8 bytes, invalid UTF-8 in a string field (stored with U+FFFD, the
// batch still goes in) and a NaN rate (stored as 0).
func TestPayloadEdgeCases(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	raw := []byte{0xff, 0xfe, 0x00, 'a', 0xc3, 0x28, 0x80}
	evs := []event.Event{
		{Time: base, Kind: event.KindAuth}, // an auth event without payload stays without
		{Time: base.Add(1), Kind: event.KindAuth, Auth: &event.Auth{Kind: event.AuthKeyboardInteractive, User: strings.ToValidUTF8(string(raw), "\uFFFD"), UserLen: 70000, UserRaw: raw,
			Secret: "", SecretRaw: append([]byte(nil), raw...), ClientVersionRaw: raw, Unanswered: true}},
		{Time: base.Add(2), Kind: event.KindAlert, Alert: &event.Alert{}},
		{Time: base.Add(3), Kind: event.KindPacket},
	}
	bad := event.Event{Time: base.Add(4), Kind: event.KindAuth, Auth: &event.Auth{Kind: event.AuthPassword, User: "x\xffy", HASSH: "\xfe"}}
	nan := event.Event{Time: base.Add(5), Kind: event.KindAlert, Alert: &event.Alert{Rate: math.NaN(), Tool: &event.Tool{Name: "t", Confidence: math.Inf(1)}}}
	if err := s.Append(ctx, append(slices.Clone(evs), bad, nan), nil); err != nil {
		t.Fatal(err)
	}
	badWant := bad
	badWant.Auth = &event.Auth{Kind: event.AuthPassword, User: "x\uFFFDy", HASSH: "\uFFFD"}
	nanWant := nan
	nanWant.Alert = &event.Alert{Tool: &event.Tool{Name: "t"}}
	want := append(evs, badWant, nanWant)
	if diff := gocmp.Diff(want, allEvents(t, s, NoFilter()), addrCmp); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestEventsViewPayloadColumns checks the readable payload columns of the
// "events" view.
func TestEventsViewPayloadColumns(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	evs := []event.Event{
		{Time: base, Kind: event.KindAuth, Auth: &event.Auth{Kind: event.AuthPassword, Session: 7, Attempt: 2, Try: 2, User: "root", Secret: "hunter2",
			ClientVersion: "SSH-2.0-libssh_0.9.6", HASSH: "92674389fa1e47a27ddd8d9b63ecd42b"}},
		{Time: base.Add(1), Kind: event.KindAlert, Alert: &event.Alert{Level: 4, Pattern: "vertical", OS: "Linux"}},
		{Time: base.Add(2), Kind: event.KindPacket},
	}
	if err := s.Append(ctx, evs, nil); err != nil {
		t.Fatal(err)
	}
	var got [][]any
	err := s.Query(ctx, "SELECT kind, auth_kind, username, password, client_version, hassh, auth_session, auth_try, danger_level, pattern, alert->>'os' FROM events ORDER BY time",
		func(_ []string, row []any) error {
			if row != nil {
				got = append(got, slices.Clone(row))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{"auth", "password", "root", "hunter2", "SSH-2.0-libssh_0.9.6", "92674389fa1e47a27ddd8d9b63ecd42b", uint64(7), uint16(2), nil, nil, nil},
		{"alert", nil, nil, nil, nil, nil, nil, nil, uint8(4), "vertical", "Linux"},
		{"packet", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Fatalf("events view (-want +got):\n%s", diff)
	}
}

// credEvents are honeypot attempts from few sources, users, passwords and
// clients (so counts collide), mixed with packets, over two days.
func credEvents(n int, base time.Time, seed uint64) []event.Event {
	r := newRand(seed)
	users := []string{"root", "admin", "oracle", "test", "ü"}
	secrets := []string{"123456", "admin", "root", "password", "", "qwerty"}
	clients := []string{"SSH-2.0-libssh_0.9.6", "SSH-2.0-OpenSSH_9.2p1", "SSH-2.0-Go", ""}
	hasshes := []string{"a", "b", ""}
	evs := make([]event.Event, n)
	for i := range evs {
		e := &evs[i]
		e.Time = base.Add(time.Duration(i) * 97 * time.Second)
		e.Sensor = pick(r, []string{"s1", "s2"})
		e.IPVersion = 4
		e.Src = netip.AddrFrom4([4]byte{192, 0, 2, byte(r.IntN(20))})
		if r.IntN(10) == 0 {
			e.IPVersion, e.Src = 6, netip.MustParseAddr("2001:db8::1")
		}
		e.Proto, e.DstPort, e.SrcPort = event.ProtoTCP, []uint16{22, 2222}[r.IntN(2)], uint16(40000+r.IntN(100))
		if r.IntN(5) == 0 {
			e.Kind = event.KindPacket
			continue
		}
		e.Kind = event.KindAuth
		a := &event.Auth{Kind: event.AuthKind(1 + r.IntN(5)), Session: uint64(r.IntN(40)), Attempt: uint16(r.IntN(10)), Try: uint16(r.IntN(10))}
		a.User, a.UserLen, a.UserRaw = randText(r, users)
		a.Secret, a.SecretLen, a.SecretRaw = randText(r, secrets)
		a.Unanswered = a.Kind == event.AuthKeyboardInteractive && r.IntN(3) == 0
		a.ClientVersion, a.HASSH = pick(r, clients), pick(r, hasshes)
		e.Auth = a
	}
	return evs
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

func naiveCredTop(evs []event.Event, what, user string, f Filter, limit int) []CredRow {
	type acc struct {
		row  CredRow
		srcs map[netip.Addr]bool
	}
	m := map[[2]string]*acc{}
	for i := range evs {
		e := &evs[i]
		a := e.Auth
		if a == nil || !match(f, e) || (a.Kind != event.AuthPassword && a.Kind != event.AuthKeyboardInteractive) || a.Unanswered || (user != "" && a.User != user) {
			continue
		}
		var k [2]string
		switch what {
		case report.CredPasswords:
			k[1] = a.Secret
		case report.CredUsernames:
			k[0] = a.User
		default:
			k = [2]string{a.User, a.Secret}
		}
		c := m[k]
		if c == nil {
			c = &acc{row: CredRow{Username: k[0], Password: k[1], First: e.Time, Last: e.Time}, srcs: map[netip.Addr]bool{}}
			m[k] = c
		}
		c.row.Count++
		if e.Src.IsValid() {
			c.srcs[e.Src] = true
		}
		if e.Time.Before(c.row.First) {
			c.row.First = e.Time
		}
		if e.Time.After(c.row.Last) {
			c.row.Last = e.Time
		}
	}
	out := []CredRow{}
	for _, c := range m {
		c.row.Sources = uint64(len(c.srcs))
		out = append(out, c.row)
	}
	slices.SortFunc(out, func(a, b CredRow) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Username, b.Username), cmp.Compare(a.Password, b.Password))
	})
	return out[:min(limit, len(out))]
}

func naiveCredClients(evs []event.Event, f Filter, limit int) []ClientRow {
	type sess struct {
		sensor string
		id     uint64
	}
	type acc struct {
		row      ClientRow
		srcs     map[netip.Addr]bool
		sessions map[sess]bool
	}
	m := map[[2]string]*acc{}
	for i := range evs {
		e := &evs[i]
		a := e.Auth
		if a == nil || !match(f, e) {
			continue
		}
		k := [2]string{a.ClientVersion, a.HASSH}
		c := m[k]
		if c == nil {
			c = &acc{row: ClientRow{ClientVersion: k[0], HASSH: k[1], First: e.Time, Last: e.Time}, srcs: map[netip.Addr]bool{}, sessions: map[sess]bool{}}
			m[k] = c
		}
		if a.Kind != event.AuthConnectionEnd {
			c.row.Attempts++
		}
		c.sessions[sess{e.Sensor, a.Session}] = true
		if e.Src.IsValid() {
			c.srcs[e.Src] = true
		}
		if e.Time.Before(c.row.First) {
			c.row.First = e.Time
		}
		if e.Time.After(c.row.Last) {
			c.row.Last = e.Time
		}
	}
	out := []ClientRow{}
	for _, c := range m {
		c.row.Sources, c.row.Sessions = uint64(len(c.srcs)), uint64(len(c.sessions))
		out = append(out, c.row)
	}
	slices.SortFunc(out, func(a, b ClientRow) int {
		return cmp.Or(cmp.Compare(b.Sessions, a.Sessions), cmp.Compare(b.Attempts, a.Attempts),
			cmp.Compare(a.ClientVersion, b.ClientVersion), cmp.Compare(a.HASSH, b.HASSH))
	})
	return out[:min(limit, len(out))]
}

// TestCredReportsMatchNaive compares CredTop and CredClients with the same
// reports computed in Go over the appended events, under several filters.
func TestCredReportsMatchNaive(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	base := time.Date(2026, 5, 1, 20, 0, 0, 0, time.UTC)
	evs := credEvents(3000, base, 11) // ~80 hours: four day files
	for i := 0; i < len(evs); i += 500 {
		if err := s.Append(ctx, evs[i:min(i+500, len(evs))], nil); err != nil {
			t.Fatal(err)
		}
	}
	filters := map[string]Filter{
		"any":    NoFilter(),
		"since":  {Since: base.Add(30 * time.Hour), Until: base.Add(60 * time.Hour), Port: -1, Proto: -1},
		"src":    {Src: netip.MustParsePrefix("192.0.2.0/29"), Port: -1, Proto: -1},
		"sensor": {Sensor: "s2", Port: 2222, Proto: -1},
		"empty":  {Since: base.Add(-48 * time.Hour), Until: base.Add(-47 * time.Hour), Port: -1, Proto: -1},
	}
	for name, f := range filters {
		for _, what := range []string{report.CredPasswords, report.CredUsernames, report.CredPairs} {
			for _, user := range []string{"", "root", "nobody"} {
				for _, limit := range []int{3, 1000} {
					got, err := s.CredTop(ctx, what, user, f, limit)
					if err != nil {
						t.Fatalf("CredTop(%s, %q, %s, %d): %v", what, user, name, limit, err)
					}
					want := naiveCredTop(evs, what, user, f, limit)
					if diff := gocmp.Diff(want, got); diff != "" {
						t.Fatalf("CredTop(%s, %q, %s, %d) (-want +got):\n%s", what, user, name, limit, diff)
					}
					if name == "any" && user == "" && limit == 1000 && len(got) < 3 {
						t.Fatalf("CredTop(%s) found only %d rows: the generator is too narrow", what, len(got))
					}
				}
			}
		}
		for _, limit := range []int{2, 1000} {
			got, err := s.CredClients(ctx, f, limit)
			if err != nil {
				t.Fatalf("CredClients(%s, %d): %v", name, limit, err)
			}
			if diff := gocmp.Diff(naiveCredClients(evs, f, limit), got); diff != "" {
				t.Fatalf("CredClients(%s, %d) (-want +got):\n%s", name, limit, diff)
			}
		}
	}
	if _, err := s.CredTop(ctx, "hosts", "", NoFilter(), 10); err == nil {
		t.Fatal("CredTop accepted an unknown report")
	}
}

// TestPayloadRefsAcrossReopenAndFailure: payload numbering continues after
// a reopen, and a batch whose transaction fails leaves no payload rows
// behind (its retry is stored once, linked to the right events).
func TestPayloadRefsAcrossReopenAndFailure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newRand(5)
	base := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)
	mk := func(n int, from time.Time) []event.Event {
		evs := make([]event.Event, n)
		for i := range evs {
			evs[i] = event.Event{Time: from.Add(time.Duration(i) * time.Second), Kind: event.Kind(i % 3), Sensor: "s"}
			switch evs[i].Kind {
			case event.KindAuth:
				evs[i].Auth = randAuth(r)
			case event.KindAlert:
				evs[i].Alert = randAlert(r, evs[i].Time)
			}
		}
		return evs
	}
	first, second, third := mk(30, base), mk(30, base.Add(time.Hour)), mk(30, base.Add(2*time.Hour))
	s := openT(t, dir, Options{})
	if err := s.Append(ctx, first, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	s.beforeCommit = func() error { return errors.New("injected") }
	if err := s.Append(ctx, second, nil); err == nil {
		t.Fatal("append with a failing commit succeeded")
	}
	s.beforeCommit = nil
	for _, b := range [][]event.Event{second, third} {
		if err := s.Append(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Concat(first, second, third)
	if diff := gocmp.Diff(want, allEvents(t, s, NoFilter()), addrCmp); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if got := queryInts(t, s, "SELECT (SELECT count(*) FROM d20260401.auth), (SELECT count(*) FROM d20260401.alerts), (SELECT count(DISTINCT payload_ref) FROM d20260401.events)"); !slices.Equal(got, []int64{30, 30, 60}) {
		t.Fatalf("auth rows, alert rows, distinct refs = %v, want [30 30 60]", got)
	}
}

// TestV3DataDirMigrates opens a data directory written by the version-3
// store (testdata/v3, made by testdata/mkv3.go: real kernel-log lines of two
// sensors, an alert and an auth event): read-only it is refused; writable,
// migration 4 rewrites the packed day with its contexts numbered in a ctx
// table, and every event reads back exactly as the version-3 store read it.
// The migrated day takes new events (a new context among them), its
// rollups are rebuilt, and read-only opens work afterwards.
func TestV3DataDirMigrates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	copyTree(t, filepath.Join("testdata", "v3"), dir)
	f, err := os.Open(filepath.Join(dir, "events.gob"))
	if err != nil {
		t.Fatal(err)
	}
	var want []event.Event
	if err := gob.NewDecoder(f).Decode(&want); err != nil {
		t.Fatalf("read events.gob: %v", err)
	}
	f.Close()
	if len(want) < 600 {
		t.Fatalf("events.gob holds %d events", len(want))
	}

	if _, err := Open(ctx, dir, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("state schema version 2, this darkscope needs %d: open it once writable", stateMigrations[len(stateMigrations)-1].version)) {
		t.Fatalf("read-only open of the v3 directory: %v", err)
	}
	s := openT(t, dir, Options{})
	if d := s.days["2026-02-01"]; d == nil || !d.packed || len(d.dict.ids) < 3 {
		t.Fatalf("migrated day: %+v, want the packed layout with its contexts numbered", d)
	}
	if diff := gocmp.Diff(want, allEvents(t, s, NoFilter()), addrCmp, cmpopts.EquateEmpty()); diff != "" { // gob keeps no empty slices
		t.Fatalf("v3 events after migration (-want +got):\n%s", diff)
	}
	if got := queryInts(t, s, "SELECT count(*) FROM duckdb_columns() WHERE database_name = 'd20260201' AND table_name = 'events' AND column_name IN ('sensor', 'source', 'prefix', 'in_iface')"); !slices.Equal(got, []int64{0}) {
		t.Fatalf("context columns left in the migrated table: %v", got)
	}
	sensors := map[string]int{}
	for _, e := range want {
		if e.Kind == event.KindPacket {
			sensors[e.Sensor]++
		}
	}
	top, err := s.Top(ctx, Sensors, NoFilter(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != len(sensors) {
		t.Fatalf("top sensors %+v, want %v", top, sensors)
	}
	for _, r := range top {
		if sensors[r.Key] != int(r.Count) {
			t.Fatalf("top sensors %+v, want %v", top, sensors)
		}
	}
	// New events: one in a context the day knows, one in a new one.
	add := []event.Event{want[0], want[0]}
	add[0].Time = time.Date(2026, 2, 1, 23, 0, 0, 0, time.UTC)
	add[1].Time = add[0].Time.Add(time.Second)
	add[1].Sensor, add[1].Prefix = "v4-new", "NEW "
	if err := s.Append(ctx, add, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro := openT(t, dir, Options{ReadOnly: true})
	got := allEvents(t, ro, NoFilter())
	if diff := gocmp.Diff(append(slices.Clone(want), add...), got, addrCmp, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("events after appending to the migrated day (-want +got):\n%s", diff)
	}
	if got := queryInts(t, ro, "SELECT count(*) FROM d20260201.ctx"); !slices.Equal(got, []int64{int64(len(s.days["2026-02-01"].dict.ids))}) {
		t.Fatalf("ctx rows %v, writer knew %d", got, len(s.days["2026-02-01"].dict.ids))
	}
}
