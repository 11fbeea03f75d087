package nflog

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
)

func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testParser() *parser {
	return &parser{
		group: 7, sensor: "s", source: "nflog:7",
		prefixes: decode.NewInterner(0),
		ifnames: &ifCache{
			resolve: func(i uint32) (string, error) { return "eth0", nil },
			m:       map[uint32]ifEntry{},
			logger:  testLogger(),
		},
	}
}

// FuzzNflogMessage feeds arbitrary message bodies to the parser: it must not
// panic, must return only rejections or not-IP errors, and an accepted
// message must be a complete IP event.
func FuzzNflogMessage(f *testing.F) {
	_, all := capturedPackets(f)
	ts := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0}
	for i, p := range all {
		if i%4 != 0 {
			continue
		}
		f.Add(tmsg{hwProto: 0x0800, ts: ts, in: 3, prefix: "x ", seq: uint32(i), hwType: 1, hwHeader: eth, payload: p}.body(7))
	}
	f.Add(tmsg{hwProto: 0x0806, payload: make([]byte, 28)}.body(7))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		p := testParser()
		var e event.Event
		_, err := p.parse(body, &e, now)
		if err != nil {
			var pe *decode.ParseError
			if !errors.As(err, &pe) && !errors.Is(err, decode.ErrNotIP) {
				t.Fatalf("error of unexpected kind: %v", err)
			}
			return
		}
		if (e.IPVersion != 4 && e.IPVersion != 6) || !e.Src.IsValid() || !e.Dst.IsValid() {
			t.Fatalf("accepted a message without an IP packet: %+v", e)
		}
		if e.Time.IsZero() || e.Source != "nflog:7" || e.Group != 7 || e.Kind != event.KindPacket {
			t.Fatalf("metadata missing: %+v", e)
		}
	})
}

func TestSeqTracker(t *testing.T) {
	var s seqTracker
	steps := []struct {
		seq       uint32
		lost      uint64
		backwards bool
	}{
		{0, 0, false}, {1, 0, false}, {5, 3, false}, {6, 0, false},
		{2, 0, true}, {3, 0, false}, // resynchronised after going back
		{0x7ffffff0, 0x7ffffff0 - 4, false}, {0xfffffff0, 0x7fffffff, false},
		{0xffffffff, 0xe, false}, {0, 0, false}, {2, 1, false}, // wraps
	}
	for i, st := range steps {
		lost, back := s.see(st.seq)
		if lost != st.lost || back != st.backwards {
			t.Fatalf("step %d seq %d: lost %d backwards %v, want %d %v", i, st.seq, lost, back, st.lost, st.backwards)
		}
	}
}
