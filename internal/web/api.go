// Package web is the daemon's local API at the right edge of the flow: an
// HTTP server on a unix socket (mode 0600) that answers reports from the
// store and takes writes (ingest a batch, import a file by path) into the
// running pipeline, plus the client the CLI uses to reach it. With a daemon
// running, the CLI goes through here; without one it opens the store itself.
package web

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
	"github.com/darkscope/darkscope/internal/source"
)

// Ingester takes writes into the running daemon.
type Ingester interface {
	// Import reads a file by path (format "" = detect) to its end.
	Import(ctx context.Context, path, format string) ([]source.Snapshot, error)
	// Ingest reads a batch of lines from r (format "kernlog" or "ulogd").
	Ingest(ctx context.Context, r io.Reader, format, name string) ([]source.Snapshot, error)
}

// Server serves the API.
type Server struct {
	rd     report.Reader
	ing    Ingester
	logger *slog.Logger
	mux    *http.ServeMux
	live   func() []source.Snapshot // the daemon's current counters; nil: the saved ones
}

// WithLiveCounters makes /v1/counters answer from live (the daemon's
// registry, current to the moment) instead of the counters the writer last
// saved in the store.
func (s *Server) WithLiveCounters(live func() []source.Snapshot) *Server {
	s.live = live
	return s
}

// NewServer returns a server over rd and ing.
func NewServer(rd report.Reader, ing Ingester, logger *slog.Logger) *Server {
	s := &Server{rd: rd, ing: ing, logger: logger, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /v1/top", filtered(s.top))
	s.mux.HandleFunc("GET /v1/histogram", filtered(s.histogram))
	s.mux.HandleFunc("GET /v1/events", s.events)
	s.mux.HandleFunc("POST /v1/query", s.query)
	s.mux.HandleFunc("GET /v1/stats", s.stats)
	s.mux.HandleFunc("GET /v1/counters", s.counters)
	s.mux.HandleFunc("POST /v1/import", s.importFile)
	s.mux.HandleFunc("POST /v1/ingest", s.ingest)
	s.credRoutes()
	s.sessionRoutes()
	return s
}

// Handler exposes the routes (tests).
func (s *Server) Handler() http.Handler { return s.mux }

// Serve listens on the unix socket path (replacing a stale socket file) until
// ctx is done.
func (s *Server) Serve(ctx context.Context, path string) error {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("API socket %s is in use: another darkscope daemon is running", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen on API socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("chmod API socket: %w", err)
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err = srv.Serve(ln)
	_ = os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve API: %w", err)
}

func fail(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// filterFromQuery decodes a report.Filter from URL parameters.
func filterFromQuery(q url.Values) (report.Filter, error) {
	f := report.AnyFilter()
	var err error
	if v := q.Get("since"); v != "" {
		if f.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return f, fmt.Errorf("since: %w", err)
		}
	}
	if v := q.Get("until"); v != "" {
		if f.Until, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return f, fmt.Errorf("until: %w", err)
		}
	}
	if v := q.Get("src"); v != "" {
		if f.Src, err = netip.ParsePrefix(v); err != nil {
			return f, fmt.Errorf("src: %w", err)
		}
	}
	if v := q.Get("dst"); v != "" {
		if f.Dst, err = netip.ParsePrefix(v); err != nil {
			return f, fmt.Errorf("dst: %w", err)
		}
	}
	if v := q.Get("port"); v != "" {
		if f.Port, err = strconv.Atoi(v); err != nil {
			return f, fmt.Errorf("port: %w", err)
		}
	}
	if v := q.Get("proto"); v != "" {
		if f.Proto, err = strconv.Atoi(v); err != nil {
			return f, fmt.Errorf("proto: %w", err)
		}
	}
	f.Sensor = q.Get("sensor")
	return f, nil
}

func filterToQuery(f report.Filter, q url.Values) {
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.Src.IsValid() {
		q.Set("src", f.Src.String())
	}
	if f.Dst.IsValid() {
		q.Set("dst", f.Dst.String())
	}
	q.Set("port", strconv.Itoa(f.Port))
	q.Set("proto", strconv.Itoa(f.Proto))
	if f.Sensor != "" {
		q.Set("sensor", f.Sensor)
	}
}

// badRequest marks a request-parameter error (HTTP 400).
type badRequest struct{ err error }

func (b badRequest) Error() string { return b.err.Error() }

// filtered serves a JSON report computed from the request's filter and its
// other parameters: parameter errors answer 400, report errors 500.
func filtered[T any](run func(ctx context.Context, q url.Values, f report.Filter) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f, err := filterFromQuery(q)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		v, err := run(r.Context(), q, f)
		if err != nil {
			code := http.StatusInternalServerError
			var br badRequest
			if errors.As(err, &br) {
				code = http.StatusBadRequest
			}
			fail(w, code, err)
			return
		}
		writeJSON(w, v)
	}
}

func limitParam(q url.Values) int {
	n, _ := strconv.Atoi(q.Get("limit"))
	return n
}

func (s *Server) top(ctx context.Context, q url.Values, f report.Filter) ([]report.TopRow, error) {
	dim, err := report.ParseDimension(q.Get("dim"))
	if err != nil {
		return nil, badRequest{err}
	}
	return s.rd.Top(ctx, dim, f, limitParam(q))
}

func (s *Server) histogram(ctx context.Context, q url.Values, f report.Filter) ([]report.Bucket, error) {
	width, err := time.ParseDuration(q.Get("width"))
	if err != nil {
		return nil, badRequest{fmt.Errorf("width: %w", err)}
	}
	return s.rd.Histogram(ctx, width, f)
}

// events streams gob-encoded events, then a trailing error string ("" = ok).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := filterFromQuery(q)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	limit := limitParam(q)
	w.Header().Set("Content-Type", "application/x-gob")
	enc := gob.NewEncoder(w)
	err = s.rd.Events(r.Context(), f, limit, func(e *event.Event) error {
		return enc.Encode(streamItem{Event: e})
	})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	_ = enc.Encode(streamItem{End: true, Err: msg})
}

type streamItem struct {
	Event *event.Event
	Cols  []string
	Row   []byte // the row as a JSON array (JSONCell values), so numbers stay numbers
	End   bool
	Err   string
}

// query streams gob items: the header, rows rendered as text, the end marker.
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-gob")
	enc := gob.NewEncoder(w)
	err = s.rd.Query(r.Context(), string(body), func(cols []string, row []any) error {
		if row == nil {
			return enc.Encode(streamItem{Cols: cols})
		}
		cells := make([]any, len(row))
		for i, v := range row {
			cells[i] = JSONCell(v)
		}
		j, err := json.Marshal(cells)
		if err != nil {
			return fmt.Errorf("encode row: %w", err)
		}
		return enc.Encode(streamItem{Row: j})
	})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	_ = enc.Encode(streamItem{End: true, Err: msg})
}

// RenderRow turns database values into text cells.
func RenderRow(row []any) []string {
	out := make([]string, len(row))
	for i, v := range row {
		switch x := v.(type) {
		case nil:
			out[i] = "NULL"
		case []byte:
			out[i] = fmt.Sprintf("%x", x)
		case time.Time:
			out[i] = x.UTC().Format(time.RFC3339Nano)
		default:
			out[i] = fmt.Sprint(x)
		}
	}
	return out
}

// JSONCell turns a database value into a JSON-friendly one: bytes as hex,
// times as RFC 3339 UTC, everything else as encoding/json writes it.
func JSONCell(v any) any {
	switch x := v.(type) {
	case []byte:
		return fmt.Sprintf("%x", x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	st, err := s.rd.Stats(r.Context())
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, st)
}

func (s *Server) counters(w http.ResponseWriter, r *http.Request) {
	if s.live != nil {
		writeJSON(w, s.live())
		return
	}
	c, err := s.rd.Counters(r.Context())
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, c)
}

type importRequest struct {
	Path   string `json:"path"`
	Format string `json:"format"`
}

func (s *Server) importFile(w http.ResponseWriter, r *http.Request) {
	var req importRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("import request: %w", err))
		return
	}
	snaps, err := s.ing.Import(r.Context(), req.Path, req.Format)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, snaps)
}

func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	snaps, err := s.ing.Ingest(r.Context(), r.Body, q.Get("format"), q.Get("name"))
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, snaps)
}

// Intel answers the detection reports (scans, backscatter, explain).
type Intel interface {
	Verdicts(f detect.VerdictFilter) []detect.Verdict
	Victims() []detect.Victim
	Explain(a netip.Addr) (detect.Explanation, bool)
}

// WithIntel adds the detection endpoints.
func (s *Server) WithIntel(in Intel) *Server {
	s.mux.HandleFunc("GET /v1/scans", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var f detect.VerdictFilter
		if v := q.Get("since"); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				fail(w, http.StatusBadRequest, fmt.Errorf("since: %w", err))
				return
			}
			f.Since = t
		}
		if v := q.Get("min_level"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				fail(w, http.StatusBadRequest, fmt.Errorf("min_level: %w", err))
				return
			}
			f.MinLevel = event.DangerLevel(n)
		}
		if v := q.Get("src"); v != "" {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				fail(w, http.StatusBadRequest, fmt.Errorf("src: %w", err))
				return
			}
			f.Src = p
		}
		writeJSON(w, in.Verdicts(f))
	})
	s.mux.HandleFunc("GET /v1/backscatter", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, in.Victims())
	})
	s.mux.HandleFunc("GET /v1/explain", func(w http.ResponseWriter, r *http.Request) {
		a, err := netip.ParseAddr(r.URL.Query().Get("addr"))
		if err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("addr: %w", err))
			return
		}
		x, ok := in.Explain(a)
		if !ok {
			fail(w, http.StatusNotFound, fmt.Errorf("no verdict about %s", a))
			return
		}
		writeJSON(w, x)
	})
	s.summaryRoute(in)
	return s
}

// credRoutes adds the credential reports when the reader has them.
func (s *Server) credRoutes() {
	cr, ok := s.rd.(report.CredReader)
	if !ok {
		return
	}
	s.mux.HandleFunc("GET /v1/creds/top", filtered(func(ctx context.Context, q url.Values, f report.Filter) ([]report.CredRow, error) {
		return cr.CredTop(ctx, q.Get("what"), q.Get("user"), f, limitParam(q))
	}))
	s.mux.HandleFunc("GET /v1/creds/clients", filtered(func(ctx context.Context, q url.Values, f report.Filter) ([]report.ClientRow, error) {
		return cr.CredClients(ctx, f, limitParam(q))
	}))
}
