package report

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// SessionRow is one honeypot connection (darkscope creds sessions): who
// connected, when, with what client, and what it tried.
type SessionRow struct {
	Sensor    string     `json:"sensor"`
	Session   uint64     `json:"session"` // the honeypot's connection id (unique per run; with src and src_port: unique)
	Src       netip.Addr `json:"src"`
	SrcPort   uint16     `json:"src_port"`
	Start     time.Time  `json:"start"`                // connection start (end minus duration; the first record while open)
	End       time.Time  `json:"end"`                  // connection end; zero while no end record is stored
	EndReason string     `json:"end_reason,omitempty"` // e.g. client_closed, auth_timeout, attempt_cap
	Attempts  uint64     `json:"attempts"`             // authentication requests (every method, "none" included)
	Passwords uint64     `json:"passwords"`            // answered password and keyboard-interactive attempts
	// Usernames are the distinct usernames of the connection's requests, sorted.
	Usernames     []string `json:"usernames"`
	ClientVersion string   `json:"client_version"`
	HASSH         string   `json:"hassh"`
}

// AttemptRow is one authentication request of a timeline.
type AttemptRow struct {
	Time     time.Time      `json:"time"`
	Sensor   string         `json:"sensor"`
	Session  uint64         `json:"session"`
	Attempt  uint16         `json:"attempt"` // 1-based within the connection
	Kind     event.AuthKind `json:"kind"`
	Username string         `json:"username"`
	Password string         `json:"password,omitempty"` // password and keyboard-interactive
}

// PortCount is how many darknet packets one destination port (or, for
// protocols without ports, the protocol) received.
type PortCount struct {
	Proto   string `json:"proto"`
	Port    int    `json:"port,omitempty"`
	Packets uint64 `json:"packets"`
}

// Darknet summarises the packets one source sent to the sensor (packet
// events only; alert and auth rows are not packets).
type Darknet struct {
	Packets   uint64      `json:"packets"`
	First     time.Time   `json:"first"`
	Last      time.Time   `json:"last"`
	Protocols []string    `json:"protocols"`
	Ports     []PortCount `json:"ports"` // most packets first
}

// ScanRow is one stored detection verdict about the source (a KindAlert
// event): the time it was reported and the verdict.
type ScanRow struct {
	Time  time.Time   `json:"time"`
	Alert event.Alert `json:"alert"`
}

// Timeline is the darknet correlation of one source (darkscope creds
// timeline): what the darknet saw of it, the verdicts about it, then its
// honeypot connections and attempts, and whether scanning came first.
type Timeline struct {
	Src      netip.Addr   `json:"src"`
	Darknet  Darknet      `json:"darknet"`
	Scans    []ScanRow    `json:"scans"`
	Sessions []SessionRow `json:"sessions"`
	Attempts []AttemptRow `json:"attempts"` // time order, at most the requested limit
	// AttemptsTotal counts every attempt, also those past the limit.
	AttemptsTotal uint64 `json:"attempts_total"`
	// ScanStart is the first sign of scanning: the first darknet packet or
	// the first_seen of the earliest verdict, whichever is earlier (zero: none).
	ScanStart time.Time `json:"scan_start"`
	// BruteForceStart is the first honeypot attempt (zero: none).
	BruteForceStart time.Time `json:"brute_force_start"`
	// ScanFirst says the source scanned before it brute-forced; Lead is by
	// how long (BruteForceStart - ScanStart).
	ScanFirst bool          `json:"scan_preceded_brute_force"`
	Lead      time.Duration `json:"lead_ns"`
}

// Correlate sets ScanStart, BruteForceStart, ScanFirst and Lead from the
// other fields.
func (t *Timeline) Correlate() {
	t.ScanStart, t.BruteForceStart, t.ScanFirst, t.Lead = time.Time{}, time.Time{}, false, 0
	if t.Darknet.Packets > 0 {
		t.ScanStart = t.Darknet.First
	}
	for _, s := range t.Scans {
		if f := s.Alert.FirstSeen; !f.IsZero() && (t.ScanStart.IsZero() || f.Before(t.ScanStart)) {
			t.ScanStart = f
		}
	}
	if len(t.Attempts) > 0 {
		t.BruteForceStart = t.Attempts[0].Time
	}
	if !t.ScanStart.IsZero() && !t.BruteForceStart.IsZero() && t.ScanStart.Before(t.BruteForceStart) {
		t.ScanFirst, t.Lead = true, t.BruteForceStart.Sub(t.ScanStart)
	}
}

// TimelineEntry is one line of a timeline in time order.
type TimelineEntry struct {
	Time time.Time
	What string // first_packet, last_packet, scan, session_start, attempt, session_end
	Text string
}

// Entries merges the timeline's parts into time order (ties keep the order
// first_packet, scan, session_start, attempt, session_end, last_packet).
func (t *Timeline) Entries() []TimelineEntry {
	type keyed struct {
		e    TimelineEntry
		rank int
	}
	var out []keyed
	add := func(at time.Time, rank int, what, text string) {
		out = append(out, keyed{TimelineEntry{at, what, text}, rank})
	}
	if d := t.Darknet; d.Packets > 0 {
		ports := make([]string, 0, len(d.Ports))
		for i, p := range d.Ports {
			if i == 10 {
				ports = append(ports, fmt.Sprintf("+%d more", len(d.Ports)-10))
				break
			}
			if p.Port > 0 || p.Proto == "tcp" || p.Proto == "udp" {
				ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Proto))
			} else {
				ports = append(ports, p.Proto)
			}
		}
		add(d.First, 0, "first_packet", fmt.Sprintf("first darknet packet; %d packets in all to %s", d.Packets, strings.Join(ports, ", ")))
		add(d.Last, 5, "last_packet", "last darknet packet")
	}
	for _, s := range t.Scans {
		a := s.Alert
		text := fmt.Sprintf("scan verdict: danger level %d, %s", a.Level, a.Pattern)
		if len(a.ScanTypes) > 0 {
			text += " " + strings.Join(a.ScanTypes, " ")
		}
		if a.Tool != nil {
			text += ", tool " + a.Tool.Name
		}
		text += fmt.Sprintf(", %d packets since %s", a.Packets, a.FirstSeen.UTC().Format(time.RFC3339))
		add(s.Time, 1, "scan", text)
	}
	for _, s := range t.Sessions {
		add(s.Start, 2, "session_start", fmt.Sprintf("honeypot session %d from port %d (client %q, hassh %s)", s.Session, s.SrcPort, s.ClientVersion, s.HASSH))
		if !s.End.IsZero() {
			add(s.End, 4, "session_end", fmt.Sprintf("session %d ended (%q) after %d attempts", s.Session, s.EndReason, s.Attempts))
		}
	}
	for _, a := range t.Attempts {
		text := fmt.Sprintf("session %d attempt %d: %s user %q", a.Session, a.Attempt, a.Kind, a.Username)
		if a.Kind == event.AuthPassword || a.Kind == event.AuthKeyboardInteractive {
			text += fmt.Sprintf(" password %q", a.Password)
		}
		add(a.Time, 3, "attempt", text)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].e.Time.Equal(out[j].e.Time) {
			return out[i].e.Time.Before(out[j].e.Time)
		}
		return out[i].rank < out[j].rank
	})
	es := make([]TimelineEntry, len(out))
	for i, k := range out {
		es[i] = k.e
	}
	return es
}

// SessionReader answers the honeypot's per-connection reports.
type SessionReader interface {
	// CredSessions returns up to limit (<= 0: 100) honeypot connections
	// with records matching f, oldest first.
	CredSessions(ctx context.Context, f Filter, limit int) ([]SessionRow, error)
	// CredTimeline correlates src's darknet traffic, verdicts and honeypot
	// activity within f's time range (and sensor), listing at most limit
	// (<= 0: 1000) attempts.
	CredTimeline(ctx context.Context, src netip.Addr, f Filter, limit int) (Timeline, error)
}
