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

// TestOSLabelAllocatesNothing: the detect stage asks for the OS label of
// every SYN; for the labels of a loaded database that must not allocate,
// and must read as p0f prints it (name, then flavor).
func TestOSLabelAllocatesNothing(t *testing.T) {
	db := loadDB(t)
	matched := 0
	for _, s := range append(append([]*Sig(nil), db.Request...), db.Response...) {
		l := s.Label
		want := l.Name
		if l.Flavor != "" {
			want += " " + l.Flavor
		}
		if got := l.String(); got != want {
			t.Fatalf("line %d: label %q, want %q", l.Line, got, want)
		}
		r := Result{Sig: s}
		if n := testing.AllocsPerRun(10, func() { _ = r.OS() }); n != 0 {
			t.Fatalf("line %d: OS() allocates %.0f times", l.Line, n)
		}
		matched++
	}
	if matched < 50 {
		t.Fatalf("only %d signatures in the database", matched)
	}
}
