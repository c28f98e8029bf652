package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
)

// complete moves a record to completed as a worker would.
func complete(t *testing.T, store *statusstore.KV, id string) {
	t.Helper()
	_, err := store.Update(context.Background(), id, func(cur statusstore.Record, _ bool) (statusstore.Record, error) {
		return statusstore.Apply(cur, statusstore.Change{To: statusstore.Completed, At: time.Now(), Attempt: 1, Entities: map[string]int{"orders": 1}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// inFlight is the number of requests the gateway is serving.
func (h *harness) inFlight() float64 {
	var m dto.Metric
	if err := h.srv.metrics.inFlight.Write(&m); err != nil {
		h.t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestStatusWaitReturnsOnCompletion(t *testing.T) {
	t.Parallel()
	h := setup(t)
	id := h.accepted(`{}`).MessageID
	done := make(chan statusstore.Record, 1)
	go func() {
		res := h.get("/ingest/status/" + id + "?wait=30s")
		if res.status != http.StatusOK {
			t.Errorf("status %d: %s", res.status, res.body)
		}
		done <- decode[statusstore.Record](t, res.body)
	}()
	testsvc.Eventually(t, 20*time.Second, "the wait to be in flight", func() bool { return h.inFlight() == 1 })
	complete(t, h.store(), id)
	rec := <-done
	if rec.Status != statusstore.Completed || rec.Entities["orders"] != 1 || rec.CompletedAt == nil {
		t.Fatalf("record %+v", rec)
	}
}

func TestStatusWaitIsCapped(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) { c.MaxWait = 100 * time.Millisecond })
	id := h.accepted(`{}`).MessageID
	// An uncapped hour would outlive the test's client timeout.
	if rec := h.record(id + "?wait=1h"); rec.Status != statusstore.Accepted {
		t.Fatalf("status %s", rec.Status)
	}
	complete(t, h.store(), id)
	if rec := h.record(id + "?wait=1h"); rec.Status != statusstore.Completed {
		t.Fatalf("terminal record: status %s", rec.Status)
	}
}

func TestStatusIDIsNormalized(t *testing.T) {
	t.Parallel()
	h := setup(t)
	id := h.accepted(`{}`).MessageID
	if rec := h.record(strings.ToUpper(id)); rec.MessageID != id {
		t.Fatalf("message_id %s", rec.MessageID)
	}
}

func TestStatusFallsBackToPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testsvc.MigratedPool(t)
	pg := statusstore.NewPostgres(pool)
	h := setup(t, func(c *Config) {
		c.StatusFallback = pg
		c.Database = pool
	})
	now := time.Now().UTC().Truncate(time.Microsecond)
	rec := statusstore.Record{
		MessageID: uuid.NewString(), Status: statusstore.Completed, Attempts: 1,
		ReceivedAt: now, UpdatedAt: now, CompletedAt: &now, Entities: map[string]int{"orders": 2},
		History: []statusstore.Event{{Status: statusstore.Completed, At: now, Attempt: 1}},
	}
	if err := pg.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got := h.record(rec.MessageID)
	if got.Status != statusstore.Completed || got.Entities["orders"] != 2 || !got.ReceivedAt.Equal(now) {
		t.Fatalf("record %+v", got)
	}
	if res := h.get("/ingest/status/" + uuid.NewString()); res.status != http.StatusNotFound {
		t.Fatalf("unknown id: %d", res.status)
	}
	health := decode[healthResponse](t, h.get("/health").body)
	if health.Checks["database"].Status != "ok" {
		t.Fatalf("database check %+v", health.Checks["database"])
	}
}

// Stop releases ?wait= readers with their latest record instead of holding
// the shutdown for the whole wait.
func TestStopReleasesWaiters(t *testing.T) {
	t.Parallel()
	ns := testsvc.NATS(t)
	nc := testsvc.Connect(t, ns)
	h := setupOn(t, ns, nc)
	id := h.accepted(`{}`).MessageID
	done := make(chan response, 1)
	go func() { done <- h.get("/ingest/status/" + id + "?wait=1m") }()
	testsvc.Eventually(t, 20*time.Second, "the wait to be in flight", func() bool { return h.inFlight() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.status != http.StatusOK || decode[statusstore.Record](t, res.body).Status != statusstore.Accepted {
		t.Fatalf("waiter: %d %s", res.status, res.body)
	}
	if _, err := http.Get(h.base + "/health"); err == nil {
		t.Fatal("stopped gateway still accepts connections")
	}
}
