package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/darkscope/darkscope/internal/event"
)

// The pointer payloads of an Event (Auth, Alert) live in two side tables of
// each day file (migration 2), auth and alerts, linked to their event by
// ref = events.payload_ref, a per-day number given to every event that
// carries a payload (NULL on the others). A packet-only batch writes no
// payload column at all: keeping 17 mostly-NULL columns in events cost
// ~10-15% of the append rate, one NULL column costs nothing measurable.

// refColumn is the link column migration 2 adds to events.
var refColumn = struct{ name, ddl, expr string }{"payload_ref", "UINTEGER", "nullif(payload_ref, 0)"}

// authColumns and alertColumns are the side tables' columns (after ref);
// expr computes each from the payload append function's output.
var authColumns = []struct{ name, ddl, expr string }{
	{"auth_kind", "UTINYINT NOT NULL", "auth_kind"},
	{"auth_session", "UBIGINT NOT NULL", "auth_session"},
	{"auth_attempt", "USMALLINT NOT NULL", "auth_attempt"},
	{"auth_try", "USMALLINT NOT NULL", "auth_try"},
	{"username", "VARCHAR NOT NULL", "username"},
	{"username_len", "UINTEGER NOT NULL", "username_len"},
	{"username_raw", "BLOB", "nullif(username_raw, ''::BLOB)"},
	{"secret", "VARCHAR NOT NULL", "secret"},
	{"secret_len", "UINTEGER NOT NULL", "secret_len"},
	{"secret_raw", "BLOB", "nullif(secret_raw, ''::BLOB)"},
	{"auth_unanswered", "BOOLEAN NOT NULL", "auth_unanswered <> 0"},
	{"client_version", "VARCHAR NOT NULL", "client_version"},
	{"hassh", "VARCHAR NOT NULL", "hassh"},
	{"auth_extra", "VARCHAR NOT NULL", "auth_extra"},
}

var alertColumns = []struct{ name, ddl, expr string }{
	{"danger_level", "UTINYINT NOT NULL", "danger_level"},
	{"alert_pattern", "VARCHAR NOT NULL", "alert_pattern"},
	{"alert", "VARCHAR NOT NULL", "alert"},
}

// sideDDL creates a payload side table.
func sideDDL(table string, cols []struct{ name, ddl, expr string }) string {
	parts := []string{"ref UINTEGER NOT NULL"}
	for _, c := range cols {
		parts = append(parts, quoteIdent(c.name)+" "+c.ddl)
	}
	return "CREATE TABLE IF NOT EXISTS " + table + " (" + strings.Join(parts, ", ") + ")"
}

// sideInsertSQL inserts the pending payload rows from the append function fn.
func sideInsertSQL(table, fn string, cols []struct{ name, ddl, expr string }) string {
	exprs := []string{"ref"}
	for _, c := range cols {
		exprs = append(exprs, c.expr)
	}
	return "INSERT INTO " + table + " SELECT " + strings.Join(exprs, ", ") + " FROM " + fn + "()"
}

// payloadJoin selects one day's events (from: its events with the
// version-2 columns, day.eventsFrom) with their payload columns (the
// events_raw view, Store.Events).
func payloadJoin(from, alias string) string {
	return from + " e LEFT JOIN " + alias + ".auth a ON a.ref = e.payload_ref LEFT JOIN " + alias + ".alerts l ON l.ref = e.payload_ref"
}

// authExtra is the JSON of the Auth fields without a typed column.
type authExtra struct {
	KeyType          string           `json:"key_type,omitempty"`
	KeyFingerprint   string           `json:"key_fingerprint,omitempty"`
	ClientVersionLen uint32           `json:"client_version_len,omitempty"`
	ClientVersionRaw []byte           `json:"client_version_raw,omitempty"`
	Client           event.KexLists   `json:"client"`
	Negotiated       event.Negotiated `json:"negotiated"`
	DurationNS       int64            `json:"duration_ns,omitempty"`
	EndReason        string           `json:"end_reason,omitempty"`
	Attempts         uint16           `json:"attempts,omitempty"`
}

// validText makes s storable as VARCHAR: DuckDB strings are UTF-8, and the
// Auth contract already keeps exact bytes of non-UTF-8 values in *Raw.
func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func authJSON(e *event.Event) string {
	a := e.Auth
	if a == nil {
		return ""
	}
	b, err := json.Marshal(authExtra{
		KeyType: a.KeyType, KeyFingerprint: a.KeyFingerprint,
		ClientVersionLen: a.ClientVersionLen, ClientVersionRaw: a.ClientVersionRaw,
		Client: a.Client, Negotiated: a.Negotiated,
		DurationNS: int64(a.Duration), EndReason: a.EndReason, Attempts: a.Attempts,
	})
	if err != nil { // cannot happen: only strings, integers and bytes
		return "{}"
	}
	return string(b)
}

// finite keeps JSON encodable: NaN and ±Inf (never meaningful in an alert) become 0.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func alertJSON(e *event.Event) string {
	if e.Alert == nil {
		return ""
	}
	a := *e.Alert
	a.Rate = finite(a.Rate)
	if a.Tool != nil {
		t := *a.Tool
		t.Confidence = finite(t.Confidence)
		a.Tool = &t
	}
	b, err := json.Marshal(&a)
	if err != nil {
		return "{}"
	}
	return string(b)
}

func authOf(e *event.Event) *event.Auth {
	if e.Auth != nil {
		return e.Auth
	}
	return &noAuth
}

var noAuth event.Auth

// authCols and alertCols are what the payload append functions return per
// payload (after ref), in authColumns / alertColumns order.
var authCols = []appendCol{
	{name: "auth_kind", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 { return uint8(authOf(e).Kind) }},
	{name: "auth_session", typ: duckdb.TYPE_UBIGINT, u64: func(e *event.Event) uint64 { return authOf(e).Session }},
	{name: "auth_attempt", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return authOf(e).Attempt }},
	{name: "auth_try", typ: duckdb.TYPE_USMALLINT, u16: func(e *event.Event) uint16 { return authOf(e).Try }},
	{name: "username", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string { return validText(authOf(e).User) }},
	{name: "username_len", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return authOf(e).UserLen }},
	{name: "username_raw", typ: duckdb.TYPE_BLOB, blob: func(e *event.Event) []byte { return authOf(e).UserRaw }},
	{name: "secret", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string { return validText(authOf(e).Secret) }},
	{name: "secret_len", typ: duckdb.TYPE_UINTEGER, u32: func(e *event.Event) uint32 { return authOf(e).SecretLen }},
	{name: "secret_raw", typ: duckdb.TYPE_BLOB, blob: func(e *event.Event) []byte { return authOf(e).SecretRaw }},
	{name: "auth_unanswered", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 {
		if authOf(e).Unanswered {
			return 1
		}
		return 0
	}},
	{name: "client_version", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string { return validText(authOf(e).ClientVersion) }},
	{name: "hassh", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string { return validText(authOf(e).HASSH) }},
	{name: "auth_extra", typ: duckdb.TYPE_VARCHAR, str: authJSON},
}

var alertCols = []appendCol{
	{name: "danger_level", typ: duckdb.TYPE_UTINYINT, u8: func(e *event.Event) uint8 {
		if e.Alert == nil {
			return 0
		}
		return uint8(e.Alert.Level)
	}},
	{name: "alert_pattern", typ: duckdb.TYPE_VARCHAR, str: func(e *event.Event) string {
		if e.Alert == nil {
			return ""
		}
		return validText(e.Alert.Pattern)
	}},
	{name: "alert", typ: duckdb.TYPE_VARCHAR, str: alertJSON},
}

// payloadRow is one payload to insert into a side table.
type payloadRow struct {
	ref uint32
	e   *event.Event
}

// pendingBatch is the batch Append is inserting into one day file.
type pendingBatch struct {
	events  []event.Event
	ctx     []uint32 // per event: its ctx id (ctxdict.go)
	newCtx  []ctxRow // ctx rows the day's table lacks, stored with the batch
	refs    []uint32 // per event: its payload_ref, 0 for none; nil when no event has a payload
	auth    []payloadRow
	alerts  []payloadRow
	lastRef uint32 // the day's highest ref once the batch is stored
	// bytes: some event has payload bytes. Without, the INSERT takes
	// NULL for the payload column and the append function leaves it out
	// (see batchSource.FillChunk).
	bytes bool
}

// makeBatch numbers the payloads of events after the day's last ref; a
// batch without an Auth or Alert takes the packet-only insert (no
// payload_ref, no side tables).
func makeBatch(d *day, events []event.Event) *pendingBatch {
	b := &pendingBatch{events: events, lastRef: d.refs}
	// One pass over the batch (the writer's thread is the import's
	// critical path) for both flags.
	refs := false
	for i := range events {
		e := &events[i]
		b.bytes = b.bytes || e.PayloadCap > 0
		refs = refs || e.Auth != nil || e.Alert != nil
		if b.bytes && refs {
			break
		}
	}
	if !refs {
		return b
	}
	b.refs = make([]uint32, len(events))
	for i := range events {
		e := &events[i]
		if e.Auth == nil && e.Alert == nil {
			continue
		}
		b.lastRef++
		b.refs[i] = b.lastRef
		if e.Auth != nil {
			b.auth = append(b.auth, payloadRow{b.lastRef, e})
		}
		if e.Alert != nil {
			b.alerts = append(b.alerts, payloadRow{b.lastRef, e})
		}
	}
	return b
}

// payloadSource feeds one side table's pending rows to DuckDB.
type payloadSource struct {
	pending *atomic.Pointer[pendingBatch]
	pick    func(*pendingBatch) []payloadRow
	cols    []appendCol
	infos   []duckdb.ColumnInfo
	rows    []payloadRow
	next    atomic.Int64
}

func (p *payloadSource) ColumnInfos() []duckdb.ColumnInfo     { return p.infos }
func (p *payloadSource) Cardinality() *duckdb.CardinalityInfo { return nil }
func (p *payloadSource) Init() duckdb.ParallelTableSourceInfo {
	p.rows = nil
	if b := p.pending.Load(); b != nil {
		p.rows = p.pick(b)
	}
	p.next.Store(0)
	return duckdb.ParallelTableSourceInfo{MaxThreads: 1}
}
func (p *payloadSource) NewLocalState() any { return new(struct{}) }

func (p *payloadSource) FillChunk(_ any, ch duckdb.DataChunk) error {
	size := int64(duckdb.GetDataChunkCapacity())
	end := p.next.Add(size)
	start := end - size
	if start >= int64(len(p.rows)) {
		return ch.SetSize(0)
	}
	rows := p.rows[start:min(end, int64(len(p.rows)))]
	for r := range rows {
		if err := duckdb.SetChunkValue(ch, 0, r, rows[r].ref); err != nil {
			return fmt.Errorf("payload column ref: %w", err)
		}
	}
	for c := range p.cols {
		col := &p.cols[c]
		for r := range rows {
			e := rows[r].e
			var err error
			switch {
			case col.u8 != nil:
				err = duckdb.SetChunkValue(ch, c+1, r, col.u8(e))
			case col.u16 != nil:
				err = duckdb.SetChunkValue(ch, c+1, r, col.u16(e))
			case col.u32 != nil:
				err = duckdb.SetChunkValue(ch, c+1, r, col.u32(e))
			case col.u64 != nil:
				err = duckdb.SetChunkValue(ch, c+1, r, col.u64(e))
			case col.i64 != nil:
				err = duckdb.SetChunkValue(ch, c+1, r, col.i64(e))
			case col.str != nil:
				err = duckdb.SetChunkValue(ch, c+1, r, col.str(e))
			case col.blob != nil:
				err = duckdb.SetChunkValue(ch, c+1, r, col.blob(e))
			}
			if err != nil {
				return fmt.Errorf("payload column %s: %w", col.name, err)
			}
		}
	}
	return ch.SetSize(len(rows))
}

func typeInfos(cols []appendCol) ([]duckdb.ColumnInfo, error) {
	infos := make([]duckdb.ColumnInfo, len(cols))
	for i, c := range cols {
		ti, err := duckdb.NewTypeInfo(c.typ)
		if err != nil {
			return nil, fmt.Errorf("append column %s: %w", c.name, err)
		}
		infos[i] = duckdb.ColumnInfo{Name: c.name, T: ti}
	}
	return infos, nil
}

// setupPayloadInsert registers the append functions of the side tables
// (named prefix_auth and prefix_alert) on the writer connection.
func (s *Store) setupPayloadInsert(prefix string) error {
	s.payFn = [2]string{prefix + "_auth", prefix + "_alert"}
	for i, v := range []struct {
		cols []appendCol
		pick func(*pendingBatch) []payloadRow
	}{
		{authCols, func(b *pendingBatch) []payloadRow { return b.auth }},
		{alertCols, func(b *pendingBatch) []payloadRow { return b.alerts }},
	} {
		infos, err := typeInfos(append([]appendCol{{name: "ref", typ: duckdb.TYPE_UINTEGER}}, v.cols...))
		if err != nil {
			return err
		}
		fn := duckdb.ParallelChunkTableFunction{
			BindArguments: func(map[string]any, ...any) (duckdb.ParallelChunkTableSource, error) {
				return &payloadSource{pending: &s.pending, pick: v.pick, cols: v.cols, infos: infos}, nil
			},
		}
		if err := duckdb.RegisterTableUDF(s.wconn, s.payFn[i], fn); err != nil {
			return fmt.Errorf("register payload append function: %w", err)
		}
	}
	return nil
}

// execPayload inserts the pending batch's payloads into alias's side tables
// (inside Append's transaction).
func (s *Store) execPayload(ctx context.Context, alias string) error {
	b := s.pending.Load()
	if b == nil {
		return nil
	}
	if len(b.auth) > 0 {
		if _, err := s.wconn.ExecContext(ctx, sideInsertSQL(alias+".auth", s.payFn[0], authColumns)); err != nil {
			return fmt.Errorf("insert auth payloads: %w", err)
		}
	}
	if len(b.alerts) > 0 {
		if _, err := s.wconn.ExecContext(ctx, sideInsertSQL(alias+".alerts", s.payFn[1], alertColumns)); err != nil {
			return fmt.Errorf("insert alert payloads: %w", err)
		}
	}
	return nil
}

// payloadSelect reads the payload columns back (from payloadJoin) in the order payloadScan.dests expects.
const payloadSelect = `auth_kind, auth_session, auth_attempt, auth_try, username, username_len, username_raw,
	secret, secret_len, secret_raw, auth_unanswered, client_version, hassh, auth_extra, alert`

// payloadScan holds one row's payload columns.
type payloadScan struct {
	kind                    *uint8
	session                 *uint64
	attempt, try            *uint16
	user, secret, cv, hassh *string
	userLen, secretLen      *uint32
	userRaw, secretRaw      []byte
	unanswered              *bool
	extra, alert            *string
}

func (p *payloadScan) dests() []any {
	return []any{&p.kind, &p.session, &p.attempt, &p.try, &p.user, &p.userLen, &p.userRaw,
		&p.secret, &p.secretLen, &p.secretRaw, &p.unanswered, &p.cv, &p.hassh, &p.extra, &p.alert}
}

// decode sets e.Auth and e.Alert from the scanned columns.
func (p *payloadScan) decode(e *event.Event) error {
	if p.kind != nil {
		a := &event.Auth{
			Kind: event.AuthKind(*p.kind), Session: deref(p.session), Attempt: deref(p.attempt), Try: deref(p.try),
			User: deref(p.user), UserLen: deref(p.userLen), UserRaw: p.userRaw,
			Secret: deref(p.secret), SecretLen: deref(p.secretLen), SecretRaw: p.secretRaw,
			Unanswered: deref(p.unanswered), ClientVersion: deref(p.cv), HASSH: deref(p.hassh),
		}
		if p.extra != nil && *p.extra != "" {
			var x authExtra
			if err := json.Unmarshal([]byte(*p.extra), &x); err != nil {
				return fmt.Errorf("decode auth_extra: %w", err)
			}
			a.KeyType, a.KeyFingerprint = x.KeyType, x.KeyFingerprint
			a.ClientVersionLen, a.ClientVersionRaw = x.ClientVersionLen, x.ClientVersionRaw
			a.Client, a.Negotiated = x.Client, x.Negotiated
			a.Duration, a.EndReason, a.Attempts = time.Duration(x.DurationNS), x.EndReason, x.Attempts
		}
		e.Auth = a
	}
	if p.alert != nil {
		a := new(event.Alert)
		if err := json.Unmarshal([]byte(*p.alert), a); err != nil {
			return fmt.Errorf("decode alert: %w", err)
		}
		e.Alert = a
	}
	return nil
}
