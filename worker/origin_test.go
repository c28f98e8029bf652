package worker

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/statusstore"
)

// A stream written by the origin project's gateway is drained: its
// envelopes, byte for byte as serde_json writes them (the body a JSON string
// of the request's text, no Nats-Msg-Id header, no accepted record in KV),
// reach the handler with the body parsed and complete.
func TestOriginEnvelopesComplete(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	payloads := map[string]string{
		"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b": `{"message_id":"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","body":"{\n  \"n\": 7,\n  \"tag\": \"caf\u00e9\"\n}","entity_type":null,"received_at":"2025-01-15T10:30:00.123456789Z","retry_count":0,"source":null}`,
		"0d4e8c1b-9a7f-4b2e-8c3d-5e6f7a8b9c0d": `{"message_id":"0d4e8c1b-9a7f-4b2e-8c3d-5e6f7a8b9c0d","body":"{\"n\": 8, \"entity_type\": \"items\"}","entity_type":"items","received_at":"2025-01-15T10:30:01.5Z","retry_count":2,"source":null}`,
	}
	ctx := context.Background()
	for id, payload := range payloads {
		var env struct {
			EntityType *string `json:"entity_type"`
		}
		if err := json.Unmarshal([]byte(payload), &env); err != nil {
			t.Fatal(err)
		}
		subject := f.top.IngestSubject("")
		if env.EntityType != nil {
			subject = f.top.IngestSubject(*env.EntityType)
		}
		if _, err := f.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: []byte(payload)}); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	f.start(f.config(), h)
	for id := range payloads {
		r := f.waitTerminal(id)
		if r.Status != statusstore.Completed || r.Entities["items"] != 1 || f.rows(id) != 1 {
			t.Fatalf("message %s: %+v, %d rows", id, r, f.rows(id))
		}
		if pr := f.pgStatus(id); pr.Status != statusstore.Completed {
			t.Fatalf("message_status of %s: %s", id, pr.Status)
		}
	}
	var n7, n8 int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE n = 7), count(*) FILTER (WHERE n = 8) FROM items`).Scan(&n7, &n8); err != nil || n7 != 1 || n8 != 1 {
		t.Fatalf("rows n=7: %d, n=8: %d (%v)", n7, n8, err)
	}
}
