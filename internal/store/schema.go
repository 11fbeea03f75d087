package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// File layout inside the data directory.
const (
	lockName  = "darkscope.lock"
	stateName = "state.duckdb"
	eventsDir = "events"
	tmpDir    = "tmp"
	dayLayout = "2006-01-02"
)

// eventColumns is the stored layout of one event, in table order, as
// day-file migration 1 created it: never change it; new columns go into a
// new migration (migration 2 adds refColumn and the payload side tables;
// migration 3 stores new files packed, see packedColumns, and the views
// still show exactly these columns). expr is the
// SQL that computes the column from the append function's output (appendCols):
// presence bits in "has" turn into NULLs, hi/lo halves into UHUGEINT, ns into
// TIMESTAMP_NS, empty byte strings into NULL.
var eventColumns = []struct{ name, ddl, expr string }{
	{"time", "TIMESTAMP_NS", "CASE WHEN has & 1 <> 0 THEN make_timestamp_ns(time_ns) END"},
	{"uptime_ns", "BIGINT NOT NULL", "uptime_ns"},
	{"kind", "UTINYINT NOT NULL", "kind"},
	{"sensor", "VARCHAR NOT NULL", "sensor"},
	{"source", "VARCHAR NOT NULL", "source"},
	{"prefix", "VARCHAR NOT NULL", "prefix"},
	{"nflog_group", "USMALLINT NOT NULL", "nflog_group"},
	{"hook", "UTINYINT NOT NULL", "hook"},
	{"in_iface", "VARCHAR NOT NULL", "in_iface"},
	{"out_iface", "VARCHAR NOT NULL", "out_iface"},
	{"verdict", "UTINYINT NOT NULL", "verdict"},
	{"mark", "UINTEGER", "CASE WHEN has & 2 <> 0 THEN mark END"},
	{"uid", "UINTEGER", "CASE WHEN has & 4 <> 0 THEN uid END"},
	{"gid", "UINTEGER", "CASE WHEN has & 4 <> 0 THEN gid END"},
	{"mac_src", "UBIGINT", "CASE WHEN has & 8 <> 0 THEN mac_src END"},
	{"mac_dst", "UBIGINT", "CASE WHEN has & 8 <> 0 THEN mac_dst END"},
	{"ethertype", "USMALLINT NOT NULL", "ethertype"},
	{"mac_raw", "BLOB", "nullif(mac_raw, ''::BLOB)"},
	{"ip_version", "UTINYINT NOT NULL", "ip_version"},
	{"src_addr", "UHUGEINT", "CASE WHEN has & 256 <> 0 THEN (src_hi::UHUGEINT << 64) | src_lo::UHUGEINT END"},
	{"dst_addr", "UHUGEINT", "CASE WHEN has & 512 <> 0 THEN (dst_hi::UHUGEINT << 64) | dst_lo::UHUGEINT END"},
	{"proto", "UTINYINT NOT NULL", "proto"},
	{"ihl", "UTINYINT NOT NULL", "ihl"},
	{"total_len", "USMALLINT NOT NULL", "total_len"},
	{"tos", "UTINYINT NOT NULL", "tos"},
	{"ttl", "UTINYINT NOT NULL", "ttl"},
	{"ip_id", "UINTEGER NOT NULL", "ip_id"},
	{"ip_flags", "UTINYINT NOT NULL", "ip_flags"},
	{"frag_off", "USMALLINT NOT NULL", "frag_off"},
	{"flow_label", "UINTEGER NOT NULL", "flow_label"},
	{"ip_options", "BLOB", "nullif(ip_options, ''::BLOB)"},
	{"ext_hdrs", "BLOB", "nullif(ext_hdrs, ''::BLOB)"},
	{"src_port", "USMALLINT NOT NULL", "src_port"},
	{"dst_port", "USMALLINT NOT NULL", "dst_port"},
	{"seq", "UINTEGER", "CASE WHEN has & 16 <> 0 THEN seq END"},
	{"ack", "UINTEGER", "CASE WHEN has & 16 <> 0 THEN ack END"},
	{"tcp_window", "USMALLINT NOT NULL", "tcp_window"},
	{"tcp_flags", "UTINYINT NOT NULL", "tcp_flags"},
	{"tcp_reserved", "UTINYINT NOT NULL", "tcp_reserved"},
	{"urgent", "USMALLINT NOT NULL", "urgent"},
	{"tcp_options", "BLOB", "nullif(tcp_options, ''::BLOB)"},
	{"udp_len", "USMALLINT NOT NULL", "udp_len"},
	{"udp_checksum", "USMALLINT", "CASE WHEN has & 32 <> 0 THEN udp_checksum END"},
	{"icmp_type", "UTINYINT NOT NULL", "icmp_type"},
	{"icmp_code", "UTINYINT NOT NULL", "icmp_code"},
	{"icmp_id", "USMALLINT NOT NULL", "icmp_id"},
	{"icmp_seq", "USMALLINT NOT NULL", "icmp_seq"},
	{"icmp_mtu", "UINTEGER NOT NULL", "icmp_mtu"},
	{"icmp_gateway", "UHUGEINT", "CASE WHEN has & 128 <> 0 THEN (gw_hi::UHUGEINT << 64) | gw_lo::UHUGEINT END"},
	{"q_src_addr", "UHUGEINT", "CASE WHEN has & 1024 <> 0 THEN (q_src_hi::UHUGEINT << 64) | q_src_lo::UHUGEINT END"},
	{"q_dst_addr", "UHUGEINT", "CASE WHEN has & 2048 <> 0 THEN (q_dst_hi::UHUGEINT << 64) | q_dst_lo::UHUGEINT END"},
	{"q_proto", "UTINYINT", "CASE WHEN has & 64 <> 0 THEN q_proto END"},
	{"q_src_port", "USMALLINT", "CASE WHEN has & 64 <> 0 THEN q_src_port END"},
	{"q_dst_port", "USMALLINT", "CASE WHEN has & 64 <> 0 THEN q_dst_port END"},
	{"q_total_len", "USMALLINT", "CASE WHEN has & 64 <> 0 THEN q_total_len END"},
	{"q_ttl", "UTINYINT", "CASE WHEN has & 64 <> 0 THEN q_ttl END"},
	{"q_ip_id", "UINTEGER", "CASE WHEN has & 64 <> 0 THEN q_ip_id END"},
	{"q_seq", "UINTEGER", "CASE WHEN has & 64 <> 0 THEN q_seq END"},
	{"payload_len", "USMALLINT NOT NULL", "payload_len"},
	{"payload", "BLOB", "nullif(payload, ''::BLOB)"},
	{"truncated", "BOOLEAN NOT NULL", "has & 4096 <> 0"},
}

// Presence bits of the append function's "has" column.
const (
	hasTime     = 1 << 0
	hasMark     = 1 << 1
	hasUID      = 1 << 2
	hasMAC      = 1 << 3
	hasSeq      = 1 << 4
	hasUDPCsum  = 1 << 5
	hasQuoted   = 1 << 6
	hasGateway  = 1 << 7
	hasSrc      = 1 << 8
	hasDst      = 1 << 9
	hasQSrc     = 1 << 10
	hasQDst     = 1 << 11
	isTruncated = 1 << 12
)

// eventsDDL creates table with the version-1 columns (eventColumns) and,
// when withRef, the payload_ref column migration 2 adds.
func eventsDDL(table string, withRef bool) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + table + " (")
	for i, c := range eventColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.name) + " " + c.ddl)
	}
	if withRef {
		b.WriteString(", " + quoteIdent(refColumn.name) + " " + refColumn.ddl)
	}
	b.WriteString(")")
	return b.String()
}

// v3Columns is the events layout migration 3 created (schema version 3):
// never change it. Migration 4 turns it into packedColumns.
var v3Columns = []struct{ name, ddl, expr string }{
	{"time", "TIMESTAMP_NS", "make_timestamp_ns(time_ns)"},
	{"kind", "UTINYINT NOT NULL", "kind"},
	{"sensor", "VARCHAR NOT NULL", "sensor"},
	{"source", "VARCHAR NOT NULL", "source"},
	{"prefix", "VARCHAR NOT NULL", "prefix"},
	{"in_iface", "VARCHAR NOT NULL", "in_iface"},
	{"ip_version", "UTINYINT NOT NULL", "ip_version"},
	{"src_addr", "UHUGEINT", "(src_hi::UHUGEINT << 64) | src_lo::UHUGEINT"},
	{"dst_addr", "UHUGEINT", "(dst_hi::UHUGEINT << 64) | dst_lo::UHUGEINT"},
	{"proto", "UTINYINT NOT NULL", "proto"},
	{"total_len", "USMALLINT NOT NULL", "total_len"},
	{"ttl", "UTINYINT NOT NULL", "ttl"},
	{"src_port", "USMALLINT NOT NULL", "src_port"},
	{"dst_port", "USMALLINT NOT NULL", "dst_port"},
	{"tcp_flags", "UTINYINT NOT NULL", "tcp_flags"},
	{"tcp_window", "USMALLINT NOT NULL", "tcp_window"},
	{"icmp_type", "UTINYINT NOT NULL", "icmp_type"},
	{"icmp_code", "UTINYINT NOT NULL", "icmp_code"},
	{"payload_len", "USMALLINT NOT NULL", "payload_len"},
	{"payload", "BLOB", "payload"},
	{"rare", "BLOB NOT NULL", "rare"},
}

// v4Columns is the events layout migration 4 created (schema version 4):
// never change it. Migration 5 turns it into packedColumns. The four
// strings of an event's context (sensor, source, prefix, in_iface) are one
// number, ctx, naming a row of the day's ctx table (ctxColumns): they are
// the same for long runs of events, and VARCHAR columns are DuckDB's
// costliest to insert even then (DuckDB alone copying 1.95M stored rows:
// 8.1 s with the four strings, 3.2 s with ctx; a whole import gained
// ~15% CPU).
var v4Columns = withCtx(v3Columns)

// packedColumns is the stored layout of events from schema version 5 on
// (migration 5): the columns reports, rollups and filters read, typed, the
// context number ctx, then "rare", every other field packed (rare.go), then
// payload_ref. An address is two UBIGINT halves (src_hi, src_lo; dst_hi,
// dst_lo; NULL when the event has none), not one UHUGEINT: DuckDB's
// 128-bit integers are slow to insert, compress and scan (2M stored rows
// copied into a fresh file and checkpointed on one thread: 2.1 s as
// halves, 4.0 s as UHUGEINT).
// day.from and the views still show src_addr and dst_addr as UHUGEINT.
// expr computes each column from the append function's output
// (appendCols).
var packedColumns = withHalves(v4Columns)

// withHalves is cols with its address columns (addrColumns) each replaced
// by the two UBIGINT halves the append function provides.
func withHalves(cols []struct{ name, ddl, expr string }) []struct{ name, ddl, expr string } {
	out := make([]struct{ name, ddl, expr string }, 0, len(cols)+len(addrColumns))
	for _, c := range cols {
		if !slices.Contains(addrColumns, c.name) {
			out = append(out, c)
			continue
		}
		p := addrPrefix(c.name)
		out = append(out,
			struct{ name, ddl, expr string }{p + "_hi", "UBIGINT", p + "_hi"},
			struct{ name, ddl, expr string }{p + "_lo", "UBIGINT", p + "_lo"})
	}
	return out
}

// payloadColumn is the events column of the payload's first bytes.
const payloadColumn = "payload"

// addrColumns are the UHUGEINT address columns that layout version 5
// stores as halves.
var addrColumns = []string{"src_addr", "dst_addr"}

// addrPrefix is "src" for src_addr.
func addrPrefix(col string) string { return strings.TrimSuffix(col, "_addr") }

// addrExpr is the UHUGEINT of address column col (src_addr or dst_addr)
// from its stored halves, qualified by q (e.g. "e." or "").
func addrExpr(q, col string) string {
	p := q + addrPrefix(col)
	return "((" + p + "_hi::UHUGEINT << 64) | " + p + "_lo::UHUGEINT)"
}

// withCtx is cols with its context columns (ctxColumns) replaced by ctx.
func withCtx(cols []struct{ name, ddl, expr string }) []struct{ name, ddl, expr string } {
	out := make([]struct{ name, ddl, expr string }, 0, len(cols))
	for _, c := range cols {
		switch {
		case c.name == ctxColumns[0]:
			out = append(out, struct{ name, ddl, expr string }{"ctx", "UINTEGER NOT NULL", "ctx"})
		case slices.Contains(ctxColumns, c.name):
		default:
			out = append(out, c)
		}
	}
	return out
}

// ctxColumns are the columns of a day's ctx table after its id, in the
// order the join (day.from) and the append path use.
var ctxColumns = []string{"sensor", "source", "prefix", "in_iface"}

// ctxDDL creates a day's ctx table.
func ctxDDL(table string) string {
	parts := []string{"id UINTEGER PRIMARY KEY"}
	for _, c := range ctxColumns {
		parts = append(parts, quoteIdent(c)+" VARCHAR NOT NULL")
	}
	return "CREATE TABLE IF NOT EXISTS " + table + " (" + strings.Join(parts, ", ") + ")"
}

// packedDDL creates the events table in the current (version-4) layout.
func packedDDL(table string) string { return layoutDDL(table, packedColumns) }

// rareCompression is the compression migration 7 fixes for the "rare" BLOB
// of a new day file. DuckDB otherwise tries dictionary and FSST on every
// segment it checkpoints and picks FSST for these mostly distinct
// strings: the dictionary attempt alone was ~5% of a 10M-line import's
// CPU, and checkpointing a copied day (333k rows, 65536-row inserts) took
// 0.19-0.20 s instead of 0.29-0.30 s, the file the same size.
const rareCompression = "fsst"

// compressedDDL is packedDDL with rareCompression on "rare".
func compressedDDL(table string) string {
	cols := slices.Clone(packedColumns)
	for i := range cols {
		if cols[i].name == "rare" {
			cols[i].ddl += " USING COMPRESSION " + rareCompression
		}
	}
	return layoutDDL(table, cols)
}

// layoutDDL creates an events table with cols and payload_ref.
func layoutDDL(table string, cols []struct{ name, ddl, expr string }) string {
	parts := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		parts = append(parts, quoteIdent(c.name)+" "+c.ddl)
	}
	parts = append(parts, quoteIdent(refColumn.name)+" "+refColumn.ddl)
	return "CREATE TABLE IF NOT EXISTS " + table + " (" + strings.Join(parts, ", ") + ")"
}

// packedSelect selects the packed stored columns (and payload_ref: from
// the function's column when withRef, else NULL) from the append function
// from. Without withBytes the payload column is NULL rather than the
// function's, which DuckDB then does not ask the function for (projection
// pushdown).
func packedSelect(from string, withRef, withBytes bool) string {
	exprs := make([]string, 0, len(packedColumns)+1)
	for _, c := range packedColumns {
		expr := c.expr
		if c.name == payloadColumn && !withBytes {
			expr = "NULL::BLOB"
		}
		exprs = append(exprs, expr+" AS "+quoteIdent(c.name))
	}
	ref := "NULL::UINTEGER"
	if withRef {
		ref = refColumn.expr
	}
	exprs = append(exprs, ref+" AS "+quoteIdent(refColumn.name))
	return "SELECT " + strings.Join(exprs, ", ") + " FROM " + from
}

// insertSQL is the INSERT of one batch into the events of day d from the
// append function (or view) from (withRef, withBytes: see packedSelect).
// A packed day (the version-4 layout) takes the packed columns as they
// are; a day file written before version 3 keeps its version-2 columns,
// decoded from the same packed columns and its ctx table.
func insertSQL(d *day, from string, withRef, withBytes bool) string {
	if d.packed {
		names := make([]string, 0, len(packedColumns)+1)
		for _, c := range packedColumns {
			names = append(names, quoteIdent(c.name))
		}
		names = append(names, quoteIdent(refColumn.name))
		return "INSERT INTO " + d.alias + ".events (" + strings.Join(names, ", ") + ") " + packedSelect(from, withRef, withBytes)
	}
	names := make([]string, 0, len(eventColumns)+1)
	for _, c := range eventColumns {
		names = append(names, quoteIdent(c.name))
	}
	names = append(names, quoteIdent(refColumn.name))
	return "INSERT INTO " + d.alias + ".events (" + strings.Join(names, ", ") + ") SELECT * FROM " +
		decodeSelectFrom(ctxJoin("("+packedSelect(from, withRef, withBytes)+")", d.alias, ""))
}

// ctxJoin is the FROM item of src (columns of the packed layout) with
// the four context columns of alias's ctx table in place of ctx, and the
// extra select items (each starting with ", ") over src as e.
func ctxJoin(src, alias, extra string) string {
	cols := "e.* EXCLUDE (ctx)" + extra
	for _, c := range ctxColumns {
		cols += ", c." + quoteIdent(c)
	}
	return "(SELECT " + cols + " FROM " + src + " e JOIN " + alias + ".ctx c ON c.id = e.ctx)"
}

// from is the FROM item of day d's stored events, with its rowid as a
// column and both address forms: for a day in the version-2 columns, the
// table with the halves (src_hi, src_lo, dst_hi, dst_lo) computed from
// src_addr and dst_addr; for a packed day, the table with src_addr and
// dst_addr computed from their halves and, when needCtx, the context
// columns from its ctx table (sensor, source, prefix and in_iface in place
// of ctx). DuckDB computes a column only when the query reads it.
func (d *day) from(needCtx bool) string {
	if !d.packed {
		// The rollups key addresses on halves (see rollupTables).
		extra := ", e.rowid AS rowid"
		for _, c := range addrColumns {
			p := addrPrefix(c)
			extra += ", (e." + c + " >> 64)::UBIGINT AS " + p + "_hi, (e." + c + " & 18446744073709551615::UHUGEINT)::UBIGINT AS " + p + "_lo"
		}
		return "(SELECT e.*" + extra + " FROM " + d.alias + ".events e)"
	}
	extra := ", e.rowid AS rowid"
	for _, c := range addrColumns {
		extra += ", " + addrExpr("e.", c) + " AS " + c
	}
	if needCtx {
		return ctxJoin(d.alias+".events", d.alias, extra)
	}
	return "(SELECT e.*" + extra + " FROM " + d.alias + ".events e)"
}

// eventsFrom is the FROM item of day d's events with the version-2 columns
// and payload_ref, whatever its layout.
func (d *day) eventsFrom() string {
	if d.packed {
		return decodeSelectFrom(d.from(true))
	}
	return d.alias + ".events"
}

// packetsOnly restricts the packet reports (top, histogram and their
// rollups) to packet events: alert and auth rows share the table but are not
// packets (event.KindPacket is 0).
const packetsOnly = "kind = 0"

// rollupTables are the per-day aggregates kept beside the events. A day's
// rollups are valid while rollup_state.events equals the day's event count;
// queries fall back to the raw events of a day whose rollups are stale.
// fill's %[1]s is the day's alias, %[2]s the FROM item of its events
// (day.from, with the context columns when ctx).
var rollupTables = []struct {
	name, ddl, fill string
	ctx             bool
}{
	{"roll_src",
		"CREATE TABLE IF NOT EXISTS %s.roll_src (src_hi UBIGINT, src_lo UBIGINT, ip_version UTINYINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
		"INSERT INTO %[1]s.roll_src SELECT src_hi, src_lo, ip_version, count(*), min(time), max(time) FROM %[2]s WHERE " + packetsOnly + " GROUP BY ALL", false},
	{"roll_dst",
		"CREATE TABLE IF NOT EXISTS %s.roll_dst (dst_hi UBIGINT, dst_lo UBIGINT, ip_version UTINYINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
		"INSERT INTO %[1]s.roll_dst SELECT dst_hi, dst_lo, ip_version, count(*), min(time), max(time) FROM %[2]s WHERE " + packetsOnly + " GROUP BY ALL", false},
	{"roll_port",
		"CREATE TABLE IF NOT EXISTS %s.roll_port (proto UTINYINT, dst_port USMALLINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
		"INSERT INTO %[1]s.roll_port SELECT proto, dst_port, count(*), min(time), max(time) FROM %[2]s WHERE " + packetsOnly + " GROUP BY ALL", false},
	{"roll_sensor",
		"CREATE TABLE IF NOT EXISTS %s.roll_sensor (sensor VARCHAR, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
		"INSERT INTO %[1]s.roll_sensor SELECT sensor, count(*), min(time), max(time) FROM %[2]s WHERE " + packetsOnly + " GROUP BY ALL", true},
	{"roll_minute",
		"CREATE TABLE IF NOT EXISTS %s.roll_minute (minute TIMESTAMP, events UBIGINT)",
		"INSERT INTO %[1]s.roll_minute SELECT date_trunc('minute', time), count(*) FROM %[2]s WHERE " + packetsOnly + " GROUP BY ALL", false},
}

// rollupV1DDL is the rollup tables as migration 1 created them (frozen:
// migration 6 replaced roll_src's and roll_dst's UHUGEINT address with
// two UBIGINT halves, see rollupTables).
var rollupV1DDL = []string{
	"CREATE TABLE IF NOT EXISTS %s.roll_src (src_addr UHUGEINT, ip_version UTINYINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
	"CREATE TABLE IF NOT EXISTS %s.roll_dst (dst_addr UHUGEINT, ip_version UTINYINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
	"CREATE TABLE IF NOT EXISTS %s.roll_port (proto UTINYINT, dst_port USMALLINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
	"CREATE TABLE IF NOT EXISTS %s.roll_sensor (sensor VARCHAR, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
	"CREATE TABLE IF NOT EXISTS %s.roll_minute (minute TIMESTAMP, events UBIGINT)",
}

// offsetsDDL creates the offsets table of a day file and of state.duckdb.
const offsetsDDL = `CREATE TABLE %s.offsets (key VARCHAR PRIMARY KEY, inode UBIGINT NOT NULL, "offset" BIGINT NOT NULL, line BIGINT NOT NULL, seq UBIGINT NOT NULL)`

// newDay builds a new, empty day file db directly in the layout the
// dayMigrations chain leaves, in one transaction, and records every
// migration as applied. The chain creates, rewrites and drops tables on
// the way (~45 ms per new day, paid by the first append to it);
// TestNewDayMatchesMigrations keeps the two equal.
func newDay(ctx context.Context, tx *sql.Tx, db string) error {
	stmts := []string{
		compressedDDL(db + ".events"),
		fmt.Sprintf(offsetsDDL, db),
		"CREATE TABLE " + db + ".rollup_state (events UBIGINT NOT NULL)",
		"INSERT INTO " + db + ".rollup_state VALUES (0)",
		sideDDL(db+".auth", authColumns),
		sideDDL(db+".alerts", alertColumns),
		ctxDDL(db + ".ctx"),
	}
	for _, r := range rollupTables {
		stmts = append(stmts, fmt.Sprintf(r.ddl, db))
	}
	if err := execAll(ctx, tx, stmts...); err != nil {
		return err
	}
	for _, m := range dayMigrations {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+db+".schema_migrations VALUES (?, ?, now()::TIMESTAMP)", m.version, m.name); err != nil {
			return fmt.Errorf("record migration %d: %w", m.version, err)
		}
	}
	return nil
}

// migration moves one attached database (alias db) from version-1 to version.
type migration struct {
	version int
	name    string
	up      func(ctx context.Context, tx *sql.Tx, db string) error
}

func execAll(ctx context.Context, tx *sql.Tx, stmts ...string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", firstLine(s), err)
		}
	}
	return nil
}

// stateMigrations build state.duckdb: offsets mirrored from day files,
// source counters and later detector state. Append new entries; never edit
// an applied one.
var stateMigrations = []migration{
	{1, "initial", func(ctx context.Context, tx *sql.Tx, db string) error {
		return execAll(ctx, tx,
			fmt.Sprintf(offsetsDDL, db),
			"CREATE TABLE "+db+".counters (source VARCHAR PRIMARY KEY, received UBIGINT NOT NULL, stored UBIGINT NOT NULL, ignored UBIGINT NOT NULL, saved_at TIMESTAMP NOT NULL)",
			"CREATE TABLE "+db+".counter_reasons (source VARCHAR NOT NULL, kind VARCHAR NOT NULL, reason VARCHAR NOT NULL, count UBIGINT NOT NULL, PRIMARY KEY (source, kind, reason))",
		)
	}},
	{2, "all-time rollups", func(ctx context.Context, tx *sql.Tx, db string) error {
		return execAll(ctx, tx,
			"CREATE TABLE "+db+".all_src (src_addr UHUGEINT, ip_version UTINYINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
			"CREATE TABLE "+db+".all_dst (dst_addr UHUGEINT, ip_version UTINYINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
			"CREATE TABLE "+db+".all_port (proto UTINYINT, dst_port USMALLINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
			"CREATE TABLE "+db+".all_sensor (sensor VARCHAR, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
			"CREATE TABLE "+db+".all_days (day VARCHAR PRIMARY KEY, events UBIGINT NOT NULL)",
		)
	}},
	{3, "all-time rollup address halves", func(ctx context.Context, tx *sql.Tx, db string) error {
		// Like the day rollups (day migration 6): rebuilt from them by the
		// next writer that needs them.
		return execAll(ctx, tx,
			"DROP TABLE "+db+".all_src",
			"DROP TABLE "+db+".all_dst",
			"CREATE TABLE "+db+".all_src (src_hi UBIGINT, src_lo UBIGINT, ip_version UTINYINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
			"CREATE TABLE "+db+".all_dst (dst_hi UBIGINT, dst_lo UBIGINT, ip_version UTINYINT, events UBIGINT, first TIMESTAMP_NS, last TIMESTAMP_NS)",
			"DELETE FROM "+db+".all_days",
		)
	}},
}

const allMerge = "sum(events)::UBIGINT AS events, min(first) AS first, max(last) AS last"

// allTables pairs the all-time rollups in state.duckdb with the per-day
// rollups they sum, and how to merge rows (first/last by min/max).
// part, when set, is the column rebuildGlobal may split a large rebuild
// on (see allPartitions).
var allTables = []struct{ all, day, keys, merge, part string }{
	{"all_src", "roll_src", "src_hi, src_lo, ip_version", allMerge, "src_lo"},
	{"all_dst", "roll_dst", "dst_hi, dst_lo, ip_version", allMerge, "dst_lo"},
	{"all_port", "roll_port", "proto, dst_port", allMerge, ""},
	{"all_sensor", "roll_sensor", "sensor", allMerge, ""},
}

// dayMigrations build one events/YYYY-MM-DD.duckdb file. Version numbers
// follow event.SchemaVersion.
var dayMigrations = []migration{
	{1, "initial", func(ctx context.Context, tx *sql.Tx, db string) error {
		stmts := []string{
			eventsDDL(db+".events", false),
			fmt.Sprintf(offsetsDDL, db),
			"CREATE TABLE " + db + ".rollup_state (events UBIGINT NOT NULL)",
			"INSERT INTO " + db + ".rollup_state VALUES (0)",
		}
		for _, ddl := range rollupV1DDL {
			stmts = append(stmts, fmt.Sprintf(ddl, db))
		}
		return execAll(ctx, tx, stmts...)
	}},
	{2, "auth and alert payloads", func(ctx context.Context, tx *sql.Tx, db string) error {
		return execAll(ctx, tx,
			"ALTER TABLE "+db+".events ADD COLUMN IF NOT EXISTS "+quoteIdent(refColumn.name)+" "+refColumn.ddl,
			sideDDL(db+".auth", authColumns),
			sideDDL(db+".alerts", alertColumns),
		)
	}},
	{3, "packed rare fields", func(ctx context.Context, tx *sql.Tx, db string) error {
		// A new (empty) file gets the packed layout; a file that already
		// holds events keeps its version-2 columns (insertSQL and
		// eventsFrom handle both; see day.packed).
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+db+".events").Scan(&n); err != nil {
			return fmt.Errorf("count events: %w", err)
		}
		if n > 0 {
			return nil
		}
		return execAll(ctx, tx, "DROP TABLE "+db+".events", layoutDDL(db+".events", v3Columns))
	}},
	{4, "context dictionary", func(ctx context.Context, tx *sql.Tx, db string) error {
		// Every day file gets a ctx table (the append path numbers an
		// event's context against it, whatever the layout). A packed
		// (version-3) events table is rewritten with ctx in place of
		// the four strings; its rollups are rebuilt on demand. A file
		// still in the version-2 columns keeps them.
		if err := execAll(ctx, tx, ctxDDL(db+".ctx")); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main' AND table_name = 'events' AND column_name = 'rare'", db).Scan(&n); err != nil {
			return fmt.Errorf("read layout: %w", err)
		}
		if n == 0 {
			return nil
		}
		names := make([]string, 0, len(v4Columns)+1)
		for _, c := range v4Columns {
			names = append(names, quoteIdent(c.name))
		}
		names = append(names, quoteIdent(refColumn.name))
		sel := make([]string, len(names))
		for i, nm := range names {
			sel[i] = "e." + nm
			if nm == quoteIdent("ctx") {
				sel[i] = "c.id"
			}
		}
		on := make([]string, len(ctxColumns))
		for i, c := range ctxColumns {
			on[i] = "c." + quoteIdent(c) + " = e." + quoteIdent(c)
		}
		stmts := []string{
			"INSERT INTO " + db + ".ctx SELECT (row_number() OVER ())::UINTEGER, * FROM (SELECT DISTINCT " + strings.Join(ctxColumns, ", ") + " FROM " + db + ".events)",
			layoutDDL(db+".events_v4", v4Columns),
			"INSERT INTO " + db + ".events_v4 (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(sel, ", ") +
				" FROM " + db + ".events e JOIN " + db + ".ctx c ON " + strings.Join(on, " AND "),
		}
		stmts = append(stmts, replaceEvents(db, "events_v4")...)
		return execAll(ctx, tx, stmts...)
	}},
	{5, "address halves", func(ctx context.Context, tx *sql.Tx, db string) error {
		// A packed (version-4) events table is rewritten with each
		// UHUGEINT address as two UBIGINT halves; its rollups are
		// rebuilt on demand (the copy need not keep the rowid order their
		// delta queries rely on). A file still in the version-2 columns
		// keeps them.
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main' AND table_name = 'events' AND column_name IN ('ctx', 'src_addr')", db).Scan(&n); err != nil {
			return fmt.Errorf("read layout: %w", err)
		}
		if n < 2 {
			return nil
		}
		names := make([]string, 0, len(packedColumns)+1)
		sel := make([]string, 0, len(packedColumns)+1)
		for _, c := range v4Columns {
			if !slices.Contains(addrColumns, c.name) {
				names = append(names, quoteIdent(c.name))
				sel = append(sel, quoteIdent(c.name))
				continue
			}
			p := addrPrefix(c.name)
			names = append(names, quoteIdent(p+"_hi"), quoteIdent(p+"_lo"))
			sel = append(sel, "("+quoteIdent(c.name)+" >> 64)::UBIGINT", "("+quoteIdent(c.name)+" & 18446744073709551615::UHUGEINT)::UBIGINT")
		}
		names = append(names, quoteIdent(refColumn.name))
		sel = append(sel, quoteIdent(refColumn.name))
		stmts := []string{
			packedDDL(db + ".events_v5"),
			"INSERT INTO " + db + ".events_v5 (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(sel, ", ") + " FROM " + db + ".events",
		}
		stmts = append(stmts, replaceEvents(db, "events_v5")...)
		return execAll(ctx, tx, stmts...)
	}},
	{6, "rollup address halves", func(ctx context.Context, tx *sql.Tx, db string) error {
		// roll_src and roll_dst key on the two UBIGINT halves, like the
		// events (migration 5): DuckDB groups and scans them several times
		// faster than one UHUGEINT. The day's rollups are rebuilt on demand.
		stmts := []string{
			"DROP TABLE " + db + ".roll_src",
			"DROP TABLE " + db + ".roll_dst",
			"UPDATE " + db + ".rollup_state SET events = 0",
		}
		for _, r := range rollupTables {
			switch r.name {
			case "roll_src", "roll_dst":
				stmts = append(stmts, fmt.Sprintf(r.ddl, db))
			default:
				stmts = append(stmts, "DELETE FROM "+db+"."+r.name)
			}
		}
		return execAll(ctx, tx, stmts...)
	}},
	{7, "rare column FSST", func(ctx context.Context, tx *sql.Tx, db string) error {
		// An empty packed events table (a new day) is recreated with
		// rareCompression on "rare"; a file with rows keeps DuckDB's
		// choice per segment.
		var cols, n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main' AND table_name = 'events' AND column_name IN ('ctx', 'src_hi')", db).Scan(&cols); err != nil {
			return fmt.Errorf("read layout: %w", err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+db+".events").Scan(&n); err != nil {
			return fmt.Errorf("count events: %w", err)
		}
		if cols < 2 || n > 0 {
			return nil
		}
		return execAll(ctx, tx, "DROP TABLE "+db+".events", compressedDDL(db+".events"))
	}},
}

// replaceEvents makes table next the events table of day file db, in
// place of the old one, and empties the day's rollups (rebuilt on demand:
// a rewrite need not keep the rowid order their delta queries rely on).
func replaceEvents(db, next string) []string {
	stmts := []string{
		"DROP TABLE " + db + ".events",
		"ALTER TABLE " + db + "." + next + " RENAME TO events",
		"UPDATE " + db + ".rollup_state SET events = 0",
	}
	for _, r := range rollupTables {
		stmts = append(stmts, "DELETE FROM "+db+"."+r.name)
	}
	return stmts
}

// isPacked reports whether day file alias stores events in the packed
// (version 5) layout.
func isPacked(ctx context.Context, db *sql.DB, alias string) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main' AND table_name = 'events' AND column_name = 'ctx'", alias).Scan(&n); err != nil {
		return false, fmt.Errorf("read %s layout: %w", alias, err)
	}
	return n > 0, nil
}

const migrationsDDL = "CREATE TABLE IF NOT EXISTS %s.schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"

// migrate applies the migrations db lacks, each in its own transaction
// (DuckDB writes one attached database per transaction).
// A file with no table at all (just created) is built by fresh instead,
// when fresh is not nil.
func migrate(ctx context.Context, db *sql.DB, alias string, list []migration, fresh func(context.Context, *sql.Tx, string) error) error {
	if fresh != nil {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_tables() WHERE database_name = ?", alias).Scan(&n); err != nil {
			return fmt.Errorf("list %s tables: %w", alias, err)
		}
		if n == 0 {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return fmt.Errorf("create %s: %w", alias, err)
			}
			if err := execAll(ctx, tx, fmt.Sprintf(migrationsDDL, alias)); err == nil {
				err = fresh(ctx, tx, alias)
			}
			if err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("create %s: %w", alias, err)
			}
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("create %s: commit: %w", alias, err)
			}
			return nil
		}
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(migrationsDDL, alias)); err != nil {
		return fmt.Errorf("create %s.schema_migrations: %w", alias, err)
	}
	cur, err := schemaVersion(ctx, db, alias)
	if err != nil {
		return err
	}
	latest := list[len(list)-1].version
	if cur > latest {
		return fmt.Errorf("%s has schema version %d, newer than this darkscope knows (%d): upgrade darkscope", alias, cur, latest)
	}
	for _, m := range list {
		if m.version <= cur {
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s to %d: %w", alias, m.version, err)
		}
		err = m.up(ctx, tx, alias)
		if err == nil {
			_, err = tx.ExecContext(ctx, "INSERT INTO "+alias+".schema_migrations VALUES (?, ?, now()::TIMESTAMP)", m.version, m.name)
		}
		if err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migrate %s to %d (%s): %w", alias, m.version, m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s to %d: commit: %w", alias, m.version, err)
		}
	}
	return nil
}

func schemaVersion(ctx context.Context, db *sql.DB, alias string) (int, error) {
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT max(version) FROM "+alias+".schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read %s schema version: %w", alias, err)
	}
	return int(v.Int64), nil
}

// macros render the stored integers as text for query users. They live in
// the in-memory catalog, so they exist in every session and in no file.
var macros = []string{
	`CREATE OR REPLACE MACRO ip4_text(a) AS
		((a >> 24) & 255)::VARCHAR || '.' || ((a >> 16) & 255)::VARCHAR || '.' || ((a >> 8) & 255)::VARCHAR || '.' || (a & 255)::VARCHAR`,
	`CREATE OR REPLACE MACRO ip6_full(a) AS
		':' || list_aggregate([lower(printf('%x', ((a::UHUGEINT >> (112 - 16 * i)::UHUGEINT) & 65535::UHUGEINT)::UINTEGER)) FOR i IN range(8)], 'string_agg', ':') || ':'`,
	`CREATE OR REPLACE MACRO ip6_zrun(s) AS
		coalesce(list_filter([8, 7, 6, 5, 4, 3, 2], n -> strpos(s, repeat(':0', n) || ':') > 0)[1], 0)`,
	`CREATE OR REPLACE MACRO ip6_compress(s) AS
		CASE WHEN ip6_zrun(s) = 0 THEN s[2:-2]
		ELSE regexp_replace(regexp_replace(regexp_replace(s, repeat(':0', ip6_zrun(s)) || ':', '::'), '^:([^:])', '\1'), '([^:]):$', '\1') END`,
	`CREATE OR REPLACE MACRO ip6_text(a) AS
		CASE WHEN a >> 32 = 65535 THEN '::ffff:' || ip4_text(a) ELSE ip6_compress(ip6_full(a)) END`,
	// ip_text renders an address column as netip.Addr.String does; the
	// family follows ip_version (IPv4 is stored IPv4-mapped).
	`CREATE OR REPLACE MACRO ip_text(a, v) AS
		CASE WHEN a IS NULL THEN NULL
		     WHEN v = 4 OR (v <> 6 AND a >> 32 = 65535) THEN ip4_text(a)
		     ELSE ip6_text(a) END`,
	// ip4_num turns dotted IPv4 text into the stored (IPv4-mapped) number.
	`CREATE OR REPLACE MACRO ip4_num(t) AS
		(281470681743360::UHUGEINT + (split_part(t, '.', 1)::UBIGINT << 24) + (split_part(t, '.', 2)::UBIGINT << 16) + (split_part(t, '.', 3)::UBIGINT << 8) + split_part(t, '.', 4)::UBIGINT)`,
	`CREATE OR REPLACE MACRO proto_name(p) AS
		CASE p WHEN 1 THEN 'icmp' WHEN 2 THEN 'igmp' WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 47 THEN 'gre'
		WHEN 50 THEN 'esp' WHEN 51 THEN 'ah' WHEN 58 THEN 'icmpv6' WHEN 132 THEN 'sctp' WHEN 136 THEN 'udplite'
		ELSE p::VARCHAR END`,
	`CREATE OR REPLACE MACRO tcp_flags_text(f) AS
		trim(CASE WHEN f & 128 <> 0 THEN 'CWR ' ELSE '' END || CASE WHEN f & 64 <> 0 THEN 'ECE ' ELSE '' END ||
		CASE WHEN f & 32 <> 0 THEN 'URG ' ELSE '' END || CASE WHEN f & 16 <> 0 THEN 'ACK ' ELSE '' END ||
		CASE WHEN f & 8 <> 0 THEN 'PSH ' ELSE '' END || CASE WHEN f & 4 <> 0 THEN 'RST ' ELSE '' END ||
		CASE WHEN f & 2 <> 0 THEN 'SYN ' ELSE '' END || CASE WHEN f & 1 <> 0 THEN 'FIN' ELSE '' END)`,
	`CREATE OR REPLACE MACRO mac_text(m) AS
		CASE WHEN m IS NULL THEN NULL ELSE list_aggregate([lower(printf('%02x', ((m::UBIGINT >> (40 - 8 * i)::UBIGINT) & 255::UBIGINT)::UINTEGER)) FOR i IN range(6)], 'string_agg', ':') END`,
	`CREATE OR REPLACE MACRO hook_name(h) AS
		CASE h WHEN 1 THEN 'prerouting' WHEN 2 THEN 'input' WHEN 3 THEN 'forward' WHEN 4 THEN 'output'
		WHEN 5 THEN 'postrouting' WHEN 6 THEN 'ingress' ELSE '' END`,
	`CREATE OR REPLACE MACRO verdict_name(v) AS
		CASE v WHEN 1 THEN 'blocked' WHEN 2 THEN 'allowed' ELSE '' END`,
	`CREATE OR REPLACE MACRO kind_name(k) AS
		CASE k WHEN 0 THEN 'packet' WHEN 1 THEN 'alert' WHEN 2 THEN 'auth' ELSE 'unknown' END`,
	// auth_kind_name follows event.AuthKind.String.
	`CREATE OR REPLACE MACRO auth_kind_name(k) AS
		CASE WHEN k IS NULL THEN NULL WHEN k = 1 THEN 'password' WHEN k = 2 THEN 'keyboard-interactive'
		WHEN k = 3 THEN 'publickey' WHEN k = 4 THEN 'none' WHEN k = 5 THEN 'connection_end' ELSE 'unknown' END`,
}

// readableSelect is the column list of the "events" view: the readable
// columns first (native names src_ip, dst_ip, src_port, dst_port), then every
// stored column under its own name.
const readableSelect = `time, sensor, ip_text(src_addr, ip_version) AS src_ip, ip_text(dst_addr, ip_version) AS dst_ip,
	src_port, dst_port, proto_name(proto) AS proto, tcp_flags_text(tcp_flags) AS flags, prefix, in_iface, out_iface,
	hook_name(hook) AS hook, verdict_name(verdict) AS verdict, kind_name(kind) AS kind,
	mac_text(mac_src) AS mac_src, mac_text(mac_dst) AS mac_dst, ip_text(icmp_gateway, ip_version) AS icmp_gateway,
	ip_text(q_src_addr, ip_version) AS q_src_ip, ip_text(q_dst_addr, ip_version) AS q_dst_ip, proto_name(q_proto) AS q_proto,
	proto AS proto_num, tcp_flags AS flags_num, hook AS hook_num, verdict AS verdict_num,
	auth_kind_name(auth_kind) AS auth_kind, username, secret AS password, client_version, hassh, auth_session, auth_attempt, auth_try,
	danger_level, alert_pattern AS pattern,
	* EXCLUDE (time, sensor, src_port, dst_port, proto, prefix, in_iface, out_iface, hook, verdict, kind, mac_src, mac_dst, icmp_gateway, q_proto,
		auth_kind, username, secret, client_version, hassh, auth_session, auth_attempt, auth_try, danger_level, alert_pattern)`

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}
