package web

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/darkscope/darkscope/internal/report"
)

var _ report.SessionReader = (*Client)(nil)

// sessionRoutes adds the honeypot session reports when the reader has them:
// GET /v1/creds/sessions (filter parameters, limit) and
// GET /v1/creds/timeline (addr, filter parameters, limit).
func (s *Server) sessionRoutes() {
	sr, ok := s.rd.(report.SessionReader)
	if !ok {
		return
	}
	s.mux.HandleFunc("GET /v1/creds/sessions", filtered(func(ctx context.Context, q url.Values, f report.Filter) ([]report.SessionRow, error) {
		return sr.CredSessions(ctx, f, limitParam(q))
	}))
	s.mux.HandleFunc("GET /v1/creds/timeline", filtered(func(ctx context.Context, q url.Values, f report.Filter) (report.Timeline, error) {
		a, err := netip.ParseAddr(q.Get("addr"))
		if err != nil {
			return report.Timeline{}, badRequest{fmt.Errorf("addr: %w", err)}
		}
		return sr.CredTimeline(ctx, a, f, limitParam(q))
	}))
}

// CredSessions implements report.SessionReader.
func (c *Client) CredSessions(ctx context.Context, f report.Filter, limit int) ([]report.SessionRow, error) {
	q := url.Values{}
	filterToQuery(f, q)
	q.Set("limit", strconv.Itoa(limit))
	var rows []report.SessionRow
	return rows, c.getJSON(ctx, "/v1/creds/sessions", q, &rows)
}

// CredTimeline implements report.SessionReader.
func (c *Client) CredTimeline(ctx context.Context, src netip.Addr, f report.Filter, limit int) (report.Timeline, error) {
	q := url.Values{}
	filterToQuery(f, q)
	q.Set("addr", src.String())
	q.Set("limit", strconv.Itoa(limit))
	var t report.Timeline
	return t, c.getJSON(ctx, "/v1/creds/timeline", q, &t)
}
