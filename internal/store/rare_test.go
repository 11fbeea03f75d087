package store

import (
	"bytes"
	"context"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/event"
)

// TestPackedDayMatchesV2Day writes the same random events into a day file
// that keeps the version-2 columns (migrated from testdata/v1) and into a
// new, packed day, and compares what the events view shows for both, every
// column: the SQL decoding of the rare BLOB must give exactly what the
// typed version-2 columns hold.
func TestPackedDayMatchesV2Day(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	copyTree(t, filepath.Join("testdata", "v1"), dir)
	s := openT(t, dir, Options{})
	r := rand.New(rand.NewPCG(11, 12))
	v2Day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var old, packed []event.Event
	for i := range 2000 {
		e := randEvent(r, v2Day.Add(time.Duration(i)*time.Second+time.Duration(r.IntN(1e9))))
		e.Sensor = "same"
		e.Auth, e.Alert = nil, nil
		old = append(old, e)
		e.Time = e.Time.Add(24 * time.Hour)
		packed = append(packed, e)
	}
	// One event with every optional part at its largest.
	full := randEvent(r, v2Day.Add(23*time.Hour))
	full.Sensor, full.Auth, full.Alert = "same", nil, nil
	full.IPVersion, full.Src, full.Dst = 6, netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:10.0.0.1")
	full.HasQuoted, full.Quoted = true, event.Quoted{Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Proto: event.ProtoTCP, SrcPort: 65535, DstPort: 2, TotalLen: 65535, TTL: 255, IPID: 0xffffffff, Seq: 0xffffffff}
	full.HasMark, full.HasUID, full.HasMAC, full.HasSeq, full.HasUDPChecksum, full.Truncated = true, true, true, true, true, true
	full.Mark, full.UID, full.GID, full.Seq, full.Ack = 0xffffffff, 0x80000000, 1, 0xfffffffe, 0x7fffffff
	full.MACSrc, full.MACDst = [6]byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa}, [6]byte{0, 0, 0, 0, 0, 1}
	full.MACRawLen = uint8(copy(full.MACRaw[:], bytes.Repeat([]byte{0xee}, len(full.MACRaw))))
	full.ExtHdrLen = uint8(copy(full.ExtHdrs[:], []uint8{0, 43, 44, 60, 0, 43, 44, 60}))
	full.SetTCPOptions(bytes.Repeat([]byte{0xab, 0}, event.MaxTCPOptions/2))
	full.SetIPOptions(bytes.Repeat([]byte{0x07}, event.MaxIPOptions))
	full.OutIface = "a-long-interface-name-é"
	full.Uptime = 1<<63 - 1
	full.ICMPGateway = netip.MustParseAddr("2001:db8::fe")
	old = append(old, full)
	full.Time = full.Time.Add(24 * time.Hour)
	packed = append(packed, full)
	if err := s.Append(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, packed, nil); err != nil {
		t.Fatal(err)
	}
	if s.days["2026-01-01"].packed || !s.days["2026-01-02"].packed {
		t.Fatalf("layouts: 2026-01-01 packed=%v, 2026-01-02 packed=%v; want the old day unpacked, the new one packed",
			s.days["2026-01-01"].packed, s.days["2026-01-02"].packed)
	}
	rows := func(day string) [][]any {
		var out [][]any
		q := "SELECT * EXCLUDE (time, payload_ref), epoch_ns(time) % 86400000000000 AS time_of_day FROM events WHERE sensor = 'same' AND time::DATE = DATE '" + day + "' ORDER BY time"
		if err := s.Query(ctx, q, func(_ []string, row []any) error {
			if row != nil {
				out = append(out, append([]any(nil), row...))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := rows("2026-01-01"), rows("2026-01-02")
	if len(a) != len(old) {
		t.Fatalf("%d rows in the version-2 day, want %d", len(a), len(old))
	}
	bigCmp := gocmp.Comparer(func(x, y *big.Int) bool { return (x == nil) == (y == nil) && (x == nil || x.Cmp(y) == 0) })
	if diff := gocmp.Diff(a, b, bigCmp); diff != "" {
		t.Fatalf("events view, version-2 day vs packed day (-v2 +packed):\n%s", diff)
	}
	sortByTime(packed)
	f := NoFilter()
	f.Since = v2Day.Add(24 * time.Hour)
	got := allEvents(t, s, f)
	if diff := gocmp.Diff(packed, got, addrCmp); diff != "" {
		t.Fatalf("Events from the packed day (-want +got):\n%s", diff)
	}
}

// TestPackedLayoutShape: a new day file has the narrow physical table, and
// its decoded form has exactly the version-2 columns, names and types, in
// order (what the views and Store.Events read).
func TestPackedLayoutShape(t *testing.T) {
	ctx := context.Background()
	s := openT(t, t.TempDir(), Options{})
	if err := s.Append(ctx, []event.Event{{Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}}, nil); err != nil {
		t.Fatal(err)
	}
	d := s.days["2026-03-01"]
	if d == nil || !d.packed {
		t.Fatalf("new day %+v, want packed", d)
	}
	cols := func(q string) []string {
		var out []string
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			out = append(out, name+" "+typ)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	phys := cols("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = '" + d.alias + "' AND table_name = 'events' ORDER BY column_index")
	if len(phys) != len(packedColumns)+1 || len(phys) > 24 {
		t.Fatalf("physical columns %v, want the %d packed ones and payload_ref", phys, len(packedColumns))
	}
	want := cols("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM memory.empty.events)")
	got := cols("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM " + d.eventsFrom() + ")")
	if len(want) != len(eventColumns)+1 {
		t.Fatalf("version-2 layout has %d columns, want %d", len(want), len(eventColumns)+1)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Fatalf("decoded packed day vs version-2 columns (-want +got):\n%s", diff)
	}
}

// TestPackRareTrims: trailing zero bytes are cut, the version byte always
// stays, the variable fields follow the first fixed part and the second
// fixed part follows them.
func TestPackRareTrims(t *testing.T) {
	buf := make([]byte, rareMax)
	tests := []struct {
		name string
		e    event.Event
		want int
	}{
		{"empty", event.Event{}, 1},
		{"hook only", event.Event{Hook: event.Hook(1)}, rOffHook + 1},
		{"ethertype", event.Event{EtherType: 0x0800}, rOffEther + 2},
		{"tcp options", func() event.Event {
			var e event.Event
			e.SetTCPOptions([]byte{2, 4, 5, 0xb4, 0})
			return e
		}(), rOffVar + 4}, // the trailing 0 option byte is cut too
		{"out iface", event.Event{OutIface: "eth1"}, rOffVar + 4},
		{"mark after options", func() event.Event {
			e := event.Event{HasMark: true, Mark: 1}
			e.SetTCPOptions([]byte{1, 1, 0})
			return e
		}(), rOffVar + 3 + rBMark + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := packRare(&tt.e, buf)
			if len(b) != tt.want || b[0] != rareVersion {
				t.Fatalf("packRare = %d bytes % x, want %d starting with version %d", len(b), b, tt.want, rareVersion)
			}
		})
	}
}
