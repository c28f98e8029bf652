package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/nomnom-io/nomnom/internal/backoff"
	"github.com/nomnom-io/nomnom/internal/startstop"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// Worker consumes the main stream with a durable pull consumer and writes
// each batch of messages in one PostgreSQL transaction: the handler's entity
// rows and the message_status rows together. A message is acknowledged only
// after that transaction commits, and a redelivered message whose row says
// completed is acknowledged without being written again, so each message
// takes effect exactly once.
type Worker struct {
	cfg     Config
	nc      *nats.Conn
	pool    *pgxpool.Pool
	handler Handler
	log     *slog.Logger
	metrics *metrics
	tracer  trace.Tracer // nil when tracing is off

	js       jetstream.JetStream
	consumer source
	status   *statusWriter
	server   *http.Server

	// life runs Start and Stop once each; its Context ends when Stop
	// begins: fetch no more.
	life     startstop.Base
	loopDone chan struct{} // closed when the fetch loop has returned
	hardStop context.CancelFunc
	work     context.Context // cancelled only by a hard stop
	bgDone   sync.WaitGroup  // lag poller
	inFlight inFlight        // message_ids of the batches in the pipeline
	health   healthState
}

// New checks the configuration and returns a worker that Start runs. The
// pool should be created with pgxpool.New: it reconnects on every acquire,
// so the worker survives PostgreSQL restarts.
func New(cfg Config, nc *nats.Conn, pool *pgxpool.Pool, h Handler) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	switch {
	case nc == nil:
		return nil, errors.New("worker: no NATS connection")
	case pool == nil:
		return nil, errors.New("worker: no PostgreSQL pool")
	case h == nil:
		return nil, errors.New("worker: no handler")
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("worker: jetstream: %w", err)
	}
	work, cancel := context.WithCancel(context.Background())
	w := &Worker{
		cfg: cfg, nc: nc, pool: pool, log: cfg.Logger, js: js,
		handler:  Chain(h, append([]Middleware{Recoverer(cfg.Logger)}, cfg.Middleware...)...),
		metrics:  newMetrics(cfg.Registry),
		loopDone: make(chan struct{}),
		work:     work,
		hardStop: cancel,
	}
	w.health.progressed()
	if cfg.TracerProvider != nil {
		w.tracer = cfg.TracerProvider.Tracer(tracerName)
	}
	return w, nil
}

// Start makes sure the streams, the status bucket and the durable consumer
// exist with their one configuration, then consumes in the background until
// Stop. ctx bounds only the start itself. A failed Start (NATS not reachable
// yet, say) may be called again.
func (w *Worker) Start(ctx context.Context) error {
	err := w.life.Start(func(context.Context) error { return w.start(ctx) })
	if errors.Is(err, startstop.ErrStarted) || errors.Is(err, startstop.ErrStopped) {
		return fmt.Errorf("worker: %w", err)
	}
	return err
}

func (w *Worker) start(ctx context.Context) error {
	top := w.cfg.Topology
	kv, err := wire.Ensure(ctx, w.js, top)
	if err != nil {
		return fmt.Errorf("worker start: %w", err)
	}
	subjects, err := w.subjects(ctx)
	if err != nil {
		return fmt.Errorf("worker start: %w", err)
	}
	if w.consumer, err = w.openConsumers(ctx, subjects); err != nil {
		return fmt.Errorf("worker start: %w", err)
	}
	if w.cfg.MetricsAddr != "" {
		if err := w.serveOps(); err != nil {
			return err
		}
	}
	// Each batch queues at most two jobs per shard (processing, final).
	const depth = 8
	w.status = newStatusWriter(statusstore.NewKVPipelined(w.js, kv), w.cfg.KVConcurrency, depth, w.log, w.metrics.kvErrors.Inc)
	w.status.hook = w.cfg.beforeKVWrite
	w.status.start(w.work)
	w.health.progressed()
	w.bgDone.Add(1)
	go w.pollLag()
	go w.loop()
	w.log.Info("worker started", "stream", top.Stream, "consumer", w.cfg.Consumer, "subjects", subjectList(subjects, top), "batch_size", w.cfg.BatchSize)
	return nil
}

// Stop stops fetching, finishes the batch in hand (commit, dead-letter
// copies, acknowledgements), flushes the status writes to KV and returns.
// When ctx ends first, the batch in hand is cancelled: its messages are not
// acknowledged and JetStream redelivers them after AckWait. Stop returns
// ctx's error in that case.
//
// Stop may be called any number of times, from any goroutine: the first
// call does the work, the others wait for it and return its result.
func (w *Worker) Stop(ctx context.Context) error {
	err := w.life.Stop(ctx, w.stop)
	// Cancels the work of a worker that never started, and the batch in
	// hand when this caller's ctx ended before the stop finished.
	w.hardStop()
	w.log.Info("worker stopped", "hard", err != nil)
	return err
}

// stop is Stop's work, run once, and only when Start succeeded.
func (w *Worker) stop(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-w.loopDone
		if w.status != nil {
			w.status.close()
		}
		w.hardStop()
		w.bgDone.Wait()
		if w.server != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = w.server.Shutdown(sctx)
		}
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		w.hardStop()
		<-done
		return ctx.Err()
	}
}

// Stopped is closed when Stop has finished.
func (w *Worker) Stopped() <-chan struct{} { return w.life.Stopped() }

// Run starts the worker, runs it until ctx ends, and then stops it giving
// the batch in hand ShutdownTimeout to finish.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), w.cfg.ShutdownTimeout)
	defer cancel()
	return w.Stop(sctx)
}

// fetchRetry spaces the fetches while they fail (NATS unreachable, the
// consumer being recreated); the wait ends at once on Stop.
var fetchRetry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second}

// aheadTimeout bounds how long a batch keeps the transaction it opened
// ahead while the batch before settles. Past it the transaction is rolled
// back and opened again in turn, so that a wait between two workers whose
// batches share messages always ends.
const aheadTimeout = 5 * time.Second

// loop fetches and settles batches until Stop, as a pipeline: one goroutine
// fetches, this one prepares each batch (decoding, processing statuses to
// KV, and its transaction begun and its message_status rows claimed) while
// Concurrency others write and commit the batches prepared before, each in
// its own transaction, as that many workers would.
func (w *Worker) loop() {
	defer close(w.loopDone)
	fetched := make(chan []jetstream.Msg)
	go w.fetchLoop(fetched)
	ready := make(chan *prepared)
	var writers sync.WaitGroup
	for range w.cfg.Concurrency {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for p := range ready {
				w.complete(w.work, p)
			}
		}()
	}
	timer := time.NewTimer(aheadTimeout)
	defer timer.Stop()
	for msgs := range fetched {
		p := w.prepare(w.work, msgs)
		timer.Reset(aheadTimeout)
		select {
		case ready <- p:
		case <-timer.C:
			p.dropClaim(w.work)
			ready <- p
		}
	}
	close(ready)
	writers.Wait()
}

// heldPoll is how often a worker held by Hold looks whether it is released.
const heldPoll = 250 * time.Millisecond

// fetchLoop fetches batches into out until Stop, then closes it: one loop
// per consumer, so that each batch comes from one consumer and none waits
// on another's empty fetch. Every fetched batch is handed over, so none is
// left unsettled.
func (w *Worker) fetchLoop(out chan<- []jetstream.Msg) {
	defer close(out)
	var loops sync.WaitGroup
	for _, f := range fetchers(w.consumer) {
		loops.Add(1)
		go func() {
			defer loops.Done()
			w.fetchFrom(f, out)
		}()
	}
	loops.Wait()
}

// fetchFrom fetches batches of one consumer into out until Stop.
func (w *Worker) fetchFrom(f fetcher, out chan<- []jetstream.Msg) {
	stopping := w.life.Context()
	retry := backoff.New(fetchRetry)
	for stopping.Err() == nil {
		if w.health.heldBy() != "" {
			_ = backoff.Sleep(stopping, heldPoll)
			continue
		}
		msgs, err := w.fetch(f)
		if err != nil {
			if fails := retry.Retries() + 1; fails == 1 || fails%100 == 0 {
				w.log.Warn("fetch failed; retrying", "err", err, "failures", fails)
			}
			_ = retry.Wait(stopping)
			continue
		}
		retry.Reset()
		if len(msgs) == 0 {
			w.health.idle()
			continue
		}
		w.health.inHand.Add(1)
		out <- msgs
	}
}

// fetch returns the next batch of f, empty when none came within BatchWait.
func (w *Worker) fetch(f fetcher) ([]jetstream.Msg, error) {
	batch, err := f.Fetch(w.cfg.BatchSize, jetstream.FetchMaxWait(w.cfg.BatchWait))
	if err != nil {
		return nil, err
	}
	msgs := make([]jetstream.Msg, 0, w.cfg.BatchSize)
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) > 0 {
		return msgs, nil
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	return nil, nil
}

// serveOps listens on MetricsAddr before returning, so a taken port is a
// start error rather than a log line.
func (w *Worker) serveOps() error {
	ln, err := net.Listen("tcp", w.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("worker start: metrics address %s: %w", w.cfg.MetricsAddr, err)
	}
	w.server = &http.Server{Handler: w.OpsHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := w.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}
