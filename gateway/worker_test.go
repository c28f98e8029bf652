package gateway

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// runWorker consumes the harness's stream as a worker would, moving each
// message to processing then completed as fast as it can, so that it races
// the gateway's accepted record. It returns the count of completions.
func runWorker(t *testing.T, h *harness) (completed func() int64) {
	t.Helper()
	ctx := context.Background()
	cons, err := h.js.CreateOrUpdateConsumer(ctx, h.top.Stream, h.top.ConsumerConfig(wire.ConsumerOptions{
		Durable: "test-worker", AckWait: 30 * time.Second, MaxAckPending: 1000,
	}))
	if err != nil {
		t.Fatal(err)
	}
	store := h.store()
	var n atomic.Int64
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		env, err := wire.DecodeEnvelope(msg.Data())
		if err != nil {
			t.Errorf("decode: %v", err)
			return
		}
		if _, err := store.Update(ctx, env.MessageID, processingFirst(&env)); err != nil {
			t.Errorf("processing %s: %v", env.MessageID, err)
		}
		_, err = store.Update(ctx, env.MessageID, func(cur statusstore.Record, _ bool) (statusstore.Record, error) {
			return statusstore.Apply(cur, statusstore.Change{To: statusstore.Completed, At: time.Now(), Attempt: 1})
		})
		if err != nil {
			t.Errorf("completed %s: %v", env.MessageID, err)
		}
		n.Add(1)
		_ = msg.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Stop()
		<-cc.Closed()
	})
	return n.Load
}
