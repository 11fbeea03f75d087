package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
)

// The report types are shared with the daemon's API client (internal/report).
type (
	Filter    = report.Filter
	Dimension = report.Dimension
	TopRow    = report.TopRow
	Bucket    = report.Bucket
	Stats     = report.Stats
	DayStats  = report.DayStats
)

// Dimensions of Top.
const (
	Sources      = report.Sources
	Destinations = report.Destinations
	Ports        = report.Ports
	Protocols    = report.Protocols
	Sensors      = report.Sensors
)

// NoFilter matches every event.
func NoFilter() Filter { return report.AnyFilter() }

// overlaps reports whether day d can hold events matching f's time range.
func overlaps(f Filter, d *day) bool {
	end := d.start.Add(24 * time.Hour)
	if !f.Since.IsZero() && !f.Since.Before(end) {
		return false
	}
	if !f.Until.IsZero() && !f.Until.After(d.start) {
		return false
	}
	return true
}

// covers reports whether f's time range includes all of day d.
func covers(f Filter, d *day) bool {
	end := d.start.Add(24 * time.Hour)
	return (f.Since.IsZero() || !f.Since.After(d.start)) && (f.Until.IsZero() || !f.Until.Before(end))
}

func tsLiteral(t time.Time) string {
	return "make_timestamp_ns(" + strconv.FormatInt(t.UnixNano(), 10) + ")"
}

func u128Literal(b [16]byte) string {
	h, l := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	return "((" + strconv.FormatUint(h, 10) + "::UHUGEINT << 64) | " + strconv.FormatUint(l, 10) + "::UHUGEINT)"
}

// prefixRange is the inclusive range of stored numbers a prefix covers
// (IPv4 prefixes cover IPv4-mapped numbers).
func prefixRange(p netip.Prefix) (string, string) {
	p = p.Masked()
	a := p.Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	last := a
	for i := bits; i < 128; i++ {
		last[i/8] |= 1 << (7 - i%8)
	}
	return u128Literal(a), u128Literal(last)
}

// prefixCond matches col against p with netip semantics: the address
// family as decoded (see decodeAddr) must be the prefix's family.
func prefixCond(col string, p netip.Prefix) string {
	lo, hi := prefixRange(p)
	c := col + " BETWEEN " + lo + " AND " + hi
	if p.Addr().Is4() {
		return "(" + c + " AND ip_version <> 6)"
	}
	return "(" + c + " AND (ip_version = 6 OR (ip_version = 0 AND " + col + " >> 32 <> 65535)))"
}

// where renders f as a SQL condition over the stored columns.
func where(f Filter) string {
	conds := []string{"true"}
	if !f.Since.IsZero() {
		conds = append(conds, "time >= "+tsLiteral(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "time < "+tsLiteral(f.Until))
	}
	if f.Src.IsValid() {
		conds = append(conds, prefixCond("src_addr", f.Src))
	}
	if f.Dst.IsValid() {
		conds = append(conds, prefixCond("dst_addr", f.Dst))
	}
	if f.Port >= 0 {
		p := strconv.Itoa(f.Port)
		conds = append(conds, "(dst_port = "+p+" OR src_port = "+p+")")
	}
	if f.Proto >= 0 {
		conds = append(conds, "proto = "+strconv.Itoa(f.Proto))
	}
	if f.Sensor != "" {
		conds = append(conds, "sensor = "+sqlString(f.Sensor))
	}
	return strings.Join(conds, " AND ")
}

type dimSpec struct {
	roll    string // per-day rollup table
	all     string // all-time rollup table in state
	keys    string // key columns (raw and rollup)
	sel     string // key expressions returned to Go
	notNull string // condition on the keys
}

// Protocols with ports: TCP, UDP, SCTP, UDP-Lite.
const portProtos = "proto IN (6, 17, 132, 136)"

var dims = map[Dimension]dimSpec{
	Sources:      {"roll_src", "all_src", "src_hi, src_lo, ip_version", "src_hi, src_lo, ip_version", "src_hi IS NOT NULL"},
	Destinations: {"roll_dst", "all_dst", "dst_hi, dst_lo, ip_version", "dst_hi, dst_lo, ip_version", "dst_hi IS NOT NULL"},
	Ports:        {"roll_port", "all_port", "proto, dst_port", "proto, dst_port", portProtos},
	Protocols:    {"roll_port", "all_port", "proto", "proto", "true"},
	Sensors:      {"roll_sensor", "all_sensor", "sensor", "sensor", "true"},
}

// rollPart is a day answered from its rollups; delta adds the events
// appended since they were built (rowid >= rollup_state.events: day tables
// only ever grow by appends, so their rowids are dense from 0).
type rollPart struct {
	d     *day
	delta bool
}

// deltaSQL selects the events of alias not yet in its rollups, judged in
// the query's own snapshot so a concurrent refresh cannot double-count.
func deltaSQL(alias string) string {
	return "rowid >= (SELECT events FROM " + alias + ".rollup_state)"
}

// plan picks, under s.mu, the days f touches and how each is answered:
// from the all-time rollups in state (global, Top only), from its own
// rollups (rolled, plus the newest events when they are stale) or by
// scanning its events (raw). A writable store first brings stale rollups of
// days no longer written to up to date, and those of the day being written
// once it has more than deltaMax events beyond them.
func (s *Store) plan(ctx context.Context, f Filter, useRollups, useGlobal bool) (global bool, rolled []rollPart, raw []*day, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, nil, nil, errors.New("store closed")
	}
	s.collectFinish()
	useRollups = useRollups && f.TimeOnly()
	useGlobal = useGlobal && useRollups
	if useGlobal && !s.opts.ReadOnly && s.globalBehind(f) {
		if err := s.rebuildGlobal(ctx); err != nil {
			return false, nil, nil, err
		}
	}
	global = useGlobal && s.globalUsable(f)
	for _, d := range s.sortedDays() {
		if !overlaps(f, d) || d.events == 0 {
			continue
		}
		key := d.start.Format(dayLayout)
		if global {
			if _, ok := s.allDays[key]; ok {
				continue
			}
		}
		if useRollups && covers(f, d) {
			if !d.fresh() && !s.opts.ReadOnly && (key != s.lastDay || d.events-d.rolled > s.deltaMax) {
				if err := s.refreshRollups(ctx, d); err != nil {
					return false, nil, nil, err
				}
			}
			if d.fresh() || d.rolled > 0 {
				rolled = append(rolled, rollPart{d: d, delta: !d.fresh() || key == s.lastDay})
				continue
			}
		}
		raw = append(raw, d)
	}
	s.log.Debug("query plan", "all_time_rollups", global, "rollup_days", len(rolled), "raw_days", len(raw))
	return global, rolled, raw, nil
}

// globalEligible reports whether day d belongs in the all-time rollups:
// it has events and is neither being written nor the newest day (which
// is where writing resumes after a restart; keeping it out means appends
// to it never invalidate the all-time tables).
func (s *Store) globalEligible(d *day) bool {
	if d.events == 0 || d.start.Format(dayLayout) == s.lastDay {
		return false
	}
	for _, o := range s.days {
		if o.events > 0 && o.start.After(d.start) {
			return true
		}
	}
	return false
}

// globalUsable reports whether the all-time rollups match the days they
// were built from and f covers all of those days.
func (s *Store) globalUsable(f Filter) bool {
	if len(s.allDays) == 0 {
		return false
	}
	for key, n := range s.allDays {
		d, ok := s.days[key]
		if !ok || d.events != n || !covers(f, d) {
			return false
		}
	}
	return true
}

// globalBehind reports whether rebuilding the all-time rollups would let f
// use them for more days: they are stale, or a finished day f covers is
// missing from them.
func (s *Store) globalBehind(f Filter) bool {
	for key, n := range s.allDays {
		if d, ok := s.days[key]; !ok || d.events != n {
			return true
		}
	}
	for key, d := range s.days {
		if _, ok := s.allDays[key]; !ok && s.globalEligible(d) && covers(f, d) {
			return true
		}
	}
	return false
}

// rebuildGlobal brings the all-time rollups up to date with every day not
// being written to. When the days they already cover are unchanged it
// merges only the new days into them (cost: the all-time table plus the new
// days); otherwise it rebuilds them from every day's rollups. The caller
// holds s.mu.
func (s *Store) rebuildGlobal(ctx context.Context) error {
	start := time.Now()
	incremental := len(s.allDays) > 0
	for key, n := range s.allDays {
		if d, ok := s.days[key]; !ok || d.events != n || !s.globalEligible(d) {
			incremental = false
		}
	}
	var days, add []*day
	for _, d := range s.sortedDays() {
		key := d.start.Format(dayLayout)
		if !s.globalEligible(d) {
			continue
		}
		if !d.fresh() {
			if err := s.refreshRollups(ctx, d); err != nil {
				return err
			}
		}
		days = append(days, d)
		if _, ok := s.allDays[key]; !incremental || !ok {
			add = append(add, d)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rebuild all-time rollups: %w", err)
	}
	// Input rows, at most: the rows of the days merged, and the all-time
	// table's (at most the events it was built from).
	var rows uint64
	for _, d := range add {
		rows += d.events
	}
	if incremental {
		for _, n := range s.allDays {
			rows += n
		}
	}
	err = func() error {
		for _, t := range allTables {
			var parts []string
			if incremental {
				parts = append(parts, "SELECT * FROM state."+t.all)
			}
			for _, d := range add {
				parts = append(parts, "SELECT * FROM "+d.alias+"."+t.day)
			}
			if len(parts) == 0 {
				parts = append(parts, "SELECT * FROM state."+t.all+" WHERE false")
			}
			sel := "SELECT " + t.keys + ", " + t.merge + " FROM (" + strings.Join(parts, " UNION ALL ") + ")"
			n := 1
			if t.part != "" {
				n = s.allPartitions(rows)
			}
			if n == 1 {
				if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE TABLE state."+t.all+" AS "+sel+" GROUP BY ALL"); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE TABLE state."+t.all+" AS "+sel+" WHERE false GROUP BY ALL"); err != nil {
				return err
			}
			for k := range n {
				q := "INSERT INTO state." + t.all + " " + sel + " WHERE coalesce(" + t.part + ", 0) % " + strconv.Itoa(n) + " = " + strconv.Itoa(k) + " GROUP BY ALL"
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
		}
		if !incremental {
			if _, err := tx.ExecContext(ctx, "DELETE FROM state.all_days"); err != nil {
				return err
			}
		}
		for _, d := range add {
			if _, err := tx.ExecContext(ctx, "INSERT INTO state.all_days VALUES (?, ?)", d.start.Format(dayLayout), d.events); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("rebuild all-time rollups: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rebuild all-time rollups: commit: %w", err)
	}
	s.allDays = map[string]uint64{}
	for _, d := range days {
		s.allDays[d.start.Format(dayLayout)] = d.events
	}
	s.log.Debug("rebuilt all-time rollups", "days", len(days), "merged", len(add), "incremental", incremental, "took", time.Since(start))
	return nil
}

// allPartRows and maxAllPartitions size rebuildGlobal's split: a table
// whose rebuild reads more than allPartRows rows is regrouped in up to
// maxAllPartitions slices of its key (by the address's low half; a NULL
// address, the packets without one, falls in slice 0), one GROUP BY each
// over the same input, so each slice's hash table is that much smaller.
// Regrouping 29 days' roll_src (8.5M rows, 1M sources) in a writer just
// opened on them took 3.2-4.3 s in one GROUP BY and 2.6 s in 8 (3 runs
// each); the query alone peaked at 0.9 GB in one, 0.36 GB in 8. At the
// close of the import that wrote those days (their rollups still cached)
// it took 1.7-2.6 s either way: the close did not measurably change.
const (
	allPartRows      = 1 << 20
	maxAllPartitions = 8
)

// allPartitions is the number of slices rebuildGlobal regroups a table of
// at most rows input rows in.
func (s *Store) allPartitions(rows uint64) int {
	per := uint64(allPartRows)
	if s.partRows > 0 {
		per = s.partRows
	}
	return int(min(uint64(maxAllPartitions), max(1, (rows+per-1)/per)))
}

func (s *Store) loadAllDays(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "SELECT day, events FROM state.all_days")
	if err != nil {
		return fmt.Errorf("read all-time rollup days: %w", err)
	}
	defer rows.Close()
	s.allDays = map[string]uint64{}
	for rows.Next() {
		var k string
		var n uint64
		if err := rows.Scan(&k, &n); err != nil {
			return fmt.Errorf("read all-time rollup days: %w", err)
		}
		s.allDays[k] = n
	}
	return rows.Err()
}

// Top returns the limit most frequent keys of dim among events matching f.
func (s *Store) Top(ctx context.Context, dim Dimension, f Filter, limit int) ([]TopRow, error) {
	spec, ok := dims[dim]
	if !ok {
		return nil, fmt.Errorf("top: unknown dimension %q (want sources, destinations, ports, protocols or sensors)", dim)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 10
	}
	global, rolled, raw, err := s.plan(ctx, f, true, true)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", dim, err)
	}
	var parts []string
	if global {
		parts = append(parts, "SELECT "+spec.keys+", events AS n, first AS f, last AS l FROM state."+spec.all)
	}
	for _, p := range rolled {
		parts = append(parts, "SELECT "+spec.keys+", events AS n, first AS f, last AS l FROM "+p.d.alias+"."+spec.roll)
		if p.delta {
			parts = append(parts, "SELECT "+spec.keys+", count(*) AS n, min(time) AS f, max(time) AS l FROM "+p.d.from(dim == Sensors)+" WHERE "+packetsOnly+" AND "+deltaSQL(p.d.alias)+" GROUP BY ALL")
		}
	}
	for _, d := range raw {
		parts = append(parts, "SELECT "+spec.keys+", count(*) AS n, min(time) AS f, max(time) AS l FROM "+d.from(dim == Sensors || f.Sensor != "")+" WHERE "+packetsOnly+" AND "+where(f)+" GROUP BY ALL")
	}
	if len(parts) == 0 {
		return []TopRow{}, nil
	}
	q := "SELECT " + spec.sel + ", sum(n)::UBIGINT AS n, epoch_ns(min(f)), epoch_ns(max(l)) FROM (" + strings.Join(parts, " UNION ALL ") +
		") WHERE " + spec.notNull + " GROUP BY " + spec.keys + " ORDER BY n DESC, " + spec.keys + " LIMIT " + strconv.Itoa(limit)
	if global && len(rolled)+len(raw) == 0 && dim != Protocols {
		// The all-time table alone: its keys are unique, no regrouping.
		q = "SELECT " + spec.sel + ", events AS n, epoch_ns(first), epoch_ns(last) FROM state." + spec.all +
			" WHERE " + spec.notNull + " ORDER BY n DESC, " + spec.keys + " LIMIT " + strconv.Itoa(limit)
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", dim, err)
	}
	defer rows.Close()
	out := []TopRow{}
	for rows.Next() {
		var r TopRow
		var first, last sql.NullInt64
		switch dim {
		case Sources, Destinations:
			var h, l uint64
			var v uint8
			if err := rows.Scan(&h, &l, &v, &r.Count, &first, &last); err != nil {
				return nil, fmt.Errorf("top %s: %w", dim, err)
			}
			r.Key = decodeAddr(h, l, v).String()
		case Ports:
			var p uint8
			var port uint16
			if err := rows.Scan(&p, &port, &r.Count, &first, &last); err != nil {
				return nil, fmt.Errorf("top %s: %w", dim, err)
			}
			r.Proto, r.Port = event.Proto(p).String(), int(port)
			r.Key = strconv.Itoa(int(port)) + "/" + r.Proto
		case Protocols:
			var p uint8
			if err := rows.Scan(&p, &r.Count, &first, &last); err != nil {
				return nil, fmt.Errorf("top %s: %w", dim, err)
			}
			r.Proto = event.Proto(p).String()
			r.Key = r.Proto
		case Sensors:
			if err := rows.Scan(&r.Key, &r.Count, &first, &last); err != nil {
				return nil, fmt.Errorf("top %s: %w", dim, err)
			}
		}
		r.First, r.Last = nsTime(first), nsTime(last)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("top %s: %w", dim, err)
	}
	return out, nil
}

func nsTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// decodeAddr rebuilds an address from its stored halves. The family follows
// the event's IP version; with version 0 an IPv4-mapped number is IPv4.
func decodeAddr(h, l uint64, version uint8) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], h)
	binary.BigEndian.PutUint64(b[8:], l)
	a := netip.AddrFrom16(b)
	if version == 4 || (version != 6 && a.Is4In6()) {
		return a.Unmap()
	}
	return a
}

// Histogram counts events matching f per width (a positive multiple of a
// minute: minute, hour, day ...), buckets aligned to UTC. Empty buckets are
// left out.
func (s *Store) Histogram(ctx context.Context, width time.Duration, f Filter) ([]Bucket, error) {
	if width < time.Minute || width%time.Minute != 0 {
		return nil, fmt.Errorf("histogram: width %s is not a positive multiple of a minute", width)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	// Minute rollups answer any time-only filter whose bounds are whole minutes.
	aligned := f.Since.Equal(f.Since.Truncate(time.Minute)) && f.Until.Equal(f.Until.Truncate(time.Minute))
	_, rolled, raw, err := s.plan(ctx, Filter{Port: -1, Proto: -1}, f.TimeOnly() && aligned, false)
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	var parts []string
	mcond := "true"
	if !f.Since.IsZero() {
		mcond += " AND minute >= " + tsLiteral(f.Since) + "::TIMESTAMP"
	}
	if !f.Until.IsZero() {
		mcond += " AND minute < " + tsLiteral(f.Until) + "::TIMESTAMP"
	}
	for _, p := range rolled {
		if overlaps(f, p.d) {
			parts = append(parts, "SELECT minute AS m, events AS n FROM "+p.d.alias+".roll_minute WHERE "+mcond)
			if p.delta {
				parts = append(parts, "SELECT date_trunc('minute', time) AS m, count(*) AS n FROM "+p.d.from(f.Sensor != "")+" WHERE "+packetsOnly+" AND "+deltaSQL(p.d.alias)+" AND "+where(f)+" GROUP BY ALL")
			}
		}
	}
	for _, d := range raw {
		if overlaps(f, d) {
			parts = append(parts, "SELECT date_trunc('minute', time) AS m, count(*) AS n FROM "+d.from(f.Sensor != "")+" WHERE "+packetsOnly+" AND "+where(f)+" GROUP BY ALL")
		}
	}
	if len(parts) == 0 {
		return []Bucket{}, nil
	}
	q := "SELECT epoch_us(time_bucket(to_microseconds(" + strconv.FormatInt(width.Microseconds(), 10) +
		"), m, TIMESTAMP '1970-01-01')) AS b, sum(n)::UBIGINT FROM (" + strings.Join(parts, " UNION ALL ") +
		") WHERE m IS NOT NULL GROUP BY b ORDER BY b"
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	defer rows.Close()
	out := []Bucket{}
	for rows.Next() {
		var us int64
		var b Bucket
		if err := rows.Scan(&us, &b.Count); err != nil {
			return nil, fmt.Errorf("histogram: %w", err)
		}
		b.Start = time.UnixMicro(us).UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	return out, nil
}

// decodeSelect reads every stored column back in the order scanEvent expects.
const decodeSelect = `epoch_ns(time), uptime_ns, kind, sensor, source, prefix, nflog_group, hook, in_iface, out_iface, verdict,
	mark, uid, gid, mac_src, mac_dst, ethertype, mac_raw, ip_version,
	(src_addr >> 64)::UBIGINT, (src_addr & 18446744073709551615::UHUGEINT)::UBIGINT,
	(dst_addr >> 64)::UBIGINT, (dst_addr & 18446744073709551615::UHUGEINT)::UBIGINT,
	proto, ihl, total_len, tos, ttl, ip_id, ip_flags, frag_off, flow_label, ip_options, ext_hdrs,
	src_port, dst_port, seq, ack, tcp_window, tcp_flags, tcp_reserved, urgent, tcp_options, udp_len, udp_checksum,
	icmp_type, icmp_code, icmp_id, icmp_seq, icmp_mtu,
	(icmp_gateway >> 64)::UBIGINT, (icmp_gateway & 18446744073709551615::UHUGEINT)::UBIGINT,
	(q_src_addr >> 64)::UBIGINT, (q_src_addr & 18446744073709551615::UHUGEINT)::UBIGINT,
	(q_dst_addr >> 64)::UBIGINT, (q_dst_addr & 18446744073709551615::UHUGEINT)::UBIGINT,
	q_proto, q_src_port, q_dst_port, q_total_len, q_ttl, q_ip_id, q_seq, payload_len, payload, truncated,
	` + payloadSelect

func scanEvent(rows *sql.Rows, e *event.Event) error {
	var (
		tns                          *int64
		kind, hook, verdict, proto   uint8
		mark, uid, gid               *uint32
		macSrc, macDst               *uint64
		macRaw, ipOpts, ext, tcpOpts []byte
		payload                      []byte
		srcH, srcL, dstH, dstL       *uint64
		gwH, gwL, qsH, qsL, qdH, qdL *uint64
		seq, ack                     *uint32
		udpCsum                      *uint16
		flags                        uint8
		qProto, qTTL                 *uint8
		qSrcPort, qDstPort, qTotal   *uint16
		qIPID, qSeq                  *uint32
		uptime                       int64
		pl                           payloadScan
	)
	e.Reset()
	dests := append([]any{&tns, &uptime, &kind, &e.Sensor, &e.Source, &e.Prefix, &e.Group, &hook, &e.InIface, &e.OutIface, &verdict,
		&mark, &uid, &gid, &macSrc, &macDst, &e.EtherType, &macRaw, &e.IPVersion,
		&srcH, &srcL, &dstH, &dstL,
		&proto, &e.IHL, &e.TotalLen, &e.TOS, &e.TTL, &e.IPID, &e.IPFlags, &e.FragOff, &e.FlowLabel, &ipOpts, &ext,
		&e.SrcPort, &e.DstPort, &seq, &ack, &e.Window, &flags, &e.Reserved, &e.Urgent, &tcpOpts, &e.UDPLen, &udpCsum,
		&e.ICMPType, &e.ICMPCode, &e.ICMPID, &e.ICMPSeq, &e.ICMPMTU,
		&gwH, &gwL, &qsH, &qsL, &qdH, &qdL,
		&qProto, &qSrcPort, &qDstPort, &qTotal, &qTTL, &qIPID, &qSeq, &e.PayloadLen, &payload, &e.Truncated}, pl.dests()...)
	if err := rows.Scan(dests...); err != nil {
		return err
	}
	if err := pl.decode(e); err != nil {
		return err
	}
	if tns != nil {
		e.Time = time.Unix(0, *tns).UTC()
	}
	e.Uptime = time.Duration(uptime)
	e.Kind, e.Hook, e.Verdict, e.Proto, e.Flags = event.Kind(kind), event.Hook(hook), event.Verdict(verdict), event.Proto(proto), event.TCPFlags(flags)
	if mark != nil {
		e.Mark, e.HasMark = *mark, true
	}
	if uid != nil {
		e.UID, e.HasUID = *uid, true
		if gid != nil {
			e.GID = *gid
		}
	}
	if macSrc != nil && macDst != nil {
		e.HasMAC = true
		putMAC(&e.MACSrc, *macSrc)
		putMAC(&e.MACDst, *macDst)
	}
	e.MACRawLen = uint8(copy(e.MACRaw[:], macRaw))
	e.IPOptLen = uint8(copy(e.IPOptions[:], ipOpts))
	e.ExtHdrLen = uint8(copy(e.ExtHdrs[:], ext))
	e.TCPOptLen = uint8(copy(e.TCPOptions[:], tcpOpts))
	e.PayloadCap = uint8(copy(e.Payload[:], payload))
	e.Src = addrPtr(srcH, srcL, e.IPVersion)
	e.Dst = addrPtr(dstH, dstL, e.IPVersion)
	e.ICMPGateway = addrPtr(gwH, gwL, e.IPVersion)
	if seq != nil {
		e.HasSeq, e.Seq = true, *seq
		if ack != nil {
			e.Ack = *ack
		}
	}
	if udpCsum != nil {
		e.HasUDPChecksum, e.UDPChecksum = true, *udpCsum
	}
	if qProto != nil {
		e.HasQuoted = true
		q := &e.Quoted
		q.Src = addrPtr(qsH, qsL, e.IPVersion)
		q.Dst = addrPtr(qdH, qdL, e.IPVersion)
		q.Proto = event.Proto(*qProto)
		q.SrcPort, q.DstPort, q.TotalLen = deref(qSrcPort), deref(qDstPort), deref(qTotal)
		q.TTL, q.IPID, q.Seq = deref(qTTL), deref(qIPID), deref(qSeq)
	}
	return nil
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

func addrPtr(h, l *uint64, v uint8) netip.Addr {
	if h == nil || l == nil {
		return netip.Addr{}
	}
	return decodeAddr(*h, *l, v)
}

func putMAC(m *[6]byte, v uint64) {
	for i := 5; i >= 0; i-- {
		m[i] = byte(v)
		v >>= 8
	}
}

// Events calls fn for up to limit events matching f (limit <= 0: all), in
// time order, each decoded back into a typed Event. fn must not keep the
// pointer.
func (s *Store) Events(ctx context.Context, f Filter, limit int, fn func(*event.Event) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	_, _, raw, err := s.plan(ctx, f, false, false)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	var e event.Event
	left := limit
	for _, d := range raw {
		q := "SELECT " + decodeSelect + " FROM " + payloadJoin(d.eventsFrom(), d.alias) + " WHERE " + where(f) + " ORDER BY time"
		if limit > 0 {
			q += " LIMIT " + strconv.Itoa(left)
		}
		n, err := func() (int, error) {
			rows, err := s.db.QueryContext(ctx, q)
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				if err := scanEvent(rows, &e); err != nil {
					return n, err
				}
				n++
				if err := fn(&e); err != nil {
					return n, err
				}
			}
			return n, rows.Err()
		}()
		if err != nil {
			return fmt.Errorf("events from %s: %w", d.path, err)
		}
		if limit > 0 {
			if left -= n; left <= 0 {
				return nil
			}
		}
	}
	return nil
}

// ErrNotSelect is returned by Query for anything but a single SELECT.
var ErrNotSelect = errors.New("query: only a single SELECT (or WITH ... SELECT) statement is allowed")

// Query runs one read-only SELECT (views: events, events_raw; macros such as
// ip_text) and calls fn once with the column names and a nil row, then per
// row. DuckDB's own parser decides what is a
// SELECT, and file access is confined to the data directory.
func (s *Store) Query(ctx context.Context, query string, fn func(cols []string, row []any) error) error {
	var js string
	if err := s.db.QueryRowContext(ctx, "SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", query).Scan(&js); err != nil {
		return fmt.Errorf("query: parse: %w", err)
	}
	var parsed struct {
		Error      bool              `json:"error"`
		Message    string            `json:"error_message"`
		Statements []json.RawMessage `json:"statements"`
	}
	if err := json.Unmarshal([]byte(js), &parsed); err != nil {
		return fmt.Errorf("query: parse: %w", err)
	}
	if parsed.Error {
		if strings.Contains(parsed.Message, "Only SELECT") {
			return ErrNotSelect
		}
		return fmt.Errorf("query: %s", parsed.Message)
	}
	if len(parsed.Statements) != 1 {
		return ErrNotSelect
	}
	if err := s.lockConfig(ctx); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	if err := s.ensureViews(ctx); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer conn.Close()
	// A transaction that is always rolled back: whatever a SELECT might
	// reach, nothing it does is kept.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	if err := fn(cols, nil); err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("query: %w", err)
		}
		if err := fn(cols, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}

func fileBytes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + ".wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Stats returns event counts, time range and disk use.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	s.mu.Lock()
	s.collectFinish()
	days := s.sortedDays()
	st := Stats{Dir: s.dir, SchemaVersion: event.SchemaVersion}
	var nonEmpty []*day
	for _, d := range days {
		b := fileBytes(d.path)
		st.PerDay = append(st.PerDay, DayStats{Day: d.start.Format(dayLayout), Events: d.events, Bytes: b})
		st.Events += d.events
		st.Bytes += b
		if d.events > 0 {
			nonEmpty = append(nonEmpty, d)
		}
	}
	s.mu.Unlock()
	st.Days = len(days)
	st.StateBytes = fileBytes(filepath.Join(s.dir, stateName))
	st.Bytes += st.StateBytes
	if len(nonEmpty) > 0 {
		var first, last sql.NullInt64
		q := "SELECT (SELECT epoch_ns(min(time)) FROM " + nonEmpty[0].alias + ".events), (SELECT epoch_ns(max(time)) FROM " + nonEmpty[len(nonEmpty)-1].alias + ".events)"
		if err := s.db.QueryRowContext(ctx, q).Scan(&first, &last); err != nil {
			return Stats{}, fmt.Errorf("stats: %w", err)
		}
		st.First, st.Last = nsTime(first), nsTime(last)
	}
	return st, nil
}

// Retain deletes the day files wholly older than keep (now - keep), after
// saving their offsets into the state database, and returns how many it
// removed.
func (s *Store) Retain(ctx context.Context, keep time.Duration) (int, error) {
	if keep <= 0 {
		return 0, fmt.Errorf("retain: keep %s must be positive", keep)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.ReadOnly {
		return 0, errors.New("retain: store opened read-only")
	}
	s.collectFinish()
	cutoff := s.now().UTC().Add(-keep)
	removed := 0
	for _, d := range s.sortedDays() {
		if d.start.Add(24 * time.Hour).After(cutoff) {
			break
		}
		if err := s.mirrorOffsets(ctx, d); err != nil {
			return removed, fmt.Errorf("retain: %w", err)
		}
		s.forgetDay(d.alias)
		if _, err := s.db.ExecContext(ctx, "DETACH "+d.alias); err != nil {
			return removed, fmt.Errorf("retain: detach %s: %w", d.path, err)
		}
		key := d.start.Format(dayLayout)
		delete(s.days, key)
		if s.lastDay == key {
			s.lastDay = ""
		}
		for _, p := range []string{d.path, d.path + ".wal"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, fmt.Errorf("retain: %w", err)
			}
		}
		removed++
		s.log.Info("retention removed day", "path", d.path, "events", d.events)
	}
	if removed > 0 {
		s.viewsStale = true // rebuilt by the next Query (ensureViews)
	}
	return removed, nil
}
