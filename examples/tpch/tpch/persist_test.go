package tpch_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/nomnom-io/nomnom/examples/tpch/migrations"
	"github.com/nomnom-io/nomnom/examples/tpch/tpch"
	"github.com/nomnom-io/nomnom/internal/testsvc"
	platform "github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/wire"
	"github.com/nomnom-io/nomnom/worker"
)

// setup returns a connection to a fresh database holding the platform and
// the tpch tables.
func setup(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testsvc.Postgres(t)
	if err := platform.Up(ctx, url, platform.Platform, platform.PlatformTable); err != nil {
		t.Fatal(err)
	}
	if err := platform.Up(ctx, url, migrations.Files, migrations.Table); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func envelopes(t testing.TB, names ...string) []*wire.Envelope {
	var out []*wire.Envelope
	for _, name := range names {
		for _, line := range readLines(t, name) {
			out = append(out, &wire.Envelope{MessageID: uuid.NewString(), Body: line, ReceivedAt: time.Now().UTC()})
		}
	}
	return out
}

// handle runs the handler over envs in batches of size, one transaction
// each, as the worker runtime does.
func handle(t testing.TB, conn *pgx.Conn, envs []*wire.Envelope, size int) []worker.Result {
	t.Helper()
	ctx := context.Background()
	h := tpch.NewHandler()
	var all []worker.Result
	for len(envs) > 0 {
		n := min(size, len(envs))
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.Handle(ctx, tx, envs[:n])
		if err != nil {
			tx.Rollback(ctx)
			t.Fatalf("handle: %v", err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		all = append(all, res...)
		envs = envs[n:]
	}
	return all
}

var tables = []string{"customers", "products", "orders", "order_line_items"}

// snapshot is each table's row count and a digest of all its values.
func snapshot(t testing.TB, conn *pgx.Conn) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range tables {
		var n int
		var digest string
		q := fmt.Sprintf("SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %s t", table)
		if err := conn.QueryRow(context.Background(), q).Scan(&n, &digest); err != nil {
			t.Fatal(err)
		}
		out[table] = fmt.Sprintf("%d rows, %s", n, digest)
	}
	return out
}

func count(t testing.TB, conn *pgx.Conn, table string) int {
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPersistSampleDataAndReplay(t *testing.T) {
	t.Parallel()
	conn := setup(t)
	envs := envelopes(t, "customers.ndjson", "products.ndjson", "orders.ndjson")
	results := handle(t, conn, envs, 64)
	want := map[string]int{}
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("message %d: %v", i, r.Err)
		}
		for table, n := range r.Entities {
			want[table] += n
		}
	}
	if want["orders"] != 300 || want["customers"] != 50 || want["products"] != 100 || want["order_line_items"] < 300 {
		t.Fatalf("entities reported: %v", want)
	}
	for table, n := range want {
		if got := count(t, conn, table); got != n {
			t.Errorf("%s: %d rows, handler reported %d", table, got, n)
		}
	}
	var total, phone string
	if err := conn.QueryRow(context.Background(), "SELECT total_price::text FROM orders WHERE order_key = 1").Scan(&total); err != nil || total != "15841.20" {
		t.Errorf("order 1 total_price = %q, %v", total, err)
	}
	if err := conn.QueryRow(context.Background(), "SELECT phone FROM customers WHERE cust_key = 1").Scan(&phone); err != nil || phone != "14-876-493-3886" {
		t.Errorf("customer 1 phone = %q, %v", phone, err)
	}

	before := snapshot(t, conn)
	// Replaying every message, in other batch sizes, changes nothing.
	handle(t, conn, envs, 17)
	after := snapshot(t, conn)
	for _, table := range tables {
		if before[table] != after[table] {
			t.Errorf("%s changed on replay: %s → %s", table, before[table], after[table])
		}
	}
}

// TestBadMessagesWriteNothing checks that invalid messages fail
// permanently, alone, while the valid messages of their batch are written.
func TestBadMessagesWriteNothing(t *testing.T) {
	t.Parallel()
	conn := setup(t)
	bad := envelopes(t, "bad_orders.ndjson")
	good := envelopes(t, "orders.ndjson")[:3]
	batch := append(append([]*wire.Envelope{}, good[:1]...), append(bad, good[1:]...)...)
	results := handle(t, conn, batch, len(batch))
	for i, r := range results {
		isGood := i == 0 || i > len(bad)
		switch {
		case isGood && r.Err != nil:
			t.Errorf("message %d: %v", i, r.Err)
		case !isGood && !worker.IsPermanent(r.Err):
			t.Errorf("message %d: got %v, want a permanent error", i, r.Err)
		case !isGood && r.Entities != nil:
			t.Errorf("message %d: invalid yet reports entities %v", i, r.Entities)
		}
	}
	if n := count(t, conn, "orders"); n != 3 {
		t.Errorf("%d orders written, want 3", n)
	}
}

// TestSameKeyTwiceInOneBatch checks that a batch carrying one order twice
// writes the last version (ON CONFLICT cannot touch a row twice in one
// statement).
func TestSameKeyTwiceInOneBatch(t *testing.T) {
	t.Parallel()
	conn := setup(t)
	first := readLines(t, "orders.ndjson")[0]
	envs := []*wire.Envelope{
		{MessageID: uuid.NewString(), Body: first},
		{MessageID: uuid.NewString(), Body: withComment(t, first, "second version")},
	}
	for _, r := range handle(t, conn, envs, 2) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	var comment string
	if err := conn.QueryRow(context.Background(), "SELECT comment FROM orders WHERE order_key = 1").Scan(&comment); err != nil || comment != "second version" {
		t.Fatalf("comment = %q, %v", comment, err)
	}
}

func withComment(t *testing.T, body []byte, comment string) []byte {
	old := `"comment":"quickly express requests sleep"`
	if !strings.Contains(string(body), old) {
		t.Fatalf("sample order has no comment %s", old)
	}
	return []byte(strings.Replace(string(body), old, `"comment":"`+comment+`"`, 1))
}

// BenchmarkDecodePersistOrders measures the generated handler on the sample
// orders: decode, validate and write, one transaction per batch of 100,
// rolled back so every iteration inserts. Compare its rows/s with
// BenchmarkCopyOrderRows, the floor PostgreSQL sets.
func BenchmarkDecodePersistOrders(b *testing.B) {
	conn := setup(b)
	envs := envelopes(b, "orders.ndjson")
	rows := 0
	for _, e := range envs {
		r, err := tpch.Decode("", e.Body)
		if err != nil {
			b.Fatal(err)
		}
		rows += len(r.Order) + len(r.OrderLineItem)
	}
	ctx := context.Background()
	h := tpch.NewHandler()
	b.ResetTimer()
	for b.Loop() {
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(envs); i += 100 {
			if _, err := h.Handle(ctx, tx, envs[i:min(i+100, len(envs))]); err != nil {
				b.Fatal(err)
			}
		}
		tx.Rollback(ctx)
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkCopyOrderRows writes the same rows with pgx CopyFrom (binary
// COPY, already decoded), in the same batches and transactions.
func BenchmarkCopyOrderRows(b *testing.B) {
	conn := setup(b)
	var orders, items [][][]any
	rows := 0
	envs := envelopes(b, "orders.ndjson")
	for i := 0; i < len(envs); i += 100 {
		var o, li [][]any
		for _, e := range envs[i:min(i+100, len(envs))] {
			r, err := tpch.Decode("", e.Body)
			if err != nil {
				b.Fatal(err)
			}
			for _, x := range r.Order {
				o = append(o, []any{x.OrderKey, x.CustomerKey, x.Status, numeric(b, string(x.TotalPrice)), x.OrderDate, x.Priority, x.Clerk, x.ShipPriority, x.Comment, x.Channel})
			}
			for _, x := range r.OrderLineItem {
				li = append(li, []any{x.OrderKey, x.LineNumber, x.PartKey, x.Quantity, numeric(b, string(x.ExtendedPrice)), numeric(b, string(x.Discount)), numeric(b, string(x.Tax)),
					x.ReturnFlag, x.LineStatus, x.ShipDate, x.CommitDate, x.ReceiptDate, x.ShipMode, x.Comment})
			}
			rows += len(r.Order) + len(r.OrderLineItem)
		}
		orders, items = append(orders, o), append(items, li)
	}
	orderCols := []string{"order_key", "customer_key", "status", "total_price", "order_date", "priority", "clerk", "ship_priority", "comment", "channel"}
	itemCols := []string{"order_key", "line_number", "part_key", "quantity", "extended_price", "discount", "tax", "return_flag", "line_status", "ship_date", "commit_date", "receipt_date", "ship_mode", "comment"}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i := range orders {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"orders"}, orderCols, pgx.CopyFromRows(orders[i])); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"order_line_items"}, itemCols, pgx.CopyFromRows(items[i])); err != nil {
				b.Fatal(err)
			}
		}
		tx.Rollback(ctx)
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func numeric(b *testing.B, s string) pgtype.Numeric {
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		b.Fatal(err)
	}
	return n
}
