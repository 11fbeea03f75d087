package p0f

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
)

func pcapEvents(b *testing.B, path string) []event.Event {
	fh, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		b.Fatal(err)
	}
	var evs []event.Event
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			b.Fatal(err)
		}
		var e event.Event
		if err := decode.DecodeEthernet(data, &e); err != nil {
			b.Fatal(err)
		}
		evs = append(evs, e)
	}
}

// BenchmarkFingerprint labels the captured SYNs (no string formatting).
func BenchmarkFingerprint(b *testing.B) {
	db := loadDB(b)
	evs := pcapEvents(b, "testdata/syns.pcap")
	n, known := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		r, _ := db.Fingerprint(&evs[n%len(evs)], 0)
		if r.Sig != nil {
			known++
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	if known == 0 {
		b.Fatal("nothing matched")
	}
}
