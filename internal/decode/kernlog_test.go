package decode

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/darkscope/darkscope/internal/event"
)

var klCmpAddr = cmpopts.EquateComparable(netip.Addr{})

var klUpdate = flag.Bool("update", false, "rewrite the kernel LOG golden files in testdata/kernlog")

// klView is the stable JSON rendering of a decoded Event used by the golden
// files: only what a LOG line can carry, zero values omitted.
type klView struct {
	Time       string        `json:"time,omitempty"`
	Uptime     string        `json:"uptime,omitempty"`
	Sensor     string        `json:"sensor,omitempty"`
	Prefix     string        `json:"prefix"`
	In         string        `json:"in,omitempty"`
	Out        string        `json:"out,omitempty"`
	MACSrc     string        `json:"mac_src,omitempty"`
	MACDst     string        `json:"mac_dst,omitempty"`
	EtherType  string        `json:"ethertype,omitempty"`
	MACRaw     string        `json:"mac_raw,omitempty"`
	IPVersion  uint8         `json:"ip_version,omitempty"`
	Src        string        `json:"src_ip,omitempty"`
	Dst        string        `json:"dst_ip,omitempty"`
	Proto      string        `json:"proto,omitempty"`
	IHL        uint8         `json:"ihl,omitempty"`
	TotalLen   uint16        `json:"len,omitempty"`
	TOS        uint8         `json:"tos,omitempty"`
	TTL        uint8         `json:"ttl,omitempty"`
	IPID       uint32        `json:"ip_id,omitempty"`
	IPFlags    string        `json:"ip_flags,omitempty"`
	FragOff    uint16        `json:"frag_off,omitempty"`
	FlowLabel  uint32        `json:"flow_label,omitempty"`
	IPOptions  string        `json:"ip_options,omitempty"`
	ExtHdrs    []int         `json:"ext_hdrs,omitempty"`
	SrcPort    uint16        `json:"src_port,omitempty"`
	DstPort    uint16        `json:"dst_port,omitempty"`
	Seq        *uint32       `json:"seq,omitempty"`
	Ack        *uint32       `json:"ack,omitempty"`
	Window     uint16        `json:"window,omitempty"`
	TCPFlags   string        `json:"tcp_flags,omitempty"`
	Reserved   uint8         `json:"reserved,omitempty"`
	Urgent     uint16        `json:"urgent,omitempty"`
	TCPOptions string        `json:"tcp_options,omitempty"`
	UDPLen     uint16        `json:"udp_len,omitempty"`
	PayloadLen uint16        `json:"payload_len,omitempty"`
	ICMPType   *uint8        `json:"icmp_type,omitempty"`
	ICMPCode   *uint8        `json:"icmp_code,omitempty"`
	ICMPID     uint16        `json:"icmp_id,omitempty"`
	ICMPSeq    uint16        `json:"icmp_seq,omitempty"`
	ICMPMTU    uint32        `json:"icmp_mtu,omitempty"`
	Gateway    string        `json:"icmp_gateway,omitempty"`
	Quoted     *event.Quoted `json:"quoted,omitempty"`
	Mark       *uint32       `json:"mark,omitempty"`
	UID        *uint32       `json:"uid,omitempty"`
	GID        *uint32       `json:"gid,omitempty"`
	Truncated  bool          `json:"truncated,omitempty"`
}

func klMAC(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

func klAddrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// klRender renders e for the golden files.
func klRender(e *event.Event) klView {
	v := klView{
		Prefix: e.Prefix, In: e.InIface, Out: e.OutIface, Sensor: e.Sensor,
		IPVersion: e.IPVersion, Src: klAddrString(e.Src), Dst: klAddrString(e.Dst),
		IHL: e.IHL, TotalLen: e.TotalLen, TOS: e.TOS, TTL: e.TTL, IPID: e.IPID,
		FragOff: e.FragOff, FlowLabel: e.FlowLabel,
		SrcPort: e.SrcPort, DstPort: e.DstPort, Window: e.Window, Reserved: e.Reserved,
		Urgent: e.Urgent, UDPLen: e.UDPLen, PayloadLen: e.PayloadLen,
		ICMPID: e.ICMPID, ICMPSeq: e.ICMPSeq, ICMPMTU: e.ICMPMTU, Gateway: klAddrString(e.ICMPGateway),
		Truncated: e.Truncated,
	}
	if !e.Time.IsZero() {
		v.Time = e.Time.Format(time.RFC3339Nano)
	}
	if e.Uptime != 0 {
		v.Uptime = e.Uptime.String()
	}
	if e.HasMAC {
		v.MACSrc, v.MACDst = klMAC(e.MACSrc), klMAC(e.MACDst)
		v.EtherType = fmt.Sprintf("%04x", e.EtherType)
	} else if e.EtherType != 0 {
		v.EtherType = fmt.Sprintf("%04x", e.EtherType)
	}
	if e.MACRawLen > 0 {
		v.MACRaw = hex.EncodeToString(e.MACRaw[:e.MACRawLen])
	}
	if e.Proto != 0 || e.IPVersion != 0 {
		v.Proto = e.Proto.String()
	}
	var fl []string
	for _, f := range []struct {
		bit  uint8
		name string
	}{{event.IPFlagCE, "CE"}, {event.IPFlagDF, "DF"}, {event.IPFlagMF, "MF"}} {
		if e.IPFlags&f.bit != 0 {
			fl = append(fl, f.name)
		}
	}
	v.IPFlags = strings.Join(fl, " ")
	v.IPOptions = hex.EncodeToString(e.IPOpts())
	for _, h := range e.ExtHdrs[:e.ExtHdrLen] {
		v.ExtHdrs = append(v.ExtHdrs, int(h))
	}
	if e.HasSeq {
		seq, ack := e.Seq, e.Ack
		v.Seq, v.Ack = &seq, &ack
	}
	v.TCPFlags = e.Flags.String()
	v.TCPOptions = hex.EncodeToString(e.TCPOpts())
	if (e.Proto == event.ProtoICMP || e.Proto == event.ProtoICMPv6) && e.FragOff == 0 {
		t, c := e.ICMPType, e.ICMPCode
		v.ICMPType, v.ICMPCode = &t, &c
	}
	if e.HasQuoted {
		q := e.Quoted
		v.Quoted = &q
	}
	if e.HasMark {
		m := e.Mark
		v.Mark = &m
	}
	if e.HasUID {
		u, g := e.UID, e.GID
		v.UID, v.GID = &u, &g
	}
	return v
}

// klResult is one golden line: the decoded event, or why there is none.
type klResult struct {
	Line    int      `json:"line"`
	Seq     uint64   `json:"kmsg_seq,omitempty"`
	Ignored bool     `json:"ignored,omitempty"`
	Error   string   `json:"error,omitempty"`
	Event   *klView  `json:"event,omitempty"`
	Raw     struct{} `json:"-"`
}

func klReadLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// klTestNow places the classic syslog stamps of the capture in the year the
// capture was made: the RFC 3339 file of the same capture carries the year.
func klTestNow(t testing.TB, dir string) time.Time {
	t.Helper()
	lines := klReadLines(t, filepath.Join(dir, "rfc3339.log"))
	if len(lines) == 0 {
		t.Fatal("rfc3339.log is empty")
	}
	stamp, _, _ := bytes.Cut(lines[len(lines)-1], []byte(" "))
	ts, err := time.Parse(time.RFC3339Nano, string(stamp))
	if err != nil {
		t.Fatal(err)
	}
	return ts.Add(time.Hour)
}

func klNewTestParser(t testing.TB, now time.Time) *KernLogParser {
	t.Helper()
	p, err := NewKernLogParser(KernLogConfig{Location: time.UTC, Now: func() time.Time { return now }, Sensor: "cfg-sensor"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// klDecodeFile decodes every line of a testdata file: kmsg.log as /dev/kmsg
// records, the others as log lines.
func klDecodeFile(t testing.TB, p *KernLogParser, path string) []klResult {
	t.Helper()
	kmsg := filepath.Base(path) == "kmsg.log"
	var out []klResult
	var e event.Event
	for i, line := range klReadLines(t, path) {
		r := klResult{Line: i + 1}
		var err error
		if kmsg {
			r.Seq, _, err = p.ParseKmsg(line, &e)
		} else {
			err = p.ParseLine(line, &e)
		}
		var pe *ParseError
		switch {
		case errors.Is(err, ErrNotFirewall):
			r.Ignored = true
		case errors.As(err, &pe):
			r.Error = pe.Reason
		case err != nil:
			t.Fatalf("%s:%d: error of unexpected type %T: %v", path, i+1, err, err)
		default:
			v := klRender(&e)
			r.Event = &v
		}
		out = append(out, r)
	}
	return out
}

func TestKernLogGolden(t *testing.T) {
	dir := filepath.Join("testdata", "kernlog")
	inputs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs in %s (run scripts/capture-kernlog.sh): %v", dir, err)
	}
	now := klTestNow(t, dir)
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			res := klDecodeFile(t, klNewTestParser(t, now), in)
			var buf bytes.Buffer
			for _, r := range res {
				b, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				buf.Write(b)
				buf.WriteByte('\n')
			}
			golden := in + ".json"
			if *klUpdate {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s differs from the decoded lines (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestKernLogFormatsAgree checks that one captured message decodes to the
// same event whatever wrapping carried it: /dev/kmsg record, classic syslog,
// RFC 3339, journal short-iso and short-iso-precise; and that the times of the
// wrappings and the kmsg uptime agree.
func TestKernLogFormatsAgree(t *testing.T) {
	dir := filepath.Join("testdata", "kernlog")
	now := klTestNow(t, dir)
	files := []string{"kmsg.log", "syslog.log", "rfc3339.log", "journal-short-iso.log", "journal-iso-precise.log"}
	decoded := map[string][]event.Event{}
	errs := map[string][]error{}
	for _, f := range files {
		p := klNewTestParser(t, now)
		var evs []event.Event
		var es []error
		for _, line := range klReadLines(t, filepath.Join(dir, f)) {
			var e event.Event
			var err error
			if f == "kmsg.log" {
				_, _, err = p.ParseKmsg(line, &e)
			} else {
				err = p.ParseLine(line, &e)
			}
			evs = append(evs, e)
			es = append(es, err)
		}
		decoded[f], errs[f] = evs, es
	}
	n := len(decoded["kmsg.log"])
	if n < 100 {
		t.Fatalf("only %d captured records; the capture should hold a few hundred", n)
	}
	stored := 0
	for i := 0; i < n; i++ {
		k := decoded["kmsg.log"][i]
		for _, f := range files[1:] {
			if len(decoded[f]) != n {
				t.Fatalf("%s has %d lines, kmsg.log %d", f, len(decoded[f]), n)
			}
			if (errs[f][i] == nil) != (errs["kmsg.log"][i] == nil) {
				t.Fatalf("line %d: %s error %v, kmsg error %v", i+1, f, errs[f][i], errs["kmsg.log"][i])
			}
			if errs[f][i] != nil {
				continue
			}
			o := decoded[f][i]
			if o.Sensor != "dscap-sensor" {
				t.Errorf("%s line %d: sensor %q, want the host field", f, i+1, o.Sensor)
			}
			if o.Time.IsZero() || o.Time.Location() != time.UTC {
				t.Errorf("%s line %d: time %v, want a UTC time", f, i+1, o.Time)
			}
			ref := decoded["rfc3339.log"][i].Time
			want := ref
			if f == "syslog.log" || f == "journal-short-iso.log" {
				want = ref.Truncate(time.Second)
			}
			if !o.Time.Equal(want) {
				t.Errorf("%s line %d: time %v, want %v", f, i+1, o.Time, want)
			}
			if f == "syslog.log" && o.Uptime != k.Uptime {
				t.Errorf("syslog line %d: uptime %v, kmsg %v", i+1, o.Uptime, k.Uptime)
			}
			o.Time, o.Sensor, o.Uptime = k.Time, k.Sensor, k.Uptime
			if diff := cmp.Diff(k, o, klCmpAddr); diff != "" {
				t.Errorf("line %d: %s decodes differently from kmsg (-kmsg +%s):\n%s", i+1, f, f, diff)
			}
		}
		if errs["kmsg.log"][i] == nil {
			stored++
			if k.Sensor != "cfg-sensor" || !k.Time.IsZero() || k.Uptime == 0 {
				t.Errorf("kmsg line %d: sensor %q time %v uptime %v", i+1, k.Sensor, k.Time, k.Uptime)
			}
		}
	}
	if stored < n*9/10 {
		t.Errorf("only %d of %d captured records decoded", stored, n)
	}
}

// TestKernLogRealLines checks real captured lines field by field against
// what scripts/kernlog-craft.py and the tools put into the packets.
func TestKernLogRealLines(t *testing.T) {
	ip := netip.MustParseAddr
	u32 := func(v uint32) *uint32 { return &v }
	u8 := func(v uint8) *uint8 { return &v }
	tests := []struct {
		name string
		line string
		want klView
	}{{
		name: "iptables LOG all options, every TCP flag, reserved bits and AE",
		line: `4,3,869229547,-;dscap4 tcp all: IN=dsk20342s OUT= MAC=a6:5a:eb:d8:12:e1:22:3e:e3:33:48:97:08:00 SRC=10.99.77.2 DST=10.99.77.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=7001 PROTO=TCP SPT=40001 DPT=70 SEQ=287454020 ACK=1432778632 WINDOW=512 RES=0x38 AE CWR ECE URG ACK PSH RST SYN FIN URGP=7 OPT (020405B40402080A0001E2400000000001030307) `,
		want: klView{
			Uptime: "14m29.229547s", Sensor: "cfg-sensor", Prefix: "dscap4 tcp all:", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "0800",
			IPVersion: 4, Src: "10.99.77.2", Dst: "10.99.77.1", Proto: "tcp", TotalLen: 60, TTL: 64, IPID: 7001,
			SrcPort: 40001, DstPort: 70, Seq: u32(0x11223344), Ack: u32(0x55667788), Window: 512,
			TCPFlags: "CWR ECE URG ACK PSH RST SYN FIN", Reserved: 0x0F << 2, Urgent: 7,
			TCPOptions: "020405b40402080a0001e2400000000001030307",
		},
	}, {
		name: "nft flags all: macdecode, IP options, CE DF, TOS and precedence",
		line: `4,4,1000000,-;dscap-nft4 all: IN=dsk20342s OUT= MACSRC=22:3e:e3:33:48:97 MACDST=a6:5a:eb:d8:12:e1 MACPROTO=0800 SRC=10.99.77.2 DST=10.99.77.1 LEN=48 TOS=0x18 PREC=0xA0 TTL=64 ID=7002 CE DF OPT (9404000001010100) PROTO=TCP SPT=40002 DPT=71 SEQ=1 ACK=0 WINDOW=1024 RES=0x00 SYN URGP=0 `,
		want: klView{
			Uptime: "1s", Sensor: "cfg-sensor", Prefix: "dscap-nft4 all:", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "0800",
			IPVersion: 4, Src: "10.99.77.2", Dst: "10.99.77.1", Proto: "tcp", IHL: 28, TotalLen: 48,
			TOS: 0xB8, TTL: 64, IPID: 7002, IPFlags: "CE DF", IPOptions: "9404000001010100",
			SrcPort: 40002, DstPort: 71, Seq: u32(1), Ack: u32(0), Window: 1024, TCPFlags: "SYN",
		},
	}, {
		name: "ICMP fragmentation needed quoting a TCP segment, then MTU",
		line: `4,5,2000000,-;dscap-nft4 all: IN=dsk20342s OUT= MACSRC=22:3e:e3:33:48:97 MACDST=a6:5a:eb:d8:12:e1 MACPROTO=0800 SRC=10.99.77.2 DST=10.99.77.1 LEN=88 TOS=0x00 PREC=0x00 TTL=64 ID=7005 PROTO=ICMP TYPE=3 CODE=4 [SRC=10.99.77.1 DST=10.99.77.2 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=4242 PROTO=TCP SPT=33000 DPT=443 SEQ=3735928559 ACK=0 WINDOW=29200 RES=0x00 ACK SYN URGP=0 OPT (020405B40402080A0001E2400000000001030307) ] MTU=1400 `,
		want: klView{
			Uptime: "2s", Sensor: "cfg-sensor", Prefix: "dscap-nft4 all:", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "0800",
			IPVersion: 4, Src: "10.99.77.2", Dst: "10.99.77.1", Proto: "icmp", TotalLen: 88, TTL: 64, IPID: 7005,
			ICMPType: u8(3), ICMPCode: u8(4), ICMPMTU: 1400,
			Quoted: &event.Quoted{Src: ip("10.99.77.1"), Dst: ip("10.99.77.2"), Proto: event.ProtoTCP,
				SrcPort: 33000, DstPort: 443, TotalLen: 60, TTL: 63, IPID: 4242, Seq: 0xDEADBEEF},
		},
	}, {
		name: "ICMP redirect with gateway, quote cut by the kernel",
		line: `4,6,3000000,-;dscap4-icmp IN=dsk20342s OUT= MAC=a6:5a:eb:d8:12:e1:22:3e:e3:33:48:97:08:00 SRC=10.99.77.2 DST=10.99.77.1 LEN=52 TOS=0x00 PREC=0x00 TTL=64 ID=7009 PROTO=ICMP TYPE=5 CODE=1 GATEWAY=10.99.77.254 [SRC=10.99.77.1 DST=10.99.77.2 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=4242 PROTO=TCP INCOMPLETE [4 bytes] ] `,
		want: klView{
			Uptime: "3s", Sensor: "cfg-sensor", Prefix: "dscap4-icmp", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "0800",
			IPVersion: 4, Src: "10.99.77.2", Dst: "10.99.77.1", Proto: "icmp", TotalLen: 52, TTL: 64, IPID: 7009,
			ICMPType: u8(5), ICMPCode: u8(1), Gateway: "10.99.77.254",
			Quoted: &event.Quoted{Src: ip("10.99.77.1"), Dst: ip("10.99.77.2"), Proto: event.ProtoTCP,
				TotalLen: 60, TTL: 63, IPID: 4242},
		},
	}, {
		name: "IPv6 first fragment of UDP with OPT ( FRAG ) group",
		line: `4,7,4000000,-;dscap-nft6 all IN=dsk20342s OUT= MACSRC=22:3e:e3:33:48:97 MACDST=a6:5a:eb:d8:12:e1 MACPROTO=86dd SRC=fd99:0077:0000:0000:0000:0000:0000:0002 DST=fd99:0077:0000:0000:0000:0000:0000:0001 LEN=72 TC=0 HOPLIMIT=64 FLOWLBL=0 OPT ( FRAG:0 INCOMPLETE ID:a1b2c3d4 ) PROTO=UDP SPT=40014 DPT=161 LEN=48 `,
		want: klView{
			Uptime: "4s", Sensor: "cfg-sensor", Prefix: "dscap-nft6 all", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "86dd",
			IPVersion: 6, Src: "fd99:77::2", Dst: "fd99:77::1", Proto: "udp", IHL: 40, TotalLen: 72, TTL: 64,
			IPID: 0xA1B2C3D4, IPFlags: "MF", ExtHdrs: []int{44}, SrcPort: 40014, DstPort: 161, UDPLen: 48, PayloadLen: 40,
		},
	}, {
		name: "IPv6 later fragment: offset in bytes, no transport header",
		line: `4,8,5000000,-;dscap-nft6 all IN=dsk20342s OUT= MACSRC=22:3e:e3:33:48:97 MACDST=a6:5a:eb:d8:12:e1 MACPROTO=86dd SRC=fd99:0077:0000:0000:0000:0000:0000:0002 DST=fd99:0077:0000:0000:0000:0000:0000:0001 LEN=72 TC=0 HOPLIMIT=64 FLOWLBL=0 OPT ( FRAG:24 ID:a1b2c3d4 ) PROTO=UDP `,
		want: klView{
			Uptime: "5s", Sensor: "cfg-sensor", Prefix: "dscap-nft6 all", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "86dd",
			IPVersion: 6, Src: "fd99:77::2", Dst: "fd99:77::1", Proto: "udp", IHL: 40, TotalLen: 72, TTL: 64,
			IPID: 0xA1B2C3D4, FragOff: 3, ExtHdrs: []int{44},
		},
	}, {
		name: "ICMPv6 packet too big quoting TCP, traffic class and flow label",
		line: `4,9,6000000,-;dscap6-any IN=dsk20342s OUT= MAC=a6:5a:eb:d8:12:e1:22:3e:e3:33:48:97:86:dd SRC=fd99:0077:0000:0000:0000:0000:0000:0002 DST=fd99:0077:0000:0000:0000:0000:0000:0001 LEN=128 TC=184 HOPLIMIT=57 FLOWLBL=74565 PROTO=ICMPv6 TYPE=2 CODE=0 [SRC=fd99:0077:0000:0000:0000:0000:0000:0001 DST=fd99:0077:0000:0000:0000:0000:0000:0002 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP SPT=33003 DPT=22 SEQ=2882400001 ACK=0 WINDOW=1000 RES=0x00 SYN URGP=0 OPT (020405B40402080A0001E2400000000001030307) ] MTU=1280 `,
		want: klView{
			Uptime: "6s", Sensor: "cfg-sensor", Prefix: "dscap6-any", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "86dd",
			IPVersion: 6, Src: "fd99:77::2", Dst: "fd99:77::1", Proto: "icmpv6", IHL: 40, TotalLen: 128, TOS: 184,
			TTL: 57, FlowLabel: 0x12345, ICMPType: u8(2), ICMPCode: u8(0), ICMPMTU: 1280,
			Quoted: &event.Quoted{Src: ip("fd99:77::1"), Dst: ip("fd99:77::2"), Proto: event.ProtoTCP,
				SrcPort: 33003, DstPort: 22, TotalLen: 80, TTL: 64, Seq: 0xABCDEF01},
		},
	}, {
		name: "OUTPUT with --log-uid, no MAC, mark",
		line: `4,10,7000000,-;dscap4-out IN= OUT=dsk20342s SRC=10.99.77.1 DST=10.99.77.2 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=39778 DF PROTO=ICMP TYPE=8 CODE=0 ID=20543 SEQ=1 UID=0 GID=0 MARK=0x2a `,
		want: klView{
			Uptime: "7s", Sensor: "cfg-sensor", Prefix: "dscap4-out", Out: "dsk20342s",
			IPVersion: 4, Src: "10.99.77.1", Dst: "10.99.77.2", Proto: "icmp", TotalLen: 84, TTL: 64, IPID: 39778,
			IPFlags: "DF", ICMPType: u8(8), ICMPCode: u8(0), ICMPID: 20543, ICMPSeq: 1, UID: u32(0), GID: u32(0), Mark: u32(0x2a),
		},
	}, {
		name: "empty prefix, IPv4 TCP cut by the kernel",
		line: `4,11,8000000,-;IN=dsk20342s OUT= MAC=a6:5a:eb:d8:12:e1:22:3e:e3:33:48:97:08:00 SRC=10.99.77.2 DST=10.99.77.1 LEN=30 TOS=0x00 PREC=0x00 TTL=64 ID=7004 PROTO=TCP INCOMPLETE [10 bytes] `,
		want: klView{
			Uptime: "8s", Sensor: "cfg-sensor", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "0800",
			IPVersion: 4, Src: "10.99.77.2", Dst: "10.99.77.1", Proto: "tcp", TotalLen: 30, TTL: 64, IPID: 7004, Truncated: true,
		},
	}, {
		name: "IPv6 ESP: the kernel stops after the SPI, no trailing space",
		line: `4,12,9000000,-;dscap-nft6 all IN=dsk20342s OUT= MACSRC=22:3e:e3:33:48:97 MACDST=a6:5a:eb:d8:12:e1 MACPROTO=86dd SRC=fd99:0077:0000:0000:0000:0000:0000:0002 DST=fd99:0077:0000:0000:0000:0000:0000:0001 LEN=64 TC=0 HOPLIMIT=64 FLOWLBL=0 OPT ( ESP SPI=0xbadf00d )`,
		want: klView{
			Uptime: "9s", Sensor: "cfg-sensor", Prefix: "dscap-nft6 all", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "86dd",
			IPVersion: 6, Src: "fd99:77::2", Dst: "fd99:77::1", Proto: "esp", IHL: 40, TotalLen: 64, TTL: 64, ExtHdrs: []int{50},
		},
	}, {
		name: "unknown protocol number and IPv4 later fragment",
		line: `4,13,10000000,-;dscap-nft4 all: IN=dsk20342s OUT= MACSRC=22:3e:e3:33:48:97 MACDST=a6:5a:eb:d8:12:e1 MACPROTO=0800 SRC=10.99.77.2 DST=10.99.77.1 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=7003 MF FRAG:185 PROTO=253 `,
		want: klView{
			Uptime: "10s", Sensor: "cfg-sensor", Prefix: "dscap-nft4 all:", In: "dsk20342s",
			MACDst: "a6:5a:eb:d8:12:e1", MACSrc: "22:3e:e3:33:48:97", EtherType: "0800",
			IPVersion: 4, Src: "10.99.77.2", Dst: "10.99.77.1", Proto: "253", TotalLen: 44, TTL: 64, IPID: 7003,
			IPFlags: "MF", FragOff: 185,
		},
	}}
	p := klNewTestParser(t, time.Now())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e event.Event
			seq, _, err := p.ParseKmsg([]byte(tc.line), &e)
			if err != nil {
				t.Fatal(err)
			}
			if seq == 0 {
				t.Error("kmsg sequence number not returned")
			}
			e.Sensor = "cfg-sensor" // ParseKmsg leaves the sensor to the caller
			if diff := cmp.Diff(tc.want, klRender(&e), klCmpAddr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestKernLogLineForms(t *testing.T) {
	const msg = `DROP: in: IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=192.0.2.7 DST=198.51.100.9 LEN=40 TOS=0x00 PREC=0x00 TTL=243 ID=54321 PROTO=TCP SPT=44321 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0 `
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no zoneinfo:", err)
	}
	tests := []struct {
		name   string
		line   string
		loc    *time.Location
		time   time.Time
		uptime time.Duration
		sensor string
	}{
		{"classic, last year's December", "Dec 31 23:59:58 gw kernel: [ 1234.500000] " + msg, nil,
			time.Date(2025, 12, 31, 23, 59, 58, 0, time.UTC), 1234500 * time.Millisecond, "gw"},
		{"classic, padded day, zone", "Jan  2 04:00:01 gw kernel: " + msg, berlin,
			time.Date(2026, 1, 2, 3, 0, 1, 0, time.UTC), 0, "gw"},
		{"classic, slightly ahead of the clock", "Jan  2 03:30:00 gw kernel: " + msg, nil,
			time.Date(2026, 1, 2, 3, 30, 0, 0, time.UTC), 0, "gw"},
		{"short-precise", "Jan 02 02:59:59.250000 gw kernel: " + msg, nil,
			time.Date(2026, 1, 2, 2, 59, 59, 250000000, time.UTC), 0, "gw"},
		{"RFC 3339 with offset", "2026-01-02T04:00:00.123456+01:00 fw1 kernel: [   5.000001] " + msg, nil,
			time.Date(2026, 1, 2, 3, 0, 0, 123456000, time.UTC), 5000001 * time.Microsecond, "fw1"},
		{"RFC 3339 Z, with PRI", "<4>2026-01-02T03:00:00Z fw1 kernel: " + msg, nil,
			time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), 0, "fw1"},
		{"short-iso", "2026-01-02T03:00:00-0230 fw1 kernel: " + msg, nil,
			time.Date(2026, 1, 2, 5, 30, 0, 0, time.UTC), 0, "fw1"},
		{"no host, only the tag", "2026-01-02T03:00:00Z kernel: " + msg, nil,
			time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), 0, "cfg-sensor"},
		{"short-monotonic", "[ 1234.567890] fw2 kernel: " + msg, nil, time.Time{}, 1234567890 * time.Microsecond, "fw2"},
		{"bare dmesg", "[   77.000100] " + msg, nil, time.Time{}, 77000100 * time.Microsecond, "cfg-sensor"},
		{"bare message", msg, nil, time.Time{}, 0, "cfg-sensor"},
		{"saved kmsg record", "4,1234,5000000,-;" + msg, nil, time.Time{}, 5 * time.Second, "cfg-sensor"},
		{"dmesg -T", "[Fri Jan  2 04:00:00 2026] " + msg, berlin,
			time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), 0, "cfg-sensor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewKernLogParser(KernLogConfig{Location: tc.loc, Now: func() time.Time { return now }, Sensor: "cfg-sensor"})
			if err != nil {
				t.Fatal(err)
			}
			var e event.Event
			if err := p.ParseLine([]byte(tc.line+"\n"), &e); err != nil {
				t.Fatal(err)
			}
			if !e.Time.Equal(tc.time) || (!tc.time.IsZero() && e.Time.Location() != time.UTC) {
				t.Errorf("time %v, want %v UTC", e.Time, tc.time)
			}
			if e.Uptime != tc.uptime || e.Sensor != tc.sensor {
				t.Errorf("uptime %v sensor %q, want %v %q", e.Uptime, e.Sensor, tc.uptime, tc.sensor)
			}
			if e.Prefix != "DROP: in:" || e.InIface != "eth0" || e.SrcPort != 44321 || e.DstPort != 23 ||
				e.Src != netip.MustParseAddr("192.0.2.7") || e.Flags != event.FlagSYN || e.TTL != 243 || e.Truncated {
				t.Errorf("message fields wrong: %+v", klRender(&e))
			}
		})
	}
}

func TestKernLogErrors(t *testing.T) {
	p := klNewTestParser(t, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		line   string
		reason string // "" = ErrNotFirewall
	}{
		{"Nov 23 10:00:00 host sshd[12]: Accepted publickey for root", ""},
		{"2026-11-23T10:00:00Z host kernel: usb 1-1: new high-speed USB device", ""},
		{"Nov 23 10:00:00 host kernel: ENTRY IN=eth0", ""},
		{"", ""},
		{"Nov 23 10:00:00 host kernel: X IN=eth0 OUT= SRC=1.2.3.999 DST=1.2.3.4 LEN=40", "bad_src"},
		{"Nov 23 10:00:00 host kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=fe80::1::2 LEN=40", "bad_dst"},
		{"Nov 23 10:00:00 host kernel: X IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SR", "truncated_header"},
		{"Nov 23 10:00:00 host kernel: X IN=eth0 OUT= MAC=00:1", "truncated_header"},
		{"Nov 23 10:00:00 host kernel: X IN=eth0 OUT= MAC=00:1 SRC=1.2.3.4 DST=1.2.3.5 LEN=40", "bad_mac"},
		{"Nov 23 10:00:00 host kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=1.2.3.5 LEN=70000 TTL=1", "bad_value"},
		{"Nov 23 10:00:00 host kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=1.2.3.5 LEN=40 TTL=1 PROTO=TCP SPT=x DPT=1 URGP=0", "bad_value"},
		{"2026-13-23T10:00:00Z host kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=1.2.3.5", "bad_timestamp"},
		{"Nov 31 25:00:00 host kernel: X IN=eth0 OUT= SRC=1.2.3.4 DST=1.2.3.5", "bad_timestamp"},
	}
	for _, tc := range tests {
		var e event.Event
		err := p.ParseLine([]byte(tc.line), &e)
		var pe *ParseError
		switch {
		case tc.reason == "":
			if !errors.Is(err, ErrNotFirewall) {
				t.Errorf("%q: got %v, want ErrNotFirewall", tc.line, err)
			}
		case !errors.As(err, &pe):
			t.Errorf("%q: got %v, want ParseError %s", tc.line, err, tc.reason)
		case pe.Reason != tc.reason:
			t.Errorf("%q: reason %q, want %q (%v)", tc.line, pe.Reason, tc.reason, err)
		}
	}
	for _, rec := range []string{"garbage", "4,12;msg", "x,1,2,-;msg", "4,1;IN=a OUT="} {
		var e event.Event
		_, _, err := p.ParseKmsg([]byte(rec), &e)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Reason != "bad_kmsg_header" {
			t.Errorf("kmsg %q: got %v, want bad_kmsg_header", rec, err)
		}
	}
	// A kmsg record that is not a firewall message still reports its sequence.
	var e event.Event
	seq, usec, err := p.ParseKmsg([]byte("6,4711,123456,-;eth0: link up\n SUBSYSTEM=net\n DEVICE=n2\n"), &e)
	if !errors.Is(err, ErrNotFirewall) || seq != 4711 || usec != 123456 {
		t.Errorf("non-firewall kmsg: seq %d usec %d err %v", seq, usec, err)
	}
}

// TestKernLogCutLines cuts every real captured message at every byte: the
// parser must never panic, must never accept a cut line as complete when the
// cut falls before the last field the kernel prints for that protocol, and
// what it does accept must agree with the full line on the fields before the
// cut.
func TestKernLogCutLines(t *testing.T) {
	p := klNewTestParser(t, time.Now())
	lines := klReadLines(t, filepath.Join("testdata", "kernlog", "kmsg.log"))
	checked := 0
	for _, rec := range lines {
		var full event.Event
		if _, _, err := p.ParseKmsg(rec, &full); err != nil || full.Truncated {
			continue
		}
		msg := rec[bytes.IndexByte(rec, ';')+1:]
		// The last field printed for the protocol: a cut before it must show.
		var end int
		switch {
		case full.FragOff != 0 || bytes.HasSuffix(bytes.TrimRight(msg, " "), []byte("PROTO=UDP")) ||
			bytes.HasSuffix(bytes.TrimRight(msg, " "), []byte("PROTO=ICMPv6")):
			end = bytes.LastIndex(msg, []byte("PROTO="))
		case full.IPVersion == 0: // ARP
			end = bytes.LastIndex(msg, []byte(" IPDST="))
		case full.Proto == event.ProtoESP && full.IPVersion == 6:
			end = bytes.LastIndex(msg, []byte(" ESP "))
		case full.Proto == event.ProtoTCP:
			end = bytes.LastIndex(msg, []byte(" URGP="))
		case full.Proto == event.ProtoUDP:
			end = bytes.LastIndex(msg, []byte(" LEN="))
		case full.Proto == event.ProtoICMP || full.Proto == event.ProtoICMPv6:
			end = bytes.LastIndex(msg, []byte(" CODE="))
		default:
			end = bytes.LastIndex(msg, []byte("PROTO="))
		}
		if end < 0 {
			t.Fatalf("no terminal field in %s", msg)
		}
		checked++
		for cut := 0; cut < len(msg); cut++ {
			var e event.Event
			err := p.ParseMessage(msg[:cut], &e)
			if err != nil {
				var pe *ParseError
				if !errors.Is(err, ErrNotFirewall) && !errors.As(err, &pe) {
					t.Fatalf("cut %d of %s: error type %T", cut, msg, err)
				}
				continue
			}
			if !e.Src.IsValid() || !e.Dst.IsValid() || e.Src != full.Src || e.Dst != full.Dst {
				t.Fatalf("cut %d of %s: accepted with addresses %v %v", cut, msg, e.Src, e.Dst)
			}
			if cut < end && !e.Truncated {
				t.Fatalf("cut %d (before %d) of %s: accepted as complete: %+v", cut, end, msg, klRender(&e))
			}
			// A cut inside the very last value ("PROTO=4" of "PROTO=47") cannot
			// be told from a complete line; before it, fields must agree.
			if e.Prefix != full.Prefix || e.InIface != full.InIface || cut < end && e.Proto != 0 && e.Proto != full.Proto {
				t.Fatalf("cut %d of %s: prefix/iface/proto differ", cut, msg)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d lines checked", checked)
	}
}

func TestKernLogKmsgEscapes(t *testing.T) {
	p := klNewTestParser(t, time.Now())
	var e event.Event
	rec := `4,77,1500000,-;fw\x09drop\x5c IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 LEN=20 TOS=0x00 PREC=0x00 TTL=9 ID=3 PROTO=2 `
	seq, usec, err := p.ParseKmsg([]byte(rec), &e)
	if err != nil || seq != 77 || usec != 1500000 {
		t.Fatalf("seq %d usec %d err %v", seq, usec, err)
	}
	if e.Prefix != "fw\tdrop\\" || e.Proto != event.ProtoIGMP || e.Uptime != 1500*time.Millisecond || e.Truncated {
		t.Errorf("prefix %q proto %v uptime %v truncated %v", e.Prefix, e.Proto, e.Uptime, e.Truncated)
	}
}

func TestKernLogAddr(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "255.255.255.255", "10.99.77.1", "::", "::1", "fe80::1", "2001:db8::",
		"fd99:0077:0000:0000:0000:0000:0000:0002", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1::8", "1:2:3:4:5:6::8", "64:ff9b::192.0.2.33"} {
		got, ok := klAddr([]byte(s))
		want := netip.MustParseAddr(s)
		if !ok || got != want {
			t.Errorf("klAddr(%q) = %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3",
		"12345::", "1:2:3:4:5:6:7", ":1::", "1:", "g::1", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4"} {
		if a, ok := klAddr([]byte(s)); ok {
			_, err := netip.ParseAddr(s)
			t.Errorf("klAddr(%q) accepted %v (netip: %v)", s, a, err)
		}
	}
}

func TestKernLogNoAllocs(t *testing.T) {
	lines := klReadLines(t, filepath.Join("testdata", "kernlog", "syslog.log"))
	p := klNewTestParser(t, klTestNow(t, filepath.Join("testdata", "kernlog")))
	var e event.Event
	for _, l := range lines { // warm the interner and the stamp cache
		_ = p.ParseLine(l, &e)
	}
	allocs := testing.AllocsPerRun(20, func() {
		for _, l := range lines {
			_ = p.ParseLine(l, &e)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per pass over %d lines, want 0", allocs, len(lines))
	}
}

func TestNewKernLogParser(t *testing.T) {
	if _, err := NewKernLogParser(KernLogConfig{Sensor: "bad name"}); err == nil {
		t.Error("a sensor name with a space was accepted")
	}
	p, err := NewKernLogParser(KernLogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var e event.Event
	if err := p.ParseLine([]byte("Nov 23 10:00:00 h kernel: IN=a OUT= SRC=1.2.3.4 DST=1.2.3.5 LEN=20 TOS=0x00 PREC=0x00 TTL=1 ID=1 PROTO=47 "), &e); err != nil {
		t.Fatal(err)
	}
	if e.Time.Location() != time.UTC || e.Time.Hour() != 10 {
		t.Errorf("default zone: got %v, want 10:00 UTC", e.Time)
	}
	if d := time.Since(e.Time); d < -25*time.Hour || d > 366*24*time.Hour {
		t.Errorf("year inference from the clock: %v is not within the last year", e.Time)
	}
}
