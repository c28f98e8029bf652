// Package dlqtest builds dead-lettered messages for the tests of the
// packages that list and redrive them (dlq and its commands), as the worker
// leaves them, without running a worker.
package dlqtest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// DeadLetter stores what the worker leaves of a message that failed after
// the given redrives: a failed KV record and a copy in the DLQ stream. It
// returns the message_id.
func DeadLetter(t testing.TB, js jetstream.JetStream, top wire.Topology, kv *statusstore.KV, redrives int) string {
	t.Helper()
	ctx := context.Background()
	env := wire.Envelope{MessageID: uuid.NewString(), Body: []byte(`{"n":1}`), ReceivedAt: time.Now().UTC(), RetryCount: 1}
	now := time.Now()
	rec := statusstore.NewAccepted(&env, now)
	rec, err := statusstore.Apply(rec, statusstore.Change{To: statusstore.Processing, At: now, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	rec, err = statusstore.Apply(rec, statusstore.Change{To: statusstore.Failed, At: now, Attempt: 1, Error: "rejected"})
	if err != nil {
		t.Fatal(err)
	}
	rec.Redrives = redrives
	if err := kv.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	data, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(top.DLQSubject(""))
	m.Data = data
	m.Header.Set(wire.HeaderDLQMessageID, env.MessageID)
	m.Header.Set(wire.HeaderDLQReason, "rejected")
	m.Header.Set(wire.HeaderDLQAttempts, strconv.Itoa(1))
	m.Header.Set(wire.HeaderDLQFailedAt, now.UTC().Format(time.RFC3339Nano))
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	return env.MessageID
}
