package pcap

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// captures made by scripts/capture-pcap.sh, with tshark's decoding beside each.
var captures = []string{"eth.pcap", "sll.pcap", "sll2.pcap", "raw.pcap", "nflog.pcap", "eth.pcapng", "nflog.pcapng", "mixed.pcapng"}

// linkKind tells from tshark's fields which link layer a record had.
func linkKind(r map[string]string) string {
	switch {
	case r["nflog.res_id"] != "":
		return "nflog"
	case r["eth.src"] != "":
		return "eth"
	case r["sll.etype"] != "":
		return "sll"
	}
	return "raw"
}

type rejectList struct{ recs []source.Rejected }

func (l *rejectList) Keep(r source.Rejected) { l.recs = append(l.recs, r) }

// readAll runs a Reader over path and returns its events and counters.
func readAll(t testing.TB, path string) ([]event.Event, source.Snapshot, []source.Rejected) {
	t.Helper()
	c := source.NewCounters("pcap")
	rej := &rejectList{}
	r, err := New(Config{Path: path, Sensor: "s1"}, rej, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan source.Batch, 4)
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background(), out) }()
	var evs []event.Event
	for {
		select {
		case b := <-out:
			evs = append(evs, b.Events...)
			c.AddStored(uint64(len(b.Events)))
			continue
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		}
		break
	}
	for {
		select {
		case b := <-out:
			evs = append(evs, b.Events...)
			c.AddStored(uint64(len(b.Events)))
			continue
		default:
		}
		break
	}
	return evs, c.Snapshot(), rej.recs
}

func readTSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	head := strings.Split(sc.Text(), "\t")
	var rows []map[string]string
	for sc.Scan() {
		vals := strings.Split(sc.Text(), "\t")
		if len(vals) != len(head) {
			t.Fatalf("%s: %d fields, header has %d", path, len(vals), len(head))
		}
		m := map[string]string{}
		for i, h := range head {
			m[h] = vals[i]
		}
		rows = append(rows, m)
	}
	return rows
}

// fields is what the test compares between tshark and darkscope.
type fields struct {
	Time               time.Time
	MACSrc, MACDst     string
	EtherType          uint16
	Group              uint16
	Prefix             string
	Src, Dst           netip.Addr
	Proto              uint8 // IPv4 protocol / IPv6 first next header
	TTL                uint8
	IPID               uint32
	TotalLen           uint16
	DF, MF             bool
	FragOff            uint16
	SrcPort, DstPort   uint16
	Seq, Ack           uint32
	Window             uint16
	Flags              uint8
	ICMPType, ICMPCode uint8
	HasICMP            bool
	QSrcPort, QDstPort uint16 // ports of the packet an ICMP error quotes
}

func num[T uint8 | uint16 | uint32](t *testing.T, s string) T {
	t.Helper()
	if s == "" {
		return 0
	}
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return T(v)
}

func mac(b [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

func fromTshark(t *testing.T, r map[string]string) fields {
	t.Helper()
	var f fields
	sec, frac, _ := strings.Cut(r["frame.time_epoch"], ".")
	s, _ := strconv.ParseInt(sec, 10, 64)
	ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	f.Time = time.Unix(s, ns).UTC()
	if ts := r["nflog.timestamp"]; ts != "" {
		tt, err := time.Parse("Jan 2, 2006 15:04:05.000000000 MST", ts)
		if err != nil {
			t.Fatal(err)
		}
		f.Time = tt.UTC()
	}
	switch linkKind(r) {
	case "eth":
		f.MACSrc, f.MACDst = r["eth.src"], r["eth.dst"]
	case "sll":
		f.MACSrc = r["sll.src.eth"]
		f.EtherType = num[uint16](t, r["sll.etype"])
	}
	f.Group = num[uint16](t, r["nflog.res_id"])
	f.Prefix = strings.TrimRight(r["nflog.prefix"], " ")
	if r["ip.src"] != "" {
		f.Src, f.Dst = netip.MustParseAddr(r["ip.src"]), netip.MustParseAddr(r["ip.dst"])
		f.Proto = num[uint8](t, r["ip.proto"])
		f.TTL = num[uint8](t, r["ip.ttl"])
		f.IPID = num[uint32](t, r["ip.id"])
		f.TotalLen = num[uint16](t, r["ip.len"])
		f.DF, f.MF = r["ip.flags.df"] == "1", r["ip.flags.mf"] == "1"
		f.FragOff = num[uint16](t, r["ip.frag_offset"])
	} else {
		f.Src, f.Dst = netip.MustParseAddr(r["ipv6.src"]), netip.MustParseAddr(r["ipv6.dst"])
		f.Proto = num[uint8](t, r["ipv6.nxt"])
		f.TTL = num[uint8](t, r["ipv6.hlim"])
		f.TotalLen = num[uint16](t, r["ipv6.plen"]) + 40
	}
	if r["icmp.type"] != "" || r["icmpv6.type"] != "" {
		// tshark's TCP/UDP fields of an ICMP packet are those of the quoted packet.
		f.QSrcPort = num[uint16](t, r["tcp.srcport"]) + num[uint16](t, r["udp.srcport"])
		f.QDstPort = num[uint16](t, r["tcp.dstport"]) + num[uint16](t, r["udp.dstport"])
	} else if r["tcp.srcport"] != "" {
		f.SrcPort, f.DstPort = num[uint16](t, r["tcp.srcport"]), num[uint16](t, r["tcp.dstport"])
		f.Seq, f.Ack = num[uint32](t, r["tcp.seq_raw"]), num[uint32](t, r["tcp.ack_raw"])
		f.Window = num[uint16](t, r["tcp.window_size_value"])
		f.Flags = uint8(num[uint16](t, r["tcp.flags"]))
	}
	if r["udp.srcport"] != "" && !f.HasICMP && r["icmp.type"] == "" && r["icmpv6.type"] == "" {
		f.SrcPort, f.DstPort = num[uint16](t, r["udp.srcport"]), num[uint16](t, r["udp.dstport"])
	}
	if r["icmp.type"] != "" {
		f.ICMPType, f.ICMPCode, f.HasICMP = num[uint8](t, r["icmp.type"]), num[uint8](t, r["icmp.code"]), true
	}
	if r["icmpv6.type"] != "" {
		f.ICMPType, f.ICMPCode, f.HasICMP = num[uint8](t, r["icmpv6.type"]), num[uint8](t, r["icmpv6.code"]), true
	}
	return f
}

func fromEvent(kind string, e *event.Event) fields {
	f := fields{Time: e.Time, Group: e.Group, Prefix: e.Prefix, Src: e.Src, Dst: e.Dst, TTL: e.TTL,
		TotalLen: e.TotalLen, SrcPort: e.SrcPort, DstPort: e.DstPort, Seq: e.Seq, Ack: e.Ack,
		Window: e.Window, Flags: uint8(e.Flags), ICMPType: e.ICMPType, ICMPCode: e.ICMPCode}
	f.Proto = uint8(e.Proto)
	if e.IPVersion == 6 && e.ExtHdrLen > 0 {
		f.Proto = e.ExtHdrs[0]
	}
	if e.IPVersion == 4 {
		f.IPID = e.IPID
		f.DF, f.MF = e.IPFlags&event.IPFlagDF != 0, e.IPFlags&event.IPFlagMF != 0
		f.FragOff = e.FragOff
	}
	f.HasICMP = e.Proto == event.ProtoICMP || e.Proto == event.ProtoICMPv6
	if e.HasQuoted {
		f.QSrcPort, f.QDstPort = e.Quoted.SrcPort, e.Quoted.DstPort
	}
	switch kind {
	case "eth":
		if e.HasMAC {
			f.MACSrc, f.MACDst = mac(e.MACSrc), mac(e.MACDst)
		}
	case "sll":
		f.MACSrc = mac(e.MACSrc)
		f.EtherType = e.EtherType
	}
	return f
}

// TestAgainstTshark decodes every real capture and compares each record's
// fields with tshark's decoding of the same file.
func TestAgainstTshark(t *testing.T) {
	for _, file := range captures {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", file)
			all := readTSV(t, path+".tshark.tsv")
			var rows []map[string]string // IP packets; the rest (ARP) must be ignored
			for _, r := range all {
				if r["ip.src"] != "" || r["ipv6.src"] != "" {
					rows = append(rows, r)
				}
			}
			evs, snap, rej := readAll(t, path)
			if len(evs) != len(rows) || len(rows) < 20 {
				t.Fatalf("%d events, tshark shows %d IP packets; counters %+v; rejects %+v", len(evs), len(rows), snap, rej)
			}
			if snap.Received != uint64(len(all)) || snap.Ignored != uint64(len(all)-len(rows)) || snap.RejectedTotal() != 0 || !snap.Balanced() {
				t.Errorf("counters %+v", snap)
			}
			frameTimeDiffers := 0
			for i, row := range rows {
				want := fromTshark(t, row)
				got := fromEvent(linkKind(row), &evs[i])
				if d := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); d != "" {
					t.Errorf("frame %s (-tshark +darkscope)\n%s", row["frame.number"], d)
				}
				if evs[i].Sensor != "s1" || evs[i].Source != "pcap:"+path {
					t.Errorf("frame %s: sensor %q source %q", row["frame.number"], evs[i].Sensor, evs[i].Source)
				}
				if linkKind(row) == "nflog" {
					if evs[i].Hook != event.HookPrerouting {
						t.Errorf("frame %s: hook %v", row["frame.number"], evs[i].Hook)
					}
					fs, _ := strconv.ParseFloat(row["frame.time_epoch"], 64)
					if d := evs[i].Time.Sub(time.Unix(0, int64(fs*1e9))); d < -time.Millisecond || d > time.Millisecond {
						frameTimeDiffers++
					}
				}
			}
			// libpcap stamps NFLOG records when it reads the kernel's batch;
			// the event time must be the packet's own NFULA_TIMESTAMP.
			if (strings.Contains(file, "nflog") || strings.Contains(file, "mixed")) && frameTimeDiffers == 0 {
				t.Error("every NFLOG event time equals the frame time: NFULA_TIMESTAMP not used?")
			}
		})
	}
}

// writePcap writes records with link type lt to a new file.
func writePcap(t testing.TB, path string, lt layers.LinkType, recs [][]byte, ts []time.Time) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts[i], CaptureLength: len(r), Length: len(r)}, r); err != nil {
			t.Fatal(err)
		}
	}
}

func records(t testing.TB, path string) ([][]byte, []time.Time) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	var ts []time.Time
	for {
		d, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		recs, ts = append(recs, d), append(ts, ci.Timestamp)
	}
	return recs, ts
}

// TestRawLinkTypeVariants: raw IP stored as link type 12 or 14 (as some
// systems write DLT_RAW) decodes exactly like LINKTYPE_RAW.
func TestRawLinkTypeVariants(t *testing.T) {
	recs, ts := records(t, "testdata/raw.pcap")
	base, _, _ := readAll(t, "testdata/raw.pcap")
	for _, lt := range []layers.LinkType{12, 14, 228} {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("lt%d.pcap", lt))
		if lt == 228 { // LINKTYPE_IPV4: only the IPv4 packets
			var r4 [][]byte
			var t4 []time.Time
			for i, r := range recs {
				if r[0]>>4 == 4 {
					r4, t4 = append(r4, r), append(t4, ts[i])
				}
			}
			writePcap(t, path, lt, r4, t4)
		} else {
			writePcap(t, path, lt, recs, ts)
		}
		got, snap, _ := readAll(t, path)
		var want []event.Event
		for _, e := range base {
			if lt != 228 || e.IPVersion == 4 {
				e.Source = "pcap:" + path
				want = append(want, e)
			}
		}
		if d := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); d != "" || !snap.Balanced() {
			t.Errorf("link type %d (-raw +got)\n%s\ncounters %+v", lt, d, snap)
		}
	}
}

// TestBadInput: non-IP frames are ignored, malformed ones rejected and kept
// with their record number, a file cut inside a record ends the import with
// that record rejected; nothing stops the import early.
func TestBadInput(t *testing.T) {
	recs, ts := records(t, "testdata/eth.pcap")
	arp := append(bytes.Repeat([]byte{0xff}, 6), 2, 0, 0, 0, 0x98, 2, 0x08, 0x06)
	arp = append(arp, make([]byte, 28)...)
	short := append(append([]byte{}, recs[0][:14]...), 0x45, 0) // IPv4 header cut short
	short[12], short[13] = 0x08, 0x00
	in := [][]byte{recs[0], arp, short, recs[1], recs[2]}
	its := []time.Time{ts[0], ts[0], ts[0], ts[1], ts[2]}
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.pcap")
	writePcap(t, path, layers.LinkTypeEthernet, in, its)
	evs, snap, rej := readAll(t, path)
	if len(evs) != 3 || snap.Received != 5 || snap.Ignored != 1 || snap.Rejected["truncated_ip_header"] != 1 || !snap.Balanced() {
		t.Errorf("%d events, counters %+v", len(evs), snap)
	}
	if len(rej) != 1 || rej[0].Line != 3 || rej[0].Source != "pcap:"+path || rej[0].Raw != fmt.Sprintf("%x", short) {
		t.Errorf("rejects %+v", rej)
	}

	// Cut the file inside its last record.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, b[:len(b)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	evs, snap, rej = readAll(t, cut)
	if len(evs) != 2 || snap.Received != 5 || snap.Rejected[ReasonTruncatedRecord] != 1 || !snap.Balanced() {
		t.Errorf("cut file: %d events, counters %+v", len(evs), snap)
	}
	if len(rej) != 2 || rej[1].Line != 5 || rej[1].Reason != ReasonTruncatedRecord {
		t.Errorf("cut file rejects %+v", rej)
	}

	// NFLOG records with a TLV running past the record, or without payload.
	nrecs, nts := records(t, "testdata/nflog.pcap")
	bad := append([]byte{}, nrecs[0]...)
	binary.LittleEndian.PutUint16(bad[4:], uint16(len(bad)+4))
	noPayload := []byte{2, 0, 0, 5, 8, 0, nfulaPrefix, 0, 'x', 0, 0, 0}
	npath := filepath.Join(dir, "nflog.pcap")
	writePcap(t, npath, layers.LinkType(LinkNFLOG), [][]byte{bad, noPayload, nrecs[1]}, nts[:3])
	evs, snap, _ = readAll(t, npath)
	if len(evs) != 1 || snap.Rejected[ReasonBadNflogTLV] != 1 || snap.Rejected[ReasonNflogNoPayload] != 1 || !snap.Balanced() {
		t.Errorf("nflog: %d events, counters %+v", len(evs), snap)
	}
}

// TestNflogBigEndianFile: a LINKTYPE_NFLOG file written on a big-endian
// host has big-endian headers and TLV lengths and types (libpcap writes them
// in host order); it decodes to the same events as the little-endian one.
func TestNflogBigEndianFile(t *testing.T) {
	le, err := os.ReadFile("testdata/nflog.pcap")
	if err != nil {
		t.Fatal(err)
	}
	be := append([]byte{}, le...)
	sw32 := func(b []byte) { binary.BigEndian.PutUint32(b, binary.LittleEndian.Uint32(b)) }
	sw16 := func(b []byte) { binary.BigEndian.PutUint16(b, binary.LittleEndian.Uint16(b)) }
	sw32(be[0:])
	sw16(be[4:])
	sw16(be[6:])
	for o := 8; o < 24; o += 4 {
		sw32(be[o:])
	}
	n := 0
	for off := 24; off+16 <= len(be); n++ {
		incl := int(binary.LittleEndian.Uint32(le[off+8:]))
		for o := off; o < off+16; o += 4 {
			sw32(be[o:])
		}
		rec := be[off+16 : off+16+incl]
		for t := 4; t+4 <= len(rec); {
			l := int(binary.LittleEndian.Uint16(rec[t:]))
			sw16(rec[t:])
			sw16(rec[t+2:])
			t += (l + 3) &^ 3
		}
		off += 16 + incl
	}
	path := filepath.Join(t.TempDir(), "nflog-be.pcap")
	if err := os.WriteFile(path, be, 0o600); err != nil {
		t.Fatal(err)
	}
	want, _, _ := readAll(t, "testdata/nflog.pcap")
	got, snap, _ := readAll(t, path)
	for i := range want {
		want[i].Source = "pcap:" + path
	}
	if len(want) != n || !snap.Balanced() {
		t.Fatalf("%d records, %d events; counters %+v", n, len(want), snap)
	}
	if d := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); d != "" {
		t.Errorf("(-little-endian +big-endian)\n%s", d)
	}
}

// TestPcapngUnsupportedInterface: records of a pcapng interface with a link
// type the reader does not decode are counted as ignored, the others decoded.
func TestPcapngUnsupportedInterface(t *testing.T) {
	recs, ts := records(t, "testdata/eth.pcap")
	path := filepath.Join(t.TempDir(), "two.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	ppp, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypePPP, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		ci := gopacket.CaptureInfo{Timestamp: ts[i], CaptureLength: len(recs[i]), Length: len(recs[i])}
		if i%2 == 1 {
			ci.InterfaceIndex = ppp
		}
		if err := w.WritePacket(ci, recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	evs, snap, _ := readAll(t, path)
	if len(evs) != 2 || snap.Received != 4 || snap.Ignored != 2 || !snap.Balanced() || !evs[1].Time.Equal(ts[2]) {
		t.Errorf("%d events, counters %+v", len(evs), snap)
	}
}

func TestIsPcapAndOpen(t *testing.T) {
	for _, f := range captures {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if !IsPcap(b[:12]) {
			t.Errorf("%s not recognised", f)
		}
	}
	ns := []byte{0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0}
	be := []byte{0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4}
	if !IsPcap(ns) || !IsPcap(be) {
		t.Error("nanosecond or big-endian magic not recognised")
	}
	for _, junk := range [][]byte{nil, []byte("Nov 23 10:00:00 h kernel: x"), []byte(`{"timestamp":1}`), {0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 1, 2, 3, 4}} {
		if IsPcap(junk) {
			t.Errorf("%q recognised as pcap", junk)
		}
	}
	dir := t.TempDir()
	txt := filepath.Join(dir, "kern.log")
	os.WriteFile(txt, []byte("Nov 23 10:00:00 h kernel: x\n"), 0o600)
	var perm *source.Permanent
	if _, err := New(Config{Path: txt}, nil, source.NewCounters("x"), nil); !errors.As(err, &perm) {
		t.Errorf("text file: %v, want a Permanent error", err)
	}
	if _, err := New(Config{Path: filepath.Join(dir, "missing.pcap")}, nil, source.NewCounters("x"), nil); !errors.As(err, &perm) {
		t.Errorf("missing file: %v, want a Permanent error", err)
	}
	// A gzip-compressed capture reads like the plain one.
	b, _ := os.ReadFile("testdata/sll2.pcap")
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(b)
	zw.Close()
	gz := filepath.Join(dir, "sll2.pcap.gz")
	os.WriteFile(gz, zb.Bytes(), 0o600)
	plain, _, _ := readAll(t, "testdata/sll2.pcap")
	got, _, _ := readAll(t, gz)
	if len(got) != len(plain) || got[5].Src != plain[5].Src || !got[5].Time.Equal(plain[5].Time) {
		t.Errorf("gzip: %d events, plain %d", len(got), len(plain))
	}
	// An unsupported link type is a permanent error naming it.
	unsup := filepath.Join(dir, "ppp.pcap")
	writePcap(t, unsup, layers.LinkTypePPP, nil, nil)
	r, err := New(Config{Path: unsup}, nil, source.NewCounters("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), make(chan source.Batch)); !errors.As(err, &perm) || !strings.Contains(err.Error(), "link type 9") {
		t.Errorf("PPP file: %v", err)
	}
}

// FuzzFrame feeds arbitrary records of every supported link type to the
// decoder: no panic, and a decoded event is IPv4 or IPv6 with addresses.
func FuzzFrame(f *testing.F) {
	for _, file := range []string{"eth.pcap", "sll.pcap", "sll2.pcap", "raw.pcap", "nflog.pcap"} {
		recs, _ := records(f, filepath.Join("testdata", file))
		r, _ := os.Open(filepath.Join("testdata", file))
		pr, _ := pcapgo.NewReader(r)
		lt := uint16(pr.LinkType())
		r.Close()
		for _, rec := range recs[:min(len(recs), 8)] {
			f.Add(lt, rec)
		}
	}
	d := newDecoder("s", "fuzz", binary.LittleEndian)
	f.Fuzz(func(t *testing.T, lt uint16, data []byte) {
		var e event.Event
		err := d.decode(layers.LinkType(lt), data, time.Unix(1, 0), &e)
		if err == nil && (e.IPVersion != 4 && e.IPVersion != 6 || !e.Src.IsValid() || !e.Dst.IsValid()) {
			t.Fatalf("decoded without IP: %+v", e)
		}
	})
}

// BenchmarkReadPcap reads a 100k-record Ethernet capture end to end (file,
// pcapgo, link and IP decoding, batching).
func BenchmarkReadPcap(b *testing.B) {
	recs, ts := records(b, "testdata/eth.pcap")
	var all [][]byte
	var allTS []time.Time
	for len(all) < 100_000 {
		for i, r := range recs {
			if et := binary.BigEndian.Uint16(r[12:]); et == 0x0800 || et == 0x86dd { // IP only, no ARP
				all, allTS = append(all, r), append(allTS, ts[i])
			}
		}
	}
	path := filepath.Join(b.TempDir(), "big.pcap")
	writePcap(b, path, layers.LinkTypeEthernet, all, allTS)
	c := source.NewCounters("bench")
	r, err := New(Config{Path: path}, nil, c, nil)
	if err != nil {
		b.Fatal(err)
	}
	out := make(chan source.Batch, 16)
	go func() {
		for bt := range out {
			source.ReleaseEvents(bt.Events)
		}
	}()
	defer close(out)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Run(context.Background(), out); err != nil {
			b.Fatal(err)
		}
		n += len(all)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	if s := c.Snapshot(); s.Received != uint64(n) || s.Ignored+s.RejectedTotal() != 0 {
		b.Fatalf("counters %+v", s)
	}
}
