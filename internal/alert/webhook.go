package alert

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// webhookChannel POSTs each alert as a JSON object (the JSON line of
// Message.AppendJSON) to a URL. 2xx is success; 408, 429 and 5xx answers and
// transport errors are retried by the worker; other answers are permanent.
type webhookChannel struct {
	cfg    WebhookConfig
	client *http.Client
	buf    []byte
}

func newWebhookChannel(c WebhookConfig, dial DialFunc) *webhookChannel {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if dial != nil {
		tr.DialContext = dial
	}
	return &webhookChannel{cfg: c, client: &http.Client{Transport: tr, Timeout: c.Timeout}}
}

func (w *webhookChannel) Send(ctx context.Context, m *Message) error {
	w.buf = m.AppendJSON(w.buf[:0])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(w.buf))
	if err != nil {
		return Permanent(fmt.Errorf("webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "darkscope-alert")
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return fmt.Errorf("webhook answered %s: %s", resp.Status, bytes.TrimSpace(snippet))
	}
	return Permanent(fmt.Errorf("webhook answered %s: %s", resp.Status, bytes.TrimSpace(snippet)))
}

func (w *webhookChannel) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
