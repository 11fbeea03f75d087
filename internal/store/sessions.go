package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/report"
)

// Honeypot session and timeline rows (shared with the API client, see
// internal/report).
type (
	SessionRow = report.SessionRow
	Timeline   = report.Timeline
)

var _ report.SessionReader = (*Store)(nil)

const (
	addrHiLo = "(src_addr >> 64)::UBIGINT, (src_addr & 18446744073709551615::UHUGEINT)::UBIGINT"
	// authRowCols are the columns authRows selects.
	authRowCols = "time, sensor, src_addr, ip_version, src_port, auth_kind, auth_session, auth_attempt, auth_unanswered, username, secret, client_version, hassh, auth_extra"
)

// authRows selects the auth records (with the event columns a session
// needs) of the days f touches ("" when none).
func (s *Store) authRows(ctx context.Context, f Filter) (string, error) {
	_, _, raw, err := s.plan(ctx, f, false, false)
	if err != nil {
		return "", err
	}
	parts := make([]string, 0, len(raw))
	for _, d := range raw {
		parts = append(parts, "SELECT "+authRowCols+" FROM "+d.alias+".auth a JOIN "+d.from(true)+" e ON e.payload_ref = a.ref WHERE "+where(f))
	}
	return strings.Join(parts, " UNION ALL "), nil
}

// sessionKey groups auth records into connections: the honeypot's id is
// unique within one run, the source port makes it unique across restarts.
const sessionKey = "sensor, auth_session, src_addr, ip_version, src_port"

// CredSessions implements report.SessionReader: one row per honeypot
// connection with records matching f, oldest first (ties: sensor, id).
func (s *Store) CredSessions(ctx context.Context, f Filter, limit int) ([]SessionRow, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	from, err := s.authRows(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("creds sessions: %w", err)
	}
	out := []SessionRow{}
	if from == "" {
		return out, nil
	}
	q := `WITH r AS (` + from + `), g AS (
		SELECT ` + sessionKey + `,
			epoch_ns(min(time)) AS first_ns,
			epoch_ns(max(time) FILTER (WHERE auth_kind = 5)) AS end_ns,
			max(TRY_CAST(json_extract(auth_extra, '$.duration_ns') AS BIGINT)) FILTER (WHERE auth_kind = 5) AS dur_ns,
			max(json_extract_string(auth_extra, '$.end_reason')) FILTER (WHERE auth_kind = 5) AS end_reason,
			count(*) FILTER (WHERE auth_kind BETWEEN 1 AND 4) AS attempts,
			count(*) FILTER (WHERE auth_kind IN (1, 2) AND NOT auth_unanswered) AS passwords,
			list_sort(list_distinct(list(username) FILTER (WHERE auth_kind BETWEEN 1 AND 4))) AS usernames,
			max(client_version) AS client_version, max(hassh) AS hassh
		FROM r GROUP BY ` + sessionKey + `)
		SELECT sensor, auth_session, ` + addrHiLo + `, ip_version, src_port,
			CASE WHEN end_ns IS NOT NULL AND dur_ns IS NOT NULL THEN least(end_ns - dur_ns, first_ns) ELSE first_ns END AS start_ns,
			end_ns, coalesce(end_reason, ''), attempts, passwords, coalesce(usernames, []), client_version, hassh
		FROM g ORDER BY start_ns, sensor, auth_session, src_port LIMIT ` + strconv.Itoa(limit)
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("creds sessions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r SessionRow
		var hi, lo uint64
		var ver uint8
		var start, end sql.NullInt64
		var users any
		if err := rows.Scan(&r.Sensor, &r.Session, &hi, &lo, &ver, &r.SrcPort, &start, &end, &r.EndReason,
			&r.Attempts, &r.Passwords, &users, &r.ClientVersion, &r.HASSH); err != nil {
			return nil, fmt.Errorf("creds sessions: %w", err)
		}
		r.Src = decodeAddr(hi, lo, ver)
		r.Start, r.End = nsTime(start), nsTime(end)
		r.Usernames = []string{}
		if l, ok := users.([]any); ok {
			for _, u := range l {
				if s, ok := u.(string); ok {
					r.Usernames = append(r.Usernames, s)
				}
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("creds sessions: %w", err)
	}
	return out, nil
}

// CredTimeline implements report.SessionReader.
func (s *Store) CredTimeline(ctx context.Context, src netip.Addr, f Filter, limit int) (Timeline, error) {
	t := Timeline{Src: src.Unmap(), Scans: []report.ScanRow{}, Sessions: []SessionRow{}, Attempts: []report.AttemptRow{},
		Darknet: report.Darknet{Protocols: []string{}, Ports: []report.PortCount{}}}
	if !src.IsValid() {
		return t, fmt.Errorf("creds timeline: no address")
	}
	if limit <= 0 {
		limit = 1000
	}
	src = src.Unmap()
	f.Src = netip.PrefixFrom(src, src.BitLen())
	f.Dst, f.Port, f.Proto = netip.Prefix{}, -1, -1
	if err := f.Validate(); err != nil {
		return t, err
	}
	var err error
	if t.Darknet, err = s.darknet(ctx, f); err != nil {
		return t, fmt.Errorf("creds timeline %s: %w", src, err)
	}
	if t.Scans, err = s.scans(ctx, src, f); err != nil {
		return t, fmt.Errorf("creds timeline %s: %w", src, err)
	}
	if t.Sessions, err = s.CredSessions(ctx, f, 1<<20); err != nil {
		return t, fmt.Errorf("creds timeline %s: %w", src, err)
	}
	if t.Attempts, t.AttemptsTotal, err = s.attempts(ctx, f, limit); err != nil {
		return t, fmt.Errorf("creds timeline %s: %w", src, err)
	}
	t.Correlate()
	return t, nil
}

// darknet summarises the packet events matching f.
func (s *Store) darknet(ctx context.Context, f Filter) (report.Darknet, error) {
	d := report.Darknet{Protocols: []string{}, Ports: []report.PortCount{}}
	_, _, raw, err := s.plan(ctx, f, false, false)
	if err != nil || len(raw) == 0 {
		return d, err
	}
	parts := make([]string, len(raw))
	for i, day := range raw {
		parts[i] = "SELECT proto, dst_port, time FROM " + day.from(f.Sensor != "") + " WHERE " + packetsOnly + " AND " + where(f)
	}
	q := `SELECT proto, CASE WHEN proto IN (6, 17, 132, 136) THEN coalesce(dst_port, 0) ELSE 0 END AS port,
		count(*), epoch_ns(min(time)), epoch_ns(max(time))
		FROM (` + strings.Join(parts, " UNION ALL ") + `) GROUP BY ALL ORDER BY count(*) DESC, proto, port`
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	protos := map[string]bool{}
	for rows.Next() {
		var proto uint8
		var port int
		var n uint64
		var first, last sql.NullInt64
		if err := rows.Scan(&proto, &port, &n, &first, &last); err != nil {
			return d, err
		}
		name := event.Proto(proto).String()
		d.Ports = append(d.Ports, report.PortCount{Proto: name, Port: port, Packets: n})
		d.Packets += n
		if ft := nsTime(first); !ft.IsZero() && (d.First.IsZero() || ft.Before(d.First)) {
			d.First = ft
		}
		if lt := nsTime(last); lt.After(d.Last) {
			d.Last = lt
		}
		if !protos[name] {
			protos[name] = true
			d.Protocols = append(d.Protocols, name)
		}
	}
	sort.Strings(d.Protocols)
	return d, rows.Err()
}

// scans returns the stored verdicts whose source (or IPv6 /64 aggregate)
// covers src, in time order.
func (s *Store) scans(ctx context.Context, src netip.Addr, f Filter) ([]report.ScanRow, error) {
	out := []report.ScanRow{}
	af := f
	if src.Is6() {
		af.Src, _ = src.Prefix(64)
	}
	_, _, raw, err := s.plan(ctx, af, false, false)
	if err != nil || len(raw) == 0 {
		return out, err
	}
	parts := make([]string, len(raw))
	for i, d := range raw {
		parts[i] = "SELECT time, alert FROM " + d.alias + ".alerts l JOIN " + d.from(af.Sensor != "") + " e ON e.payload_ref = l.ref WHERE kind = 1 AND " + where(af)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT epoch_ns(time), alert FROM ("+strings.Join(parts, " UNION ALL ")+") ORDER BY time")
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var at sql.NullInt64
		var js string
		if err := rows.Scan(&at, &js); err != nil {
			return out, err
		}
		var r report.ScanRow
		if err := json.Unmarshal([]byte(js), &r.Alert); err != nil {
			return out, fmt.Errorf("stored alert: %w", err)
		}
		if r.Alert.Prefix.IsValid() && !r.Alert.Prefix.Contains(src) && r.Alert.Src != src {
			continue
		}
		r.Time = nsTime(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// attempts returns the first limit authentication requests matching f in
// time order, and how many there are in all.
func (s *Store) attempts(ctx context.Context, f Filter, limit int) ([]report.AttemptRow, uint64, error) {
	out := []report.AttemptRow{}
	from, err := s.authRows(ctx, f)
	if err != nil || from == "" {
		return out, 0, err
	}
	q := `SELECT epoch_ns(time), sensor, auth_session, auth_attempt, auth_kind, username,
		CASE WHEN auth_kind IN (1, 2) THEN secret ELSE '' END, count(*) OVER ()
		FROM (` + from + `) WHERE auth_kind BETWEEN 1 AND 4
		ORDER BY time, sensor, auth_session, auth_attempt LIMIT ` + strconv.Itoa(limit)
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return out, 0, err
	}
	defer rows.Close()
	var total uint64
	for rows.Next() {
		var a report.AttemptRow
		var at sql.NullInt64
		var kind uint8
		if err := rows.Scan(&at, &a.Sensor, &a.Session, &a.Attempt, &kind, &a.Username, &a.Password, &total); err != nil {
			return out, 0, err
		}
		a.Time, a.Kind = nsTime(at), event.AuthKind(kind)
		out = append(out, a)
	}
	return out, total, rows.Err()
}
