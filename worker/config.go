package worker

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// Defaults of Config; a zero field takes its default.
const (
	DefaultConsumer        = "nomnom-worker"
	DefaultBatchSize       = 100
	DefaultBatchWait       = 100 * time.Millisecond
	DefaultMaxAttempts     = 5
	DefaultAckWait         = 30 * time.Second
	DefaultMaxAckPending   = 1000
	DefaultShutdownTimeout = 30 * time.Second
	DefaultKVConcurrency   = 32
	DefaultConcurrency     = 1

	DefaultLockTimeout              = 5 * time.Second
	DefaultStatementTimeout         = 60 * time.Second
	DefaultIdleInTransactionTimeout = 20 * time.Second
	DefaultStallTimeout             = 5 * time.Minute
	DefaultProcessingAfter          = 500 * time.Millisecond
)

// DefaultBackoff is the delay before each retry of a transiently failed
// message: index attempt-1, the last entry repeating.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}

// Config is the configuration of a Worker. Zero fields take the defaults
// above (see DefaultConfig); New rejects values that cannot work (see
// Validate).
type Config struct {
	// Topology names the streams, subjects and status bucket; every process
	// of a deployment must use the same one.
	Topology wire.Topology
	// Consumer is the durable consumer name shared by every worker of the
	// deployment, so they split the stream between them (default
	// "nomnom-worker").
	Consumer string
	// Entities are the root entity types the worker's handler decodes: it
	// consumes only their subjects (and, per Untyped, the untyped
	// messages), so the workers of several feeds can share one stream,
	// each with its own Consumer. None: every subject of the stream.
	Entities []string
	// Untyped says whether a worker with Entities also takes the messages
	// without entity type (default UntypedAuto).
	Untyped Untyped
	// BatchSize is the most messages fetched and written in one
	// transaction (default 100). Bigger batches amortise the commit; a
	// poisonous message costs log2(BatchSize) extra transactions.
	BatchSize int
	// BatchWait is the longest a fetch waits to fill a batch (default
	// 100ms), the latency added at low traffic.
	BatchWait time.Duration
	// MaxAttempts is how many deliveries a message gets before a transient
	// failure becomes final and the message is dead-lettered (default 5).
	// The budget is per redrive: a redriven message gets MaxAttempts more.
	MaxAttempts int
	// Backoff is the delay before redelivery after a transient failure,
	// indexed by delivery attempt minus one, the last entry repeating
	// (default 1s, 5s, 30s, 2m).
	Backoff []time.Duration
	// AckWait is how long JetStream waits for an acknowledgement before
	// redelivering (default 30s). The worker signals progress every
	// AckWait/2 while a batch is in hand, so it bounds the time to notice a
	// dead worker, not the time a batch may take.
	AckWait time.Duration
	// MaxAckPending bounds the messages in flight across all workers of the
	// consumer (default 1000); it must be at least BatchSize.
	MaxAckPending int
	// ShutdownTimeout is how long Run gives Stop to finish the batch in hand
	// before cancelling it (default 30s).
	ShutdownTimeout time.Duration
	// KVConcurrency is the number of goroutines writing status records to
	// the KV bucket (default 32). Writes for one message always go through
	// the same goroutine, so they stay in order.
	KVConcurrency int
	// Concurrency is the number of batches a worker writes at once, each
	// in its own transaction (default 1: one at a time, in the order
	// fetched). Above 1 the worker behaves as that many workers sharing
	// the consumer: the next batch is written while the one before waits
	// for PostgreSQL, which helps when PostgreSQL is remote and has cores
	// to spare. Two batches that write the same entity rows may then
	// deadlock, which PostgreSQL breaks and the worker retries (a
	// transient error), as between two workers. MaxAckPending should
	// allow Concurrency+2 batches per worker.
	Concurrency int
	// Middleware wraps the handler, the first outermost (see Middleware);
	// the runtime's Recoverer is always outside them all.
	Middleware []Middleware
	// LockTimeout is the session's lock_timeout (default 5s): how long a
	// statement waits for rows another session holds before it fails with
	// 55P03, a transient error of that batch's messages alone. It keeps a
	// stuck peer from stalling this worker. Applied by ConfigurePool.
	LockTimeout time.Duration
	// StatementTimeout is the session's statement_timeout (default 60s).
	StatementTimeout time.Duration
	// IdleInTransactionTimeout is the session's
	// idle_in_transaction_session_timeout (default 20s): PostgreSQL ends a
	// session that holds a transaction open without using it that long,
	// which releases the rows of a worker frozen mid-batch (a paused VM, a
	// partition). It must exceed the 5s a batch's transaction may wait for
	// its turn in the pipeline.
	IdleInTransactionTimeout time.Duration
	// StallTimeout is how long the worker may go without progress (a batch
	// settled, or a fetch that found nothing) before Live reports it
	// stalled (default 5m).
	StallTimeout time.Duration
	// ProcessingAfter is how long a batch may be in hand before the KV
	// records of its messages are moved to processing (default 500ms; a
	// negative value: at once). A batch settled sooner writes each
	// message's record once, its final state with the processing step in
	// its history, which halves the KV writes of a busy worker; a slow or
	// held batch still shows processing while it lasts.
	ProcessingAfter time.Duration
	// MetricsAddr, when set, is the address Start serves /metrics and
	// /healthz on (for example ":9090").
	MetricsAddr string
	// TracerProvider traces each message from the publish whose
	// traceparent it carries to its commit and final status (optional: nil
	// turns tracing off at no cost).
	TracerProvider trace.TracerProvider
	// Logger receives the worker's logs (default: discarded).
	Logger *slog.Logger
	// Registry receives the worker's metrics and is what /metrics serves
	// (default: a registry of the worker's own, so several workers in one
	// process never collide).
	Registry *prometheus.Registry

	// afterCommit, when set, is called after a batch's transaction commits
	// and before any message is acknowledged; returning true abandons the
	// batch unacknowledged, as a crash would.
	afterCommit func() bool
	// beforeKVWrite, when set, is called before each pipelined KV write of
	// a batch step, with the states being written.
	beforeKVWrite func(states []statusstore.State)
}

// DefaultConfig returns the configuration a zero Config stands for: every
// field at its default, the default topology, no metrics address and no
// logger or registry (New supplies those). Command lines start from it and
// override what their flags set, so a zero they pass is rejected by
// Validate rather than replaced.
func DefaultConfig() Config {
	return Config{
		Topology:        wire.DefaultTopology(),
		Consumer:        DefaultConsumer,
		Untyped:         UntypedAuto,
		BatchSize:       DefaultBatchSize,
		BatchWait:       DefaultBatchWait,
		MaxAttempts:     DefaultMaxAttempts,
		Backoff:         slices.Clone(DefaultBackoff),
		AckWait:         DefaultAckWait,
		MaxAckPending:   DefaultMaxAckPending,
		ShutdownTimeout: DefaultShutdownTimeout,
		KVConcurrency:   DefaultKVConcurrency,
		Concurrency:     DefaultConcurrency,

		LockTimeout:              DefaultLockTimeout,
		StatementTimeout:         DefaultStatementTimeout,
		IdleInTransactionTimeout: DefaultIdleInTransactionTimeout,
		StallTimeout:             DefaultStallTimeout,
		ProcessingAfter:          DefaultProcessingAfter,
	}
}

// withDefaults replaces each zero field but the topology by its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Consumer == "" {
		c.Consumer = d.Consumer
	}
	if c.Untyped == "" {
		c.Untyped = d.Untyped
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.BatchWait == 0 {
		c.BatchWait = d.BatchWait
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if len(c.Backoff) == 0 {
		c.Backoff = d.Backoff
	}
	if c.AckWait == 0 {
		c.AckWait = d.AckWait
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = max(d.MaxAckPending, c.BatchSize)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.KVConcurrency == 0 {
		c.KVConcurrency = d.KVConcurrency
	}
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = d.LockTimeout
	}
	if c.StatementTimeout == 0 {
		c.StatementTimeout = d.StatementTimeout
	}
	if c.IdleInTransactionTimeout == 0 {
		c.IdleInTransactionTimeout = d.IdleInTransactionTimeout
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = d.StallTimeout
	}
	if c.ProcessingAfter == 0 {
		c.ProcessingAfter = d.ProcessingAfter
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	return c
}

// FieldError is a Config field that Validate rejects.
type FieldError struct {
	// Field is the name of the Config field, e.g. "BatchSize".
	Field string
	// Err says what is wrong with its value.
	Err error
}

// Error names the field and what is wrong with it.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns what is wrong with the field.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validate reports the first field whose value cannot work, as a
// *FieldError. It checks the values as given: a zero field is an error
// here, although New first replaces it by its default.
func (c Config) Validate() error {
	if err := c.Topology.Validate(); err != nil {
		return &FieldError{Field: "Topology", Err: err}
	}
	switch {
	case c.Consumer == "":
		return fieldErr("Consumer", "must not be empty")
	case strings.ContainsAny(c.Consumer, ".*> \t"):
		return fieldErr("Consumer", "%q must not contain '.', '*', '>' or spaces", c.Consumer)
	case !validTokens(c.Entities):
		return fieldErr("Entities", "%q: each must be letters, digits, '_' or '-'", c.Entities)
	case c.Untyped != UntypedAuto && c.Untyped != UntypedTake && c.Untyped != UntypedLeave:
		return fieldErr("Untyped", "%q: want auto, true or false", c.Untyped)
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return fieldErr("BatchSize", "%d must be between 1 and 10000", c.BatchSize)
	case c.BatchWait < time.Millisecond:
		return fieldErr("BatchWait", "%s must be at least 1ms", c.BatchWait)
	case c.MaxAttempts < 1:
		return fieldErr("MaxAttempts", "%d must be at least 1", c.MaxAttempts)
	case len(c.Backoff) == 0:
		return fieldErr("Backoff", "needs at least one delay")
	case c.AckWait < time.Second:
		return fieldErr("AckWait", "%s must be at least 1s", c.AckWait)
	case c.MaxAckPending < c.BatchSize:
		return fieldErr("MaxAckPending", "%d must be at least BatchSize (%d)", c.MaxAckPending, c.BatchSize)
	case c.ShutdownTimeout <= 0:
		return fieldErr("ShutdownTimeout", "%s must be positive", c.ShutdownTimeout)
	case c.KVConcurrency < 1 || c.KVConcurrency > 1024:
		return fieldErr("KVConcurrency", "%d must be between 1 and 1024", c.KVConcurrency)
	case c.Concurrency < 1 || c.Concurrency > 64:
		return fieldErr("Concurrency", "%d must be between 1 and 64", c.Concurrency)
	case c.LockTimeout < time.Millisecond:
		return fieldErr("LockTimeout", "%s must be at least 1ms", c.LockTimeout)
	case c.StatementTimeout < time.Millisecond:
		return fieldErr("StatementTimeout", "%s must be at least 1ms", c.StatementTimeout)
	case c.IdleInTransactionTimeout < 2*aheadTimeout:
		return fieldErr("IdleInTransactionTimeout", "%s must be at least %s", c.IdleInTransactionTimeout, 2*aheadTimeout)
	case c.StallTimeout < time.Second:
		return fieldErr("StallTimeout", "%s must be at least 1s", c.StallTimeout)
	case c.ProcessingAfter == 0:
		return fieldErr("ProcessingAfter", "must not be 0 (a negative value shows processing at once)")
	}
	for _, d := range c.Backoff {
		if d <= 0 {
			return fieldErr("Backoff", "every delay must be positive, not %s", d)
		}
	}
	return nil
}

// backoff is the redelivery delay after a transient failure of the given
// delivery (1 for the first).
func (c Config) backoff(delivery int) time.Duration {
	i := min(max(delivery-1, 0), len(c.Backoff)-1)
	return c.Backoff[i]
}

func validTokens(entities []string) bool {
	for _, e := range entities {
		if !wire.ValidEntityToken(e) {
			return false
		}
	}
	return true
}
