package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// outcome is what happens to a message once its batch is settled.
type outcome int

const (
	outRetry     outcome = iota // NAK with back-off; the zero value, so nothing is acked by mistake
	outCompleted                // written now: ack
	outDuplicate                // written by an earlier delivery: ack only
	outFailed                   // failed: copy to the DLQ, then terminate
)

// item is one fetched message and what the worker decided for it.
type item struct {
	msg      jetstream.Msg
	env      *wire.Envelope // nil when the payload is not an envelope
	id       string         // message_id, "" when unknown
	delivery int            // deliveries of this stream message (1 for the first)
	attempt  int            // attempts over the message's life: retry_count + delivery
	base     statusstore.Record
	failWith error               // set before the transaction: fail without calling the handler
	began    *statusstore.Change // its processing step, unless it fails without a handler call

	outcome outcome
	reason  error               // why it fails or retries
	final   *statusstore.Record // the record written to message_status, if any
	kv      *statusstore.Change // the final step for the KV record, if any
	adopt   *statusstore.Record // or the settled row KV should show
	trace   *msgTrace           // its spans; nil when tracing is off
}

// hasStatus reports whether the message has a status record: its id is a
// UUID.
func (it *item) hasStatus() bool { return it.base.MessageID != "" }

// newItem decodes a fetched message.
func (w *Worker) newItem(m jetstream.Msg) *item {
	it := &item{msg: m, delivery: 1}
	if md, err := m.Metadata(); err == nil {
		it.delivery = int(md.NumDelivered)
		it.base.ReceivedAt = md.Timestamp
	}
	env, err := wire.DecodeEnvelope(m.Data())
	if err != nil {
		it.failWith = Permanent(err)
		it.id = m.Headers().Get(wire.HeaderMsgID)
		it.attempt = it.delivery
		if u, perr := uuid.Parse(it.id); perr == nil {
			it.id = u.String()
			it.base = statusstore.Record{MessageID: it.id, Status: statusstore.Accepted, ReceivedAt: it.base.ReceivedAt.UTC()}
			if t := m.Headers().Get(wire.HeaderEntityType); t != "" {
				it.base.EntityType = &t
			}
			it.base.UpdatedAt = it.base.ReceivedAt
		}
		return it
	}
	it.env, it.id = &env, uuid.MustParse(env.MessageID).String() // canonical, as message_status returns it
	it.attempt = env.RetryCount + it.delivery
	it.base = statusstore.NewAccepted(&env, env.ReceivedAt)
	it.base.MessageID = it.id
	it.base.Attempts = env.RetryCount
	if it.delivery > w.cfg.MaxAttempts {
		it.failWith = fmt.Errorf("gave up after %d deliveries", it.delivery-1)
	}
	return it
}

// prepared is a fetched batch between the two stages of the pipeline (see
// Worker.loop): decoded, its processing statuses sent to KV and, when that
// is safe, its first transaction opened and its message_status rows claimed.
type prepared struct {
	start        time.Time
	items        []*item
	withStatus   []*item         // the items with a status record, each id once
	ids          map[string]bool // their message_ids
	sb           *statusBatch
	processing   *lateStatus // the processing step's KV writes, held back until the batch is slow
	stopProgress func()
	claim        *claim // opened ahead; nil when not
}

// inFlight counts the message_ids of the batches between prepare and the
// end of complete.
type inFlight struct {
	mu  sync.Mutex
	ids map[string]int
}

// add records ids and reports whether any was in flight already.
func (f *inFlight) add(ids map[string]bool) (overlap bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = make(map[string]int)
	}
	for id := range ids {
		overlap = overlap || f.ids[id] > 0
		f.ids[id]++
	}
	return overlap
}

func (f *inFlight) remove(ids map[string]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range ids {
		if f.ids[id]--; f.ids[id] <= 0 {
			delete(f.ids, id)
		}
	}
}

// prepare is the first stage of a batch. When the batch shares a message
// with a batch in flight, its rows are not claimed ahead, so that no
// transaction of this batch ever holds a row that the other batch waits for
// while this one waits for its turn.
func (w *Worker) prepare(ctx context.Context, msgs []jetstream.Msg) *prepared {
	p := &prepared{
		start:        time.Now(),
		items:        make([]*item, 0, len(msgs)),
		ids:          make(map[string]bool, len(msgs)),
		sb:           &statusBatch{},
		stopProgress: w.keepInProgress(msgs),
	}
	now := time.Now()
	procs := make([]statusUpdate, 0, len(msgs))
	for _, m := range msgs {
		it := w.newItem(m)
		it.trace = w.startTrace(it)
		p.items = append(p.items, it)
		if it.delivery > 1 {
			w.metrics.redeliveries.Inc()
		}
		if !it.hasStatus() {
			it.outcome, it.reason = outFailed, it.failWith
			continue
		}
		if p.ids[it.id] {
			// Published twice (a redrive racing its original): settle one
			// copy now; the redelivered other then finds it settled.
			it.outcome, it.reason = outRetry, errors.New("message_id twice in one batch")
			continue
		}
		p.ids[it.id] = true
		p.withStatus = append(p.withStatus, it)
		if it.failWith == nil {
			it.began = &statusstore.Change{To: statusstore.Processing, At: now, Attempt: it.attempt}
			procs = append(procs, statusUpdate{base: it.base, change: *it.began})
		}
	}
	p.processing = w.status.later(ctx, p.sb, procs, w.cfg.ProcessingAfter)
	overlap := w.inFlight.add(p.ids)
	if len(p.withStatus) > 0 && !overlap {
		p.claim = w.openClaim(ctx, p.withStatus)
	}
	return p
}

// dropClaim gives up the transaction opened ahead, releasing its rows.
func (p *prepared) dropClaim(ctx context.Context) {
	if p.claim != nil && p.claim.tx != nil {
		_ = p.claim.tx.Rollback(context.WithoutCancel(ctx))
	}
	p.claim = nil
}

// complete is the second stage of a batch, to its end: statuses committed,
// dead-letter copies stored, messages acknowledged or NAKed. While the
// environment is broken (see Environmental) it holds the batch, its
// messages kept in progress, and settles it again with back-off, so that no
// message spends an attempt on it; a stop ends the wait, and the batch is
// then NAKed.
func (w *Worker) complete(ctx context.Context, p *prepared) {
	defer w.health.inHand.Add(-1)
	defer p.stopProgress()
	defer p.processing.cancel()
	defer w.inFlight.remove(p.ids)
	var envErr error
	if len(p.withStatus) > 0 {
		envErr = w.settleClaimed(ctx, p.withStatus, p.claim)
		p.claim = nil
		for try := 0; envErr != nil && w.pause(envErr, try); try++ {
			envErr = w.settle(ctx, p.withStatus)
		}
		if envErr == nil {
			w.resume()
		}
	}
	p.claim = nil
	if hook := w.cfg.afterCommit; hook != nil && hook() {
		return
	}
	p.processing.cancel()
	w.finish(ctx, p.items, p.sb)
	w.metrics.batches.Inc()
	w.metrics.batchDuration.Observe(time.Since(p.start).Seconds())
	w.health.progressed()
}

// settle commits the batch's outcome, splitting the batch when a message
// makes the whole transaction fail, until that message is alone and failed.
// It returns the environment error that kept it from settling the items
// (they are then marked for retry), or nil.
func (w *Worker) settle(ctx context.Context, items []*item) error {
	return w.settleClaimed(ctx, items, nil)
}

// settleClaimed is settle whose first transaction may have been opened
// ahead. One whose claim failed is not trusted (PostgreSQL may have come
// back since): the first attempt is then made afresh.
func (w *Worker) settleClaimed(ctx context.Context, items []*item, c *claim) error {
	var err error
	if c != nil && c.err == nil {
		err = w.commitClaimed(ctx, items, c)
	} else {
		err = w.commit(ctx, items)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, statusstore.ErrClaimLost):
		// Another worker settled a message of this batch while this one
		// wrote it: everything was rolled back; a new claim finds its row.
		w.log.Info("a message of the batch was settled elsewhere meanwhile; claiming again", "err", err)
		return w.settle(ctx, items)
	case Environmental(err):
		markRetry(items, err)
		return err
	case IsTransient(err):
		return w.retryAll(ctx, items, err)
	case len(items) == 1 && items[0].failWith == nil:
		items[0].failWith = err
		w.log.Warn("message fails its batch; failing it", "message_id", items[0].id, "err", err)
		return w.settle(ctx, items)
	case len(items) == 1:
		// Even the failed status cannot be written; try again later.
		w.log.Error("cannot write a failed status", "message_id", items[0].id, "err", err)
		markRetry(items, err)
		return nil
	default:
		mid := len(items) / 2
		w.log.Debug("batch failed; splitting it", "size", len(items), "err", err)
		first := w.settle(ctx, items[:mid])
		if second := w.settle(ctx, items[mid:]); first == nil {
			return second
		}
		return first
	}
}

// retryAll schedules every message of a transiently failed transaction for
// redelivery, except those out of attempts, which fail when PostgreSQL can
// still record it. It returns the environment error that kept it from
// recording them, or nil.
func (w *Worker) retryAll(ctx context.Context, items []*item, err error) error {
	w.log.Warn("batch failed; will retry", "size", len(items), "err", err)
	markRetry(items, err)
	var exhausted []*item
	for _, it := range items {
		if it.delivery >= w.cfg.MaxAttempts && it.failWith == nil {
			it.failWith = fmt.Errorf("gave up after %d deliveries: %w", it.delivery, err)
			exhausted = append(exhausted, it)
		}
	}
	if len(exhausted) == 0 {
		return nil
	}
	if err := w.commit(ctx, exhausted); err != nil {
		w.log.Warn("cannot record exhausted messages as failed; will retry", "err", err)
		markRetry(exhausted, err)
		if Environmental(err) {
			return err
		}
	}
	return nil
}

func markRetry(items []*item, err error) {
	for _, it := range items {
		it.outcome, it.reason, it.final, it.adopt = outRetry, err, nil, nil
		it.kv = &statusstore.Change{To: statusstore.Retrying, At: time.Now(), Attempt: it.attempt, Error: err.Error()}
	}
}

// commit runs one transaction for items: claim their message_status rows,
// hand the new ones to the handler, write the final rows. Outcomes are set
// on the items only when the transaction commits.
func (w *Worker) commit(ctx context.Context, items []*item) error {
	return w.commitClaimed(ctx, items, w.openClaim(ctx, items))
}

// claim is a transaction that has claimed the message_status rows of a set
// of items, or why it could not.
type claim struct {
	tx    pgx.Tx
	rows  map[string]statusstore.Record
	err   error
	began time.Time
}

// openClaim begins the transaction of items and claims their rows.
func (w *Worker) openClaim(ctx context.Context, items []*item) *claim {
	began := time.Now()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return &claim{err: fmt.Errorf("begin: %w", err)}
	}
	recs := make([]statusstore.Record, len(items))
	for i, it := range items {
		recs[i] = it.base
	}
	rows, err := statusstore.ClaimBatch(ctx, tx, recs)
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return &claim{err: fmt.Errorf("claim status rows: %w", err)}
	}
	return &claim{tx: tx, rows: rows, began: began}
}

// commitClaimed finishes the transaction c opened for items.
func (w *Worker) commitClaimed(ctx context.Context, items []*item, c *claim) (err error) {
	if c.err != nil {
		return c.err
	}
	tx, rows := c.tx, c.rows
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	now := time.Now().UTC()
	decided := make([]item, len(items))
	var todo []int
	fresh := make(map[string]bool, len(items))
	for i, it := range items {
		d := *it
		d.reason, d.final, d.kv, d.adopt = nil, nil, nil, nil
		row, ok := rows[it.id]
		if !ok {
			row, fresh[it.id] = it.base, true
		}
		if w.decide(&d, row, now) {
			todo = append(todo, i)
		}
		decided[i] = d
	}
	if err := w.handle(ctx, tx, decided, todo, now); err != nil {
		return err
	}
	var finals []statusstore.Record
	for _, d := range decided {
		if d.final != nil {
			finals = append(finals, *d.final)
		}
	}
	if err := statusstore.SettleBatch(ctx, tx, finals, fresh); err != nil {
		return fmt.Errorf("write status rows: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for i, it := range items {
		*it = decided[i]
		if it.outcome == outCompleted {
			w.metrics.latency.Observe(time.Since(it.base.ReceivedAt).Seconds())
		}
	}
	w.traceWrite(items, c.began)
	return nil
}

// decide settles a message from its current row, or returns true when the
// handler must write it; d.final is then the processing record.
func (w *Worker) decide(d *item, row statusstore.Record, now time.Time) bool {
	switch {
	case row.Status == statusstore.Completed:
		d.outcome, d.final, d.kv, d.adopt = outDuplicate, nil, nil, &row
		return false
	case row.Status == statusstore.Failed && !d.redriven(row):
		// Failed by an earlier delivery that died before terminating it:
		// store the DLQ copy again (de-duplicated) and terminate.
		d.outcome, d.final, d.reason, d.kv, d.adopt = outFailed, nil, errors.New(row.Error), nil, &row
		d.attempt = row.Attempts
		return false
	case row.Status == statusstore.Failed:
		// Redriven without the database: the envelope's retry_count
		// moved past the failed attempt.
		row, _ = statusstore.Redrive(row, now)
	}
	if d.failWith != nil {
		d.fail(row, d.failWith, now)
		return false
	}
	proc, err := statusstore.Apply(row, statusstore.Change{To: statusstore.Processing, At: now, Attempt: d.attempt})
	if err != nil {
		d.attempt = row.Attempts + 1
		proc, _ = statusstore.Apply(row, statusstore.Change{To: statusstore.Processing, At: now, Attempt: d.attempt})
	}
	d.final = &proc
	return true
}

// redriven reports whether the message is a redrive of the failed row: a
// redrive republishes the envelope with retry_count at the attempts so far,
// while a plain redelivery of the failed stream message carries a smaller
// one. (Attempts alone cannot tell: every redelivery counts one more.)
func (d *item) redriven(row statusstore.Record) bool {
	return d.env != nil && d.env.RetryCount >= row.Attempts
}

func (d *item) fail(row statusstore.Record, reason error, now time.Time) {
	c := statusstore.Change{To: statusstore.Failed, At: now, Attempt: max(d.attempt, row.Attempts), Error: reason.Error()}
	rec, err := statusstore.Apply(row, c)
	if err != nil {
		rec = row
	}
	d.outcome, d.reason, d.final, d.kv = outFailed, reason, &rec, &c
}

// handle calls the handler for the messages at todo and turns its results
// into final records.
func (w *Worker) handle(ctx context.Context, tx pgx.Tx, decided []item, todo []int, now time.Time) error {
	if len(todo) == 0 {
		return nil
	}
	envs := make([]*wire.Envelope, len(todo))
	for j, i := range todo {
		envs[j] = decided[i].env
	}
	results, err := w.handler.Handle(ctx, tx, envs)
	if err != nil {
		return err
	}
	if len(results) != len(envs) {
		return fmt.Errorf("handler returned %d results for %d messages", len(results), len(envs))
	}
	for _, res := range results {
		if Environmental(res.Err) {
			return res.Err // the batch waits for the environment, not this message
		}
	}
	for j, i := range todo {
		d := &decided[i]
		proc, res := *d.final, results[j]
		switch {
		case res.Err == nil:
			c := statusstore.Change{To: statusstore.Completed, At: now, Attempt: d.attempt, Entities: res.Entities}
			rec, _ := statusstore.Apply(proc, c)
			d.outcome, d.final, d.kv = outCompleted, &rec, &c
		case IsTransient(res.Err) && d.delivery < w.cfg.MaxAttempts:
			c := statusstore.Change{To: statusstore.Retrying, At: now, Attempt: d.attempt, Error: res.Err.Error()}
			rec, _ := statusstore.Apply(proc, c)
			d.outcome, d.reason, d.final, d.kv = outRetry, res.Err, &rec, &c
		default:
			d.fail(proc, res.Err, now)
		}
	}
	return nil
}
