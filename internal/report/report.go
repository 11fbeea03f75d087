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

// Filter selects events. Zero values select everything.
type Filter struct {
	Since  time.Time    `json:"since,omitzero"`
	Until  time.Time    `json:"until,omitzero"`
	Src    netip.Prefix `json:"src,omitzero"`
	Dst    netip.Prefix `json:"dst,omitzero"`
	Port   int          `json:"port"`  // destination port; -1 = any
	Proto  int          `json:"proto"` // IP protocol number; -1 = any
	Sensor string       `json:"sensor,omitempty"`
}

// AnyFilter returns a filter that selects every event.
func AnyFilter() Filter { return Filter{Port: -1, Proto: -1} }

// Dimension is what Top groups by.
type Dimension string

// Dimensions Top knows.
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

// TopRow is one line of a top report.
type TopRow struct {
	Key       string    `json:"key"`
	Count     uint64    `json:"count"`
	Sources   uint64    `json:"sources,omitempty"`   // distinct source addresses
	Ports     uint64    `json:"ports,omitempty"`     // distinct destination ports
	FirstSeen time.Time `json:"first_seen,omitzero"` // earliest event
	LastSeen  time.Time `json:"last_seen,omitzero"`  // latest event
}

// Bucket is one histogram bar.
type Bucket struct {
	Start time.Time `json:"start"`
	Count uint64    `json:"count"`
}

// Stats describes the stored data.
type Stats struct {
	Events uint64    `json:"events"`
	First  time.Time `json:"first,omitzero"`
	Last   time.Time `json:"last,omitzero"`
	Days   int       `json:"days"`
	Bytes  int64     `json:"bytes"`
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
