package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/darkscope/darkscope/internal/report"
)

// Honeypot report rows (shared with the API client, see internal/report).
type (
	CredRow   = report.CredRow
	ClientRow = report.ClientRow
)

// authUnion selects the auth events of the days f touches (nil when none).
func (s *Store) authUnion(ctx context.Context, f Filter) (string, error) {
	_, _, raw, err := s.plan(ctx, f, false, false)
	if err != nil {
		return "", err
	}
	if len(raw) == 0 {
		return "", nil
	}
	parts := make([]string, len(raw))
	for i, d := range raw {
		parts[i] = "SELECT time, sensor, src_addr, auth_kind, auth_session, auth_unanswered, username, secret, client_version, hassh FROM " +
			d.alias + ".auth a JOIN " + d.from(true) + " e ON e.payload_ref = a.ref WHERE " + where(f)
	}
	return strings.Join(parts, " UNION ALL "), nil
}

// CredTop returns the limit (<= 0: 10) most tried passwords, usernames or
// username/password pairs (what: report.CredPasswords, CredUsernames,
// CredPairs) among the answered password and keyboard-interactive attempts
// matching f, restricted to username user unless user is "". Ties are
// ordered by username, then password.
func (s *Store) CredTop(ctx context.Context, what, user string, f Filter, limit int) ([]CredRow, error) {
	var keys string
	switch what {
	case report.CredPasswords:
		keys = "secret"
	case report.CredUsernames:
		keys = "username"
	case report.CredPairs:
		keys = "username, secret"
	default:
		return nil, fmt.Errorf("creds top: unknown report %q (want passwords, usernames or pairs)", what)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 10
	}
	from, err := s.authUnion(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("creds top %s: %w", what, err)
	}
	out := []CredRow{}
	if from == "" {
		return out, nil
	}
	q := "SELECT " + keys + ", count(*), count(DISTINCT src_addr), epoch_ns(min(time)), epoch_ns(max(time)) FROM (" + from +
		") WHERE auth_kind IN (1, 2) AND NOT auth_unanswered AND ($1 = '' OR username = $1) GROUP BY " + keys +
		" ORDER BY count(*) DESC, " + keys + " LIMIT " + strconv.Itoa(limit)
	rows, err := s.db.QueryContext(ctx, q, user)
	if err != nil {
		return nil, fmt.Errorf("creds top %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r CredRow
		var first, last sql.NullInt64
		var dests []any
		switch what {
		case report.CredPasswords:
			dests = []any{&r.Password}
		case report.CredUsernames:
			dests = []any{&r.Username}
		default:
			dests = []any{&r.Username, &r.Password}
		}
		if err := rows.Scan(append(dests, &r.Count, &r.Sources, &first, &last)...); err != nil {
			return nil, fmt.Errorf("creds top %s: %w", what, err)
		}
		r.First, r.Last = nsTime(first), nsTime(last)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("creds top %s: %w", what, err)
	}
	return out, nil
}

// CredClients returns the limit (<= 0: 10) SSH client version and HASSH
// combinations seen in the auth events matching f, with the sessions,
// attempts and sources behind them, most sessions first (ties: most
// attempts, then version and HASSH).
func (s *Store) CredClients(ctx context.Context, f Filter, limit int) ([]ClientRow, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 10
	}
	from, err := s.authUnion(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("creds clients: %w", err)
	}
	out := []ClientRow{}
	if from == "" {
		return out, nil
	}
	q := `SELECT client_version, hassh, count(DISTINCT {'sensor': sensor, 'session': auth_session}) AS sessions,
		count(*) FILTER (WHERE auth_kind BETWEEN 1 AND 4) AS attempts, count(DISTINCT src_addr),
		epoch_ns(min(time)), epoch_ns(max(time))
		FROM (` + from + `) GROUP BY client_version, hassh
		ORDER BY sessions DESC, attempts DESC, client_version, hassh LIMIT ` + strconv.Itoa(limit)
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("creds clients: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ClientRow
		var first, last sql.NullInt64
		if err := rows.Scan(&r.ClientVersion, &r.HASSH, &r.Sessions, &r.Attempts, &r.Sources, &first, &last); err != nil {
			return nil, fmt.Errorf("creds clients: %w", err)
		}
		r.First, r.Last = nsTime(first), nsTime(last)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("creds clients: %w", err)
	}
	return out, nil
}
