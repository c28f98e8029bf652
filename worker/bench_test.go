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

	"github.com/nomnom-io/nomnom/wire"
)

// BenchmarkWorkerTrivialHandler measures the runtime's own cost: fetch,
// claim and write message_status rows, commit, acknowledge and KV status
// writes, with a handler that writes nothing.
func BenchmarkWorkerTrivialHandler(b *testing.B) {
	f := setup(b)
	var done atomic.Int64
	h := HandlerFunc(func(_ context.Context, _ pgx.Tx, batch []*wire.Envelope) ([]Result, error) {
		done.Add(int64(len(batch)))
		return make([]Result, len(batch)), nil
	})
	body, _ := json.Marshal(testBody{N: 1})
	for range b.N {
		env := wire.Envelope{MessageID: uuid.NewString(), Body: body, ReceivedAt: time.Now().UTC()}
		data, _ := env.Encode()
		m := nats.NewMsg(f.top.IngestSubject(""))
		m.Data, m.Header = data, env.Headers()
		if _, err := f.js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	<-f.js.PublishAsyncComplete()
	cfg := f.config()
	cfg.BatchSize = 100
	cfg.Logger = nil
	b.ResetTimer()
	start := time.Now()
	f.start(cfg, h)
	for done.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
