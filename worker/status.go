package worker

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/nomnom-io/nomnom/internal/backoff"
	"github.com/nomnom-io/nomnom/statusstore"
)

// kvWriteTimeout bounds one pipelined KV write of a shard's part of a batch,
// so a NATS outage cannot hold a writer for long; PostgreSQL keeps the
// authoritative record meanwhile.
const kvWriteTimeout = 5 * time.Second

// kvTries is how many times a final state is written before the writer
// gives up on it: a reader trusts KV before PostgreSQL. The waits between
// tries double from kvRetryWait up to kvRetryMaxWait, about ten seconds in
// all, so the writes outlast a JetStream leader election.
const (
	kvTries        = 7
	kvRetryWait    = 200 * time.Millisecond
	kvRetryMaxWait = 3200 * time.Millisecond
)

// statusUpdate is one lifecycle step to apply to a message's KV record.
type statusUpdate struct {
	base statusstore.Record // the record to start from when KV has none
	// via, when set, is the processing step the record passes through
	// before change, unless KV has it already: the final write of a batch
	// whose processing step was never written (see Config.ProcessingAfter).
	via    *statusstore.Change
	change statusstore.Change
	// adopt, when set, replaces a KV record that is not terminal: the
	// committed message_status row of a message an earlier delivery
	// settled, which KV may not have caught up with.
	adopt *statusstore.Record
	// settle, when set, runs once the update is written or refused (true)
	// or given up on (false). The worker acknowledges a message only then:
	// a crash between the commit and the KV write leaves the message
	// unacknowledged, and its redelivery brings KV up to the committed row
	// (adopt). Acking first would leave KV behind PostgreSQL for good, and
	// readers try KV first.
	settle func(written bool)
}

// final reports whether the update ends a delivery: a terminal state, or
// the adoption of a committed row.
func (u statusUpdate) final() bool { return u.adopt != nil || u.change.To.Terminal() }

// fn is the update as a compare-and-swap function.
func (u statusUpdate) fn(cur statusstore.Record, found bool) (statusstore.Record, error) {
	if !found {
		cur = u.base
	}
	if u.adopt != nil {
		if cur.Status.Terminal() {
			return cur, statusstore.ErrTransition
		}
		return *u.adopt, nil
	}
	if u.via != nil {
		if next, err := statusstore.Apply(cur, *u.via); err == nil {
			cur = next
		}
	}
	return statusstore.Apply(cur, u.change)
}

// via is the processing step an item's final KV write passes through: the
// one it began with, at the attempt its final step names.
func (it *item) via() *statusstore.Change {
	if it.began == nil || it.kv == nil || it.kv.To == statusstore.Processing {
		return nil
	}
	c := *it.began
	c.Attempt = it.kv.Attempt
	return &c
}

// lateStatus is a step of a batch whose KV writes wait until the batch has
// been in hand for a while; cancel drops them if they have not begun.
type lateStatus struct {
	mu    sync.Mutex
	timer *time.Timer
	done  bool
}

// later sends us after delay, at once when delay is negative. The caller
// must cancel the returned step before it sends the batch's next one.
func (w *statusWriter) later(ctx context.Context, b *statusBatch, us []statusUpdate, delay time.Duration) *lateStatus {
	l := &lateStatus{}
	if delay < 0 || len(us) == 0 {
		l.done = true
		w.send(ctx, b, us)
		return l
	}
	l.timer = time.AfterFunc(delay, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !l.done {
			l.done = true
			w.send(ctx, b, us)
		}
	})
	return l
}

// cancel drops the step unless it has been sent, waiting for a send under
// way, so that the next step of each message is queued after it.
func (l *lateStatus) cancel() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	if l.timer != nil {
		l.timer.Stop()
	}
}

// statusBatch carries what the KV writes of one fetched batch learnt from
// one step to the next: each key's record and revision after the processing
// step, so that the final step is a compare-and-swap without a read.
type statusBatch struct {
	mu    sync.Mutex
	known map[string]statusstore.Written
}

func (b *statusBatch) get(id string) (statusstore.Written, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w, ok := b.known[id]
	return w, ok
}

func (b *statusBatch) put(id string, w statusstore.Written) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.known == nil {
		b.known = make(map[string]statusstore.Written)
	}
	b.known[id] = w
}

// statusJob is one shard's part of one step of a batch.
type statusJob struct {
	updates []statusUpdate
	batch   *statusBatch
}

// statusWriter applies status updates to the KV bucket in the background, so
// KV latency never bounds throughput. Each step of a batch (processing, then
// the final states) is split by message_id over a fixed set of goroutines,
// and each goroutine writes its part with one pipelined UpdateMany: the
// updates of one message are applied in the order they were sent, across
// batches too, and a batch costs a few round trips rather than four per
// message.
type statusWriter struct {
	store  *statusstore.KV
	log    *slog.Logger
	shards []chan statusJob
	wg     sync.WaitGroup
	errs   func() // counts a failed write
	hook   func(states []statusstore.State)
}

func newStatusWriter(store *statusstore.KV, n, depth int, log *slog.Logger, errs func()) *statusWriter {
	w := &statusWriter{store: store, log: log, shards: make([]chan statusJob, n), errs: errs}
	for i := range w.shards {
		w.shards[i] = make(chan statusJob, depth)
	}
	return w
}

// start runs the writers until close; ctx cancelled abandons pending updates.
func (w *statusWriter) start(ctx context.Context) {
	for _, ch := range w.shards {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for job := range ch {
				w.apply(ctx, job)
			}
		}()
	}
}

// send queues one step of a batch; it blocks when a shard is full, which is
// the only way KV slows the worker down.
func (w *statusWriter) send(ctx context.Context, b *statusBatch, us []statusUpdate) {
	if len(us) == 0 {
		return
	}
	parts := make([][]statusUpdate, len(w.shards))
	for _, u := range us {
		h := fnv.New32a()
		h.Write([]byte(u.base.MessageID))
		k := h.Sum32() % uint32(len(w.shards))
		parts[k] = append(parts[k], u)
	}
	for k, part := range parts {
		if len(part) == 0 {
			continue
		}
		select {
		case w.shards[k] <- statusJob{updates: part, batch: b}:
		case <-ctx.Done():
			return
		}
	}
}

// close flushes the queued updates and waits for them.
func (w *statusWriter) close() {
	for _, ch := range w.shards {
		close(ch)
	}
	w.wg.Wait()
}

// apply writes a job, trying the final states again when their write fails.
func (w *statusWriter) apply(ctx context.Context, job statusJob) {
	pending := job.updates
	retry := backoff.New(backoff.Policy{Initial: kvRetryWait, Max: kvRetryMaxWait})
	for try := range kvTries {
		if try > 0 {
			_ = retry.Wait(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		ws := make([]statusstore.Write, len(pending))
		for i, u := range pending {
			ws[i] = statusstore.Write{MessageID: u.base.MessageID, Fn: u.fn}
			if k, ok := job.batch.get(u.base.MessageID); ok && try == 0 {
				ws[i].Known, ws[i].Revision = k.Record, k.Revision
			}
		}
		if w.hook != nil {
			states := make([]statusstore.State, len(pending))
			for i, u := range pending {
				states[i] = u.change.To
			}
			w.hook(states)
		}
		wctx, cancel := context.WithTimeout(ctx, kvWriteTimeout)
		res := w.store.UpdateMany(wctx, ws)
		cancel()
		var again []statusUpdate
		for i, r := range res {
			u := pending[i]
			written := r.Err == nil || errors.Is(r.Err, statusstore.ErrTransition)
			switch {
			case written:
				if r.Revision != 0 {
					job.batch.put(u.base.MessageID, r)
				}
			case u.final() && try < kvTries-1:
				again = append(again, u)
				continue
			default:
				w.errs()
				w.log.Warn("status update in KV failed", "message_id", u.base.MessageID, "status", u.change.To, "err", r.Err)
			}
			if u.settle != nil {
				u.settle(written)
			}
		}
		if len(again) == 0 {
			return
		}
		pending = again
	}
}
