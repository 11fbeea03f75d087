package jsonl

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

func TestNativePayloads(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	alert := event.Event{Time: at, Kind: event.KindAlert, Src: netip.MustParseAddr("203.0.113.7"),
		Alert: &event.Alert{Src: netip.MustParseAddr("203.0.113.7"), Level: 3, Pattern: "horizontal",
			ScanTypes: []string{"-sS"}, Tool: &event.Tool{Name: "masscan", Confidence: 0.9},
			DstPorts: map[string]string{"tcp": "22-23"}}}
	auth := event.Event{Time: at, Kind: event.KindAuth, Src: netip.MustParseAddr("198.51.100.2"),
		Auth: &event.Auth{Kind: event.AuthPassword, User: "ro\uFFFDt", UserLen: 4, UserRaw: []byte{'r', 'o', 0xff, 't'},
			Secret: "123456", SecretLen: 6, HASSH: "deadbeef", Try: 2}}
	for _, tc := range []struct {
		ev   event.Event
		key  string
		want map[string]any
	}{
		{alert, "alert", map[string]any{"danger_level": 3.0, "pattern": "horizontal", "src": "203.0.113.7"}},
		{auth, "auth", map[string]any{"kind": "password", "user_raw": "cm//dA==", "user_len": 4.0, "secret": "123456", "try": 2.0, "hassh": "deadbeef"}},
	} {
		line := AppendLine(nil, FormatNative, &tc.ev)
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: invalid JSON %s: %v", tc.key, line, err)
		}
		if m["kind"] != tc.ev.Kind.String() {
			t.Errorf("kind = %v in %s", m["kind"], line)
		}
		p, _ := m[tc.key].(map[string]any)
		for k, v := range tc.want {
			if p[k] != v {
				t.Errorf("%s.%s = %v, want %v (%s)", tc.key, k, p[k], v, line)
			}
		}
	}
}
