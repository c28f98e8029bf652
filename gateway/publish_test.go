package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
)

// When JetStream does not acknowledge an envelope (the stream is gone)
// while the bucket takes its record, the client is told to retry and the
// record created beside the publish is taken back: no status claims a
// message the stream does not hold, and every acknowledged one has its
// record. The stream is ensured again afterwards.
func TestUnacknowledgedPublishTakesBackRecords(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := h.js.KeyValue(ctx, h.top.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys := func() map[string]bool {
		t.Helper()
		names, err := kv.Keys(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			t.Fatal(err)
		}
		set := map[string]bool{}
		for _, k := range names {
			set[k] = true
		}
		return set
	}
	tests := []struct{ path, body string }{
		{"/ingest/message", `{"n":1}`},
		{"/ingest/batch", ndjson(`{"n":1}`, `{"n":2}`, `{"n":3}`)},
	}
	for _, tt := range tests {
		before := keys()
		if err := h.js.DeleteStream(ctx, h.top.Stream); err != nil {
			t.Fatal(err)
		}
		res := h.post(tt.path, tt.body)
		// The first failure has the stream ensured again at once, so the
		// later lines of a batch may be acknowledged on their retry.
		acked := map[string]bool{}
		if tt.path == "/ingest/batch" {
			b := decode[batchResponse](t, res.body)
			if b.Failed == 0 || !strings.Contains(b.Results[0].Error, "not accepted") {
				t.Fatalf("batch answer: %d %s", res.status, res.body)
			}
			for _, r := range b.Results {
				if r.MessageID != "" {
					acked[r.MessageID] = true
				}
			}
		}
		if len(acked) == 0 && (res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "") {
			t.Fatalf("%s without a stream: %d %s", tt.path, res.status, res.body)
		}
		after := keys()
		for k := range after {
			if !before[k] && !acked[k] {
				t.Fatalf("%s: a record is left for an unacknowledged message: %s", tt.path, k)
			}
		}
		for k := range acked {
			if !after[k] {
				t.Fatalf("%s: no record for acknowledged message %s", tt.path, k)
			}
		}
		// The failed publish had the stream ensured again.
		testsvc.Eventually(t, 20*time.Second, "a message accepted again", func() bool {
			return h.post("/ingest/message", `{"n":4}`).status == http.StatusAccepted
		})
	}
}

// Every line of a large batch gets its message and its record, with the
// creates pipelined beside the publishes.
func TestBatchRecordsEveryLine(t *testing.T) {
	t.Parallel()
	h := setup(t)
	lines := make([]string, 500)
	for i := range lines {
		lines[i] = `{"i":` + strings.Repeat("1", i%7+1) + `}`
	}
	res := h.post("/ingest/batch", ndjson(lines...), "X-Entity-Type", "orders")
	if res.status != http.StatusAccepted {
		t.Fatalf("%d %s", res.status, res.body)
	}
	b := decode[batchResponse](t, res.body)
	if b.Inserted != len(lines) || b.Failed != 0 {
		t.Fatalf("inserted %d, failed %d", b.Inserted, b.Failed)
	}
	if n := len(h.streamIDs()); n != len(lines) {
		t.Fatalf("%d messages in the stream, want %d", n, len(lines))
	}
	for _, r := range b.Results {
		rec := h.record(r.MessageID)
		if rec.Status != "accepted" || rec.EntityType == nil || *rec.EntityType != "orders" || len(rec.History) != 1 {
			t.Fatalf("record of line %d: %+v", r.Line, rec)
		}
	}
}
