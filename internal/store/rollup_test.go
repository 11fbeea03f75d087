package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// TestRollupsMatchEvents appends random events over three days in time
// order, in batches, with late events for finished days, events without a
// time or addresses, several contexts, alerts and IPv6; then, for every day
// and roll table, the rollup rows (summed by key) must equal a GROUP BY over
// the day's stored events, and the day must count as rolled up to its last
// row.
func TestRollupsMatchEvents(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(11, 12))
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	evs := randomEvents(r, 6000, 3, base)
	for i := range evs {
		e := &evs[i]
		e.Kind = event.KindPacket
		e.Sensor = []string{"s1", "s2", "s3"}[r.IntN(3)]
		if i%50 == 0 {
			e.Src = netip.Addr{}
		}
		if i%70 == 0 {
			e.IPVersion, e.Src = 6, netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i%9))
		}
		if i%9 == 0 {
			e.Src = netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 5)}) // repeated sources
		}
	}
	sortByTime(evs)
	// Late events for the first day after the second began, a packet
	// without a time (day 1970-01-01) and an alert (not a packet).
	late := slices.Clone(evs[:40])
	for i := range late {
		late[i].Time = late[i].Time.Add(time.Nanosecond)
	}
	noTime := evs[5]
	noTime.Time = time.Time{}
	alert := evs[6]
	alert.Kind = event.KindAlert
	alert.Alert = &event.Alert{Src: alert.Src, Prefix: netip.PrefixFrom(netip.MustParseAddr("192.0.2.1"), 32), Pattern: "single"}

	s := openT(t, t.TempDir(), Options{})
	third := len(evs) / 3
	batches := [][]event.Event{evs[:third/2], evs[third/2 : third+100], late, evs[third+100 : 2*third], {noTime, alert}, evs[2*third:]}
	for _, b := range batches {
		if err := s.Append(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Close brings the last day's rollups up to date; reopen and compare.
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close folded every day's WAL into its file (a read-only open would
	// replay it each time).
	if wals, _ := filepath.Glob(filepath.Join(dir, eventsDir, "*.wal")); len(wals) > 0 {
		t.Fatalf("WAL files left after Close: %v", wals)
	}
	s = openT(t, dir, Options{ReadOnly: true})
	if len(s.days) != 4 {
		t.Fatalf("%d days, want 4", len(s.days))
	}
	checks := []struct{ roll, keys, agg, from string }{
		{"roll_src", "src_hi, src_lo, ip_version", "count(*), min(time), max(time)", "sum(events), min(first), max(last)"},
		{"roll_dst", "dst_hi, dst_lo, ip_version", "count(*), min(time), max(time)", "sum(events), min(first), max(last)"},
		{"roll_port", "proto, dst_port", "count(*), min(time), max(time)", "sum(events), min(first), max(last)"},
		{"roll_sensor", "sensor", "count(*), min(time), max(time)", "sum(events), min(first), max(last)"},
		{"roll_minute", "minute", "count(*)", "sum(events)"},
	}
	for _, d := range s.sortedDays() {
		if !d.fresh() || d.events == 0 {
			t.Fatalf("day %s: events %d, rolled %d", d.alias, d.events, d.rolled)
		}
		for _, c := range checks {
			keys := c.keys
			if c.roll == "roll_minute" {
				keys = "date_trunc('minute', time) AS minute"
			}
			raw := "SELECT " + keys + ", " + c.agg + " FROM " + d.from(c.roll == "roll_sensor") + " WHERE kind = 0 GROUP BY ALL"
			rolled := "SELECT " + c.keys + ", " + c.from + " FROM " + d.alias + "." + c.roll + " GROUP BY ALL"
			for _, q := range []string{"(" + raw + ") EXCEPT (" + rolled + ")", "(" + rolled + ") EXCEPT (" + raw + ")"} {
				if got := queryInts(t, s, "SELECT count(*) FROM ("+q+")"); !slices.Equal(got, []int64{0}) {
					t.Fatalf("day %s, %s: %d rows differ between the rollup and the events", d.alias, c.roll, got[0])
				}
			}
			if got := queryInts(t, s, "SELECT count(*) FROM ("+raw+")"); got[0] == 0 {
				t.Fatalf("day %s, %s: no rows", d.alias, c.roll)
			}
		}
	}
}

// TestAllTimeSplitMatches rebuilds the all-time rollups of the same days
// in one GROUP BY (at close, small data) and in slices (allPartitions):
// all_src and all_dst must hold the same rows, the groups of packets
// without a source or destination address included.
func TestAllTimeSplitMatches(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(31, 32))
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	evs := randomEvents(r, 3000, 4, base)
	for i := range evs {
		e := &evs[i]
		e.Kind = event.KindPacket
		switch {
		case i%40 == 0:
			e.Src = netip.Addr{}
		case i%55 == 0:
			e.Dst = netip.Addr{}
		case i%7 == 0:
			e.IPVersion, e.Src = 4, netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 13)})
		}
	}
	sortByTime(evs)
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	for i := 0; i < len(evs); i += 500 {
		if err := s.Append(ctx, evs[i:min(i+500, len(evs))], nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	w := openT(t, dir, Options{})
	if len(w.allDays) != 3 {
		t.Fatalf("all-time rollups cover %v", w.allDays)
	}
	tables := []string{"all_src", "all_dst"}
	for _, tb := range tables {
		if _, err := w.db.ExecContext(ctx, "CREATE TABLE memory.main.whole_"+tb+" AS SELECT * FROM state."+tb); err != nil {
			t.Fatal(err)
		}
	}
	w.partRows = 300
	if n := w.allPartitions(2000); n < 2 {
		t.Fatalf("allPartitions(2000) = %d with 300-row slices", n)
	}
	w.mu.Lock()
	w.allDays = map[string]uint64{}
	err := w.rebuildGlobal(ctx)
	w.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		whole, split := "SELECT * FROM memory.main.whole_"+tb, "SELECT * FROM state."+tb
		for _, q := range []string{"(" + whole + ") EXCEPT ALL (" + split + ")", "(" + split + ") EXCEPT ALL (" + whole + ")"} {
			if got := queryInts(t, w, "SELECT count(*) FROM ("+q+")"); got[0] != 0 {
				t.Fatalf("%s: %d rows differ between the split and the whole rebuild", tb, got[0])
			}
		}
		col := strings.TrimPrefix(tb, "all_") + "_lo"
		if got := queryInts(t, w, "SELECT count(*) FILTER (WHERE "+col+" IS NULL), count(*) FROM state."+tb); got[0] == 0 || got[1] < 50 {
			t.Fatalf("%s: %d NULL-address groups (one per IP version) in %d rows", tb, got[0], got[1])
		}
	}
}
