package worker

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/wire"
)

// BenchmarkWorkerTrivialHandler measures the runtime's own cost: fetch,
// claim and write message_status rows, commit, acknowledge and KV status
// writes, with a handler that writes nothing. It drains b.N messages on the
// embedded server (the newest) and on the floor one (2.9, a process of its
// own, skipped where it is not installed), by a worker of the untyped
// messages only and by one of three entity types as well, whose backlog is
// all on one subject: on the floor server, that worker has one consumer a
// subject, three of them idle.
func BenchmarkWorkerTrivialHandler(b *testing.B) {
	feeds := []struct {
		name     string
		entities []string
	}{{"untyped", nil}, {"entities", []string{"Alpha", "Beta", "Gamma"}}}
	for _, server := range []string{"embedded", "floor"} {
		for _, feed := range feeds {
			b.Run("nats="+server+"/feed="+feed.name, func(b *testing.B) {
				f := setup(b)
				if server == "floor" {
					useServer(b, f, testsvc.FloorNATS(b))
				}
				benchDrain(b, f, feed.entities)
			})
		}
	}
}

// benchDrain publishes b.N messages on the subject of entities' first type
// (untyped when there is none), then times a worker of entities draining
// them.
func benchDrain(b *testing.B, f *fixture, entities []string) {
	var done atomic.Int64
	h := HandlerFunc(func(_ context.Context, _ pgx.Tx, batch []*wire.Envelope) ([]Result, error) {
		done.Add(int64(len(batch)))
		return make([]Result, len(batch)), nil
	})
	subject := f.top.IngestSubject("")
	if len(entities) > 0 {
		subject = f.top.IngestSubject(entities[0])
	}
	body, _ := json.Marshal(testBody{N: 1})
	for range b.N {
		env := wire.Envelope{MessageID: uuid.NewString(), Body: body, ReceivedAt: time.Now().UTC()}
		data, _ := env.Encode()
		m := nats.NewMsg(subject)
		m.Data, m.Header = data, env.Headers()
		if _, err := f.js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	<-f.js.PublishAsyncComplete()
	cfg := f.config()
	cfg.BatchSize = 100
	cfg.BatchWait = DefaultBatchWait
	cfg.Entities, cfg.Untyped = entities, UntypedTake
	cfg.Logger = nil
	b.ResetTimer()
	start := time.Now()
	f.start(cfg, h)
	for done.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
