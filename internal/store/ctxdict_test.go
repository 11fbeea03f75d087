package store

import (
	"slices"
	"testing"

	"github.com/darkscope/darkscope/internal/event"
)

// TestCtxDictNumber: contexts interleaved in a batch get one id each, new
// ones numbered after the table's last id in order of first appearance;
// the dictionary learns them only on commit (a failed transaction must not
// leave ids the table lacks).
func TestCtxDictNumber(t *testing.T) {
	c := ctxDict{ids: map[ctxKey]uint32{{sensor: "a"}: 4}, last: 7}
	mk := func(sensor, prefix string) event.Event { return event.Event{Sensor: sensor, Prefix: prefix} }
	evs := []event.Event{mk("a", ""), mk("a", ""), mk("b", ""), mk("a", ""), mk("b", "X"), mk("b", ""), mk("b", "X")}
	ids, fresh := c.number(evs, nil)
	if want := []uint32{4, 4, 8, 4, 9, 8, 9}; !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	if len(fresh) != 2 || fresh[0].id != 8 || fresh[0].key.sensor != "b" || fresh[1].id != 9 || fresh[1].key.prefix != "X" {
		t.Fatalf("new rows %+v", fresh)
	}
	if len(c.ids) != 1 || c.last != 7 {
		t.Fatalf("dictionary changed before commit: %+v", c)
	}
	// The same batch again (the transaction failed): the same numbers.
	if again, fresh2 := c.number(evs, nil); !slices.Equal(again, ids) || len(fresh2) != 2 {
		t.Fatalf("retry: ids %v, new rows %+v", again, fresh2)
	}
	c.commit(fresh)
	if ids, fresh := c.number(evs, ids[:0]); len(fresh) != 0 || !slices.Equal(ids, []uint32{4, 4, 8, 4, 9, 8, 9}) || c.last != 9 {
		t.Fatalf("after commit: ids %v, new rows %+v, last %d", ids, fresh, c.last)
	}
}
