package store

import (
	"encoding/binary"
	"net/netip"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/darkscope/darkscope/internal/event"
)

// appendCol is one column the write path hands to DuckDB: a plain typed
// value read from the Event. Exactly one getter is set. eventColumns'
// expressions turn these columns into the stored ones (NULLs from the "has"
// bits, UHUGEINT from hi/lo halves, TIMESTAMP_NS from nanoseconds).
type appendCol struct {
	name string
	typ  duckdb.Type
	u8   func(*event.Event) uint8
	u16  func(*event.Event) uint16
	u32  func(*event.Event) uint32
	u64  func(*event.Event) uint64
	i64  func(*event.Event) int64
	str  func(*event.Event) string
	blob func(*event.Event) []byte
}

func hi(a netip.Addr) uint64 {
	if !a.IsValid() {
		return 0
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8])
}

func lo(a netip.Addr) uint64 {
	if !a.IsValid() {
		return 0
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[8:])
}

func mac64(m *[6]byte) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

func hasBits(e *event.Event) uint32 {
	var h uint32
	if !e.Time.IsZero() {
		h |= hasTime
	}
	if e.HasMark {
		h |= hasMark
	}
	if e.HasUID {
		h |= hasUID
	}
	if e.HasMAC {
		h |= hasMAC
	}
	if e.HasSeq {
		h |= hasSeq
	}
	if e.HasUDPChecksum {
		h |= hasUDPCsum
	}
	if e.HasQuoted {
		h |= hasQuoted
		if e.Quoted.Src.IsValid() {
			h |= hasQSrc
		}
		if e.Quoted.Dst.IsValid() {
			h |= hasQDst
		}
	}
	if e.ICMPGateway.IsValid() {
		h |= hasGateway
	}
	if e.Src.IsValid() {
		h |= hasSrc
	}
	if e.Dst.IsValid() {
		h |= hasDst
	}
	if e.Truncated {
		h |= isTruncated
	}
	return h
}

func timeNS(e *event.Event) int64 {
	if e.Time.IsZero() {
		return 0
	}
	return e.Time.UnixNano()
}

// appendCols is what Append hands to DuckDB per event, in order.
var appendCols = []appendCol{
	{name: "time_ns", typ: duckdb.TYPE_BIGINT, i64: timeNS},
	{name: "has", typ: duckdb.TYPE_UINTEGER, u32: hasBits},
	{name: "uptime_ns", typ: duckdb.TYPE_BIGINT, i64: func(e *event.Event) int64 { return int64(e.Uptime) }},
	{name: "kind", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(e.Kind) }},
	{name: "sensor", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string { return e.Sensor }},
	{name: "source", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string { return e.Source }},
	{name: "prefix", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string { return e.Prefix }},
	{name: "nflog_group", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.Group }},
	{name: "hook", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(e.Hook) }},
	{name: "in_iface", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string { return e.InIface }},
	{name: "out_iface", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string { return e.OutIface }},
	{name: "verdict", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(e.Verdict) }},
	{name: "mark", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.Mark }},
	{name: "uid", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.UID }},
	{name: "gid", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.GID }},
	{name: "mac_src", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return mac64(&e.MACSrc) }},
	{name: "mac_dst", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return mac64(&e.MACDst) }},
	{name: "ethertype", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.EtherType }},
	{name: "mac_raw", typ: duckdb.TYPE_BLOB, blob: func(e *event.Event) []byte { return e.MACRaw[:e.MACRawLen] }},
	{name: "ip_version", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.IPVersion }},
	{name: "src_hi", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return hi(e.Src) }},
	{name: "src_lo", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return lo(e.Src) }},
	{name: "dst_hi", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return hi(e.Dst) }},
	{name: "dst_lo", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return lo(e.Dst) }},
	{name: "proto", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(e.Proto) }},
	{name: "ihl", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.IHL }},
	{name: "total_len", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.TotalLen }},
	{name: "tos", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.TOS }},
	{name: "ttl", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.TTL }},
	{name: "ip_id", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.IPID }},
	{name: "ip_flags", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.IPFlags }},
	{name: "frag_off", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.FragOff }},
	{name: "flow_label", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.FlowLabel }},
	{name: "ip_options", typ: duckdb.TYPE_BLOB, blob: func(e *event.Event) []byte { return e.IPOptions[:e.IPOptLen] }},
	{name: "ext_hdrs", typ: duckdb.TYPE_BLOB, blob: func(e *event.Event) []byte { return e.ExtHdrs[:e.ExtHdrLen] }},
	{name: "src_port", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.SrcPort }},
	{name: "dst_port", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.DstPort }},
	{name: "seq", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.Seq }},
	{name: "ack", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.Ack }},
	{name: "tcp_window", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.Window }},
	{name: "tcp_flags", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(e.Flags) }},
	{name: "tcp_reserved", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.Reserved }},
	{name: "urgent", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.Urgent }},
	{name: "tcp_options", typ: duckdb.TYPE_BLOB, blob: func(e *event.Event) []byte { return e.TCPOptions[:e.TCPOptLen] }},
	{name: "udp_len", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.UDPLen }},
	{name: "udp_checksum", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.UDPChecksum }},
	{name: "icmp_type", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.ICMPType }},
	{name: "icmp_code", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.ICMPCode }},
	{name: "icmp_id", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.ICMPID }},
	{name: "icmp_seq", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.ICMPSeq }},
	{name: "icmp_mtu", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.ICMPMTU }},
	{name: "gw_hi", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return hi(e.ICMPGateway) }},
	{name: "gw_lo", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return lo(e.ICMPGateway) }},
	{name: "q_src_hi", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return hi(e.Quoted.Src) }},
	{name: "q_src_lo", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return lo(e.Quoted.Src) }},
	{name: "q_dst_hi", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return hi(e.Quoted.Dst) }},
	{name: "q_dst_lo", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return lo(e.Quoted.Dst) }},
	{name: "q_proto", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(e.Quoted.Proto) }},
	{name: "q_src_port", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.Quoted.SrcPort }},
	{name: "q_dst_port", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.Quoted.DstPort }},
	{name: "q_total_len", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.Quoted.TotalLen }},
	{name: "q_ttl", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.Quoted.TTL }},
	{name: "q_ip_id", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.Quoted.IPID }},
	{name: "q_seq", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return e.Quoted.Seq }},
	{name: "payload_len", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.PayloadLen }},
	{name: "payload", typ: duckdb.TYPE_BLOB, blob: func(e *event.Event) []byte { return e.Payload[:e.PayloadCap] }},
}
