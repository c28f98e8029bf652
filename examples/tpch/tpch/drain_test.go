package tpch_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/examples/tpch/tpch"
	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
	"github.com/nomnom-io/nomnom/worker"
)

var orderKey = regexp.MustCompile(`"order_key":[0-9]+`)

// BenchmarkWorkerDrainOrders measures the whole worker draining a backlog:
// b.N rounds of the sample orders (each round with fresh order keys) are
// accepted as the gateway accepts them, then a worker with the generated
// handler fetches, decodes, writes, records the status and acknowledges
// them all. Compare its rows/s with BenchmarkCopyOrderRows in the same run
// (e.g. -bench 'WorkerDrain|CopyOrderRows' -benchtime 70x for a backlog of
// 21,000 orders).
func BenchmarkWorkerDrainOrders(b *testing.B) {
	ctx := context.Background()
	conn := setup(b)
	cfg := worker.Config{Topology: testsvc.Topology(b), BatchSize: 100}
	pc, err := pgxpool.ParseConfig(conn.Config().ConnString())
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConfigurePool(pc) // as the worker binary does
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	nc := testsvc.Connect(b, testsvc.NATS(b))
	top := cfg.Topology
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	kv, err := wire.Ensure(ctx, js, top)
	if err != nil {
		b.Fatal(err)
	}
	store := statusstore.NewKVPipelined(js, kv)

	lines := readLines(b, "orders.ndjson")
	orders, rows := 0, 0
	for round := range b.N {
		envs := make([]*wire.Envelope, len(lines))
		recs := make([]statusstore.Record, len(lines))
		for i, line := range lines {
			body := orderKey.ReplaceAllStringFunc(string(line), func(s string) string {
				var k int
				fmt.Sscanf(s, `"order_key":%d`, &k)
				return fmt.Sprintf(`"order_key":%d`, k+round*1_000_000)
			})
			envs[i] = &wire.Envelope{MessageID: uuid.NewString(), Body: []byte(body), ReceivedAt: time.Now().UTC()}
			recs[i] = statusstore.NewAccepted(envs[i], time.Now())
			if round == 0 {
				r, err := tpch.Decode("", envs[i].Body)
				if err != nil {
					b.Fatal(err)
				}
				rows += len(r.Order) + len(r.OrderLineItem)
			}
		}
		for i, err := range store.CreateMany(ctx, recs) {
			if err != nil {
				b.Fatalf("accept %s: %v", envs[i].MessageID, err)
			}
		}
		for _, env := range envs {
			data, err := env.Encode()
			if err != nil {
				b.Fatal(err)
			}
			m := nats.NewMsg(top.IngestSubject(""))
			m.Data, m.Header = data, env.Headers()
			if _, err := js.PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
		}
		<-js.PublishAsyncComplete()
		orders += len(lines)
	}
	rows *= b.N

	w, err := worker.New(cfg, nc, pool, tpch.NewHandler())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stop, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_ = w.Stop(stop)
	}()
	deadline := time.Now().Add(time.Duration(orders) * 10 * time.Millisecond)
	for {
		var done int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM message_status WHERE status = 'completed'`).Scan(&done); err != nil {
			b.Fatal(err)
		}
		if done == orders {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d orders completed", done, orders)
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var written int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_line_items)`).Scan(&written); err != nil || written != rows {
		b.Fatalf("%d rows written, want %d (%v)", written, rows, err)
	}
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(orders)/elapsed.Seconds(), "msgs/s")
}
