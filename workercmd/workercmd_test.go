package workercmd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
	"github.com/nomnom-io/nomnom/worker"
)

// testApp writes one row per message into notes, created by its migration.
func testApp() App {
	return App{
		Name: "test-worker",
		Handler: worker.HandlerFunc(func(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]worker.Result, error) {
			out := make([]worker.Result, len(batch))
			for i, env := range batch {
				if _, err := tx.Exec(ctx, `INSERT INTO notes (message_id) VALUES ($1)`, env.MessageID); err != nil {
					return nil, err
				}
				out[i].Entities = map[string]int{"notes": 1}
			}
			return out, nil
		}),
		Migrations: fstest.MapFS{
			"1_notes.up.sql":   {Data: []byte(`CREATE TABLE notes (message_id uuid PRIMARY KEY);`)},
			"1_notes.down.sql": {Data: []byte(`DROP TABLE notes;`)},
		},
		MigrationsTable: "test_schema_migrations",
	}
}

func TestWorkerMainRejectsInvalidSettings(t *testing.T) {
	// Not parallel: the cases must not see a DATABASE_URL or NATS_URL of the
	// environment the tests run in.
	t.Setenv("DATABASE_URL", "")
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--database-url", "postgres://x@127.0.0.1/db", "--batch-size", "0"}, "NOMNOM_BATCH_SIZE"},
		{[]string{"run", "--database-url", "postgres://x@127.0.0.1/db", "--backoff", "1s,-2s"}, "NOMNOM_BACKOFF"},
		{[]string{"run", "--database-url", "postgres://x@127.0.0.1/db", "--max-ack-pending", "10"}, "NOMNOM_MAX_ACK_PENDING"},
		{[]string{"run", "--database-url", "postgres://x@127.0.0.1/db", "--ack-wait", "10ms"}, "NOMNOM_ACK_WAIT"},
		{[]string{"run"}, "DATABASE_URL"},
		{[]string{"dlq", "redrive"}, "--all"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), testApp(), tt.args, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 naming %s", tt.args, code, stderr.String(), tt.want)
		}
	}
}

func TestWorkerMainMigratesRunsAndLists(t *testing.T) {
	t.Parallel()
	srv := testsvc.NATS(t)
	top := testsvc.Topology(t)
	db := testsvc.Postgres(t)
	app := testApp()
	common := []string{"--database-url", db, "--nats-url", srv.ClientURL(), "--stream", top.Stream,
		"--subject-prefix", top.SubjectPrefix, "--status-bucket", top.StatusBucket}

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), app, []string{"migrate", "--database-url", db, "up"}, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate up: exit %d: %s", code, stderr.String())
	}
	if want := "entity migrations (test_schema_migrations): at version 1"; !strings.Contains(stdout.String(), want) {
		t.Fatalf("migrate up printed %q, want %q", stdout.String(), want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() {
		var out bytes.Buffer
		exited <- run(ctx, app, append([]string{"run", "--metrics-addr", "", "--batch-wait", "10ms"}, common...), &out, &out)
	}()

	nc := testsvc.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv := waitBucket(t, js, top.StatusBucket)
	env := wire.Envelope{MessageID: uuid.NewString(), Body: json.RawMessage(`{"a":1}`), ReceivedAt: time.Now().UTC()}
	data, _ := env.Encode()
	m := nats.NewMsg(top.IngestSubject(""))
	m.Data, m.Header = data, env.Headers()
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	store := statusstore.NewKV(kv)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := store.Get(context.Background(), env.MessageID)
		if err == nil && r.Status == statusstore.Completed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not completed: %+v, %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("run exited %d after SIGTERM, want 0", code)
	}

	stdout.Reset()
	if code := run(context.Background(), app, append([]string{"dlq", "list", "--json"}, common...), &stdout, &stderr); code != 0 {
		t.Fatalf("dlq list: exit %d: %s", code, stderr.String())
	}
	if strings.TrimSpace(stdout.String()) != "[]" {
		t.Errorf("dlq list printed %q, want []", stdout.String())
	}
}

func waitBucket(t *testing.T, js jetstream.JetStream, bucket string) jetstream.KeyValue {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		kv, err := js.KeyValue(context.Background(), bucket)
		if err == nil {
			return kv
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket %s: %v", bucket, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
