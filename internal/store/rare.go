package store

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
)

// Schema version 3 stores the fields reports, rollups and filters read as
// typed columns (packedColumns) and packs every other field of a packet
// into one BLOB column, "rare": DuckDB's insert cost grows with the number
// of columns (64 columns took ~45% of the append time), while a BLOB is
// one copy. The views (events_raw, events) and Store.Events decode it back
// into the version-2 columns with plain SQL (decodeSelectFrom), so users
// see the same names and types.
//
// The rare layout, version 1, in three parts: the fixed fields a typical
// packet sets (offsets rOff*), the variable fields back to back (their
// lengths are at rOffLens), then the fixed fields most packets leave zero
// (offsets rB*, counted from the end of the variable fields). Integers are
// little-endian, addresses 128-bit little-endian (low 64 bits first).
// Trailing zero bytes are cut (an event with nothing rare is the version
// byte alone); readers pad the BLOB with zeros first, which restores them.
const (
	rareVersion = 1

	rOffVersion  = 0  // u8: layout version (1)
	rOffFlags    = 1  // u16: presence bits (rFlag*)
	rOffHook     = 3  // u8
	rOffVerdict  = 4  // u8
	rOffGroup    = 5  // u16: NFLOG group
	rOffIHL      = 7  // u8
	rOffTOS      = 8  // u8
	rOffIPFlags  = 9  // u8
	rOffIPID     = 10 // u32
	rOffFragOff  = 14 // u16
	rOffSeq      = 16 // u32
	rOffAck      = 20 // u32
	rOffReserved = 24 // u8: TCP reserved bits
	rOffUrgent   = 25 // u16
	rOffUDPLen   = 27 // u16
	rOffUDPCsum  = 29 // u16
	rOffEther    = 31 // u16
	rOffMACSrc   = 33 // u48
	rOffMACDst   = 39 // u48
	rOffUptime   = 45 // u64: kernel uptime in ns
	rOffLens     = 53 // 5 × u8: lengths of mac_raw, ip_options, ext_hdrs, tcp_options, out_iface
	rOffVar      = 58 // the variable fields, in that order

	rBFlow    = 0  // u32: flow label
	rBICMPID  = 4  // u16
	rBICMPSeq = 6  // u16
	rBMTU     = 8  // u32
	rBMark    = 12 // u32
	rBUID     = 16 // u32
	rBGID     = 20 // u32
	rBQProto  = 24 // u8: quoted packet (ICMP errors) ...
	rBQSport  = 25 // u16
	rBQDport  = 27 // u16
	rBQTotal  = 29 // u16
	rBQTTL    = 31 // u8
	rBQIPID   = 32 // u32
	rBQSeq    = 36 // u32
	rBGateway = 40 // u128: ICMP redirect gateway
	rBQSrc    = 56 // u128
	rBQDst    = 72 // u128
	rBSize    = 88

	rareMaxIface = 255
	rareMax      = rOffVar + len(event.Event{}.MACRaw) + event.MaxIPOptions + event.MaxExtHeaders + event.MaxTCPOptions + rareMaxIface + rBSize
)

// Presence bits of the rare flags field.
const (
	rFlagMark = 1 << iota
	rFlagUID
	rFlagMAC
	rFlagSeq
	rFlagUDPCsum
	rFlagQuoted
	rFlagGateway
	rFlagQSrc
	rFlagQDst
	rFlagTruncated
)

func putAddr(b []byte, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	x := a.As16()
	binary.LittleEndian.PutUint64(b, binary.BigEndian.Uint64(x[8:]))
	binary.LittleEndian.PutUint64(b[8:], binary.BigEndian.Uint64(x[:8]))
}

func putU48(b []byte, v uint64) {
	for i := range 6 {
		b[i] = byte(v >> (8 * i))
	}
}

// packRare writes e's rare fields into buf (at least rareMax bytes) and
// returns the used part.
func packRare(e *event.Event, buf []byte) []byte {
	b := buf[:rareMax]
	clear(b[:rOffVar])
	le := binary.LittleEndian
	var f uint16
	b[rOffVersion] = rareVersion
	b[rOffHook] = uint8(e.Hook)
	b[rOffVerdict] = uint8(e.Verdict)
	le.PutUint16(b[rOffGroup:], e.Group)
	b[rOffIHL] = e.IHL
	b[rOffTOS] = e.TOS
	b[rOffIPFlags] = e.IPFlags
	le.PutUint32(b[rOffIPID:], e.IPID)
	le.PutUint16(b[rOffFragOff:], e.FragOff)
	le.PutUint32(b[rOffSeq:], e.Seq)
	le.PutUint32(b[rOffAck:], e.Ack)
	b[rOffReserved] = e.Reserved
	le.PutUint16(b[rOffUrgent:], e.Urgent)
	le.PutUint16(b[rOffUDPLen:], e.UDPLen)
	le.PutUint16(b[rOffUDPCsum:], e.UDPChecksum)
	le.PutUint16(b[rOffEther:], e.EtherType)
	putU48(b[rOffMACSrc:], mac64(&e.MACSrc))
	putU48(b[rOffMACDst:], mac64(&e.MACDst))
	le.PutUint64(b[rOffUptime:], uint64(e.Uptime))
	iface := e.OutIface
	if len(iface) > rareMaxIface {
		iface = iface[:rareMaxIface]
	}
	n := rOffVar
	for i, v := range [...][]byte{e.MACRaw[:e.MACRawLen], e.IPOptions[:e.IPOptLen], e.ExtHdrs[:e.ExtHdrLen], e.TCPOptions[:e.TCPOptLen]} {
		b[rOffLens+i] = uint8(len(v))
		n += copy(b[n:], v)
	}
	b[rOffLens+4] = uint8(len(iface))
	n += copy(b[n:], iface)

	p := b[n : n+rBSize]
	clear(p)
	le.PutUint32(p[rBFlow:], e.FlowLabel)
	le.PutUint16(p[rBICMPID:], e.ICMPID)
	le.PutUint16(p[rBICMPSeq:], e.ICMPSeq)
	le.PutUint32(p[rBMTU:], e.ICMPMTU)
	le.PutUint32(p[rBMark:], e.Mark)
	le.PutUint32(p[rBUID:], e.UID)
	le.PutUint32(p[rBGID:], e.GID)
	if e.HasMark {
		f |= rFlagMark
	}
	if e.HasUID {
		f |= rFlagUID
	}
	if e.HasMAC {
		f |= rFlagMAC
	}
	if e.HasSeq {
		f |= rFlagSeq
	}
	if e.HasUDPChecksum {
		f |= rFlagUDPCsum
	}
	if e.Truncated {
		f |= rFlagTruncated
	}
	if e.HasQuoted {
		f |= rFlagQuoted
		q := &e.Quoted
		p[rBQProto] = uint8(q.Proto)
		le.PutUint16(p[rBQSport:], q.SrcPort)
		le.PutUint16(p[rBQDport:], q.DstPort)
		le.PutUint16(p[rBQTotal:], q.TotalLen)
		p[rBQTTL] = q.TTL
		le.PutUint32(p[rBQIPID:], q.IPID)
		le.PutUint32(p[rBQSeq:], q.Seq)
		if q.Src.IsValid() {
			f |= rFlagQSrc
			putAddr(p[rBQSrc:], q.Src)
		}
		if q.Dst.IsValid() {
			f |= rFlagQDst
			putAddr(p[rBQDst:], q.Dst)
		}
	}
	if e.ICMPGateway.IsValid() {
		f |= rFlagGateway
		putAddr(p[rBGateway:], e.ICMPGateway)
	}
	le.PutUint16(b[rOffFlags:], f)
	n += rBSize
	for n > 1 && b[n-1] == 0 {
		n--
	}
	return b[:n]
}

// rareU is the SQL reading the size-byte little-endian unsigned integer at
// byte off (an SQL expression) of rare from _h (its padded hex text), as a
// UBIGINT.
func rareU(off string, size int) string {
	parts := make([]string, size)
	for i := range size {
		parts[i] = fmt.Sprintf("substr(_h, 2 * (%s) + %d, 2)", off, 2*(size-1-i)+1)
	}
	return "('0x' || " + strings.Join(parts, " || ") + ")::UBIGINT"
}

// rareA is the field at fixed offset off; rareB the one at off in the part
// after the variable fields (_lsum: their total length).
func rareA(off, size int) string { return rareU(fmt.Sprint(off), size) }
func rareB(off, size int) string {
	return rareU(fmt.Sprintf("%d + _lsum", rOffVar+off), size)
}

func rareIf(flag int, expr string) string {
	return fmt.Sprintf("CASE WHEN _f & %d <> 0 THEN %s END", flag, expr)
}

func rareAddr(off int) string {
	return "((" + rareB(off+8, 8) + "::UHUGEINT << 64) | " + rareB(off, 8) + "::UHUGEINT)"
}

// rareVar is the i-th variable field (0 mac_raw … 4 out_iface) as a BLOB.
func rareVar(i int) string {
	start := fmt.Sprint(rOffVar)
	for j := range i {
		start += fmt.Sprintf(" + _l%d", j)
	}
	return fmt.Sprintf("unhex(substr(_h, 2 * (%s) + 1, 2 * _l%d))", start, i)
}

// v2Exprs computes every version-2 column (eventColumns, by name) from the
// packed columns, _h and the lengths _l0.._l4 (see decodeSelectFrom).
// Columns stored typed in both layouts read themselves.
var v2Exprs = map[string]string{
	"src_addr":     addrExpr("", "src_addr"),
	"dst_addr":     addrExpr("", "dst_addr"),
	"uptime_ns":    rareA(rOffUptime, 8) + "::BIGINT",
	"nflog_group":  rareA(rOffGroup, 2) + "::USMALLINT",
	"hook":         rareA(rOffHook, 1) + "::UTINYINT",
	"out_iface":    "decode(" + rareVar(4) + ")",
	"verdict":      rareA(rOffVerdict, 1) + "::UTINYINT",
	"mark":         rareIf(rFlagMark, rareB(rBMark, 4)+"::UINTEGER"),
	"uid":          rareIf(rFlagUID, rareB(rBUID, 4)+"::UINTEGER"),
	"gid":          rareIf(rFlagUID, rareB(rBGID, 4)+"::UINTEGER"),
	"mac_src":      rareIf(rFlagMAC, rareA(rOffMACSrc, 6)),
	"mac_dst":      rareIf(rFlagMAC, rareA(rOffMACDst, 6)),
	"ethertype":    rareA(rOffEther, 2) + "::USMALLINT",
	"mac_raw":      "nullif(" + rareVar(0) + ", ''::BLOB)",
	"ihl":          rareA(rOffIHL, 1) + "::UTINYINT",
	"tos":          rareA(rOffTOS, 1) + "::UTINYINT",
	"ip_id":        rareA(rOffIPID, 4) + "::UINTEGER",
	"ip_flags":     rareA(rOffIPFlags, 1) + "::UTINYINT",
	"frag_off":     rareA(rOffFragOff, 2) + "::USMALLINT",
	"flow_label":   rareB(rBFlow, 4) + "::UINTEGER",
	"ip_options":   "nullif(" + rareVar(1) + ", ''::BLOB)",
	"ext_hdrs":     "nullif(" + rareVar(2) + ", ''::BLOB)",
	"seq":          rareIf(rFlagSeq, rareA(rOffSeq, 4)+"::UINTEGER"),
	"ack":          rareIf(rFlagSeq, rareA(rOffAck, 4)+"::UINTEGER"),
	"tcp_reserved": rareA(rOffReserved, 1) + "::UTINYINT",
	"urgent":       rareA(rOffUrgent, 2) + "::USMALLINT",
	"tcp_options":  "nullif(" + rareVar(3) + ", ''::BLOB)",
	"udp_len":      rareA(rOffUDPLen, 2) + "::USMALLINT",
	"udp_checksum": rareIf(rFlagUDPCsum, rareA(rOffUDPCsum, 2)+"::USMALLINT"),
	"icmp_id":      rareB(rBICMPID, 2) + "::USMALLINT",
	"icmp_seq":     rareB(rBICMPSeq, 2) + "::USMALLINT",
	"icmp_mtu":     rareB(rBMTU, 4) + "::UINTEGER",
	"icmp_gateway": rareIf(rFlagGateway, rareAddr(rBGateway)),
	"q_src_addr":   rareIf(rFlagQSrc, rareAddr(rBQSrc)),
	"q_dst_addr":   rareIf(rFlagQDst, rareAddr(rBQDst)),
	"q_proto":      rareIf(rFlagQuoted, rareB(rBQProto, 1)+"::UTINYINT"),
	"q_src_port":   rareIf(rFlagQuoted, rareB(rBQSport, 2)+"::USMALLINT"),
	"q_dst_port":   rareIf(rFlagQuoted, rareB(rBQDport, 2)+"::USMALLINT"),
	"q_total_len":  rareIf(rFlagQuoted, rareB(rBQTotal, 2)+"::USMALLINT"),
	"q_ttl":        rareIf(rFlagQuoted, rareB(rBQTTL, 1)+"::UTINYINT"),
	"q_ip_id":      rareIf(rFlagQuoted, rareB(rBQIPID, 4)+"::UINTEGER"),
	"q_seq":        rareIf(rFlagQuoted, rareB(rBQSeq, 4)+"::UINTEGER"),
	"truncated":    fmt.Sprintf("_f & %d <> 0", rFlagTruncated),
}

// decodeSelectFrom turns src (a packed events table, or a subquery with the
// same columns and payload_ref) into a subquery with exactly the version-2
// columns (eventColumns) and payload_ref, decoding rare with SQL: the hex
// text of the zero-padded BLOB once per row, then fixed substrings cast
// from hex.
func decodeSelectFrom(src string) string {
	cols := make([]string, 0, len(eventColumns)+1)
	for _, c := range eventColumns {
		expr, ok := v2Exprs[c.name]
		if !ok {
			expr = quoteIdent(c.name)
		} else {
			expr += " AS " + quoteIdent(c.name)
		}
		cols = append(cols, expr)
	}
	cols = append(cols, quoteIdent(refColumn.name))
	lens := make([]string, 0, 7)
	lens = append(lens, rareA(rOffFlags, 2)+"::USMALLINT AS _f")
	sum := make([]string, 5)
	for i := range 5 {
		l := rareA(rOffLens+i, 1) + "::INTEGER"
		lens = append(lens, l+fmt.Sprintf(" AS _l%d", i))
		sum[i] = l
	}
	lens = append(lens, strings.Join(sum, " + ")+" AS _lsum")
	return "(SELECT " + strings.Join(cols, ", ") + " FROM (SELECT *, " + strings.Join(lens, ", ") +
		fmt.Sprintf(" FROM (SELECT *, rpad(hex(rare), %d, '0') AS _h FROM %s)))", 2*rareMax, src)
}
