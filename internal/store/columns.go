package store

import (
	"encoding/binary"
	"net/netip"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/darkscope/darkscope/internal/event"
)

// appendCol is one column the write path hands to DuckDB: a plain typed
// value read from the Event. Exactly one getter is set. packedColumns'
// expressions turn these columns into the stored ones (UHUGEINT from hi/lo
// halves, TIMESTAMP_NS from nanoseconds).
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
	// pack writes the value into buf (rareMax bytes) and returns the
	// used part (the rare BLOB).
	pack func(e *event.Event, buf []byte) []byte
	// null, when set, reports the rows whose value is NULL.
	null func(*event.Event) bool
	// ctx marks the context number: the batch's ctx ids (ctxdict.go), not
	// a field of the event.
	ctx bool
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

// timeNS is the event time in Unix nanoseconds (noTime: the zero time,
// stored as NULL).
func timeNS(e *event.Event) int64 { return e.Time.UnixNano() }

func noTime(e *event.Event) bool  { return e.Time.IsZero() }
func noSrc(e *event.Event) bool   { return !e.Src.IsValid() }
func noDst(e *event.Event) bool   { return !e.Dst.IsValid() }
func noBytes(e *event.Event) bool { return e.PayloadCap == 0 }

// appendCols is what Append hands to DuckDB per event, in order (schema
// version 4): the hot columns reports, rollups and filters read, typed, the
// number of the event's context (sensor, source, prefix, in_iface) in the
// day's ctx table, and every rare field packed into one "rare" BLOB (see
// rare.go). packedColumns'
// expressions turn them into the stored columns.
var appendCols = []appendCol{
	{name: "time_ns", typ: duckdb.TYPE_BIGINT, i64: timeNS, null: noTime},
	{name: "kind", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(e.Kind) }},
	{name: "ctx", typ: duckdb.TYPE_UINTEGER, ctx: true},
	{name: "ip_version", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.IPVersion }},
	{name: "src_hi", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return hi(e.Src) }, null: noSrc},
	{name: "src_lo", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return lo(e.Src) }, null: noSrc},
	{name: "dst_hi", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return hi(e.Dst) }, null: noDst},
	{name: "dst_lo", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return lo(e.Dst) }, null: noDst},
	{name: "proto", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(e.Proto) }},
	{name: "total_len", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.TotalLen }},
	{name: "ttl", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.TTL }},
	{name: "src_port", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.SrcPort }},
	{name: "dst_port", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.DstPort }},
	{name: "tcp_flags", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(e.Flags) }},
	{name: "tcp_window", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.Window }},
	{name: "icmp_type", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.ICMPType }},
	{name: "icmp_code", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return e.ICMPCode }},
	{name: "payload_len", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return e.PayloadLen }},
	{name: "payload", typ: duckdb.TYPE_BLOB, blob: func(e *event.Event) []byte { return e.Payload[:e.PayloadCap] }, null: noBytes},
	{name: "rare", typ: duckdb.TYPE_BLOB, pack: packRare},
}
