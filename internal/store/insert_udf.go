package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync/atomic"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/darkscope/darkscope/internal/event"
)

// The table-function write path: Append hands its events to a DuckDB table
// function (registered once per Store) through the statement's context and
// runs INSERT INTO day.events SELECT ... FROM fn(). DuckDB pulls 2048-row
// chunks from the function on its worker threads; every value is written
// into the chunk's vectors with duckdb.SetChunkValue, which keeps the Go
// type (no boxing, unlike Appender.AppendRow).
type inserter struct {
	fnName string               // packet columns only; fnName+"_p" adds payload_ref
	stmts  map[string]*sql.Stmt // prepared INSERT per day alias, +"+p" with payload_ref, +"+b" with payload bytes
}

// batchSource feeds the pending batch to DuckDB, chunk by chunk, from
// several DuckDB threads at once. The INSERT is prepared once per day file,
// so the source is bound once; every execution's Init picks up the batch
// Append made pending.
type batchSource struct {
	pending *atomic.Pointer[pendingBatch]
	events  []event.Event
	refs    []uint32
	ctx     []uint32
	next    atomic.Int64
	infos   []duckdb.ColumnInfo
	withRef bool // the last column is payload_ref
	threads int
	// noBytes: no event of the batch has payload bytes, and the INSERT
	// does not project the payload column (packedSelect): FillChunk skips
	// it (a NULL per row was a cgo call each).
	noBytes bool
}

func (b *batchSource) ColumnInfos() []duckdb.ColumnInfo     { return b.infos }
func (b *batchSource) Cardinality() *duckdb.CardinalityInfo { return nil }
func (b *batchSource) Init() duckdb.ParallelTableSourceInfo {
	b.events, b.refs, b.ctx, b.noBytes = nil, nil, nil, false
	if p := b.pending.Load(); p != nil {
		b.events, b.refs, b.ctx, b.noBytes = p.events, p.refs, p.ctx, !p.bytes
	}
	b.next.Store(0)
	return duckdb.ParallelTableSourceInfo{MaxThreads: b.threads}
}

// fillState is one DuckDB thread's scratch space for the rare BLOB.
type fillState struct{ rare [rareMax]byte }

func (b *batchSource) NewLocalState() any { return new(fillState) }

func (b *batchSource) FillChunk(local any, ch duckdb.DataChunk) error {
	st := local.(*fillState)
	size := int64(duckdb.GetDataChunkCapacity())
	end := b.next.Add(size)
	start := end - size
	if start >= int64(len(b.events)) {
		return ch.SetSize(0)
	}
	end = min(end, int64(len(b.events)))
	evs := b.events[start:end]
	for c := range appendCols {
		if appendCols[c].ctx {
			ids := b.ctx[start:end]
			for r := range ids {
				if err := duckdb.SetChunkValue(ch, c, r, ids[r]); err != nil {
					return fmt.Errorf("append column ctx: %w", err)
				}
			}
			continue
		}
		if b.noBytes && appendCols[c].name == payloadColumn {
			continue
		}
		if err := fillColumn(ch, c, &appendCols[c], evs, st); err != nil {
			return fmt.Errorf("append column %s: %w", appendCols[c].name, err)
		}
	}
	if b.withRef {
		refs := b.refs[start:end]
		for r := range refs {
			if err := duckdb.SetChunkValue(ch, len(appendCols), r, refs[r]); err != nil {
				return fmt.Errorf("append column payload_ref: %w", err)
			}
		}
	}
	return ch.SetSize(len(evs))
}

func fillColumn(ch duckdb.DataChunk, c int, col *appendCol, evs []event.Event, st *fillState) error {
	if col.null != nil {
		for r := range evs {
			if col.null(&evs[r]) {
				if err := duckdb.SetChunkValue[any](ch, c, r, nil); err != nil {
					return err
				}
			}
		}
	}
	switch {
	case col.u8 != nil:
		for r := range evs {
			if err := duckdb.SetChunkValue(ch, c, r, col.u8(&evs[r])); err != nil {
				return err
			}
		}
	case col.u16 != nil:
		for r := range evs {
			if err := duckdb.SetChunkValue(ch, c, r, col.u16(&evs[r])); err != nil {
				return err
			}
		}
	case col.u32 != nil:
		for r := range evs {
			if err := duckdb.SetChunkValue(ch, c, r, col.u32(&evs[r])); err != nil {
				return err
			}
		}
	case col.u64 != nil:
		for r := range evs {
			if col.null != nil && col.null(&evs[r]) {
				continue
			}
			if err := duckdb.SetChunkValue(ch, c, r, col.u64(&evs[r])); err != nil {
				return err
			}
		}
	case col.i64 != nil:
		for r := range evs {
			if col.null != nil && col.null(&evs[r]) {
				continue
			}
			if err := duckdb.SetChunkValue(ch, c, r, col.i64(&evs[r])); err != nil {
				return err
			}
		}
	case col.str != nil:
		for r := range evs {
			if err := duckdb.SetChunkValue(ch, c, r, col.str(&evs[r])); err != nil {
				return err
			}
		}
	case col.blob != nil:
		for r := range evs {
			if col.null != nil && col.null(&evs[r]) {
				continue
			}
			if err := duckdb.SetChunkValue(ch, c, r, col.blob(&evs[r])); err != nil {
				return err
			}
		}
	case col.pack != nil:
		for r := range evs {
			if err := duckdb.SetChunkValue(ch, c, r, col.pack(&evs[r], st.rare[:])); err != nil {
				return err
			}
		}
	}
	return nil
}

// setupInsert registers two append functions: one with the packet columns
// (appendCols) for batches without payloads, and one that adds payload_ref
// (the link to the payload side tables, see payload.go).
func (s *Store) setupInsert(ctx context.Context) error {
	threads := s.opts.Threads
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	s.ins.fnName = "darkscope_append_" + hex.EncodeToString(rnd[:])
	s.ins.stmts = map[string]*sql.Stmt{}
	pending := &s.pending
	for _, v := range []struct {
		name    string
		withRef bool
	}{{s.ins.fnName, false}, {s.ins.fnName + "_p", true}} {
		cols := appendCols
		if v.withRef {
			cols = append(append([]appendCol(nil), appendCols...), appendCol{name: refColumn.name, typ: duckdb.TYPE_UINTEGER})
		}
		infos, err := typeInfos(cols)
		if err != nil {
			return err
		}
		withRef := v.withRef
		fn := duckdb.ParallelChunkTableFunction{
			BindArguments: func(map[string]any, ...any) (duckdb.ParallelChunkTableSource, error) {
				return &batchSource{pending: pending, infos: infos, withRef: withRef, threads: threads}, nil
			},
		}
		if err := duckdb.RegisterTableUDF(s.wconn, v.name, fn); err != nil {
			return fmt.Errorf("register append function: %w", err)
		}
	}
	return nil
}

// pendingInsert is one batch made pending for the append functions.
type pendingInsert struct {
	s     *Store
	batch *pendingBatch
}

// prepareInsert makes events (bound for day d) the batch the append
// functions return. The caller holds s.mu (one Append at a time).
func (s *Store) prepareInsert(_ context.Context, d *day, events []event.Event) (*pendingInsert, error) {
	b := makeBatch(d, events)
	s.ctxBuf, b.newCtx = d.dict.number(events, s.ctxBuf[:0])
	b.ctx = s.ctxBuf
	s.pending.Store(b)
	return &pendingInsert{s: s, batch: b}, nil
}

// exec runs the day's prepared INSERT inside Append's transaction.
func (p *pendingInsert) exec(ctx context.Context, s *Store, d *day) (int64, error) {
	withRef, withBytes := p.batch.refs != nil, p.batch.bytes
	key, fn := d.alias, s.ins.fnName
	if withRef {
		key, fn = d.alias+"+p", fn+"_p"
	}
	if withBytes {
		key += "+b"
	}
	st, ok := s.ins.stmts[key]
	if !ok {
		var err error
		st, err = s.wconn.PrepareContext(ctx, insertSQL(d, fn+"()", withRef, withBytes))
		if err != nil {
			return 0, err
		}
		s.ins.stmts[key] = st
	}
	res, err := st.ExecContext(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (p *pendingInsert) release() { p.s.pending.Store(nil) }

// forgetDay closes the prepared INSERT of a day that is being detached.
func (s *Store) forgetDay(alias string) {
	for _, key := range []string{alias, alias + "+p", alias + "+b", alias + "+p+b"} {
		if st, ok := s.ins.stmts[key]; ok {
			st.Close()
			delete(s.ins.stmts, key)
		}
	}
}
