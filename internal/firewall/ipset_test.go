package firewall

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

// listMessage builds the data of an ipset list reply the way the kernel
// lays it out (ip_set_core.c, ip_set_hash_gen.h; byte for byte what
// TestIpsetsKernel reads back): nfgenmsg, PROTOCOL, SETNAME, TYPENAME,
// REVISION, FAMILY, then ADT with one DATA per element holding IP
// {IPADDR}, CIDR, TIMEOUT and COMMENT. Attributes are written by hand, not
// with the encoder the code under test uses.
func listMessage(elems ...[]byte) []byte {
	msg := []byte{2, 0, 0, 0}
	msg = append(msg, attr(1, []byte{7})...)
	msg = append(msg, attr(2, []byte("darkscope-block4\x00"))...)
	msg = append(msg, attr(3, []byte("hash:net\x00"))...)
	msg = append(msg, attr(5, []byte{2})...)
	var adt []byte
	for _, e := range elems {
		adt = append(adt, attr(7|nested, e)...)
	}
	return append(msg, attr(8|nested, adt)...)
}

// Netlink attribute flags, and one attribute in host byte order, padded.
const nested, netOrder = 0x8000, 0x4000

func attr(typ uint16, payload []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// elem is one DATA container: address, prefix length, timeout, comment.
func elem(addr string, cidr uint8, timeout uint32, comment string) []byte {
	a := netip.MustParseAddr(addr)
	typ := uint16(1)
	if a.Is6() {
		typ = 2
	}
	e := attr(1|nested, attr(typ|netOrder, a.AsSlice()))
	e = append(e, attr(3, []byte{cidr})...)
	e = append(e, attr(6|netOrder, binary.BigEndian.AppendUint32(nil, timeout))...)
	if comment != "" {
		e = append(e, attr(26, []byte(comment+"\x00"))...)
	}
	return e
}

func TestDecodeIpsetList(t *testing.T) {
	data := listMessage(
		elem("10.99.50.1", 32, 3599, "darkscope: abuse report"),
		elem("10.99.50.0", 24, 0, "x y"),
		elem("10.99.49.0", 25, 7, ""),
	)
	got, err := decodeIpsetList(data, false)
	if err != nil {
		t.Fatal(err)
	}
	sortElements(got)
	want := []Element{
		{Prefix: netip.MustParsePrefix("10.99.49.0/25"), Timeout: 7 * time.Second, Expires: 7 * time.Second},
		{Prefix: netip.MustParsePrefix("10.99.50.0/24"), Comment: "x y"},
		{Prefix: netip.MustParsePrefix("10.99.50.1/32"), Timeout: 3599 * time.Second, Expires: 3599 * time.Second, Comment: "darkscope: abuse report"},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("decodeIpsetList (-want +got):\n%s", diff)
	}
	v6, err := decodeIpsetList(listMessage(elem("fd99:50::", 64, 4, "")), true)
	if err != nil || len(v6) != 1 || v6[0].Prefix.String() != "fd99:50::/64" {
		t.Errorf("IPv6: %+v, %v", v6, err)
	}
	// The header-only first message of a dump holds no elements.
	if els, err := decodeIpsetList(listMessage(), false); err != nil || len(els) != 0 {
		t.Errorf("header only: %+v, %v", els, err)
	}
	for name, bad := range map[string][]byte{
		"IPv6 in an IPv4 set": listMessage(elem("fd99::1", 128, 0, "")),
		"prefix too long":     listMessage(elem("10.99.50.1", 33, 0, "")),
		"short":               {2, 0},
		"truncated attribute": listMessage(elem("10.99.50.1", 32, 0, ""))[:30],
	} {
		if _, err := decodeIpsetList(bad, false); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

// TestEncodeIpsetElement: the add request carries exactly the attributes
// the kernel parses (checked by decoding it as a list container).
func TestEncodeIpsetElement(t *testing.T) {
	b, err := encodeIpsetElement("darkscope-block6", netip.MustParsePrefix("fd99:50::/64"), 60, "why", true)
	if err != nil {
		t.Fatal(err)
	}
	// Wrap the DATA attribute in an ADT container and decode it.
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var data []byte
	for ad.Next() {
		switch ad.Type() {
		case 1:
			if ad.Uint8() != 7 {
				t.Error("protocol != 7")
			}
		case 2:
			names = append(names, ad.String())
		case 7:
			if ad.TypeFlags()&netlink.Nested == 0 {
				t.Error("DATA without the nested flag")
			}
			data = ad.Bytes()
		}
	}
	if len(names) != 1 || names[0] != "darkscope-block6" || data == nil {
		t.Fatalf("names %v, data %v", names, data)
	}
	msg := listMessage(data)
	els, err := decodeIpsetList(msg, true)
	if err != nil || len(els) != 1 || els[0].Prefix.String() != "fd99:50::/64" || els[0].Timeout != time.Minute || els[0].Comment != "why" {
		t.Errorf("decoded %+v, %v", els, err)
	}
	del, err := encodeIpsetElement("darkscope-block4", netip.MustParsePrefix("10.99.50.1/32"), 60, "why", false)
	if err != nil || len(del) >= len(b) {
		t.Errorf("delete request keeps timeout/comment: %d vs %d bytes, %v", len(del), len(b), err)
	}
}

// FuzzDecodeIpsetList: no input panics, and every element returned is a
// valid, masked prefix of the set's family.
func FuzzDecodeIpsetList(f *testing.F) {
	f.Add(listMessage(elem("10.99.50.1", 32, 3599, "c"), elem("10.99.50.0", 24, 0, "")), false)
	f.Add(listMessage(elem("fd99::", 64, 1, "")), true)
	f.Add([]byte{2, 0, 0, 0, 4, 0, 8, 0x80}, false)
	f.Fuzz(func(t *testing.T, data []byte, v6 bool) {
		els, err := decodeIpsetList(data, v6)
		if err != nil {
			return
		}
		for _, e := range els {
			if !e.Prefix.IsValid() || e.Prefix != e.Prefix.Masked() || e.Prefix.Addr().Is6() != v6 || e.Timeout < 0 {
				t.Fatalf("bad element %+v", e)
			}
		}
	})
}

func TestIpsetTimeout(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want uint32
		err  bool
	}{
		{0, 0, false},
		{time.Millisecond, 1, false},
		{1500 * time.Millisecond, 2, false},
		{time.Hour, 3600, false},
		{MaxIpsetTimeout, 2147483, false},
		{MaxIpsetTimeout + 1, 0, true},
		{-time.Second, 0, true},
	}
	for _, tc := range tests {
		got, err := ipsetTimeout(tc.d)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ipsetTimeout(%s) = %d, %v; want %d, error %v", tc.d, got, err, tc.want, tc.err)
		}
	}
}

func TestIpsetComment(t *testing.T) {
	if got := ipsetComment("darkscope: \"x\"\n\tü"); got != "darkscope: _x_____" {
		t.Errorf("ipsetComment = %q", got)
	}
	if got := ipsetComment(strings.Repeat("a", 300)); len(got) != MaxElementComment {
		t.Errorf("long comment kept %d bytes, want %d", len(got), MaxElementComment)
	}
}

// TestIpsetNames: every name ipset must take (with the temporary name of
// a rebuild) has at most 31 characters, and IpsetName agrees with the list.
func TestIpsetNames(t *testing.T) {
	var fromKinds []string
	for _, k := range []SetKind{Allow, Block, Redirect} {
		for _, v6 := range []bool{false, true} {
			n, err := IpsetName(k, v6)
			if err != nil {
				t.Fatal(err)
			}
			fromKinds = append(fromKinds, n)
		}
	}
	if diff := cmp.Diff(ipsetNames[:], fromKinds); diff != "" {
		t.Errorf("IpsetName vs ipsetNames (-list +kinds):\n%s", diff)
	}
	for _, n := range ipsetNames {
		if len(n+ipsetResizeSuffix) > 31 {
			t.Errorf("%s%s is longer than 31 characters", n, ipsetResizeSuffix)
		}
	}
	if _, err := IpsetName(SetKind(9), false); err == nil {
		t.Error("unknown kind: want an error")
	}
}

// ipsetTerseOutput is `ipset list -t` (ipset 7.17) with one of darkscope's
// sets created with another size cap and one set of someone else.
const ipsetTerseOutput = `Name: darkscope-block4
Type: hash:net
Revision: 7
Header: family inet hashsize 1024 maxelem 1000 timeout 0 comment bucketsize 12 initval 0x95179805
Size in memory: 756
References: 1
Number of entries: 3
Name: other
Type: hash:ip
Revision: 6
Header: family inet hashsize 1024 maxelem 65536 timeout 0 bucketsize 12 initval 0x1
Size in memory: 200
References: 0
Number of entries: 0
`

func TestIpsetHeaders(t *testing.T) {
	h := parseIpsetTerse(ipsetTerseOutput)
	if len(h) != 2 || h["darkscope-block4"].typ != "hash:net" || h["other"].typ != "hash:ip" {
		t.Fatalf("parseIpsetTerse = %+v", h)
	}
	b := h["darkscope-block4"]
	if !ipsetHeaderMatches(b, ipsetCreate("darkscope-block4", 1000)) {
		t.Error("same size: want a match")
	}
	if ipsetHeaderMatches(b, ipsetCreate("darkscope-block4", 2000)) {
		t.Error("other size: want no match")
	}
	if ipsetHeaderMatches(ipsetHeader{typ: "hash:net", header: "family inet maxelem 1000 timeout 0"}, ipsetCreate("darkscope-block4", 1000)) {
		t.Error("no comment extension: want no match")
	}
	if ipsetHeaderMatches(ipsetHeader{typ: "hash:net", header: "family inet maxelem 1000 timeout 0 comment"}, ipsetCreate("darkscope-block6", 1000)) {
		t.Error("IPv4 set for an IPv6 name: want no match")
	}
	if ipsetHeaderMatches(h["other"], ipsetCreate("other", 65536)) {
		t.Error("hash:ip: want no match")
	}
}

func TestIpsetScriptGolden(t *testing.T) {
	for _, tc := range goldenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			got, err := IpsetScript(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".ipset", got)
		})
	}
	if _, err := IpsetScript(RulesConfig{}); err == nil {
		t.Error("invalid config: want an error")
	}
}
