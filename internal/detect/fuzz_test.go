package detect

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// FuzzObserve feeds arbitrary header values (and arbitrary time jumps)
// through a small engine: no panic, sources within the cap, and a saved
// state loads back to the same verdicts.
func FuzzObserve(f *testing.F) {
	f.Add([]byte("\x06\x02\x04\x00\x16\x00\x01\x00\x00\x00\x02\x04\x05\xb4"))
	f.Add([]byte("\x01\x08\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x11\x29"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.MaxSources = 8
		cfg.MaxDstRecords = 2
		cfg.ReportInterval = time.Second
		cfg.ScanTimeout = 10 * time.Second
		g, err := New(cfg, nil, WithAnnotator(sigAnnotator{}))
		if err != nil {
			t.Fatal(err)
		}
		emit := func(e event.Event) {
			if e.Alert == nil || e.Kind != event.KindAlert {
				t.Fatal("bad alert event")
			}
		}
		now := t0
		for len(data) >= 16 {
			c := data[:16]
			data = data[16:]
			var e event.Event
			e.Kind = event.KindPacket
			now = now.Add(time.Duration(binary.BigEndian.Uint16(c[14:])) * time.Millisecond)
			e.Time = now
			if c[0]&1 == 0 {
				e.IPVersion, e.IHL = 4, 20
				e.Src = netip.AddrFrom4([4]byte{10, 0, 0, c[1] & 15})
				e.Dst = netip.AddrFrom4([4]byte{192, 0, 2, c[2]})
			} else {
				e.IPVersion, e.IHL = 6, 40
				e.Src = netip.AddrFrom16([16]byte{0x20, 1, 13, 0xb8, 7: c[1] & 3, 15: c[1] >> 4})
				e.Dst = netip.AddrFrom16([16]byte{0x20, 1, 13, 0xb8, 15: c[2]})
			}
			e.Proto = event.Proto(c[3])
			e.DstPort = binary.BigEndian.Uint16(c[4:])
			e.SrcPort = binary.BigEndian.Uint16(c[6:])
			e.Flags = event.TCPFlags(c[8])
			e.Window = binary.BigEndian.Uint16(c[9:])
			e.ICMPType, e.ICMPCode = c[11], c[12]
			e.IPFlags = c[13] & 7
			e.TotalLen = uint16(c[13]) * 3
			e.SetTCPOptions(c[10:])
			if c[0]&2 != 0 {
				e.HasQuoted = true
				e.Quoted.Dst = netip.AddrFrom4([4]byte{203, 0, 113, c[5]})
				e.Quoted.Proto = event.Proto(c[7])
			}
			g.Observe(&e, emit)
			if c[0]&4 != 0 {
				g.Advance(now, emit)
			}
		}
		if st := g.Stats(); st.Sources > cfg.MaxSources {
			t.Fatalf("%d sources over the cap %d", st.Sources, cfg.MaxSources)
		}
		want := g.Verdicts(VerdictFilter{})
		var buf bytes.Buffer
		if err := g.Save(&buf); err != nil {
			t.Fatal(err)
		}
		g2, _ := New(cfg, nil)
		if err := g2.Load(&buf); err != nil {
			t.Fatal(err)
		}
		got := g2.Verdicts(VerdictFilter{})
		if len(got) != len(want) {
			t.Fatalf("after load %d verdicts, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i].Src != want[i].Src || got[i].DangerLevel != want[i].DangerLevel || got[i].Packets != want[i].Packets ||
				got[i].Pattern != want[i].Pattern || len(got[i].ScanTypes) != len(want[i].ScanTypes) {
				t.Fatalf("verdict %d after load %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
