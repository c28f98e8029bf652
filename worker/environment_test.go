package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nomnom-io/nomnom/statusstore"
)

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("write: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		err                    error
		environmental, transit bool
	}{
		{pg("42P01"), true, true},  // undefined table
		{pg("42703"), true, true},  // undefined column
		{pg("42501"), true, true},  // insufficient privilege
		{pg("25006"), true, true},  // read-only transaction
		{pg("08006"), true, true},  // connection failure
		{pg("53300"), true, true},  // too many connections
		{pg("57P01"), true, true},  // admin shutdown
		{pg("55P03"), false, true}, // lock timeout
		{pg("57014"), false, true}, // statement timeout
		{pg("40001"), false, true}, // serialization
		{pg("40P01"), false, true}, // deadlock
		{pg("22P02"), false, false},
		{pg("23505"), false, false},
		{pg("23514"), false, false},
		{Permanent(pg("42P01")), false, false},
		{errors.New("decode: expected integer"), false, false},
	}
	for _, tt := range tests {
		if got := Environmental(tt.err); got != tt.environmental {
			t.Errorf("Environmental(%v) = %v", tt.err, got)
		}
		if got := IsTransient(tt.err); got != tt.transit {
			t.Errorf("IsTransient(%v) = %v", tt.err, got)
		}
	}
}

// get returns a probe's status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestMissingTablePausesTheWorker starts a worker before the table its
// handler writes exists (a worker deployed before its migrations): it
// dead-letters nothing and spends no attempt while it waits, says what is
// wrong on /readyz and in its metrics, and completes every message once the
// table is there.
func TestMissingTablePausesTheWorker(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, `ALTER TABLE items RENAME TO items_later`); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 10 {
		ids = append(ids, f.publish(testBody{N: i}))
	}
	cfg := f.config() // 3 attempts, 50ms apart: a NAK loop would exhaust them at once
	w := f.start(cfg, newTestHandler())
	ops := httptest.NewServer(w.OpsHandler())
	defer ops.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, ops.URL+"/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "42P01") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz %d %q, want 503 naming the missing table", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // well past every attempt of a NAK loop
	if code, body := get(t, ops.URL+"/livez"); code != http.StatusOK {
		t.Errorf("/livez while paused: %d %q, want 200 (the worker retries by itself)", code, body)
	}
	if _, body := get(t, ops.URL+"/metrics"); !strings.Contains(body, "nomnom_worker_paused 1") || !strings.Contains(body, `nomnom_worker_environment_errors_total{sqlstate="42P01"}`) {
		t.Errorf("metrics do not show the pause:\n%s", body)
	}
	if dls := f.deadLetters(); len(dls) != 0 {
		t.Fatalf("%d messages dead-lettered while the table was missing", len(dls))
	}
	if _, err := f.pool.Exec(ctx, `ALTER TABLE items_later RENAME TO items`); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if r := f.waitTerminal(id); r.Status != statusstore.Completed {
			t.Fatalf("message %s: %s, want completed", id, r.Status)
		}
		if r := f.pgStatus(id); r.Status != statusstore.Completed || r.Attempts > 1 {
			t.Fatalf("message_status %s: %s after %d attempts, want completed after 1", id, r.Status, r.Attempts)
		}
	}
	if code, body := get(t, ops.URL+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the fix: %d %q", code, body)
	}
}

// TestLockedRowsDoNotStallTheWorker holds a lock on the table the handler
// writes, as a frozen peer would: the worker's lock_timeout turns the wait
// into a transient error of that batch, retried, and the message completes
// once the lock is gone.
func TestLockedRowsDoNotStallTheWorker(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	cfg := f.config()
	cfg.MaxAttempts = 1000
	cfg.LockTimeout = 100 * time.Millisecond
	pc, err := pgxpool.ParseConfig(f.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConfigurePool(pc)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var lt string
	if err := pool.QueryRow(ctx, `SHOW lock_timeout`).Scan(&lt); err != nil || lt != "100ms" {
		t.Fatalf("lock_timeout %q, %v", lt, err)
	}
	peer, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Rollback(ctx)
	if _, err := peer.Exec(ctx, `LOCK TABLE items IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	id := f.publish(testBody{N: 1})
	w, err := New(cfg, f.nc, pool, newTestHandler())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := f.kv.Get(ctx, id)
		if err == nil && r.Status == statusstore.Retrying && strings.Contains(r.Error, "55P03") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %+v, %v: want retrying on a lock timeout", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := peer.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if r := f.waitTerminal(id); r.Status != statusstore.Completed {
		t.Fatalf("record %s, want completed", r.Status)
	}
}

// TestStalledWorkerFailsLiveness holds a batch in the handler past
// StallTimeout, as a wedged worker would: /livez and /readyz report the
// stall, and both recover once the batch settles.
func TestStalledWorkerFailsLiveness(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	release := make(chan struct{})
	h.block, h.entered = release, make(chan struct{})
	cfg := f.config()
	cfg.StallTimeout = time.Second
	cfg.AckWait = time.Minute
	id := f.publish(testBody{N: 1})
	w := f.start(cfg, h)
	ops := httptest.NewServer(w.OpsHandler())
	defer ops.Close()
	<-h.entered
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, ops.URL+"/livez")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "stalled") {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("/livez %d %q, want 503 stalled", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get(t, ops.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "stalled") {
		t.Errorf("/readyz while stalled: %d %q", code, body)
	}
	close(release)
	if r := f.waitTerminal(id); r.Status != statusstore.Completed {
		t.Fatalf("record %s, want completed", r.Status)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, _ := get(t, ops.URL+"/livez")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/livez %d after the batch settled, want 200", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPoolPlansByIndex checks the planner settings ConfigurePool gives the
// worker's sessions: keyed lookups use their index even on a table without
// statistics, and a statement that must scan is not JIT-compiled for the
// cost charged to a disabled scan.
func TestPoolPlansByIndex(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	pc, err := pgxpool.ParseConfig(f.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	f.config().ConfigurePool(pc)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	explain := func(q string) string {
		rows, err := pool.Query(ctx, `EXPLAIN (ANALYZE) `+q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		return strings.Join(plan, "\n")
	}
	// A child table as generated code writes it, filled before autovacuum
	// could analyse it: the planner knows nothing of its keys.
	children := `CREATE TABLE children (parent bigint, line int, UNIQUE (parent, line)) WITH (autovacuum_enabled = false);
		INSERT INTO children SELECT g, l FROM generate_series(1, 10000) g, generate_series(1, 4) l`
	if _, err := pool.Exec(ctx, children); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = strconv.Itoa(20001 + i)
	}
	lookup := `SELECT * FROM children x JOIN unnest('{` + strings.Join(keys, ",") + `}'::text[]) AS s (parent) ON x.parent = s.parent::bigint`
	if plan := explain(lookup); strings.Contains(plan, "Seq Scan on children") {
		t.Errorf("a keyed lookup scans the whole table:\n%s", plan)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE no_index AS SELECT g AS n FROM generate_series(1, 100) g`); err != nil {
		t.Fatal(err)
	}
	if plan := explain(`SELECT count(*) FROM no_index WHERE n > 10`); strings.Contains(plan, "JIT") {
		t.Errorf("a scan was JIT-compiled:\n%s", plan)
	}
}
