package worker

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/internal/backoff"
)

// pausePolicy spaces the attempts to settle a batch while the environment
// is broken: soon at first (a migration being applied), then every 10s.
var pausePolicy = backoff.Policy{Initial: 250 * time.Millisecond, Max: 10 * time.Second, Jitter: 0.2}

// healthState is what the health endpoints report beyond the connections:
// why the worker is paused, and when it last made progress.
type healthState struct {
	problem  atomic.Pointer[string] // set while paused on a broken environment
	held     atomic.Pointer[string] // set while held by Hold: fetch nothing
	progress atomic.Int64           // unix nanoseconds of the last progress
	inHand   atomic.Int64           // batches fetched and not yet settled
}

// progressed records that the worker settled a batch.
func (h *healthState) progressed() { h.progress.Store(time.Now().UnixNano()) }

// idle records a fetch that found nothing: progress only when no batch is
// in hand, since an idle fetch beside a stuck batch says nothing about it.
func (h *healthState) idle() {
	if h.inHand.Load() == 0 {
		h.progressed()
	}
}

// sinceProgress is the time since the worker last made progress.
func (h *healthState) sinceProgress() time.Duration {
	return time.Since(time.Unix(0, h.progress.Load()))
}

// pausedBy returns the environment problem the worker is paused on, or "".
func (h *healthState) pausedBy() string {
	if p := h.problem.Load(); p != nil {
		return *p
	}
	return ""
}

// pause holds the batch in hand while the environment is broken: it says
// loudly what is wrong (log, health, metric) and waits before the next
// attempt. It returns false when the worker is stopping.
func (w *Worker) pause(err error, try int) bool {
	problem, sqlstate := environmentProblem(err)
	wait := pausePolicy.Delay(try)
	if try == 0 {
		w.metrics.paused.Set(1)
	}
	w.metrics.environmentErrors.WithLabelValues(sqlstate).Inc()
	if prev := w.health.pausedBy(); prev != problem || try%20 == 0 {
		w.log.Error("paused: the environment is broken, not the messages; the batch in hand is held and retried",
			"problem", problem, "retry_in", wait, "attempt", try+1)
	}
	w.health.problem.Store(&problem)
	return backoff.Sleep(w.life.Context(), wait) == nil
}

// resume clears a pause once a batch settles.
func (w *Worker) resume() {
	if w.health.problem.Swap(nil) != nil {
		if w.health.held.Load() == nil {
			w.metrics.paused.Set(0)
		}
		w.log.Info("resumed: the environment is usable again")
	}
}

// heldBy returns the reason the worker is held by Hold, or "".
func (h *healthState) heldBy() string {
	if r := h.held.Load(); r != nil {
		return *r
	}
	return ""
}

// Hold stops the worker fetching batches until Release, for a cause that
// is not the messages' (the database schema behind the binary, say): a
// batch already fetched still settles, /readyz and /healthz answer 503
// with reason, and nomnom_worker_paused is 1. Calling it again replaces
// the reason. The caller logs the cause.
func (w *Worker) Hold(reason string) {
	w.health.held.Store(&reason)
	w.metrics.paused.Set(1)
}

// Release lets a worker held by Hold fetch again.
func (w *Worker) Release() {
	if w.health.held.Swap(nil) != nil && w.health.problem.Load() == nil {
		w.metrics.paused.Set(0)
	}
}

// Live reports whether the process should be restarted: its NATS connection
// is closed for good, or it has made no progress for StallTimeout with no
// known cause (a worker paused on its environment or held by Hold, or
// waiting for NATS to come back, retries by itself). nil means alive.
func (w *Worker) Live() error {
	if w.nc.IsClosed() {
		return errors.New("nats: connection closed for good")
	}
	known := w.health.pausedBy() != "" || w.health.heldBy() != "" || w.nc.Status() != nats.CONNECTED
	if d := w.health.sinceProgress(); d > w.cfg.StallTimeout && !known {
		return fmt.Errorf("stalled: no progress for %s while work is pending", d.Round(time.Second))
	}
	return nil
}

// ConfigurePool sets the session parameters of the worker on a pool's
// connections. Call it on the pool configuration before
// pgxpool.NewWithConfig.
//
// The timeouts (lock_timeout, statement_timeout and
// idle_in_transaction_session_timeout) keep a peer holding rows (a frozen
// worker, a long manual transaction) from stalling this worker, and make a
// session of this worker that froze mid-transaction release its rows.
//
// enable_seqscan is off: every statement of a worker finds its rows by a
// key that has an index (message_status by message_id, entity rows by
// their unicity key). Without statistics, which is the state of a new
// table until autovacuum first analyses it, PostgreSQL plans the removal
// of a re-sent parent's stale children as a scan of the whole child table:
// at 40,000 line items that scan was 12 ms a batch, growing with every
// batch, and a backlog drained into a new database 30% slower. A scan
// stays possible where no index can serve; jit is off with it, since the
// cost a disabled scan is charged would otherwise have PostgreSQL compile
// each such statement (a few hundred milliseconds), and the worker's short
// statements never gain from compiling.
func (c Config) ConfigurePool(pc *pgxpool.Config) {
	c = c.withDefaults()
	params := pc.ConnConfig.RuntimeParams
	params["enable_seqscan"] = "off"
	params["jit"] = "off"
	params["lock_timeout"] = millis(c.LockTimeout)
	params["statement_timeout"] = millis(c.StatementTimeout)
	params["idle_in_transaction_session_timeout"] = millis(c.IdleInTransactionTimeout)
}

func millis(d time.Duration) string { return fmt.Sprintf("%d", d.Milliseconds()) }
