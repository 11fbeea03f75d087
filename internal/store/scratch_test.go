package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

func TestScratch(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("duckdb", "?autoinstall_known_extensions=false&autoload_known_extensions=false")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q := func(s string) {
		rows, err := db.QueryContext(ctx, s)
		if err != nil {
			t.Logf("%s -> ERR %v", s, err)
			return
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			v := make([]any, len(cols))
			p := make([]any, len(cols))
			for i := range v {
				p[i] = &v[i]
			}
			rows.Scan(p...)
			t.Logf("%s -> %v", s, v)
		}
	}
	q("SELECT version()")
	q("SELECT name, value FROM duckdb_settings() WHERE name LIKE '%allow%' OR name LIKE '%external%' OR name like '%lock%'")
	q("ATTACH '" + dir + "/a.duckdb' AS a")
	q("SET allowed_directories=['" + dir + "']")
	q("SET enable_external_access=false")
	q("ATTACH '" + dir + "/b.duckdb' AS b")
	q("ATTACH '/tmp/zz.duckdb' AS c")
	q("SELECT * FROM read_csv('/etc/passwd')")
	q("CREATE TABLE b.t(x TIMESTAMP_NS)")
	q("SELECT json_serialize_sql('SELECT 1; SELECT 2')")
	q("SELECT json_serialize_sql('DELETE FROM b.t')")
	q("SELECT json_serialize_sql('WITH x AS (SELECT 1) SELECT * FROM x')")
	var ts time.Time
	err = db.QueryRow("SELECT '2026-01-02 03:04:05.123456789'::TIMESTAMP_NS").Scan(&ts)
	t.Log(ts.Format(time.RFC3339Nano), err)
	var u any
	err = db.QueryRow("SELECT 340282366920938463463374607431768211455::UHUGEINT").Scan(&u)
	t.Logf("%T %v %v", u, u, err)
	q("SELECT time_bucket(INTERVAL 1 hour, '2026-01-02 03:04:05.123456789'::TIMESTAMP_NS)")
	q("SELECT date_trunc('hour', '2026-01-02 03:04:05.123456789'::TIMESTAMP_NS)")
}
