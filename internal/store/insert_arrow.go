//go:build duckdb_arrow

package store

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/darkscope/darkscope/internal/event"
)

// appendPath names the write path compiled in (with the duckdb_arrow build
// tag): Arrow record batches scanned by DuckDB.
const appendPath = "arrow"

// arrowChunk is the number of events per Arrow record batch: several
// batches let DuckDB scan one Append on all its threads.
const arrowChunk = 32768

// The Arrow write path: Append builds Arrow record batches from the events
// (pure Go, typed builders), registers them as a view on the writer
// connection and runs INSERT INTO day.events SELECT ... FROM that view.
type inserter struct {
	arrow  *duckdb.Arrow
	schema *arrow.Schema
	rb     *array.RecordBuilder
}

func arrowType(t duckdb.Type) (arrow.DataType, error) {
	switch t {
	case duckdb.TYPE_UTINYINT:
		return arrow.PrimitiveTypes.Uint8, nil
	case duckdb.TYPE_USMALLINT:
		return arrow.PrimitiveTypes.Uint16, nil
	case duckdb.TYPE_UINTEGER:
		return arrow.PrimitiveTypes.Uint32, nil
	case duckdb.TYPE_UBIGINT:
		return arrow.PrimitiveTypes.Uint64, nil
	case duckdb.TYPE_BIGINT:
		return arrow.PrimitiveTypes.Int64, nil
	case duckdb.TYPE_VARCHAR:
		return arrow.BinaryTypes.String, nil
	case duckdb.TYPE_BLOB:
		return arrow.BinaryTypes.Binary, nil
	}
	return nil, fmt.Errorf("no arrow type for duckdb type %d", t)
}

func (s *Store) setupInsert(ctx context.Context) error {
	fields := make([]arrow.Field, len(arrowCols))
	for i, c := range arrowCols {
		t, err := arrowType(c.typ)
		if err != nil {
			return fmt.Errorf("append column %s: %w", c.name, err)
		}
		fields[i] = arrow.Field{Name: c.name, Type: t}
	}
	s.ins.schema = arrow.NewSchema(fields, nil)
	s.ins.rb = array.NewRecordBuilder(memory.NewGoAllocator(), s.ins.schema)
	err := s.wconn.Raw(func(dc any) error {
		a, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		s.ins.arrow = a
		return err
	})
	if err != nil {
		return fmt.Errorf("arrow on the writer connection: %w", err)
	}
	return nil
}

// buildRecord builds evs (refs: their payload_ref values, nil for none).
func (s *Store) buildRecord(evs []event.Event, refs []uint32) arrow.RecordBatch {
	rb := s.ins.rb
	rb.Reserve(len(evs))
	var rare [rareMax]byte
	for c := range appendCols {
		col := &appendCols[c]
		fb := rb.Field(c)
		for i := range evs {
			e := &evs[i]
			if col.null != nil && col.null(e) {
				fb.AppendNull()
				continue
			}
			switch b := fb.(type) {
			case *array.Uint8Builder:
				b.UnsafeAppend(col.u8(e))
			case *array.Uint16Builder:
				b.UnsafeAppend(col.u16(e))
			case *array.Uint32Builder:
				b.UnsafeAppend(col.u32(e))
			case *array.Uint64Builder:
				b.UnsafeAppend(col.u64(e))
			case *array.Int64Builder:
				b.UnsafeAppend(col.i64(e))
			case *array.StringBuilder:
				b.Append(col.str(e))
			case *array.BinaryBuilder:
				if col.pack != nil {
					b.Append(col.pack(e, rare[:]))
				} else {
					b.Append(col.blob(e))
				}
			}
		}
	}
	rc := rb.Field(len(appendCols)).(*array.Uint32Builder)
	for i := range evs {
		var r uint32
		if refs != nil {
			r = refs[i]
		}
		rc.UnsafeAppend(r)
	}
	return rb.NewRecordBatch()
}

// arrowCols are the columns of the Arrow batches: appendCols and, last,
// payload_ref (0, NULL in the table, on events without a payload).
var arrowCols = append(append([]appendCol(nil), appendCols...), appendCol{name: "payload_ref", typ: duckdb.TYPE_UINTEGER})

// arrowView is the name of the writer connection's view of the pending batch.
const arrowView = "darkscope_append_batch"

// pendingInsert is one batch built into Arrow record batches and
// registered as a view. The view is registered before Append's transaction
// begins: registering it writes the catalog, and a DuckDB transaction may
// write only one database.
type pendingInsert struct {
	s      *Store
	batch  *pendingBatch
	recs   []arrow.RecordBatch
	rdr    array.RecordReader
	unview func()
}

func (s *Store) prepareInsert(_ context.Context, d *day, events []event.Event) (*pendingInsert, error) {
	p := &pendingInsert{s: s, batch: makeBatch(d, events)}
	s.pending.Store(p.batch)
	for i := 0; i < len(events); i += arrowChunk {
		end := min(i+arrowChunk, len(events))
		var refs []uint32
		if p.batch.refs != nil {
			refs = p.batch.refs[i:end]
		}
		p.recs = append(p.recs, s.buildRecord(events[i:end], refs))
	}
	rdr, err := array.NewRecordReader(s.ins.schema, p.recs)
	if err != nil {
		p.release()
		return nil, err
	}
	p.rdr = rdr
	if p.unview, err = s.ins.arrow.RegisterView(rdr, arrowView); err != nil {
		p.release()
		return nil, fmt.Errorf("register arrow view: %w", err)
	}
	return p, nil
}

// exec runs the INSERT inside Append's transaction.
func (p *pendingInsert) exec(ctx context.Context, s *Store, d *day) (int64, error) {
	res, err := s.wconn.ExecContext(ctx, insertSQL(d, arrowView, true))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (p *pendingInsert) release() {
	p.s.pending.Store(nil)
	if p.unview != nil {
		p.unview()
	}
	if p.rdr != nil {
		p.rdr.Release()
	}
	for _, r := range p.recs {
		r.Release()
	}
}

// forgetDay is a no-op: the Arrow path prepares nothing per day.
func (s *Store) forgetDay(string) {}
