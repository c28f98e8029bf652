package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

func TestMessageRejectsBadInput(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) { c.MaxBodyBytes = 64 })
	big := `{"pad":"` + strings.Repeat("x", 100) + `"}`
	tests := []struct {
		name     string
		method   string
		path     string
		body     io.Reader
		headers  []string
		status   int
		code     string
		contains string
	}{
		{name: "array", body: strings.NewReader(`[1,2]`), status: 400, code: codeNotObject, contains: "array"},
		{name: "number", body: strings.NewReader(`42`), status: 400, code: codeNotObject},
		{name: "string", body: strings.NewReader(`"x"`), status: 400, code: codeNotObject},
		{name: "null", body: strings.NewReader(`null`), status: 400, code: codeNotObject},
		{name: "empty", body: strings.NewReader(``), status: 400, code: codeEmptyBody},
		{name: "blank", body: strings.NewReader(" \n\t"), status: 400, code: codeEmptyBody},
		{name: "syntax error has its offset", body: strings.NewReader(`{"a":1,}`), status: 400, code: codeInvalidJSON, contains: "byte offset 8"},
		{name: "two objects", body: strings.NewReader(`{}{}`), status: 400, code: codeInvalidJSON, contains: "byte offset"},
		{name: "truncated", body: strings.NewReader(`{"a":`), status: 400, code: codeInvalidJSON},
		{name: "too large", body: strings.NewReader(big), status: 413, code: codeTooLarge},
		{name: "too large without length", body: io.MultiReader(strings.NewReader(big)), status: 413, code: codeTooLarge},
		{name: "xml content type", body: strings.NewReader(`{}`), headers: []string{"Content-Type", "application/xml"}, status: 415, code: codeUnsupportedMedia},
		{name: "multipart content type", body: strings.NewReader(`{}`), headers: []string{"Content-Type", "multipart/form-data; boundary=x"}, status: 415, code: codeUnsupportedMedia},
		{name: "unparsable content type", body: strings.NewReader(`{}`), headers: []string{"Content-Type", "json;;"}, status: 415, code: codeUnsupportedMedia},
		{name: "bad entity in the body", body: strings.NewReader(`{"entity_type":"a.b"}`), status: 400, code: codeInvalidEntityType},
		{name: "entity in the body not a string", body: strings.NewReader(`{"entity_type":7}`), status: 400, code: codeInvalidEntityType, contains: "must be a string"},
		{name: "bad entity in query", path: "/ingest/message?entity=a.b", body: strings.NewReader(`{}`), status: 400, code: codeInvalidEntityType},
		{name: "wildcard entity", path: "/ingest/message?entity=%3E", body: strings.NewReader(`{}`), status: 400, code: codeInvalidEntityType},
		{name: "bad entity in header", body: strings.NewReader(`{}`), headers: []string{"X-Entity-Type", "a b"}, status: 400, code: codeInvalidEntityType},
		{name: "long idempotency key", body: strings.NewReader(`{}`), headers: []string{"Idempotency-Key", strings.Repeat("k", 300)}, status: 400, code: codeInvalidIdempotency},
		{name: "long entity in query", path: "/ingest/message?entity=" + strings.Repeat("A", 5000), body: strings.NewReader(`{}`), status: 400, code: codeInvalidEntityType, contains: "?entity=: entity type is 5000 bytes"},
		{name: "long entity in header", body: strings.NewReader(`{}`), headers: []string{"X-Entity-Type", strings.Repeat("A", 129)}, status: 400, code: codeInvalidEntityType, contains: "X-Entity-Type"},
		{name: "long source", body: strings.NewReader(`{}`), headers: []string{"X-Source", strings.Repeat("s", 257)}, status: 400, code: codeInvalidSource, contains: "X-Source is 257 bytes"},
		{name: "source with an invisible character", body: strings.NewReader(`{}`), headers: []string{"X-Source", "a\u200bb"}, status: 400, code: codeInvalidSource, contains: "byte 1"},
		{name: "idempotency key not ASCII", body: strings.NewReader(`{}`), headers: []string{"Idempotency-Key", "clé"}, status: 400, code: codeInvalidIdempotency, contains: "offset 2"},
		{name: "wrong method", method: http.MethodGet, status: 405, code: codeMethodNotAllowed},
		{name: "unknown route", method: http.MethodGet, path: "/nope", status: 404, code: codeNotFound},
		{name: "status of a non-UUID", method: http.MethodGet, path: "/ingest/status/42", status: 400, code: codeInvalidMessageID},
		{name: "status of an unknown id", method: http.MethodGet, path: "/ingest/status/" + uuid.NewString(), status: 404, code: codeNotFound},
		{name: "status with a bad wait", method: http.MethodGet, path: "/ingest/status/" + uuid.NewString() + "?wait=soon", status: 400, code: codeInvalidWait},
		{name: "status with a negative wait", method: http.MethodGet, path: "/ingest/status/" + uuid.NewString() + "?wait=-1s", status: 400, code: codeInvalidWait},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				method, path := tt.method, tt.path
				if method == "" {
					method = http.MethodPost
				}
				if path == "" {
					path = "/ingest/message"
				}
				res := h.do(method, path, tt.body, tt.headers...)
				if res.status != tt.status {
					t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
				}
				if ct := res.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				body := decode[errorBody](t, res.body)
				if body.Error.Code != tt.code || !strings.Contains(body.Error.Message, tt.contains) {
					t.Fatalf("error %+v, want code %s containing %q", body.Error, tt.code, tt.contains)
				}
			})
		}
	})
	if n := len(h.streamMessages()); n != 0 {
		t.Fatalf("%d messages published for bad input", n)
	}
}

func TestMessageAccepted(t *testing.T) {
	t.Parallel()
	h := setup(t)
	body := `{"order_id": 7, "items": [{"sku": "a", "qty": 2}], "note": "caf\u00e9"}`
	res := h.post("/ingest/message?entity=orders", body,
		"Content-Type", "application/json; charset=utf-8", "X-Source", "shop")
	if res.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	acc := decode[acceptedResponse](t, res.body)
	id, err := uuid.Parse(acc.MessageID)
	if err != nil || id.Version() != 4 {
		t.Fatalf("message_id %q is not a UUIDv4", acc.MessageID)
	}
	if acc.Status != "accepted" || acc.Duplicate || acc.Timestamp.IsZero() || acc.Timestamp.Location() != time.UTC {
		t.Fatalf("answer %+v", acc)
	}
	if loc := res.header.Get("Location"); loc != "/ingest/status/"+acc.MessageID {
		t.Fatalf("Location %q", loc)
	}

	msgs := h.streamMessages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the stream, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != h.top.IngestSubject("orders") {
		t.Errorf("subject %q", m.Subject)
	}
	if m.Header.Get(wire.HeaderMsgID) != acc.MessageID || m.Header.Get(wire.HeaderEntityType) != "orders" {
		t.Errorf("headers %v", m.Header)
	}
	if !strings.Contains(string(m.Data), `"body":{"order_id":7,`) {
		t.Errorf("body is not embedded as JSON: %s", m.Data)
	}
	env, err := wire.DecodeEnvelope(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	_ = json.Unmarshal(env.Body, &got)
	_ = json.Unmarshal([]byte(body), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body %s, want %s", env.Body, body)
	}
	if env.MessageID != acc.MessageID || env.EntityTypeOrEmpty() != "orders" || env.Source == nil || *env.Source != "shop" ||
		env.RetryCount != 0 || !env.ReceivedAt.Equal(acc.Timestamp) || env.IdempotencyKey != "" || env.Tenant != "" {
		t.Errorf("envelope %+v", env)
	}

	rec := h.record(acc.MessageID)
	if rec.Status != statusstore.Accepted || rec.MessageID != acc.MessageID || rec.EntityType == nil || *rec.EntityType != "orders" ||
		rec.Source == nil || *rec.Source != "shop" || !rec.ReceivedAt.Equal(acc.Timestamp) {
		t.Fatalf("record %+v", rec)
	}
}

func TestMessageWithoutEntityType(t *testing.T) {
	t.Parallel()
	h := setup(t)
	acc := h.accepted(`{"a":1}`, "X-Entity-Type", "customer")
	plain := h.accepted(`{"b":2}`)
	msgs := h.streamMessages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	if msgs[0].Subject != h.top.IngestSubject("customer") || msgs[0].Header.Get(wire.HeaderMsgID) != acc.MessageID {
		t.Errorf("header entity type: subject %q", msgs[0].Subject)
	}
	if msgs[1].Subject != h.top.IngestSubject("") || msgs[1].Header.Get(wire.HeaderEntityType) != "" {
		t.Errorf("no entity type: subject %q headers %v", msgs[1].Subject, msgs[1].Header)
	}
	if !strings.Contains(string(msgs[1].Data), `"entity_type":null`) || !strings.Contains(string(msgs[1].Data), `"source":null`) {
		t.Errorf("envelope without entity type or source: %s", msgs[1].Data)
	}
	if rec := h.record(plain.MessageID); rec.EntityType != nil {
		t.Errorf("record entity type %v", *rec.EntityType)
	}
}

// Every 202 is readable at once: the accepted record is written before the
// answer, never after.
func TestConcurrentAcceptThenStatus(t *testing.T) {
	t.Parallel()
	h := setup(t)
	const n = 1000
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Go(func() {
			res := h.post("/ingest/message?entity=load", `{"i":`+strings.Repeat("1", 1+i%5)+`}`)
			if res.status != http.StatusAccepted {
				t.Errorf("POST %d: %d %s", i, res.status, res.body)
				return
			}
			id := decode[acceptedResponse](t, res.body).MessageID
			ids[i] = id
			st := h.get("/ingest/status/" + id)
			if st.status != http.StatusOK {
				t.Errorf("GET %s right after its 202: %d %s", id, st.status, st.body)
				return
			}
			if rec := decode[statusstore.Record](t, st.body); rec.Status != statusstore.Accepted {
				t.Errorf("GET %s: status %s", id, rec.Status)
			}
		})
	}
	wg.Wait()
	stored := map[string]bool{}
	for _, id := range h.streamIDs() {
		stored[id] = true
	}
	for i, id := range ids {
		if id != "" && !stored[id] {
			t.Errorf("message %d (%s) answered 202 but is not in the stream", i, id)
		}
	}
	if len(stored) != n {
		t.Fatalf("%d messages in the stream, want %d", len(stored), n)
	}
}

// The gateway's accepted record never overwrites a status a worker wrote
// first, however the two race.
func TestAcceptedNeverOverwritesWorker(t *testing.T) {
	t.Parallel()
	h := setup(t)
	store := h.store()
	ctx := context.Background()

	t.Run("record step after a worker", func(t *testing.T) {
		now := time.Now()
		env := ingestMeta{entityType: "orders"}.envelope(uuid.NewString(), []byte(`{}`), now)
		if _, err := store.Update(ctx, env.MessageID, processingFirst(env)); err != nil {
			t.Fatal(err)
		}
		if err := h.srv.record(ctx, store, env, now); err == nil {
			t.Fatal("record over a worker's status succeeded")
		}
		if rec, _ := store.Get(ctx, env.MessageID); rec.Status != statusstore.Processing {
			t.Fatalf("status %s, want processing", rec.Status)
		}
	})

	t.Run("racing worker", func(t *testing.T) {
		completed := runWorker(t, h)
		const n = 200
		var wg sync.WaitGroup
		ids := make(chan string, n)
		for range n {
			wg.Go(func() { ids <- h.accepted(`{"x":1}`).MessageID })
		}
		wg.Wait()
		close(ids)
		for id := range ids {
			testsvc.Eventually(t, 20*time.Second, "worker completes "+id, func() bool {
				rec, err := store.Get(ctx, id)
				return err == nil && rec.Status == statusstore.Completed
			})
		}
		if got := completed(); got != n {
			t.Fatalf("worker completed %d messages, want %d", got, n)
		}
	})
}

// processingFirst is a worker's update that finds no record yet.
func processingFirst(env *wire.Envelope) func(statusstore.Record, bool) (statusstore.Record, error) {
	return func(cur statusstore.Record, found bool) (statusstore.Record, error) {
		if !found {
			cur = statusstore.NewAccepted(env, time.Now())
		}
		return statusstore.Apply(cur, statusstore.Change{To: statusstore.Processing, At: time.Now(), Attempt: 1})
	}
}
