package nflog

import (
	"encoding/binary"
	"io"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/mdlayher/netlink"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
)

// tmsg describes an NFLOG packet message as the kernel builds it.
type tmsg struct {
	family   uint8
	hwProto  uint16
	hook     uint8
	mark     uint32
	ts       time.Time
	in, out  uint32
	prefix   string
	uid      uint32
	gid      uint32
	hasUID   bool
	seq      uint32
	noSeq    bool
	hwType   uint16
	hwHeader []byte
	payload  []byte
}

// body encodes the message body: nfgenmsg, then the attributes in the order
// the kernel puts them (__build_packet_message).
func (m tmsg) body(group uint16) []byte {
	ae := netlink.NewAttributeEncoder()
	hdr := binary.BigEndian.AppendUint16(nil, m.hwProto)
	ae.Bytes(attrPacketHdr, append(hdr, m.hook, 0))
	if m.prefix != "" {
		ae.Bytes(attrPrefix, append([]byte(m.prefix), 0))
	}
	if m.in != 0 {
		ae.Bytes(attrIfIndexIn, binary.BigEndian.AppendUint32(nil, m.in))
	}
	if m.out != 0 {
		ae.Bytes(attrIfIndexOut, binary.BigEndian.AppendUint32(nil, m.out))
	}
	if m.mark != 0 {
		ae.Bytes(attrMark, binary.BigEndian.AppendUint32(nil, m.mark))
	}
	if m.hwHeader != nil {
		hw := binary.BigEndian.AppendUint16(nil, 6)
		hw = append(hw, 0, 0)
		hw = append(hw, m.hwHeader[6:12]...)
		ae.Bytes(attrHWAddr, append(hw, 0, 0))
		ae.Bytes(attrHWType, binary.BigEndian.AppendUint16(nil, m.hwType))
		ae.Bytes(attrHWLen, binary.BigEndian.AppendUint16(nil, uint16(len(m.hwHeader))))
		ae.Bytes(attrHWHeader, m.hwHeader)
	}
	if !m.ts.IsZero() {
		ts := binary.BigEndian.AppendUint64(nil, uint64(m.ts.Unix()))
		ae.Bytes(attrTimestamp, binary.BigEndian.AppendUint64(ts, uint64(m.ts.Nanosecond()/1000)))
	}
	if m.hasUID {
		ae.Bytes(attrUID, binary.BigEndian.AppendUint32(nil, m.uid))
		ae.Bytes(attrGID, binary.BigEndian.AppendUint32(nil, m.gid))
	}
	if !m.noSeq {
		ae.Bytes(attrSeq, binary.BigEndian.AppendUint32(nil, m.seq))
	}
	if m.payload != nil {
		ae.Bytes(attrPayload, m.payload)
	}
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	fam := m.family
	if fam == 0 {
		fam = 2
	}
	head := []byte{fam, 0, 0, 0}
	binary.BigEndian.PutUint16(head[2:], group)
	return append(head, b...)
}

// message wraps the body in a netlink message as the kernel sends it in a
// batch.
func (m tmsg) message(group uint16) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: typePacket},
		Data:   m.body(group),
	}
}

// datagram lays messages out as one netlink datagram.
func datagram(msgs ...netlink.Message) []byte {
	var out []byte
	for _, m := range msgs {
		m.Header.Length = uint32(nlmsgHdrLen+len(m.Data)+3) &^ 3
		b, err := m.MarshalBinary()
		if err != nil {
			panic(err)
		}
		out = append(out, b...)
	}
	return out
}

// capturedPackets returns real IP packets from decode's golden capture,
// keyed by kind: "tcp", "udp", "icmp", "tcp6", "icmp6", plus all of them.
func capturedPackets(t testing.TB) (map[string][]byte, [][]byte) {
	t.Helper()
	fh, err := os.Open("../../decode/testdata/packets/probes.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string][]byte{}
	var all [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var e event.Event
		if decode.DecodeEthernet(data, &e) != nil || e.Truncated || e.FragOff != 0 {
			continue
		}
		p := data[14:]
		if int(e.TotalLen) < len(p) {
			p = p[:e.TotalLen]
		}
		all = append(all, p)
		kind := ""
		switch {
		case e.IPVersion == 4 && e.Proto == event.ProtoTCP && e.TCPOptLen > 0:
			kind = "tcp"
		case e.IPVersion == 4 && e.Proto == event.ProtoUDP:
			kind = "udp"
		case e.IPVersion == 4 && e.Proto == event.ProtoICMP && e.ICMPType == 8:
			kind = "icmp"
		case e.IPVersion == 6 && e.Proto == event.ProtoTCP:
			kind = "tcp6"
		case e.IPVersion == 6 && e.Proto == event.ProtoICMPv6 && e.ICMPType == 128:
			kind = "icmp6"
		}
		if _, ok := byKind[kind]; kind != "" && !ok {
			byKind[kind] = p
		}
	}
	for _, k := range []string{"tcp", "udp", "icmp", "tcp6", "icmp6"} {
		if byKind[k] == nil {
			t.Fatalf("no %s packet in the capture", k)
		}
	}
	return byKind, all
}
