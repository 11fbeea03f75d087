// Package report defines the read side of the store as the CLI, the local API
// and the web dashboard see it: filters, result rows and the Reader interface.
// It imports no database driver, so everything that only reads reports builds
// and tests quickly; internal/store implements Reader, and so does the API
// client that talks to a running daemon.
package report

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// Filter narrows reports. Port and Proto must be -1 to mean "any" (use
// AnyFilter).
type Filter struct {
	Since, Until time.Time    // [Since, Until); zero = unbounded
	Src, Dst     netip.Prefix // invalid prefix = any
	Port         int          // source or destination port (like tcpdump's "port"); -1 = any
	Proto        int          // IP protocol number; -1 = any
	Sensor       string       // "" = any
}

// AnyFilter returns a filter that selects every event.
func AnyFilter() Filter { return Filter{Port: -1, Proto: -1} }

// TimeOnly reports whether only the time range constrains f (rollups can answer it).
func (f Filter) TimeOnly() bool {
	return !f.Src.IsValid() && !f.Dst.IsValid() && f.Port < 0 && f.Proto < 0 && f.Sensor == ""
}

// Validate checks ranges.
func (f Filter) Validate() error {
	if f.Port > 65535 {
		return fmt.Errorf("filter: port %d out of range", f.Port)
	}
	if f.Proto > 255 {
		return fmt.Errorf("filter: protocol %d out of range", f.Proto)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return fmt.Errorf("filter: until %s is not after since %s", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	return nil
}

// Dimension is what Top groups by.
type Dimension string

// Dimensions of Top.
const (
	Sources      Dimension = "sources"
	Destinations Dimension = "destinations"
	Ports        Dimension = "ports"
	Protocols    Dimension = "protocols"
	Sensors      Dimension = "sensors"
)

// ParseDimension checks s.
func ParseDimension(s string) (Dimension, error) {
	switch d := Dimension(s); d {
	case Sources, Destinations, Ports, Protocols, Sensors:
		return d, nil
	}
	return "", fmt.Errorf("unknown report %q: want sources, destinations, ports, protocols or sensors", s)
}

// TopRow is one line of a Top report.
type TopRow struct {
	Key   string    `json:"key"` // address, "22/tcp", protocol name or sensor
	Count uint64    `json:"count"`
	First time.Time `json:"first"` // first event time
	Last  time.Time `json:"last"`  // last event time
	// Proto and Port split a ports key ("22/tcp" → "tcp", 22); Proto is also
	// set for protocols.
	Proto string `json:"proto,omitempty"`
	Port  int    `json:"port,omitempty"`
}

// Bucket is one bar of a histogram.
type Bucket struct {
	Start time.Time `json:"start"`
	Count uint64    `json:"count"`
}

// DayStats describes one day file.
type DayStats struct {
	Day    string `json:"day"` // YYYY-MM-DD (UTC)
	Events uint64 `json:"events"`
	Bytes  int64  `json:"bytes"`
}

// Stats summarises the data directory.
type Stats struct {
	Dir           string     `json:"dir"`
	Events        uint64     `json:"events"`
	First         time.Time  `json:"first"`
	Last          time.Time  `json:"last"`
	Days          int        `json:"days"`
	Bytes         int64      `json:"bytes"`       // all database files (events, state, WAL)
	StateBytes    int64      `json:"state_bytes"` // state.duckdb and its WAL
	SchemaVersion int        `json:"schema_version"`
	PerDay        []DayStats `json:"per_day"`
}

// Credential report kinds (CredTop's what).
const (
	CredPasswords = "passwords"
	CredUsernames = "usernames"
	CredPairs     = "pairs"
)

// CredRow is one line of a credentials top report (darkscope creds top):
// a password, a username or a username/password pair with how often it was
// tried. Only password and keyboard-interactive attempts count (answered
// ones: an unanswered prompt tried no secret). Values are the stored text:
// bytes that were not UTF-8 show as U+FFFD (the exact bytes are in the
// events' username_raw/secret_raw columns).
type CredRow struct {
	Username string    `json:"username,omitempty"` // usernames and pairs
	Password string    `json:"password,omitempty"` // passwords and pairs
	Count    uint64    `json:"count"`              // attempts
	Sources  uint64    `json:"sources"`            // distinct source addresses
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// ClientRow is one line of the SSH client report (darkscope creds clients):
// a client version string and HASSH with how many connections and attempts
// used them.
type ClientRow struct {
	ClientVersion string    `json:"client_version"`
	HASSH         string    `json:"hassh"`
	Sessions      uint64    `json:"sessions"` // distinct (sensor, session id) with any auth event
	Attempts      uint64    `json:"attempts"` // authentication requests (every method, "none" included)
	Sources       uint64    `json:"sources"`  // distinct source addresses
	First         time.Time `json:"first"`
	Last          time.Time `json:"last"`
}

// Reader answers reports.
type Reader interface {
	Top(ctx context.Context, dim Dimension, f Filter, limit int) ([]TopRow, error)
	Histogram(ctx context.Context, width time.Duration, f Filter) ([]Bucket, error)
	// Events calls fn for each matching event in time order, at most limit (0: no limit).
	Events(ctx context.Context, f Filter, limit int, fn func(*event.Event) error) error
	// Query runs one read-only SELECT and calls fn for the header (row == nil) and each row.
	Query(ctx context.Context, sql string, fn func(cols []string, row []any) error) error
	Stats(ctx context.Context) (Stats, error)
	Counters(ctx context.Context) ([]source.Snapshot, error)
}

// ParseWidth turns minute|hour|day into a bucket width.
func ParseWidth(s string) (time.Duration, error) {
	switch strings.ToLower(s) {
	case "minute", "min", "m":
		return time.Minute, nil
	case "hour", "h":
		return time.Hour, nil
	case "day", "d":
		return 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("unknown histogram width %q: want minute, hour or day", s)
}

// ParseTime accepts an RFC 3339 time or a duration back from now ("90m",
// "24h", "7d").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if strings.HasSuffix(s, "d") {
		var n int
		if _, err := fmt.Sscanf(s, "%dd", &n); err == nil && fmt.Sprintf("%dd", n) == s {
			return now.Add(-time.Duration(n) * 24 * time.Hour).UTC(), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 90m, 24h or 7d", s)
	}
	return now.Add(-d).UTC(), nil
}

// CredReader answers the honeypot's credential reports.
type CredReader interface {
	CredTop(ctx context.Context, what, user string, f Filter, limit int) ([]CredRow, error)
	CredClients(ctx context.Context, f Filter, limit int) ([]ClientRow, error)
}
