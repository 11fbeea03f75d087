package decode

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/darkscope/darkscope/internal/event"
)

// pktTsharkFields are the fields the golden test asks tshark for, in order.
var pktTsharkFields = []string{
	"frame.number", "frame.protocols",
	"eth.src", "eth.dst", "eth.type",
	"ip.version", "ip.src", "ip.dst", "ip.proto", "ip.hdr_len", "ip.len", "ip.dsfield",
	"ip.ttl", "ip.id", "ip.flags", "ip.frag_offset", "ip.opt.type",
	"ipv6.src", "ipv6.dst", "ipv6.tclass", "ipv6.flow", "ipv6.plen", "ipv6.nxt", "ipv6.hlim",
	"ipv6.hopopts.nxt", "ipv6.dstopts.nxt", "ipv6.routing.nxt", "ipv6.fraghdr.nxt",
	"ipv6.hopopts.len_oct", "ipv6.dstopts.len_oct", "ipv6.routing.len_oct",
	"ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
	"tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.hdr_len", "tcp.flags",
	"tcp.window_size_value", "tcp.urgent_pointer", "tcp.options", "tcp.len", "tcp.payload",
	"udp.srcport", "udp.dstport", "udp.length", "udp.checksum",
	"sctp.srcport", "sctp.dstport",
	"icmp.type", "icmp.code", "icmp.ident", "icmp.seq", "icmp.mtu", "icmp.redir_gw",
	"icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
	"icmpv6.mtu", "icmpv6.nd.rd.target_address",
	"data.data",
}

// pktFrame is one packet as tshark dissected it: every occurrence of every
// field, outermost first.
type pktFrame map[string][]string

func (f pktFrame) has(k string) bool { return len(f[k]) > 0 }

// at returns occurrence i of field k, or "".
func (f pktFrame) at(k string, i int) string {
	if i < len(f[k]) {
		return f[k][i]
	}
	return ""
}

// pktRequireTshark returns tshark's path; without it the test skips on a
// developer machine and fails under CI, which must install it.
func pktRequireTshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the packet golden test needs tshark, which CI must install")
	}
	t.Skip("needs tshark")
	return ""
}

func pktTshark(t *testing.T, tshark, file string) []pktFrame {
	t.Helper()
	args := []string{"-r", file, "-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-o", "tcp.analyze_sequence_numbers:FALSE",
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, f := range pktTsharkFields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	var frames []pktFrame
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) != len(pktTsharkFields) {
			t.Fatalf("tshark line has %d columns, want %d: %q", len(cols), len(pktTsharkFields), line)
		}
		f := pktFrame{}
		for i, c := range cols {
			if c != "" {
				f[pktTsharkFields[i]] = strings.Split(c, ",")
			}
		}
		frames = append(frames, f)
	}
	return frames
}

func pktNum(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("tshark value %q: %v", s, err)
	}
	return n
}

// pktExtNumbers maps tshark's protocol names of IPv6 extension headers to
// their next-header numbers.
var pktExtNumbers = map[string]uint8{
	"ipv6.hopopts": 0, "ipv6.routing": 43, "ipv6.fraghdr": 44, "ipv6.dstopts": 60,
}

// TestDecodeGoldenTshark decodes every packet of the captures in
// testdata/packets (made by scripts/capture-packets.sh) and compares each
// field with tshark's dissection of the same packet.
func TestDecodeGoldenTshark(t *testing.T) {
	tshark := pktRequireTshark(t)
	files, err := filepath.Glob("testdata/packets/*.pcap")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata/packets: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			frames := pktTshark(t, tshark, file)
			fh, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			r, err := pcapgo.NewReader(fh)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for i := 0; ; i++ {
				data, _, err := r.ReadPacketData()
				if err == io.EOF {
					if i != len(frames) {
						t.Fatalf("pcap has %d packets, tshark %d", i, len(frames))
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if i >= len(frames) {
					t.Fatalf("pcap has more packets than tshark's %d", len(frames))
				}
				f := frames[i]
				kind := pktCompare(t, i+1, data, f)
				seen[kind]++
			}
			t.Logf("compared: %v", seen)
			// The capture must exercise what the decoder claims to handle.
			for _, k := range []string{"ip:tcp", "ip:udp", "ip:icmp", "ip:icmp-error", "ip:fragment",
				"ipv6:tcp", "ipv6:icmpv6", "ipv6:icmpv6-error", "ipv6:udp", "ipv6:fragment", "ipv6:ext", "ip:options", "notip"} {
				found := false
				for got := range seen {
					found = found || strings.Contains(got, k)
				}
				if !found {
					t.Errorf("capture has no %s packet", k)
				}
			}
		})
	}
}

// pktCompare checks DecodeEthernet's result for one frame against tshark's
// fields and returns the kind of packet it was, for the coverage check.
func pktCompare(t *testing.T, n int, data []byte, f pktFrame) string {
	t.Helper()
	var e event.Event
	err := DecodeEthernet(data, &e)
	errorf := func(field string, got, want any) {
		t.Helper()
		t.Errorf("frame %d (%s): %s = %v, tshark says %v", n, f.at("frame.protocols", 0), field, got, want)
	}
	eq := func(field string, got any, want string) {
		t.Helper()
		var ok bool
		switch g := got.(type) {
		case string:
			ok = g == want
		case uint64:
			if want == "" {
				t.Errorf("frame %d (%s): tshark has no value for %s", n, f.at("frame.protocols", 0), field)
				return
			}
			ok = g == pktNum(t, want)
		default:
			t.Fatalf("bad type %T", got)
		}
		if !ok {
			errorf(field, got, want)
		}
	}
	u := func(v any) uint64 {
		switch x := v.(type) {
		case uint8:
			return uint64(x)
		case uint16:
			return uint64(x)
		case uint32:
			return uint64(x)
		case event.Proto:
			return uint64(x)
		}
		panic("bad type")
	}
	eq("MACSrc", net.HardwareAddr(e.MACSrc[:]).String(), f.at("eth.src", 0))
	eq("MACDst", net.HardwareAddr(e.MACDst[:]).String(), f.at("eth.dst", 0))
	eq("EtherType", u(e.EtherType), f.at("eth.type", 0))

	protos := strings.Split(f.at("frame.protocols", 0), ":")
	if !f.has("ip.version") && !f.has("ipv6.src") {
		if !errors.Is(err, ErrNotIP) {
			t.Errorf("frame %d (%s): err = %v, want ErrNotIP", n, f.at("frame.protocols", 0), err)
		}
		return "notip"
	}
	if err != nil {
		t.Errorf("frame %d: DecodeEthernet: %v", n, err)
		return "error"
	}
	// The layer after the outer IP header and its extension headers.
	var l4 string
	var exts []uint8
	ipAt := -1
	for j, p := range protos {
		if ipAt < 0 && (p == "ip" || p == "ipv6") {
			ipAt = j
			continue
		}
		if ipAt >= 0 {
			if x, ok := pktExtNumbers[p]; ok {
				exts = append(exts, x)
				continue
			}
			l4 = p
			break
		}
	}
	var kind string
	var dataLen int // transport bytes by the IP length fields
	if f.has("ip.version") && protos[ipAt] == "ip" {
		kind = "ip:"
		eq("IPVersion", u(e.IPVersion), "4")
		eq("Src", e.Src.String(), f.at("ip.src", 0))
		eq("Dst", e.Dst.String(), f.at("ip.dst", 0))
		eq("Proto", u(e.Proto), f.at("ip.proto", 0))
		eq("IHL", u(e.IHL), f.at("ip.hdr_len", 0))
		eq("TotalLen", u(e.TotalLen), f.at("ip.len", 0))
		eq("TOS", u(e.TOS), f.at("ip.dsfield", 0))
		eq("TTL", u(e.TTL), f.at("ip.ttl", 0))
		eq("IPID", u(e.IPID), f.at("ip.id", 0))
		eq("IPFlags", u(e.IPFlags), f.at("ip.flags", 0))
		eq("FragOff", u(e.FragOff), f.at("ip.frag_offset", 0))
		eq("IPOptLen", u(e.IPOptLen), strconv.Itoa(int(pktNum(t, f.at("ip.hdr_len", 0)))-20))
		if e.IPOptLen > 0 && !strings.Contains(f.at("frame.protocols", 0), ":icmp:ip") {
			kind = "ip:options:"
			eq("IPOptions[0]", u(e.IPOptions[0]), f.at("ip.opt.type", 0))
		}
		dataLen = int(e.TotalLen) - int(e.IHL)
	} else {
		kind = "ipv6:"
		eq("IPVersion", u(e.IPVersion), "6")
		eq("Src", e.Src.String(), f.at("ipv6.src", 0))
		eq("Dst", e.Dst.String(), f.at("ipv6.dst", 0))
		eq("TOS", u(e.TOS), f.at("ipv6.tclass", 0))
		eq("FlowLabel", u(e.FlowLabel), f.at("ipv6.flow", 0))
		eq("TotalLen", u(e.TotalLen), strconv.FormatUint(pktNum(t, f.at("ipv6.plen", 0))+40, 10))
		eq("TTL", u(e.TTL), f.at("ipv6.hlim", 0))
		eq("IHL", u(e.IHL), "40")
		if got := e.ExtHdrs[:e.ExtHdrLen]; !bytes.Equal(got, exts) {
			errorf("ExtHdrs", got, exts)
		}
		// Proto is the next header after the chain; each extension
		// header's next-header field, outermost first.
		want := f.at("ipv6.nxt", 0)
		dataLen = int(pktNum(t, f.at("ipv6.plen", 0)))
		occ := map[string]int{}
		for _, x := range exts {
			for name, num := range pktExtNumbers {
				if num == x {
					want = f.at(name+".nxt", occ[name])
					if name == "ipv6.fraghdr" {
						dataLen -= 8
					} else {
						dataLen -= int(pktNum(t, f.at(name+".len_oct", occ[name])))
					}
					occ[name]++
				}
			}
		}
		eq("Proto", u(e.Proto), want)
		if len(exts) > 0 {
			kind = "ipv6:ext:"
		}
		if occ["ipv6.fraghdr"] > 0 {
			eq("FragOff", u(e.FragOff), f.at("ipv6.fraghdr.offset", 0))
			eq("IPID", u(e.IPID), f.at("ipv6.fraghdr.ident", 0))
			mf := "0"
			if f.at("ipv6.fraghdr.more", 0) == "1" {
				mf = "1"
			}
			eq("MF", u(e.IPFlags&event.IPFlagMF), mf)
		}
	}
	if e.FragOff != 0 {
		if l4 != "data" {
			t.Fatalf("frame %d: non-first fragment dissected as %s", n, l4)
		}
		eq("PayloadLen", u(e.PayloadLen), strconv.Itoa(dataLen))
		pktComparePrefix(t, n, "fragment payload", e.PayloadPrefix(), f.at("data.data", 0))
		if e.SrcPort != 0 || e.DstPort != 0 || e.HasSeq {
			errorf("transport of a non-first fragment", e.SrcPort, "none")
		}
		return strings.TrimSuffix(strings.Split(kind, ":")[0], ":") + ":fragment"
	}
	isErr := func(p string) bool {
		return strings.Contains(f.at("frame.protocols", 0), ":"+p+":ip")
	}
	switch l4 {
	case "tcp":
		eq("SrcPort", u(e.SrcPort), f.at("tcp.srcport", 0))
		eq("DstPort", u(e.DstPort), f.at("tcp.dstport", 0))
		if f.has("tcp.flags") {
			fl := pktNum(t, f.at("tcp.flags", 0))
			eq("Flags", u(uint8(e.Flags)), strconv.FormatUint(fl&0xff, 10))
			eq("Reserved", u(e.Reserved), strconv.FormatUint((fl>>8&0xf)<<2, 10))
		}
		if !f.has("tcp.urgent_pointer") { // fewer than 20 bytes of TCP header
			if !e.Truncated {
				errorf("Truncated", e.Truncated, "tcp header cut short")
			}
			return kind + "tcp-truncated"
		}
		eq("Seq", u(e.Seq), f.at("tcp.seq_raw", 0))
		eq("Ack", u(e.Ack), f.at("tcp.ack_raw", 0))
		eq("Window", u(e.Window), f.at("tcp.window_size_value", 0))
		eq("Urgent", u(e.Urgent), f.at("tcp.urgent_pointer", 0))
		eq("TCPOptions", hex.EncodeToString(e.TCPOpts()), f.at("tcp.options", 0))
		if f.has("tcp.len") {
			eq("PayloadLen", u(e.PayloadLen), f.at("tcp.len", 0))
		} else { // a first fragment: tshark leaves the length to reassembly
			eq("PayloadLen", u(e.PayloadLen), strconv.Itoa(dataLen-int(pktNum(t, f.at("tcp.hdr_len", 0)))))
		}
		pktComparePrefix(t, n, "tcp payload", e.PayloadPrefix(), f.at("tcp.payload", 0))
		if !e.HasSeq || e.Truncated {
			errorf("HasSeq/Truncated", [2]bool{e.HasSeq, e.Truncated}, "true/false")
		}
		return kind + "tcp"
	case "udp":
		eq("SrcPort", u(e.SrcPort), f.at("udp.srcport", 0))
		eq("DstPort", u(e.DstPort), f.at("udp.dstport", 0))
		eq("UDPLen", u(e.UDPLen), f.at("udp.length", 0))
		eq("UDPChecksum", u(e.UDPChecksum), f.at("udp.checksum", 0))
		eq("PayloadLen", u(e.PayloadLen), strconv.Itoa(dataLen-8))
		if f.has("data.data") {
			pktComparePrefix(t, n, "udp payload", e.PayloadPrefix(), f.at("data.data", 0))
		}
		return kind + "udp"
	case "sctp":
		eq("SrcPort", u(e.SrcPort), f.at("sctp.srcport", 0))
		eq("DstPort", u(e.DstPort), f.at("sctp.dstport", 0))
		return kind + "sctp"
	case "icmp", "icmpv6":
		pfx := l4
		eq("ICMPType", u(e.ICMPType), f.at(pfx+".type", 0))
		eq("ICMPCode", u(e.ICMPCode), f.at(pfx+".code", 0))
		eq("PayloadLen", u(e.PayloadLen), strconv.Itoa(dataLen-8))
		if isErr(l4) {
			// The quoted packet is the second IP header.
			if !e.HasQuoted {
				errorf("HasQuoted", false, true)
			}
			ipf := "ip"
			if l4 == "icmpv6" {
				ipf = "ipv6"
			}
			eq("Quoted.Src", e.Quoted.Src.String(), f.at(ipf+".src", 1))
			eq("Quoted.Dst", e.Quoted.Dst.String(), f.at(ipf+".dst", 1))
			if ipf == "ip" {
				eq("Quoted.Proto", u(e.Quoted.Proto), f.at("ip.proto", 1))
				eq("Quoted.TotalLen", u(e.Quoted.TotalLen), f.at("ip.len", 1))
				eq("Quoted.TTL", u(e.Quoted.TTL), f.at("ip.ttl", 1))
				eq("Quoted.IPID", u(e.Quoted.IPID), f.at("ip.id", 1))
			} else {
				eq("Quoted.TTL", u(e.Quoted.TTL), f.at("ipv6.hlim", 1))
				eq("Quoted.TotalLen", u(e.Quoted.TotalLen), strconv.FormatUint(pktNum(t, f.at("ipv6.plen", 1))+40, 10))
			}
			for _, tp := range []string{"tcp", "udp"} {
				if f.has(tp + ".srcport") {
					eq("Quoted.SrcPort", u(e.Quoted.SrcPort), f.at(tp+".srcport", 0))
					eq("Quoted.DstPort", u(e.Quoted.DstPort), f.at(tp+".dstport", 0))
				}
			}
			if f.has("tcp.seq_raw") {
				eq("Quoted.Seq", u(e.Quoted.Seq), f.at("tcp.seq_raw", 0))
			}
			if f.has(pfx + ".mtu") {
				eq("ICMPMTU", u(e.ICMPMTU), f.at(pfx+".mtu", 0))
			}
			if f.has("icmp.redir_gw") {
				eq("ICMPGateway", e.ICMPGateway.String(), f.at("icmp.redir_gw", 0))
			}
			return kind + l4 + "-error"
		}
		if f.has("icmp.ident") {
			eq("ICMPID", u(e.ICMPID), f.at("icmp.ident", 0))
			eq("ICMPSeq", u(e.ICMPSeq), f.at("icmp.seq", 0))
		}
		if f.has("icmpv6.echo.identifier") {
			eq("ICMPID", u(e.ICMPID), f.at("icmpv6.echo.identifier", 0))
			eq("ICMPSeq", u(e.ICMPSeq), f.at("icmpv6.echo.sequence_number", 0))
		}
		if f.has("icmpv6.mtu") {
			eq("ICMPMTU", u(e.ICMPMTU), f.at("icmpv6.mtu", 0))
		}
		return kind + l4
	}
	return kind + l4
}

// pktComparePrefix checks that got is the first event.MaxPayload bytes of the
// hex string want.
func pktComparePrefix(t *testing.T, n int, what string, got []byte, want string) {
	t.Helper()
	w, err := hex.DecodeString(want)
	if err != nil {
		t.Fatalf("frame %d: tshark %s %q: %v", n, what, want, err)
	}
	if len(w) > event.MaxPayload {
		w = w[:event.MaxPayload]
	}
	if !bytes.Equal(got, w) {
		t.Errorf("frame %d: %s = %x, tshark says %x", n, what, got, w)
	}
}
