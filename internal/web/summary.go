package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/report"
)

// Summary is what `darkscope summary` reports (like psad -S): the
// detector's summary (sources by danger level, the ports scanned by the
// most sources, top signatures, tools, sources and backscatter victims)
// and the ports with the most packets in the store. The daemon computes it
// from its live engine; without a daemon the CLI computes the same from the
// saved detector state and the store.
type Summary struct {
	detect.Summary
	PortPackets []report.TopRow `json:"top_ports_by_packets"`
}

// Summarizer is the detector part of a summary (*detect.Engine).
type Summarizer interface {
	Summary(n int) detect.Summary
}

// BuildSummary computes a summary with at most n rows per list from the
// detector and, when rd is not nil, the store.
func BuildSummary(ctx context.Context, sm Summarizer, rd report.Reader, n int) (Summary, error) {
	if n <= 0 {
		n = 20
	}
	out := Summary{Summary: sm.Summary(n), PortPackets: []report.TopRow{}}
	if rd != nil {
		rows, err := rd.Top(ctx, report.Ports, report.AnyFilter(), n)
		if err != nil {
			return out, fmt.Errorf("summary: top ports: %w", err)
		}
		if rows != nil {
			out.PortPackets = rows
		}
	}
	return out, nil
}

// summaryRoute adds GET /v1/summary?limit=N when the detector can summarise.
func (s *Server) summaryRoute(in Intel) {
	sm, ok := in.(Summarizer)
	if !ok {
		return
	}
	s.mux.HandleFunc("GET /v1/summary", func(w http.ResponseWriter, r *http.Request) {
		n := 0
		if v := r.URL.Query().Get("limit"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 0 {
				fail(w, http.StatusBadRequest, fmt.Errorf("limit %q: want a non-negative number", v))
				return
			}
		}
		sum, err := BuildSummary(r.Context(), sm, s.rd, n)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, sum)
	})
}

// Summary asks the daemon for its summary.
func (c *Client) Summary(ctx context.Context, n int) (Summary, error) {
	var sum Summary
	return sum, c.getJSON(ctx, "/v1/summary", url.Values{"limit": {strconv.Itoa(n)}}, &sum)
}
