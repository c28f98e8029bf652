package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nomnom-io/nomnom/dlq"
	"github.com/nomnom-io/nomnom/statusstore"
)

// failed posts a message, fails it and dead-letters it as a worker would,
// mirroring its record into the database when pool is set.
func (h *harness) failed(pool *pgxpool.Pool, body string, headers ...string) string {
	h.t.Helper()
	id := h.accepted(body, headers...).MessageID
	rec := fail(h.t, h.store(), id)
	h.deadLetter(id, false)
	if pool != nil {
		if err := statusstore.UpsertBatch(context.Background(), pool, []statusstore.Record{rec}); err != nil {
			h.t.Fatal(err)
		}
	}
	return id
}

func (h *harness) redriveReq(body string, headers ...string) redriveAnswer {
	h.t.Helper()
	res := h.post("/ingest/dlq/redrive", body, append([]string{"Content-Type", "application/json"}, headers...)...)
	if res.status != http.StatusOK {
		h.t.Fatalf("redrive %s: %d %s", body, res.status, res.body)
	}
	return decode[redriveAnswer](h.t, res.body)
}

// dlqIDs lists the message ids in the DLQ.
func (h *harness) dlqIDs() map[string]int {
	h.t.Helper()
	admin, err := dlq.New(dlq.Config{JetStream: h.js, Topology: h.top})
	if err != nil {
		h.t.Fatal(err)
	}
	dls, err := admin.List(context.Background(), dlq.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int{}
	for _, dl := range dls {
		out[dl.MessageID]++
	}
	return out
}

func outcomes(a redriveAnswer) map[string]string {
	out := map[string]string{}
	for _, r := range a.Results {
		out[r.MessageID] = r.Outcome
	}
	return out
}

func TestRedriveByIDs(t *testing.T) {
	t.Parallel()
	h := setup(t, withKeys, func(c *Config) { c.MaxRedrives = 1 })
	ka := []string{"X-API-Key", "key-a"}
	id := h.failed(nil, `{"n":1}`, ka...)
	other := h.failed(nil, `{"n":2}`, "X-API-Key", "key-b")
	live := h.accepted(`{"n":3}`, ka...).MessageID
	unknown := uuid.NewString()
	streamBefore := len(h.streamMessages())

	body := fmt.Sprintf(`{"ids":[%q,%q,%q,%q],"dry_run":true}`, id, other, live, unknown)
	dry := h.redriveReq(body, ka...)
	want := map[string]string{id: outcomeWouldRedrive, other: outcomeNotFound, live: outcomeNotFailed, unknown: outcomeNotFound}
	if got := outcomes(dry); fmt.Sprint(got) != fmt.Sprint(want) || !dry.DryRun || dry.MaxRedrives != 1 || dry.Counts[outcomeWouldRedrive] != 1 {
		t.Fatalf("dry run %+v, want outcomes %v", dry, want)
	}
	if h.record(id, ka...).Status != statusstore.Failed || h.dlqIDs()[id] != 1 || len(h.streamMessages()) != streamBefore {
		t.Fatal("the dry run changed something")
	}

	real := h.redriveReq(strings.Replace(body, `"dry_run":true`, `"dry_run":false`, 1), ka...)
	want[id] = "redriven"
	if got := outcomes(real); fmt.Sprint(got) != fmt.Sprint(want) || real.DryRun {
		t.Fatalf("redrive %+v, want outcomes %v", real, want)
	}
	for _, r := range real.Results {
		if r.MessageID == id && r.Redrives != 1 {
			t.Fatalf("redriven message: redrives %d, want 1", r.Redrives)
		}
	}
	if rec := h.record(id, ka...); rec.Status != statusstore.Accepted || rec.Redrives != 1 {
		t.Fatalf("redriven record: %s, redrives %d", rec.Status, rec.Redrives)
	}
	if dlq := h.dlqIDs(); dlq[id] != 0 || dlq[other] != 1 {
		t.Fatalf("DLQ after the redrive: %v", dlq)
	}
	if n := len(h.streamMessages()); n != streamBefore+1 {
		t.Fatalf("stream has %d messages after the redrive, want %d", n, streamBefore+1)
	}

	// It fails again: the loop guard keeps it in the DLQ.
	fail(t, h.store(), id)
	h.deadLetter(id, false)
	capped := h.redriveReq(fmt.Sprintf(`{"ids":[%q]}`, id), ka...)
	if len(capped.Results) != 1 || capped.Results[0].Outcome != outcomeCapped || capped.Results[0].Redrives != 1 {
		t.Fatalf("redrive past the cap: %+v", capped)
	}
	if h.record(id, ka...).Status != statusstore.Failed || h.dlqIDs()[id] != 1 {
		t.Fatal("a capped redrive changed something")
	}
}

func TestRedriveByFilter(t *testing.T) {
	t.Parallel()
	pool := statusDB(t)
	h := setup(t, withKeys, withDatabase(pool))
	ka := []string{"X-API-Key", "key-a"}
	order := h.failed(pool, `{"n":1}`, append(ka, "X-Entity-Type", "order")...)
	customer := h.failed(pool, `{"n":2}`, append(ka, "X-Entity-Type", "customer")...)
	otherOrder := h.failed(pool, `{"n":3}`, "X-API-Key", "key-b", "X-Entity-Type", "order")

	dry := h.redriveReq(`{"filter":{"entity":"order"},"dry_run":true}`, ka...)
	if got := outcomes(dry); len(got) != 1 || got[order] != outcomeWouldRedrive || dry.More {
		t.Fatalf("dry run by filter: %+v", dry)
	}
	if dlq := h.dlqIDs(); dlq[order] != 1 || dlq[customer] != 1 || dlq[otherOrder] != 1 {
		t.Fatalf("the dry run changed the DLQ: %v", dlq)
	}
	real := h.redriveReq(`{"filter":{"entity":"order","status":"failed"}}`, ka...)
	if got := outcomes(real); len(got) != 1 || got[order] != "redriven" {
		t.Fatalf("redrive by filter: %+v", real)
	}
	dlq := h.dlqIDs()
	if dlq[order] != 0 || dlq[customer] != 1 || dlq[otherOrder] != 1 {
		t.Fatalf("DLQ after a redrive by filter: %v", dlq)
	}
	if rec, err := statusstore.NewPostgres(pool).Get(context.Background(), order); err != nil || rec.Status != statusstore.Accepted || rec.Redrives != 1 {
		t.Fatalf("message_status after the redrive: %+v %v", rec, err)
	}
	// Tenant b's filter sees only its own.
	if got := outcomes(h.redriveReq(`{"filter":{},"dry_run":true}`, "X-API-Key", "key-b")); len(got) != 1 || got[otherOrder] != outcomeWouldRedrive {
		t.Fatalf("tenant b's dry run: %v", got)
	}
}

func TestRedriveValidation(t *testing.T) {
	t.Parallel()
	h := setup(t)
	many := make([]string, MaxRedriveMessages+1)
	for i := range many {
		many[i] = fmt.Sprintf("%q", uuid.NewString())
	}
	cases := []struct {
		body   string
		status int
		names  string
	}{
		{`{}`, 400, "ids, filter"},
		{`{"ids":[]}`, 400, "ids, filter"},
		{`{"ids":["` + uuid.NewString() + `"],"filter":{}}`, 400, "ids, filter"},
		{`{"ids":["` + uuid.NewString() + `","nope"]}`, 400, "ids[1]"},
		{`{"ids":[` + strings.Join(many, ",") + `]}`, 400, "ids"},
		{`{"filter":{"status":"completed"}}`, 400, "filter.status"},
		{`{"filter":{"since":"soon"}}`, 400, "filter.since"},
		{`{"ids":["` + uuid.NewString() + `"],"dryrun":true}`, 400, "body"},
		{`{"ids":`, 400, "body"},
		{`{"ids":["` + uuid.NewString() + `"],"dry_run":null}`, 400, "dry_run: null"},
		{`{"ids":["` + uuid.NewString() + `"],"DRY_RUN":true}`, 400, "DRY_RUN: the field is"},
		{`{"ids":["` + uuid.NewString() + `"],"dry_run":true,"dry_run":false}`, 400, "dry_run: given twice"},
		{`{"filter":{"Status":"failed"}}`, 400, "filter.Status: the field is"},
		{`{"filter":{"entity":"order","entity":"customer"}}`, 400, "filter.entity: given twice"},
		{`{"filter":null}`, 400, "filter: null"},
		{`{"ids":["` + strings.Repeat("a", maxRedriveBody) + `"]}`, 413, ""},
	}
	for _, c := range cases {
		res := h.post("/ingest/dlq/redrive", c.body, "Content-Type", "application/json")
		msg := decode[errorBody](t, res.body).Error.Message
		if res.status != c.status || !strings.HasPrefix(msg, c.names) {
			t.Errorf("%.80s: %d %q, want %d naming %q", c.body, res.status, msg, c.status, c.names)
		}
	}
	// A filter needs the database.
	if res := h.post("/ingest/dlq/redrive", `{"filter":{}}`); res.status != http.StatusNotImplemented {
		t.Errorf("filter without a database: %d %s", res.status, res.body)
	}
}
