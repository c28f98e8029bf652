package gateway

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
)

func TestIdempotentIDIsDeterministic(t *testing.T) {
	t.Parallel()
	a := IdempotentID("acme", "order-7")
	if a != IdempotentID("acme", "order-7") {
		t.Fatal("same tenant and key gave two ids")
	}
	if id := uuid.MustParse(a); id.Version() != 5 {
		t.Fatalf("version %d", id.Version())
	}
	for _, other := range []string{IdempotentID("globex", "order-7"), IdempotentID("acme", "order-8"), IdempotentID("acme\x00order", "-7"), IdempotentID("", "acme\x00order-7")} {
		if other == a {
			t.Fatalf("different tenant or key gave the same id %s", a)
		}
	}
}

func TestIdempotencyKeyPublishesOnce(t *testing.T) {
	t.Parallel()
	h := setup(t)
	first := h.post("/ingest/message", `{"n":1}`, "Idempotency-Key", "order-7")
	second := h.post("/ingest/message", `{"n":1}`, "Idempotency-Key", "order-7")
	a, b := decode[acceptedResponse](t, first.body), decode[acceptedResponse](t, second.body)
	if first.status != 202 || second.status != 202 {
		t.Fatalf("statuses %d %d", first.status, second.status)
	}
	if a.MessageID != IdempotentID("", "order-7") || b.MessageID != a.MessageID || a.Duplicate || !b.Duplicate {
		t.Fatalf("answers %+v %+v", a, b)
	}
	if !b.Timestamp.Equal(a.Timestamp) || second.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("duplicate answer differs: %+v %+v", a, b)
	}
	msgs := h.streamMessages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	env := decode[struct {
		IdempotencyKey string `json:"idempotency_key"`
	}](t, msgs[0].Data)
	if env.IdempotencyKey != "order-7" {
		t.Fatalf("envelope idempotency key %q", env.IdempotencyKey)
	}
	if other := h.accepted(`{"n":1}`, "Idempotency-Key", "order-8"); other.MessageID == a.MessageID || other.Duplicate {
		t.Fatalf("another key: %+v", other)
	}
}

// Concurrent repeats race past the KV lookup together; JetStream's
// de-duplication stores one of them.
func TestIdempotencyKeyConcurrentRepeats(t *testing.T) {
	t.Parallel()
	h := setup(t)
	const n = 50
	answers := make([]acceptedResponse, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res := h.post("/ingest/message", `{"n":1}`, "Idempotency-Key", "same")
			if res.status != http.StatusAccepted {
				t.Errorf("%d: %s", res.status, res.body)
			}
			answers[i] = decode[acceptedResponse](t, res.body)
		})
	}
	wg.Wait()
	fresh := 0
	for _, a := range answers {
		if a.MessageID != IdempotentID("", "same") {
			t.Fatalf("message_id %s", a.MessageID)
		}
		if !a.Duplicate {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d answers not marked duplicate, want 1", fresh)
	}
	if ids := h.streamIDs(); len(ids) != 1 {
		t.Fatalf("%d messages, want 1", len(ids))
	}
}

// After JetStream's de-duplication window, the status record (in KV, then
// in PostgreSQL once KV has lost it) still stops a repeat.
func TestIdempotencyKeyAfterWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testsvc.MigratedPool(t)
	pg := statusstore.NewPostgres(pool)
	const window = 200 * time.Millisecond
	h := setup(t, func(c *Config) {
		c.Topology.DuplicateWindow = window
		c.StatusFallback = pg
	})
	outOfWindow := func() { time.Sleep(3 * window) }

	first := h.accepted(`{"n":1}`, "Idempotency-Key", "k1")
	outOfWindow()
	if again := h.accepted(`{"n":1}`, "Idempotency-Key", "k1"); again.MessageID != first.MessageID || !again.Duplicate {
		t.Fatalf("repeat after the window, record in KV: %+v", again)
	}

	second := h.accepted(`{"n":2}`, "Idempotency-Key", "k2")
	rec, err := h.store().Get(ctx, second.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := h.store().Delete(ctx, second.MessageID); err != nil {
		t.Fatal(err)
	}
	outOfWindow()
	if again := h.accepted(`{"n":2}`, "Idempotency-Key", "k2"); again.MessageID != second.MessageID || !again.Duplicate {
		t.Fatalf("repeat after the window, record only in PostgreSQL: %+v", again)
	}
	if ids := h.streamIDs(); len(ids) != 2 {
		t.Fatalf("%d messages, want 2", len(ids))
	}
}

// A worker that recorded the message first keeps its status; the repeat
// publishes nothing.
func TestIdempotencyKeyKeepsWorkerStatus(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx := context.Background()
	env := ingestMeta{idempotencyKey: "k"}.envelope(IdempotentID("", "k"), []byte(`{}`), time.Now())
	if _, err := h.store().Update(ctx, env.MessageID, processingFirst(env)); err != nil {
		t.Fatal(err)
	}
	if res := h.accepted(`{}`, "Idempotency-Key", "k"); res.MessageID != env.MessageID || !res.Duplicate {
		t.Fatalf("answer %+v", res)
	}
	if rec := h.record(env.MessageID); rec.Status != statusstore.Processing {
		t.Fatalf("status %s, want processing", rec.Status)
	}
	if n := len(h.streamMessages()); n != 0 {
		t.Fatalf("%d messages published", n)
	}
}
