package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/google/go-cmp/cmp"
)

type hookServer struct {
	mu      sync.Mutex
	codes   []int // answers in order; the last repeats
	calls   int
	bodies  [][]byte
	headers []http.Header
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	code := h.codes[min(h.calls, len(h.codes)-1)]
	h.calls++
	h.bodies = append(h.bodies, b)
	h.headers = append(h.headers, r.Header.Clone())
	h.mu.Unlock()
	if r.Method != http.MethodPost {
		code = http.StatusMethodNotAllowed
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte("answer"))
}

func TestWebhook(t *testing.T) {
	flaky := &hookServer{codes: []int{503, 429, 204}}
	down := &hookServer{codes: []int{500}}
	reject := &hookServer{codes: []int{400}}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // lets the server notice the client giving up
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	servers := []http.Handler{flaky, down, reject, slow}
	var urls []string
	for _, h := range servers {
		srv := httptest.NewServer(h)
		defer srv.Close()
		urls = append(urls, srv.URL+"/hook")
	}
	var mu sync.Mutex
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	ch := ChannelConfig{Retries: new(3), Backoff: 100 * time.Millisecond}
	s := newTestSink(t, Config{Webhooks: []WebhookConfig{
		{ChannelConfig: ch, URL: urls[0], Headers: map[string]string{"Authorization": "Bearer s3cret", "X-Team": "noc"}},
		{ChannelConfig: ch, URL: urls[1]},
		{ChannelConfig: ch, URL: urls[2]},
		{ChannelConfig: ChannelConfig{Retries: new(0)}, URL: urls[3], Timeout: 200 * time.Millisecond},
	}}, withSleep(sleep))
	start := time.Now()
	write(t, s, scanAlert("10.99.0.1", 3))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("webhook timeout not applied: took %v", el)
	}
	c := s.Counters()
	want := map[string]Counters{
		"webhook[0]": {Sent: 1},
		"webhook[1]": {Failed: 1},
		"webhook[2]": {Failed: 1},
		"webhook[3]": {Failed: 1},
	}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
	if flaky.calls != 3 || down.calls != 4 || reject.calls != 1 {
		t.Errorf("attempts: flaky %d (want 3), down %d (want 1+3), reject %d (want 1: 4xx is permanent)", flaky.calls, down.calls, reject.calls)
	}
	// Backoff doubles per retry: 2 waits for flaky, 3 for down (order between channels varies).
	count := map[time.Duration]int{}
	for _, w := range waits {
		count[w]++
	}
	if d := cmp.Diff(map[time.Duration]int{100 * time.Millisecond: 2, 200 * time.Millisecond: 2, 400 * time.Millisecond: 1}, count); d != "" {
		t.Errorf("backoff waits (-want +got):\n%s", d)
	}
	h := flaky.headers[2]
	if h.Get("Authorization") != "Bearer s3cret" || h.Get("X-Team") != "noc" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", h)
	}
	var body struct {
		Kind            string      `json:"kind"`
		Alert           event.Alert `json:"alert"`
		BackscatterOnly bool        `json:"backscatter_only"`
	}
	if err := json.Unmarshal(flaky.bodies[2], &body); err != nil {
		t.Fatalf("body %s: %v", flaky.bodies[2], err)
	}
	if body.Kind != "alert" || body.Alert.Src != netip.MustParseAddr("10.99.0.1") || body.Alert.Level != 3 ||
		body.Alert.DstPorts["tcp"] != "1-1024" || body.Alert.Tool == nil || body.Alert.Tool.Name != "nmap" || body.BackscatterOnly {
		t.Errorf("body: %s", flaky.bodies[2])
	}
}
