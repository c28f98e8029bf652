package worker

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/nomnom-io/nomnom/statusstore"
)

// kvWriteTimeout bounds one KV update, so a NATS outage cannot hold a
// writer for long; PostgreSQL keeps the authoritative record meanwhile.
const kvWriteTimeout = 5 * time.Second

// statusUpdate is one lifecycle step to apply to a message's KV record.
type statusUpdate struct {
	base   statusstore.Record // the record to start from when KV has none
	change statusstore.Change
	// adopt, when set, replaces a KV record that is not terminal: the
	// committed message_status row of a message an earlier delivery
	// settled, which KV may not have caught up with.
	adopt *statusstore.Record
}

// statusWriter applies status updates to the KV bucket in the background, so
// KV latency never bounds throughput. Updates are sharded by message_id over
// a fixed set of goroutines: the updates of one message are applied in the
// order they were sent, across batches too.
type statusWriter struct {
	store  statusstore.Store
	log    *slog.Logger
	shards []chan statusUpdate
	wg     sync.WaitGroup
	errs   func() // counts a failed write
}

func newStatusWriter(store statusstore.Store, n, depth int, log *slog.Logger, errs func()) *statusWriter {
	w := &statusWriter{store: store, log: log, shards: make([]chan statusUpdate, n), errs: errs}
	for i := range w.shards {
		w.shards[i] = make(chan statusUpdate, depth)
	}
	return w
}

// start runs the writers until close; ctx cancelled abandons pending updates.
func (w *statusWriter) start(ctx context.Context) {
	for _, ch := range w.shards {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for u := range ch {
				w.apply(ctx, u)
			}
		}()
	}
}

// send queues an update; it blocks when the shard is full, which is the
// only way KV slows the worker down.
func (w *statusWriter) send(ctx context.Context, u statusUpdate) {
	h := fnv.New32a()
	h.Write([]byte(u.base.MessageID))
	select {
	case w.shards[h.Sum32()%uint32(len(w.shards))] <- u:
	case <-ctx.Done():
	}
}

// close flushes the queued updates and waits for them.
func (w *statusWriter) close() {
	for _, ch := range w.shards {
		close(ch)
	}
	w.wg.Wait()
}

func (w *statusWriter) apply(ctx context.Context, u statusUpdate) {
	// A final state is worth a few tries: a reader trusts KV before
	// PostgreSQL.
	tries := 1
	if u.change.To.Terminal() {
		tries = 3
	}
	for i := range tries {
		if ctx.Err() != nil {
			return
		}
		err := w.update(ctx, u)
		if err == nil || errors.Is(err, statusstore.ErrTransition) {
			return
		}
		if i == tries-1 {
			w.errs()
			w.log.Warn("status update in KV failed", "message_id", u.base.MessageID, "status", u.change.To, "err", err)
			return
		}
		select {
		case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

func (w *statusWriter) update(ctx context.Context, u statusUpdate) error {
	ctx, cancel := context.WithTimeout(ctx, kvWriteTimeout)
	defer cancel()
	_, err := w.store.Update(ctx, u.base.MessageID, func(cur statusstore.Record, found bool) (statusstore.Record, error) {
		if !found {
			cur = u.base
		}
		if u.adopt != nil {
			if cur.Status.Terminal() {
				return cur, statusstore.ErrTransition
			}
			return *u.adopt, nil
		}
		return statusstore.Apply(cur, u.change)
	})
	return err
}
