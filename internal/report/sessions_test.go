package report

import (
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

func TestCorrelate(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		tl        Timeline
		scanFirst bool
		lead      time.Duration
		scanStart time.Time
	}{
		{"packets then attempts", Timeline{Darknet: Darknet{Packets: 3, First: t0}, Attempts: []AttemptRow{{Time: t0.Add(time.Hour)}}}, true, time.Hour, t0},
		{"verdict first_seen earlier than the stored packets", Timeline{Darknet: Darknet{Packets: 3, First: t0},
			Scans:    []ScanRow{{Time: t0.Add(2 * time.Minute), Alert: event.Alert{FirstSeen: t0.Add(-time.Minute)}}},
			Attempts: []AttemptRow{{Time: t0.Add(time.Minute)}}}, true, 2 * time.Minute, t0.Add(-time.Minute)},
		{"brute force before any scan", Timeline{Darknet: Darknet{Packets: 1, First: t0.Add(time.Hour)}, Attempts: []AttemptRow{{Time: t0}}}, false, 0, t0.Add(time.Hour)},
		{"no darknet packets", Timeline{Attempts: []AttemptRow{{Time: t0}}}, false, 0, time.Time{}},
		{"no attempts", Timeline{Darknet: Darknet{Packets: 1, First: t0}}, false, 0, t0},
		{"same instant is not before", Timeline{Darknet: Darknet{Packets: 1, First: t0}, Attempts: []AttemptRow{{Time: t0}}}, false, 0, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := tt.tl
			tl.ScanFirst, tl.Lead = !tt.scanFirst, 42 // Correlate must overwrite
			tl.Correlate()
			if tl.ScanFirst != tt.scanFirst || tl.Lead != tt.lead || !tl.ScanStart.Equal(tt.scanStart) {
				t.Errorf("got scan first %v lead %s start %s, want %v %s %s", tl.ScanFirst, tl.Lead, tl.ScanStart, tt.scanFirst, tt.lead, tt.scanStart)
			}
		})
	}
}

func TestEntriesOrder(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tl := Timeline{
		Darknet:  Darknet{Packets: 2, First: t0, Last: t0.Add(time.Hour), Ports: []PortCount{{Proto: "tcp", Port: 22, Packets: 2}}},
		Scans:    []ScanRow{{Time: t0.Add(time.Minute), Alert: event.Alert{Level: 3, Pattern: "horizontal", FirstSeen: t0}}},
		Sessions: []SessionRow{{Session: 7, Start: t0.Add(time.Hour), End: t0.Add(time.Hour + time.Second), Attempts: 1}},
		Attempts: []AttemptRow{{Time: t0.Add(time.Hour), Session: 7, Attempt: 1, Kind: event.AuthPassword, Username: "root", Password: "x\ny"}},
	}
	var got []string
	for _, e := range tl.Entries() {
		got = append(got, e.What)
	}
	want := []string{"first_packet", "scan", "session_start", "attempt", "last_packet", "session_end"}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entries %v, want %v", got, want)
		}
	}
	// Attacker-chosen text is quoted: no raw newline reaches the output.
	for _, e := range tl.Entries() {
		for _, c := range e.Text {
			if c == '\n' {
				t.Errorf("entry %q has a raw newline", e.Text)
			}
		}
	}
}
