package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// Append writes events and saves the offsets of the sources they came from
// in the same transaction (the pipeline coalesces batches of several
// sources into one call). Events are stored in the file of their UTC day; a
// batch is one transaction per day it touches (DuckDB writes one file per
// transaction), and the offsets ride with the last of them, so a batch
// within one day is all-or-nothing with its offsets. A batch spanning
// midnight that fails half-way may leave its earlier days' rows stored
// without the offsets (they are then stored again when the source resumes).
//
// Each call costs a fixed few milliseconds (DuckDB sets up the columns of
// a transaction's insert), so callers should coalesce small batches.
func (s *Store) Append(ctx context.Context, events []event.Event, offs []source.Offset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("append: store closed")
	}
	if s.opts.ReadOnly {
		return errors.New("append: store opened read-only")
	}
	for _, o := range offs {
		if o.Key == "" {
			return errors.New("append: offset without key")
		}
	}
	if len(events) == 0 {
		if len(offs) == 0 {
			return nil
		}
		return s.saveOffsetOnly(ctx, offs)
	}
	// Split by day. Batches nearly always arrive in time order, so each day
	// is one contiguous run of the batch and is appended in place; only the
	// days of a batch split over several runs are regrouped, into a buffer
	// the store keeps (copying ~600-byte events into fresh memory on every
	// call cost a third of the append time in page faults and GC).
	runs := s.runs[:0]
	sorted := true
	for i := range events {
		d := dayNum(&events[i])
		if len(runs) > 0 && runs[len(runs)-1].day == d {
			runs[len(runs)-1].end = i + 1
			continue
		}
		if len(runs) > 0 && runs[len(runs)-1].day > d {
			sorted = false
		}
		runs = append(runs, dayRun{day: d, start: i, end: i + 1})
	}
	s.runs = runs
	if !sorted {
		runs = s.regroup(events, runs)
		defer clear(s.regroupBuf) // drop the buffer's references to payloads
	}
	for i, r := range runs {
		var o []source.Offset
		if i == len(runs)-1 {
			o = offs
		}
		evs := events[r.start:r.end]
		if r.copied {
			evs = s.regroupBuf[r.start:r.end]
		}
		if err := s.appendDay(ctx, dayStart(r.day), evs, o); err != nil {
			return err
		}
	}
	return nil
}

// dayRun is the events of one UTC day in a batch: [start, end) of the
// batch, or of Store.regroupBuf when copied.
type dayRun struct {
	day        int64 // dayNum
	start, end int
	copied     bool
}

// dayNum is the UTC day an event is stored under, in days since 1970-01-01
// (the zero time goes to day 0, 1970-01-01).
func dayNum(e *event.Event) int64 {
	if e.Time.IsZero() {
		return 0
	}
	sec := e.Time.Unix()
	d := sec / 86400
	if sec%86400 < 0 {
		d--
	}
	return d
}

func dayStart(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

// regroup turns the runs of a batch whose days interleave (typically: the
// events of two days, then the detector's alerts for the earlier one) into
// one run per day, days in time order. A day with a single run stays in
// place; only days split over several runs are copied, into s.regroupBuf,
// in batch order.
func (s *Store) regroup(events []event.Event, runs []dayRun) []dayRun {
	type info struct{ runs, size int }
	per := map[int64]*info{}
	for _, r := range runs {
		in := per[r.day]
		if in == nil {
			in = &info{}
			per[r.day] = in
		}
		in.runs++
		in.size += r.end - r.start
	}
	days := make([]int64, 0, len(per))
	copied := 0
	for d, in := range per {
		days = append(days, d)
		if in.runs > 1 {
			copied += in.size
		}
	}
	slices.Sort(days)
	if cap(s.regroupBuf) < copied {
		s.regroupBuf = make([]event.Event, copied)
	}
	s.regroupBuf = s.regroupBuf[:copied]
	out := make([]dayRun, 0, len(days))
	at := 0
	for _, d := range days {
		if per[d].runs == 1 {
			for _, r := range runs {
				if r.day == d {
					out = append(out, r)
				}
			}
			continue
		}
		start := at
		for _, r := range runs {
			if r.day == d {
				at += copy(s.regroupBuf[at:], events[r.start:r.end])
			}
		}
		out = append(out, dayRun{day: d, start: start, end: at, copied: true})
	}
	return out
}

func (s *Store) appendDay(ctx context.Context, t time.Time, events []event.Event, offs []source.Offset) error {
	_, known := s.days[t.Format(dayLayout)]
	d, err := s.attachDay(ctx, t)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if !known {
		s.viewsStale = true // rebuilt by the next Query (ensureViews)
	}
	if s.fin != nil && s.fin.d == d {
		s.collectFinish() // a late event for the day being finished
	}
	// Writing moved on from another day: refresh that day's rollups and
	// checkpoint its file, in the background (see finishDay).
	if s.lastDay != "" && s.lastDay != t.Format(dayLayout) {
		if prev, ok := s.days[s.lastDay]; ok && !prev.fresh() {
			s.finishDay(ctx, prev)
		}
	}
	s.lastDay = t.Format(dayLayout)

	var p *pendingInsert
	if len(events) > 0 {
		if p, err = s.prepareInsert(ctx, d, events); err != nil {
			return fmt.Errorf("append %d events: %w", len(events), err)
		}
		defer p.release()
	}
	if _, err := s.wconn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("append: begin: %w", err)
	}
	err = s.appendTx(ctx, d, p, len(events), offs)
	if err != nil {
		if _, rerr := s.wconn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return fmt.Errorf("append %d events to %s: %w", len(events), d.path, err)
	}
	d.events += uint64(len(events))
	d.unflushed = true
	if p != nil {
		d.refs = p.batch.lastRef
		d.dict.commit(p.batch.newCtx)
	}
	s.offSeq += uint64(len(offs))
	return nil
}

func (s *Store) appendTx(ctx context.Context, d *day, p *pendingInsert, count int, offs []source.Offset) error {
	if p != nil {
		if err := s.insertCtx(ctx, d.alias, p.batch.newCtx); err != nil {
			return err
		}
		n, err := p.exec(ctx, s, d)
		if err != nil {
			return err
		}
		if n != int64(count) {
			return fmt.Errorf("inserted %d rows, want %d", n, count)
		}
		if err := s.execPayload(ctx, d.alias); err != nil {
			return err
		}
	}
	for i := range offs {
		if err := s.upsertOffset(ctx, d.alias, &offs[i], s.offSeq+uint64(i)+1); err != nil {
			return err
		}
	}
	if s.beforeCommit != nil {
		if err := s.beforeCommit(); err != nil {
			return err
		}
	}
	if _, err := s.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *Store) upsertOffset(ctx context.Context, alias string, off *source.Offset, seq uint64) error {
	_, err := s.wconn.ExecContext(ctx, "INSERT OR REPLACE INTO "+alias+`.offsets (key, inode, "offset", line, seq) VALUES (?, ?, ?, ?, ?)`,
		off.Key, off.Inode, off.Offset, off.Line, seq)
	if err != nil {
		return fmt.Errorf("save offset %s: %w", off.Key, err)
	}
	return nil
}

func (s *Store) saveOffsetOnly(ctx context.Context, offs []source.Offset) error {
	if _, err := s.wconn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("save offset: begin: %w", err)
	}
	var err error
	for i := range offs {
		if err = s.upsertOffset(ctx, "state", &offs[i], s.offSeq+uint64(i)+1); err != nil {
			break
		}
	}
	if err == nil {
		_, err = s.wconn.ExecContext(ctx, "COMMIT")
	}
	if err != nil {
		_, _ = s.wconn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	s.offSeq += uint64(len(offs))
	return nil
}

// offsetUnion selects every saved offset row (state and day files).
func (s *Store) offsetUnion() string {
	parts := []string{`SELECT key, inode, "offset", line, seq FROM state.offsets`}
	for _, d := range s.sortedDays() {
		parts = append(parts, `SELECT key, inode, "offset", line, seq FROM `+d.alias+".offsets")
	}
	return strings.Join(parts, " UNION ALL ")
}

func (s *Store) loadOffsetSeq(ctx context.Context) error {
	var seq *uint64
	if err := s.db.QueryRowContext(ctx, "SELECT max(seq) FROM ("+s.offsetUnion()+")").Scan(&seq); err != nil {
		return fmt.Errorf("read offsets: %w", err)
	}
	if seq != nil {
		s.offSeq = *seq
	}
	return nil
}

// Offset returns the newest saved offset of a file source.
func (s *Store) Offset(ctx context.Context, key string) (source.Offset, bool, error) {
	s.mu.Lock()
	q := `SELECT inode, "offset", line FROM (` + s.offsetUnion() + `) WHERE key = ? ORDER BY seq DESC LIMIT 1`
	s.mu.Unlock()
	o := source.Offset{Key: key}
	err := s.db.QueryRowContext(ctx, q, key).Scan(&o.Inode, &o.Offset, &o.Line)
	if errors.Is(err, sql.ErrNoRows) {
		return source.Offset{}, false, nil
	}
	if err != nil {
		return source.Offset{}, false, fmt.Errorf("read offset %s: %w", key, err)
	}
	return o, true, nil
}

// mirrorOffsets copies the newest offset of every key from the day files
// (only from d when d != nil) into state.offsets, so deleting day files
// never loses a resume position. The caller holds s.mu.
func (s *Store) mirrorOffsets(ctx context.Context, only *day) error {
	var src []string
	for _, d := range s.sortedDays() {
		if only == nil || d == only {
			src = append(src, `SELECT key, inode, "offset", line, seq FROM `+d.alias+".offsets")
		}
	}
	if len(src) == 0 {
		return nil
	}
	q := `INSERT OR REPLACE INTO state.offsets SELECT n.key, n.inode, n."offset", n.line, n.seq FROM (
		SELECT * FROM (` + strings.Join(src, " UNION ALL ") + `) QUALIFY row_number() OVER (PARTITION BY key ORDER BY seq DESC) = 1
	) n LEFT JOIN state.offsets o ON o.key = n.key WHERE o.seq IS NULL OR o.seq < n.seq`
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("mirror offsets into state: %w", err)
	}
	return nil
}

// SaveCounters replaces the persisted counter snapshots of the given sources.
func (s *Store) SaveCounters(ctx context.Context, snaps []source.Snapshot) error {
	if s.opts.ReadOnly {
		return errors.New("save counters: store opened read-only")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save counters: %w", err)
	}
	err = func() error {
		now := s.now().UTC()
		for _, sn := range snaps {
			if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO state.counters VALUES (?, ?, ?, ?, ?)", sn.Source, sn.Received, sn.Stored, sn.Ignored, now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM state.counter_reasons WHERE source = ?", sn.Source); err != nil {
				return err
			}
			for kind, m := range map[string]map[string]uint64{"rejected": sn.Rejected, "lost": sn.Lost} {
				for reason, n := range m {
					if _, err := tx.ExecContext(ctx, "INSERT INTO state.counter_reasons VALUES (?, ?, ?, ?)", sn.Source, kind, reason, n); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}()
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("save counters: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save counters: commit: %w", err)
	}
	return nil
}

// Counters returns the persisted counter snapshots, sorted by source.
func (s *Store) Counters(ctx context.Context) ([]source.Snapshot, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT source, received, stored, ignored FROM state.counters ORDER BY source")
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	var out []source.Snapshot
	idx := map[string]int{}
	for rows.Next() {
		sn := source.Snapshot{Rejected: map[string]uint64{}, Lost: map[string]uint64{}}
		if err := rows.Scan(&sn.Source, &sn.Received, &sn.Stored, &sn.Ignored); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read counters: %w", err)
		}
		idx[sn.Source] = len(out)
		out = append(out, sn)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	rows, err = s.db.QueryContext(ctx, "SELECT source, kind, reason, count FROM state.counter_reasons")
	if err != nil {
		return nil, fmt.Errorf("read counter reasons: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var src, kind, reason string
		var n uint64
		if err := rows.Scan(&src, &kind, &reason, &n); err != nil {
			return nil, fmt.Errorf("read counter reasons: %w", err)
		}
		i, ok := idx[src]
		if !ok {
			continue
		}
		if kind == "rejected" {
			out[i].Rejected[reason] = n
		} else {
			out[i].Lost[reason] = n
		}
	}
	return out, rows.Err()
}

// refreshRollups recomputes day d's rollup tables in one transaction. The
// caller holds s.mu.
func (s *Store) refreshRollups(ctx context.Context, d *day) error {
	s.collectFinish()
	if d.fresh() {
		return nil
	}
	n, err := s.buildRollups(ctx, d)
	if err != nil {
		return err
	}
	d.rolled = n
	d.events = n
	return nil
}

// buildRollups recomputes day d's rollup tables in one transaction and
// returns the row count they cover. It reads only d's immutable fields, so
// finishDay runs it without s.mu.
func (s *Store) buildRollups(ctx context.Context, d *day) (uint64, error) {
	start := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("refresh rollups of %s: %w", d.path, err)
	}
	var n uint64
	err = tx.QueryRowContext(ctx, "SELECT count(*) FROM "+d.alias+".events").Scan(&n)
	for _, r := range rollupTables {
		if err != nil {
			break
		}
		if _, err = tx.ExecContext(ctx, "DELETE FROM "+d.alias+"."+r.name); err != nil {
			break
		}
		_, err = tx.ExecContext(ctx, fmt.Sprintf(r.fill, d.alias, d.from(r.ctx)))
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, "UPDATE "+d.alias+".rollup_state SET events = ?", n)
	}
	if err != nil {
		_ = tx.Rollback()
		return 0, fmt.Errorf("refresh rollups of %s: %w", d.path, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("refresh rollups of %s: commit: %w", d.path, err)
	}
	s.log.Debug("refreshed rollups", "path", d.path, "events", n, "took", time.Since(start))
	return n, nil
}

// finishing is a day whose rollups and checkpoint run in the background.
type finishing struct {
	d    *day
	done chan struct{}
	n    uint64 // rows the rollups cover, once done
	err  error
	// checkpointed: the file's WAL was folded in (no rows came since:
	// Append waits for the finish before writing to its day again).
	checkpointed bool
}

// finishDay refreshes the rollups of day d, which writing has moved on
// from, and checkpoints its file (folding its WAL in now rather than at
// close), on another connection while Append goes on with the next day:
// both are mostly single-threaded in DuckDB and took ~25% of a month-long
// import's append time when run inline. At most one day is finished at a
// time; everything that reads or writes a day's rollup state under s.mu
// first calls collectFinish. The caller holds s.mu.
func (s *Store) finishDay(ctx context.Context, d *day) {
	s.collectFinish()
	f := &finishing{d: d, done: make(chan struct{})}
	s.fin = f
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(f.done)
		if f.n, f.err = s.buildRollups(ctx, d); f.err != nil {
			return
		}
		start := time.Now()
		if _, err := s.db.ExecContext(ctx, "CHECKPOINT "+d.alias); err != nil {
			s.log.Warn("checkpoint", "path", d.path, "err", err)
			return
		}
		f.checkpointed = true
		s.log.Debug("checkpointed day", "path", d.path, "took", time.Since(start))
	}()
}

// collectFinish waits for the background finishDay, if any, and records
// its result. The caller holds s.mu.
func (s *Store) collectFinish() {
	f := s.fin
	if f == nil {
		return
	}
	<-f.done
	s.fin = nil
	if f.checkpointed {
		f.d.unflushed = false
	}
	if f.err != nil {
		s.log.Warn("refresh rollups", "path", f.d.path, "err", f.err)
		return
	}
	f.d.rolled, f.d.events = f.n, f.n
}
