package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
)

// ctxKey is an event's context: the four strings a day's ctx table numbers
// (see packedColumns).
type ctxKey struct{ sensor, source, prefix, inIface string }

func (k *ctxKey) is(e *event.Event) bool {
	return e.Sensor == k.sensor && e.Source == k.source && e.Prefix == k.prefix && e.InIface == k.inIface
}

// ctxRow is one row of a ctx table.
type ctxRow struct {
	id  uint32
	key ctxKey
}

// ctxDict is a day's ctx table as the writer knows it: every committed row.
type ctxDict struct {
	ids  map[ctxKey]uint32
	last uint32 // the highest id in the table
}

// load reads day alias's ctx table.
func (c *ctxDict) load(ctx context.Context, s *Store, alias string) error {
	c.ids = map[ctxKey]uint32{}
	c.last = 0
	rows, err := s.db.QueryContext(ctx, "SELECT id, "+strings.Join(ctxColumns, ", ")+" FROM "+alias+".ctx")
	if err != nil {
		return fmt.Errorf("read %s.ctx: %w", alias, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ctxRow
		if err := rows.Scan(&r.id, &r.key.sensor, &r.key.source, &r.key.prefix, &r.key.inIface); err != nil {
			return fmt.Errorf("read %s.ctx: %w", alias, err)
		}
		c.ids[r.key] = r.id
		c.last = max(c.last, r.id)
	}
	return rows.Err()
}

// number appends to ids the ctx id of each event and returns the rows the
// table lacks (numbered after its last id, strings copied). Nothing
// changes in c until commit, so a failed transaction leaves it true.
// Events come in long runs of one context: a run costs one comparison per
// event and one map lookup.
func (c *ctxDict) number(events []event.Event, ids []uint32) ([]uint32, []ctxRow) {
	var fresh []ctxRow
	var freshIDs map[ctxKey]uint32 // made on the first new context
	var cur ctxKey
	var curID uint32
	have := false
	for i := range events {
		e := &events[i]
		if have && cur.is(e) {
			ids = append(ids, curID)
			continue
		}
		k := ctxKey{e.Sensor, e.Source, e.Prefix, e.InIface}
		id, ok := c.ids[k]
		if !ok {
			id, ok = freshIDs[k]
		}
		if !ok {
			id = c.last + uint32(len(fresh)) + 1
			r := ctxRow{id: id, key: ctxKey{strings.Clone(k.sensor), strings.Clone(k.source), strings.Clone(k.prefix), strings.Clone(k.inIface)}}
			fresh = append(fresh, r)
			if freshIDs == nil {
				freshIDs = map[ctxKey]uint32{}
			}
			freshIDs[r.key] = id
		}
		cur, curID, have = k, id, true
		ids = append(ids, id)
	}
	return ids, fresh
}

// commit records rows stored by a committed transaction.
func (c *ctxDict) commit(rows []ctxRow) {
	for _, r := range rows {
		c.ids[r.key] = r.id
		c.last = max(c.last, r.id)
	}
}

// insertCtx stores rows in day alias's ctx table inside the caller's
// transaction.
func (s *Store) insertCtx(ctx context.Context, alias string, rows []ctxRow) error {
	for _, r := range rows {
		if _, err := s.wconn.ExecContext(ctx, "INSERT INTO "+alias+".ctx VALUES (?, ?, ?, ?, ?)",
			r.id, r.key.sensor, r.key.source, r.key.prefix, r.key.inIface); err != nil {
			return fmt.Errorf("store context %d: %w", r.id, err)
		}
	}
	return nil
}
