package firewall

import (
	"math/big"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBounds(t *testing.T) {
	tests := []struct {
		p, start, end string // end "" = open
	}{
		{"10.0.0.0/24", "10.0.0.0", "10.0.1.0"},
		{"192.0.2.7/32", "192.0.2.7", "192.0.2.8"},
		{"10.255.255.255/32", "10.255.255.255", "11.0.0.0"},
		{"255.255.255.254/31", "255.255.255.254", ""},
		{"0.0.0.0/0", "0.0.0.0", ""},
		{"2001:db8::/64", "2001:db8::", "2001:db8:0:1::"},
		{"2001:db8::ffff/128", "2001:db8::ffff", "2001:db8::1:0"},
	}
	for _, tc := range tests {
		s, e, open := bounds(netip.MustParsePrefix(tc.p))
		gs, _ := netip.AddrFromSlice(s)
		got := []string{gs.String(), ""}
		if !open {
			ge, _ := netip.AddrFromSlice(e)
			got[1] = ge.String()
		}
		if diff := cmp.Diff([]string{tc.start, tc.end}, got); diff != "" {
			t.Errorf("bounds(%s) (-want +got):\n%s", tc.p, diff)
		}
	}
}

func TestRangePrefixes(t *testing.T) {
	tests := []struct {
		start, end string
		want       []string
	}{
		{"10.99.60.0", "10.99.60.11", []string{"10.99.60.0/29", "10.99.60.8/31", "10.99.60.10/32"}},
		{"10.0.0.0", "10.0.1.0", []string{"10.0.0.0/24"}},
		{"10.0.0.1", "10.0.0.4", []string{"10.0.0.1/32", "10.0.0.2/31"}},
		{"255.255.255.0", "", []string{"255.255.255.0/24"}},
		{"0.0.0.0", "", []string{"0.0.0.0/0"}},
		{"fd99::", "fd99:0:0:1::", []string{"fd99::/64"}},
	}
	for _, tc := range tests {
		var end netip.Addr
		if tc.end != "" {
			end = netip.MustParseAddr(tc.end)
		}
		var got []string
		for _, p := range rangePrefixes(netip.MustParseAddr(tc.start), end) {
			got = append(got, p.String())
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("rangePrefixes(%s, %s) (-want +got):\n%s", tc.start, tc.end, diff)
		}
	}
}

// FuzzRangePrefixes: the prefixes are aligned, contiguous and cover exactly
// [start, end); bounds of each prefix gives back its piece.
func FuzzRangePrefixes(f *testing.F) {
	f.Add(uint32(0x0a000000), uint32(300))
	f.Add(uint32(0xfffffff0), uint32(16))
	f.Fuzz(func(t *testing.T, start, n uint32) {
		n %= 1 << 20
		if n == 0 {
			return
		}
		hi := uint64(start) + uint64(n)
		var end netip.Addr
		if hi < 1<<32 {
			end = netip.AddrFrom4([4]byte{byte(hi >> 24), byte(hi >> 16), byte(hi >> 8), byte(hi)})
		} else if hi > 1<<32 {
			return
		}
		s := netip.AddrFrom4([4]byte{byte(start >> 24), byte(start >> 16), byte(start >> 8), byte(start)})
		next := new(big.Int).SetUint64(uint64(start))
		for _, p := range rangePrefixes(s, end) {
			if p != p.Masked() {
				t.Fatalf("unaligned %s", p)
			}
			b, e, open := bounds(p)
			if new(big.Int).SetBytes(b).Cmp(next) != 0 {
				t.Fatalf("gap or overlap at %s", p)
			}
			if open {
				next.SetUint64(1 << 32)
			} else {
				next.SetBytes(e)
			}
		}
		if next.Uint64() != hi {
			t.Fatalf("covered up to %d, want %d", next.Uint64(), hi)
		}
	})
}
