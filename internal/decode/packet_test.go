package decode

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/darkscope/darkscope/internal/event"
)

// pktFrames returns the Ethernet frames of the golden capture.
func pktFrames(t testing.TB) [][]byte {
	t.Helper()
	fh, err := os.Open("testdata/packets/probes.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
}

// pktIPPackets returns the IP packets of the golden capture, cut to their IP
// length (no Ethernet padding).
func pktIPPackets(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range pktFrames(t) {
		var e event.Event
		if DecodeEthernet(f, &e) != nil {
			continue
		}
		p := f[14:]
		if int(e.TotalLen) < len(p) {
			p = p[:e.TotalLen]
		}
		out = append(out, p)
	}
	if len(out) < 100 {
		t.Fatalf("only %d IP packets in the capture", len(out))
	}
	return out
}

var pktCmpOpts = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestDecodeEthernetVLAN(t *testing.T) {
	for _, f := range pktFrames(t)[:40] {
		var plain event.Event
		perr := DecodeEthernet(f, &plain)
		for _, tpids := range [][]uint16{{0x8100}, {0x88a8, 0x8100}} {
			tagged := append([]byte(nil), f[:12]...)
			for i, tpid := range tpids {
				tagged = binary.BigEndian.AppendUint16(tagged, tpid)
				tagged = binary.BigEndian.AppendUint16(tagged, uint16(100+i)) // PCP 0, VID
			}
			tagged = append(tagged, f[12:]...)
			var got event.Event
			gerr := DecodeEthernet(tagged, &got)
			if (perr == nil) != (gerr == nil) {
				t.Fatalf("tagged err %v, untagged err %v", gerr, perr)
			}
			if d := cmp.Diff(plain, got, pktCmpOpts); d != "" {
				t.Fatalf("%d tags changed the decode (-untagged +tagged):\n%s", len(tpids), d)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	v4 := make([]byte, 20)
	v4[0] = 0x45
	tests := []struct {
		name  string
		eth   bool
		in    []byte
		notIP bool
	}{
		{name: "empty", in: nil},
		{name: "version 5", in: []byte{0x50, 0, 0, 0}, notIP: true},
		{name: "short IPv4", in: v4[:19]},
		{name: "IHL 4", in: append([]byte{0x44}, v4[1:]...)},
		{name: "short IPv6", in: append([]byte{0x60}, make([]byte, 38)...)},
		{name: "short frame", eth: true, in: make([]byte, 13)},
		{name: "ARP", eth: true, in: append(make([]byte, 12), 0x08, 0x06, 0, 1), notIP: true},
		{name: "cut VLAN tag", eth: true, in: append(make([]byte, 12), 0x81, 0x00, 0)},
		{name: "IPv6 in IPv4 ethertype", eth: true, in: append(append(make([]byte, 12), 0x08, 0x00, 0x60), make([]byte, 39)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e event.Event
			var err error
			if tt.eth {
				err = DecodeEthernet(tt.in, &e)
			} else {
				err = DecodeIP(tt.in, &e)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrNotIP) != tt.notIP {
				t.Fatalf("errors.Is(%v, ErrNotIP) = %v, want %v", err, !tt.notIP, tt.notIP)
			}
			var pe *ParseError
			if !tt.notIP && (!errors.As(err, &pe) || pe.Reason == "") {
				t.Fatalf("%v is not a *ParseError with a reason", err)
			}
		})
	}
}

// TestDecodeTruncated cuts every captured packet at every length: below the
// IP header it is an error; with every header present the decode equals the
// full one (but for the payload prefix); in between it keeps the addresses
// and says Truncated.
func TestDecodeTruncated(t *testing.T) {
	for _, p := range pktIPPackets(t) {
		var full event.Event
		if err := DecodeIP(p, &full); err != nil {
			t.Fatal(err)
		}
		if full.Truncated {
			continue // the tiny-fragment TCP header is cut short already
		}
		hdrEnd := int(full.TotalLen) - int(full.PayloadLen)
		minIP := 20
		if full.IPVersion == 6 {
			minIP = 40
		}
		for cut := 0; cut < len(p); cut++ {
			var e event.Event
			err := DecodeIP(p[:cut], &e)
			switch {
			case cut < minIP:
				if err == nil {
					t.Fatalf("%d of %d bytes: no error", cut, len(p))
				}
				continue
			case err != nil:
				t.Fatalf("%d of %d bytes: %v", cut, len(p), err)
			}
			if e.Src != full.Src || e.Dst != full.Dst || e.TotalLen != full.TotalLen {
				t.Fatalf("%d of %d bytes: addresses or length differ", cut, len(p))
			}
			if cut < hdrEnd {
				if !e.Truncated {
					t.Fatalf("%d of %d bytes (headers end at %d): not Truncated", cut, len(p), hdrEnd)
				}
				continue
			}
			want := full
			want.Payload, want.PayloadCap = e.Payload, e.PayloadCap
			if full.HasQuoted {
				want.HasQuoted, want.Quoted = e.HasQuoted, e.Quoted
			}
			if d := cmp.Diff(want, e, pktCmpOpts); d != "" {
				t.Fatalf("%d of %d bytes (headers end at %d) (-full +cut):\n%s", cut, len(p), hdrEnd, d)
			}
		}
	}
}

func TestDecodeZeroAlloc(t *testing.T) {
	frames := pktFrames(t)
	var e event.Event
	allocs := testing.AllocsPerRun(10, func() {
		for _, f := range frames {
			e.Reset()
			_ = DecodeEthernet(f, &e)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per run of %d frames", allocs, len(frames))
	}
}

func FuzzPacket(f *testing.F) {
	for _, fr := range pktFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e event.Event
		for i, err := range []error{DecodeEthernet(b, &e), func() error { e.Reset(); return DecodeIP(b, &e) }()} {
			if err != nil {
				continue
			}
			if i == 1 && e.IPVersion != 4 && e.IPVersion != 6 {
				t.Fatalf("decoded IP version %d", e.IPVersion)
			}
			if e.IPVersion != 0 && (!e.Src.IsValid() || !e.Dst.IsValid()) {
				t.Fatal("IP packet without addresses")
			}
			if int(e.PayloadCap) > event.MaxPayload || int(e.IPOptLen) > event.MaxIPOptions ||
				int(e.TCPOptLen) > event.MaxTCPOptions || int(e.ExtHdrLen) > event.MaxExtHeaders {
				t.Fatalf("array length out of range: %+v", e)
			}
			if e.PayloadCap > 0 && int(e.PayloadCap) > int(e.PayloadLen) {
				t.Fatalf("payload prefix %d longer than payload %d", e.PayloadCap, e.PayloadLen)
			}
		}
	})
}

func BenchmarkDecodeIP(b *testing.B) {
	pkts := pktIPPackets(b)
	var e event.Event
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range pkts {
			e.Reset()
			if err := DecodeIP(p, &e); err != nil {
				b.Fatal(err)
			}
		}
		n += len(pkts)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDecodeEthernet(b *testing.B) {
	frames := pktFrames(b)
	var e event.Event
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range frames {
			e.Reset()
			_ = DecodeEthernet(f, &e)
		}
		n += len(frames)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
