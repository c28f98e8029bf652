package workercmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in time", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWorkerWaitsForItsMigrations starts a worker on a database without
// its migrations: it says which are missing (log, /healthz, metric) and
// consumes nothing; once `migrate up` runs, it starts and the waiting
// message completes.
func TestWorkerWaitsForItsMigrations(t *testing.T) {
	t.Parallel()
	srv := testsvc.NATS(t)
	top := testsvc.Topology(t)
	db := testsvc.Postgres(t)
	app := testApp()
	addr := freeAddr(t)
	common := []string{"--database-url", db, "--nats-url", srv.ClientURL(), "--stream", top.Stream,
		"--subject-prefix", top.SubjectPrefix, "--status-bucket", top.StatusBucket, "--batch-wait", "10ms"}

	nc := testsvc.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := wire.Ensure(context.Background(), js, top)
	if err != nil {
		t.Fatal(err)
	}
	store := statusstore.NewKV(kv)
	id := publishNote(t, js, store, top)

	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var logs syncBuffer
	go func() {
		exited <- run(ctx, app, append([]string{"run", "--metrics-addr", addr}, common...), &logs, &logs)
	}()

	eventually(t, "/healthz naming the missing migrations", func() bool {
		code, body := get("http://" + addr + "/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "0001_message_status.up.sql, ") &&
			strings.Contains(body, ", 1_notes.up.sql") && strings.Contains(body, "migrate up")
	})
	if _, body := get("http://" + addr + "/metrics"); !strings.Contains(body, fmt.Sprintf("nomnom_worker_missing_migrations %d", migrations.PlatformVersion+1)) {
		t.Errorf("metrics while waiting:\n%s", body)
	}
	if !strings.Contains(logs.String(), "consuming nothing") {
		t.Errorf("log does not say the worker waits:\n%s", logs.String())
	}
	if r, err := store.Get(context.Background(), id); err != nil || r.Status != statusstore.Accepted {
		t.Fatalf("message while the schema is behind: %+v, %v", r, err)
	}

	var out bytes.Buffer
	if code := run(context.Background(), app, []string{"migrate", "--database-url", db, "up"}, &out, &out); code != 0 {
		t.Fatalf("migrate up: %s", out.String())
	}
	eventually(t, "the waiting message completed", func() bool {
		r, err := store.Get(context.Background(), id)
		return err == nil && r.Status == statusstore.Completed
	})
	if _, body := get("http://" + addr + "/metrics"); !strings.Contains(body, "nomnom_worker_missing_migrations 0") {
		t.Errorf("metrics once migrated:\n%s", body)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("run exited %d:\n%s", code, logs.String())
	}
}

// TestWorkerHoldsWhenItsSchemaGoesBehind runs a migrated worker and
// reverts its entity migration under it: it stops consuming, /readyz names
// the missing migration and the metric counts it, a message published then
// stays accepted; once `migrate up` runs again, it resumes and the message
// completes. Not parallel: it shortens the re-check interval.
func TestWorkerHoldsWhenItsSchemaGoesBehind(t *testing.T) {
	defer func(d time.Duration) { schemaRecheck = d }(schemaRecheck)
	schemaRecheck = 200 * time.Millisecond
	srv := testsvc.NATS(t)
	top := testsvc.Topology(t)
	db := testsvc.Postgres(t)
	app := testApp()
	addr := freeAddr(t)
	nc := testsvc.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := wire.Ensure(context.Background(), js, top)
	if err != nil {
		t.Fatal(err)
	}
	store := statusstore.NewKV(kv)

	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var logs syncBuffer
	go func() {
		exited <- run(ctx, app, []string{"run", "--migrate", "--metrics-addr", addr, "--database-url", db, "--nats-url", srv.ClientURL(),
			"--stream", top.Stream, "--subject-prefix", top.SubjectPrefix, "--status-bucket", top.StatusBucket, "--batch-wait", "10ms"}, &logs, &logs)
	}()
	first := publishNote(t, js, store, top)
	eventually(t, "the first message completed", func() bool {
		r, err := store.Get(context.Background(), first)
		return err == nil && r.Status == statusstore.Completed
	})
	eventually(t, "/readyz ok while migrated", func() bool {
		code, _ := get("http://" + addr + "/readyz")
		return code == http.StatusOK
	})

	var out bytes.Buffer
	if code := run(context.Background(), app, []string{"migrate", "--database-url", db, "down", "1"}, &out, &out); code != 0 {
		t.Fatalf("migrate down 1: %s", out.String())
	}
	eventually(t, "/readyz naming the reverted migration", func() bool {
		code, body := get("http://" + addr + "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "1_notes.up.sql") && strings.Contains(body, "migrate up")
	})
	if _, body := get("http://" + addr + "/metrics"); !strings.Contains(body, "nomnom_worker_missing_migrations 1") ||
		!strings.Contains(body, "nomnom_worker_paused 1") {
		t.Errorf("metrics while behind:\n%s", body)
	}
	if !strings.Contains(logs.String(), "database schema now behind this worker; consuming nothing") {
		t.Errorf("log does not say the worker holds:\n%s", logs.String())
	}

	id := publishNote(t, js, store, top)
	// A worker that fetched it would mark it processing and pause on the
	// missing table; held, it leaves it accepted and in the stream.
	time.Sleep(2 * time.Second)
	if r, err := store.Get(context.Background(), id); err != nil || r.Status != statusstore.Accepted {
		t.Fatalf("message while the schema is behind: %+v, %v", r, err)
	}
	if code, body := get("http://" + addr + "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "1_notes.up.sql") {
		t.Errorf("/readyz while behind: %d %s", code, body)
	}

	out.Reset()
	if code := run(context.Background(), app, []string{"migrate", "--database-url", db, "up"}, &out, &out); code != 0 {
		t.Fatalf("migrate up: %s", out.String())
	}
	eventually(t, "the held message completed", func() bool {
		r, err := store.Get(context.Background(), id)
		return err == nil && r.Status == statusstore.Completed
	})
	eventually(t, "/readyz ok once migrated again", func() bool {
		code, _ := get("http://" + addr + "/readyz")
		return code == http.StatusOK
	})
	if _, body := get("http://" + addr + "/metrics"); !strings.Contains(body, "nomnom_worker_missing_migrations 0") ||
		!strings.Contains(body, "nomnom_worker_paused 0") {
		t.Errorf("metrics once migrated again:\n%s", body)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("run exited %d:\n%s", code, logs.String())
	}
}

// TestWorkerMigrateFlag starts a worker with --migrate on an empty
// database: it applies the migrations and consumes.
func TestWorkerMigrateFlag(t *testing.T) {
	t.Parallel()
	srv := testsvc.NATS(t)
	top := testsvc.Topology(t)
	db := testsvc.Postgres(t)
	nc := testsvc.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := wire.Ensure(context.Background(), js, top)
	if err != nil {
		t.Fatal(err)
	}
	store := statusstore.NewKV(kv)
	id := publishNote(t, js, store, top)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var logs syncBuffer
	go func() {
		exited <- run(ctx, testApp(), []string{"run", "--migrate", "--metrics-addr", "", "--database-url", db, "--nats-url", srv.ClientURL(),
			"--stream", top.Stream, "--subject-prefix", top.SubjectPrefix, "--status-bucket", top.StatusBucket, "--batch-wait", "10ms"}, &logs, &logs)
	}()
	eventually(t, "the message completed", func() bool {
		r, err := store.Get(context.Background(), id)
		return err == nil && r.Status == statusstore.Completed
	})
	cancel()
	<-exited
}

// TestWorkerRefusesANewerSchema starts a worker on a database migrated by
// a newer binary (entity version 2 where it knows 1): it exits, saying so.
func TestWorkerRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	db := testsvc.Postgres(t)
	app := testApp()
	newer := fstest.MapFS{"2_more.up.sql": {Data: []byte(`ALTER TABLE notes ADD COLUMN more text;`)}, "2_more.down.sql": {Data: []byte(`ALTER TABLE notes DROP COLUMN more;`)}}
	for k, v := range app.Migrations.(fstest.MapFS) {
		newer[k] = v
	}
	ctx := context.Background()
	if err := migrations.Up(ctx, db, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, db, newer, app.MigrationsTable); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := run(ctx, app, []string{"run", "--metrics-addr", "", "--database-url", db, "--nats-url", "nats://127.0.0.1:1"}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "newer than this worker: its entity migrations (test_schema_migrations) are at version 2, and this binary's newest is 1") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

func publishNote(t *testing.T, js jetstream.JetStream, store *statusstore.KV, top wire.Topology) string {
	t.Helper()
	env := wire.Envelope{MessageID: uuid.NewString(), Body: json.RawMessage(`{"a":1}`), ReceivedAt: time.Now().UTC()}
	if err := store.Create(context.Background(), statusstore.NewAccepted(&env, time.Now())); err != nil {
		t.Fatal(err)
	}
	data, _ := env.Encode()
	m := nats.NewMsg(top.IngestSubject(""))
	m.Data, m.Header = data, env.Headers()
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return env.MessageID
}

// syncBuffer is the output of a command that runs while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
