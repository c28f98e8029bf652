package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// tableCheck counts, in one table, the rows of the keys a test expects:
// rows found, rows beyond the first of a key (duplicates) and keys without
// a row (missing). Rows of other keys (another run's, on a shared
// database) are ignored.
type tableCheck struct {
	rows, duplicates, missing int
}

// checkTable reads keyExpr (a SQL expression giving a row's key as text)
// for every row of table and compares it with want.
func checkTable(t testing.TB, dbURL, table, keyExpr string, want map[string]bool) tableCheck {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the database: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT ("+keyExpr+")::text, count(*) FROM "+table+" GROUP BY 1")
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	found := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		found[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	var c tableCheck
	for k := range want {
		n := found[k]
		c.rows += n
		if n == 0 {
			c.missing++
		} else {
			c.duplicates += n - 1
		}
	}
	return c
}

// statusCounts counts message_status rows by status for the given ids.
func statusCounts(t testing.TB, dbURL string, ids []string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the database: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT status, count(*) FROM message_status WHERE message_id = ANY($1::uuid[]) GROUP BY 1", ids)
	if err != nil {
		t.Fatalf("message_status: %v", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		s string
		n int
	}, error) {
		var v struct {
			s string
			n int
		}
		return v, r.Scan(&v.s, &v.n)
	})
	if err != nil {
		t.Fatalf("message_status: %v", err)
	}
	m := map[string]int{}
	for _, v := range out {
		m[v.s] = v.n
	}
	return m
}

// exec runs one statement on the database.
func execSQL(t testing.TB, dbURL, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the database: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
