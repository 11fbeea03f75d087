package web

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
	"github.com/darkscope/darkscope/internal/source"
)

// Client talks to a running daemon over its unix socket. It implements
// report.Reader and Ingester.
type Client struct {
	hc *http.Client
}

var _ report.Reader = (*Client)(nil)

// Dial returns a client when a daemon answers on path, or an error when none does.
func Dial(ctx context.Context, path string) (*Client, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	c := &Client{hc: &http.Client{Transport: tr}}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := c.do(pctx, http.MethodGet, "/v1/ping", nil, nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return c, nil
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := "http://darkscope" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("daemon API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("daemon API %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("daemon API %s: decode: %w", path, err)
	}
	return nil
}

// Top implements report.Reader.
func (c *Client) Top(ctx context.Context, dim report.Dimension, f report.Filter, limit int) ([]report.TopRow, error) {
	q := url.Values{}
	filterToQuery(f, q)
	q.Set("dim", string(dim))
	q.Set("limit", strconv.Itoa(limit))
	var rows []report.TopRow
	return rows, c.getJSON(ctx, "/v1/top", q, &rows)
}

// Histogram implements report.Reader.
func (c *Client) Histogram(ctx context.Context, width time.Duration, f report.Filter) ([]report.Bucket, error) {
	q := url.Values{}
	filterToQuery(f, q)
	q.Set("width", width.String())
	var b []report.Bucket
	return b, c.getJSON(ctx, "/v1/histogram", q, &b)
}

// Stats implements report.Reader.
func (c *Client) Stats(ctx context.Context) (report.Stats, error) {
	var s report.Stats
	return s, c.getJSON(ctx, "/v1/stats", nil, &s)
}

// Counters implements report.Reader.
func (c *Client) Counters(ctx context.Context) ([]source.Snapshot, error) {
	var s []source.Snapshot
	return s, c.getJSON(ctx, "/v1/counters", nil, &s)
}

func readStream(body io.Reader, fn func(streamItem) error) error {
	dec := gob.NewDecoder(body)
	for {
		var it streamItem
		if err := dec.Decode(&it); err != nil {
			return fmt.Errorf("daemon API stream: %w", err)
		}
		if it.End {
			if it.Err != "" {
				return errors.New(it.Err)
			}
			return nil
		}
		if err := fn(it); err != nil {
			return err
		}
	}
}

// Events implements report.Reader.
func (c *Client) Events(ctx context.Context, f report.Filter, limit int, fn func(*event.Event) error) error {
	q := url.Values{}
	filterToQuery(f, q)
	q.Set("limit", strconv.Itoa(limit))
	resp, err := c.do(ctx, http.MethodGet, "/v1/events", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readStream(resp.Body, func(it streamItem) error {
		if it.Event == nil {
			return nil
		}
		return fn(it.Event)
	})
}

// Query implements report.Reader; numbers arrive as json.Number, bytes as hex, times as RFC 3339.
func (c *Client) Query(ctx context.Context, sql string, fn func(cols []string, row []any) error) error {
	resp, err := c.do(ctx, http.MethodPost, "/v1/query", nil, strings.NewReader(sql))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var cols []string
	return readStream(resp.Body, func(it streamItem) error {
		if it.Cols != nil {
			cols = it.Cols
			return fn(cols, nil)
		}
		dec := json.NewDecoder(bytes.NewReader(it.Row))
		dec.UseNumber()
		var row []any
		if err := dec.Decode(&row); err != nil {
			return fmt.Errorf("daemon API query row: %w", err)
		}
		return fn(cols, row)
	})
}

// Import asks the daemon to import a file by path.
func (c *Client) Import(ctx context.Context, path, format string) ([]source.Snapshot, error) {
	b, _ := json.Marshal(importRequest{Path: path, Format: format})
	resp, err := c.do(ctx, http.MethodPost, "/v1/import", nil, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s []source.Snapshot
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// Ingest sends a batch of lines to the daemon.
func (c *Client) Ingest(ctx context.Context, r io.Reader, format, name string) ([]source.Snapshot, error) {
	q := url.Values{"format": {format}, "name": {name}}
	resp, err := c.do(ctx, http.MethodPost, "/v1/ingest", q, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s []source.Snapshot
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// Verdicts asks the daemon's detector.
func (c *Client) Verdicts(ctx context.Context, f detect.VerdictFilter) ([]detect.Verdict, error) {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	q.Set("min_level", strconv.Itoa(int(f.MinLevel)))
	if f.Src.IsValid() {
		q.Set("src", f.Src.String())
	}
	var v []detect.Verdict
	return v, c.getJSON(ctx, "/v1/scans", q, &v)
}

// Victims asks the daemon's detector for backscatter victims.
func (c *Client) Victims(ctx context.Context) ([]detect.Victim, error) {
	var v []detect.Victim
	return v, c.getJSON(ctx, "/v1/backscatter", nil, &v)
}

// Explain asks the daemon's detector about one address.
func (c *Client) Explain(ctx context.Context, a netip.Addr) (detect.Explanation, error) {
	var x detect.Explanation
	return x, c.getJSON(ctx, "/v1/explain", url.Values{"addr": {a.String()}}, &x)
}

// CredTop implements report.CredReader.
func (c *Client) CredTop(ctx context.Context, what, user string, f report.Filter, limit int) ([]report.CredRow, error) {
	q := url.Values{}
	filterToQuery(f, q)
	q.Set("what", what)
	q.Set("user", user)
	q.Set("limit", strconv.Itoa(limit))
	var rows []report.CredRow
	return rows, c.getJSON(ctx, "/v1/creds/top", q, &rows)
}

// CredClients implements report.CredReader.
func (c *Client) CredClients(ctx context.Context, f report.Filter, limit int) ([]report.ClientRow, error) {
	q := url.Values{}
	filterToQuery(f, q)
	q.Set("limit", strconv.Itoa(limit))
	var rows []report.ClientRow
	return rows, c.getJSON(ctx, "/v1/creds/clients", q, &rows)
}
