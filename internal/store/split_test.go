package store

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/darkscope/darkscope/internal/event"
)

// TestDayNumMatchesTruncate checks the store's day arithmetic against
// time.Truncate, around midnight and before 1970.
func TestDayNumMatchesTruncate(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 22, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 23, 1, 0, 0, 0, time.FixedZone("X", 2*3600)), // 2026-11-22 23:00 UTC
		time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Unix(0, 0),
	} {
		e := event.Event{Time: tm}
		want := tm.UTC().Truncate(24 * time.Hour)
		if got := dayStart(dayNum(&e)); !got.Equal(want) {
			t.Errorf("day of %s = %s, want %s", tm, got, want)
		}
	}
	if got := dayStart(dayNum(&event.Event{})); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("day of the zero time = %s, want 1970-01-01", got)
	}
}

// TestAppendSplitsByDay appends batches whose days come in order, interleave,
// or trail (alerts for an earlier day at the end) and checks every event
// lands in its own day file and comes back.
func TestAppendSplitsByDay(t *testing.T) {
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	at := func(day, i int) time.Time {
		return base.Add(time.Duration(day)*24*time.Hour + time.Duration(i)*time.Second)
	}
	tests := []struct {
		name string
		days []int // the day of each event, in batch order
	}{
		{"one day", []int{0, 0, 0}},
		{"in order", []int{0, 0, 1, 1, 1, 2}},
		{"trailing earlier day", []int{0, 0, 1, 1, 0, 0}},
		{"interleaved", []int{2, 0, 1, 2, 0, 1, 1, 2, 0}},
		{"descending", []int{2, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openT(t, t.TempDir(), Options{MemoryLimit: "256MB", Threads: 1})
			r := rand.New(rand.NewPCG(3, 4))
			var batch []event.Event
			perDay := map[string]uint64{}
			for i, d := range tt.days {
				batch = append(batch, randEvent(r, at(d, i)))
				perDay[at(d, 0).Format(dayLayout)]++
			}
			want := append([]event.Event(nil), batch...)
			if err := s.Append(context.Background(), batch, nil); err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(want, batch, addrCmp); diff != "" {
				t.Fatalf("Append changed its input (-want +got):\n%s", diff)
			}
			st, err := s.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]uint64{}
			for _, d := range st.PerDay {
				got[d.Day] = d.Events
			}
			if diff := gocmp.Diff(perDay, got); diff != "" {
				t.Errorf("events per day (-want +got):\n%s", diff)
			}
			sortByTime(want)
			if diff := gocmp.Diff(want, allEvents(t, s, NoFilter()), addrCmp); diff != "" {
				t.Errorf("stored events (-want +got):\n%s", diff)
			}
			for _, e := range s.regroupBuf[:cap(s.regroupBuf)] {
				if e.Auth != nil || e.Alert != nil || !e.Time.IsZero() {
					t.Fatalf("regroup buffer still holds an event after Append: %v", e.Time)
				}
			}
		})
	}
}
