package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// dayOf returns the UTC day an event is stored under (the zero time goes to 1970-01-01).
func dayOf(e *event.Event) time.Time {
	if e.Time.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return e.Time.UTC().Truncate(24 * time.Hour)
}

// Append writes events and saves the offsets of the sources they came from
// in the same transaction (the pipeline coalesces batches of several
// sources into one call). Events are stored in the file of their UTC day; a
// batch is one transaction per day it touches (DuckDB writes one file per
// transaction), and the offsets ride with the last of them, so a batch
// within one day is all-or-nothing with its offsets. A batch spanning
// midnight that fails half-way may leave its earlier days' rows stored
// without the offsets (they are then stored again when the source resumes).
//
// Each call costs a fixed few milliseconds (DuckDB sets up the 64 columns
// of a transaction's insert), so callers should coalesce small batches.
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
	// Split by day, keeping the common single-day batch copy-free.
	first := dayOf(&events[0])
	single := true
	for i := range events {
		if !dayOf(&events[i]).Equal(first) {
			single = false
			break
		}
	}
	if single {
		return s.appendDay(ctx, first, events, offs)
	}
	groups := map[time.Time][]event.Event{}
	var order []time.Time
	for i := range events {
		d := dayOf(&events[i])
		if _, ok := groups[d]; !ok {
			order = append(order, d)
		}
		groups[d] = append(groups[d], events[i])
	}
	sortTimes(order)
	for i, d := range order {
		var o []source.Offset
		if i == len(order)-1 {
			o = offs
		}
		if err := s.appendDay(ctx, d, groups[d], o); err != nil {
			return err
		}
	}
	return nil
}

func sortTimes(ts []time.Time) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Before(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

func (s *Store) appendDay(ctx context.Context, t time.Time, events []event.Event, offs []source.Offset) error {
	_, known := s.days[t.Format(dayLayout)]
	d, err := s.attachDay(ctx, t)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if !known {
		if err := s.rebuildViews(ctx); err != nil {
			return fmt.Errorf("append: %w", err)
		}
	}
	// Writing moved on from another day: refresh that day's rollups now.
	if s.lastDay != "" && s.lastDay != t.Format(dayLayout) {
		if prev, ok := s.days[s.lastDay]; ok && !prev.fresh() {
			if err := s.refreshRollups(ctx, prev); err != nil {
				s.log.Warn("refresh rollups", "day", s.lastDay, "err", err)
			}
			// Fold the finished day's WAL into its file now rather than at close.
			start := time.Now()
			if _, err := s.db.ExecContext(ctx, "CHECKPOINT "+prev.alias); err != nil {
				s.log.Warn("checkpoint", "path", prev.path, "err", err)
			}
			s.log.Debug("checkpointed day", "path", prev.path, "took", time.Since(start))
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
	if p != nil {
		d.refs = p.batch.lastRef
	}
	s.offSeq += uint64(len(offs))
	return nil
}

func (s *Store) appendTx(ctx context.Context, d *day, p *pendingInsert, count int, offs []source.Offset) error {
	if p != nil {
		n, err := p.exec(ctx, s, d.alias)
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
	start := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("refresh rollups of %s: %w", d.path, err)
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
		_, err = tx.ExecContext(ctx, fmt.Sprintf(r.fill, d.alias))
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, "UPDATE "+d.alias+".rollup_state SET events = ?", n)
	}
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("refresh rollups of %s: %w", d.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("refresh rollups of %s: commit: %w", d.path, err)
	}
	d.rolled = n
	d.events = n
	s.log.Debug("refreshed rollups", "path", d.path, "events", n, "took", time.Since(start))
	return nil
}
