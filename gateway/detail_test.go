package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// fail moves a record through a retried attempt to failed, as a worker
// would, with an error at each step, and returns the failed record.
func fail(t *testing.T, store *statusstore.KV, id string) statusstore.Record {
	t.Helper()
	now := time.Now()
	cur, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := cur.Attempts
	for _, c := range []statusstore.Change{
		{To: statusstore.Processing, At: now, Attempt: n + 1},
		{To: statusstore.Retrying, At: now, Attempt: n + 1, Error: "database unreachable"},
		{To: statusstore.Processing, At: now, Attempt: n + 2},
		{To: statusstore.Failed, At: now, Attempt: n + 2, Error: "quantity: expected integer"},
	} {
		_, err := store.Update(context.Background(), id, func(cur statusstore.Record, _ bool) (statusstore.Record, error) {
			return statusstore.Apply(cur, c)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rec, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// deadLetter copies the message's stream copy to the DLQ as a worker does
// and, when remove is set, deletes it from the main stream.
func (h *harness) deadLetter(want string, remove bool) {
	h.t.Helper()
	ctx := context.Background()
	msgs := h.streamMessages()
	slices.Reverse(msgs) // the latest copy, a redriven one included
	for _, m := range msgs {
		if id, _, _ := strings.Cut(m.Header.Get(wire.HeaderMsgID), ":"); id != want {
			continue
		}
		dl := nats.NewMsg(h.top.DLQSubject(m.Header.Get(wire.HeaderEntityType)))
		dl.Data = m.Data
		dl.Header.Set(wire.HeaderDLQMessageID, want)
		dl.Header.Set(wire.HeaderDLQReason, "quantity: expected integer")
		dl.Header.Set(wire.HeaderDLQAttempts, "2")
		dl.Header.Set(wire.HeaderDLQFailedAt, time.Now().UTC().Format(time.RFC3339Nano))
		if _, err := h.js.PublishMsg(ctx, dl); err != nil {
			h.t.Fatal(err)
		}
		if remove {
			s, err := h.js.Stream(ctx, h.top.Stream)
			if err != nil {
				h.t.Fatal(err)
			}
			if err := s.DeleteMsg(ctx, m.Sequence); err != nil {
				h.t.Fatal(err)
			}
		}
		return
	}
	h.t.Fatalf("message %s not in the stream", want)
}

func TestMessageDetail(t *testing.T) {
	t.Parallel()
	h := setup(t, withKeys)
	a := "X-API-Key"
	// Other messages before and after, so the lookup has to pick.
	h.accepted(`{"n":0}`, a, "key-a", "X-Entity-Type", "order")
	id := h.accepted(`{"n":1,"items":[1,2]}`, a, "key-a", "X-Entity-Type", "order").MessageID
	h.accepted(`{"n":2}`, a, "key-a", "X-Entity-Type", "order")

	res := h.get("/ingest/messages/"+id, a, "key-a")
	if res.status != http.StatusOK {
		t.Fatalf("detail: %d %s", res.status, res.body)
	}
	d := decode[detail](t, res.body)
	if d.MessageID != id || d.Status != statusstore.Accepted || string(d.Body) != `{"n":1,"items":[1,2]}` ||
		d.BodyFrom == nil || *d.BodyFrom != bodyFromStream || len(d.Errors) != 0 {
		t.Fatalf("detail of an accepted message: %s", res.body)
	}

	fail(t, h.store(), id)
	h.deadLetter(id, true)
	d = decode[detail](t, h.get("/ingest/messages/"+id, a, "key-a").body)
	if d.Status != statusstore.Failed || string(d.Body) != `{"n":1,"items":[1,2]}` || d.BodyFrom == nil || *d.BodyFrom != bodyFromDeadLetter {
		t.Fatalf("detail of a dead-lettered message: %+v body %s", d.Record, d.Body)
	}
	if len(d.Errors) != 2 || d.Errors[0].Attempt != 1 || d.Errors[0].Error != "database unreachable" ||
		d.Errors[1].Attempt != 2 || d.Errors[1].Status != statusstore.Failed {
		t.Fatalf("attempt errors %+v", d.Errors)
	}
	if len(d.History) != 5 {
		t.Fatalf("history of %d events, want 5", len(d.History))
	}

	if res := h.get("/ingest/messages/"+id, a, "key-b"); res.status != http.StatusNotFound {
		t.Fatalf("another tenant's detail: %d %s", res.status, res.body)
	}
	if res := h.get("/ingest/messages/"+uuid.NewString(), a, "key-a"); res.status != http.StatusNotFound {
		t.Fatalf("unknown message: %d %s", res.status, res.body)
	}
	if res := h.get("/ingest/messages/nope", a, "key-a"); res.status != http.StatusBadRequest || errorCode(t, res.body) != codeInvalidMessageID {
		t.Fatalf("bad id: %d %s", res.status, res.body)
	}
}

// TestMessageDetailWithoutBody: a message neither stream holds any more is
// still detailed, with a null body.
func TestMessageDetailWithoutBody(t *testing.T) {
	t.Parallel()
	h := setup(t)
	id := h.accepted(`{"n":1}`).MessageID
	ctx := context.Background()
	s, err := h.js.Stream(ctx, h.top.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	res := h.get("/ingest/messages/" + id)
	d := decode[detail](t, res.body)
	if res.status != http.StatusOK || d.MessageID != id || string(d.Body) != "null" || d.BodyFrom != nil {
		t.Fatalf("detail without a body: %d %s", res.status, res.body)
	}
}
