package worker

import (
	"github.com/nomnom-io/nomnom/statusstore"

	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
)

// DefaultBackoff is the delay before each retry of a transiently failed
// message: index attempt-1, the last entry repeating.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}

// Config is the configuration of a Worker. Zero fields take the defaults
// above; New rejects values that cannot work.
type Config struct {
	// Topology names the streams, subjects and status bucket; every process
	// of a deployment must use the same one.
	Topology wire.Topology
	// Consumer is the durable consumer name shared by every worker of the
	// deployment, so they split the stream between them (default
	// "nomnom-worker").
	Consumer string
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
	// MetricsAddr, when set, is the address Start serves /metrics and
	// /healthz on (for example ":9090").
	MetricsAddr string
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

func (c Config) withDefaults() Config {
	if c.Consumer == "" {
		c.Consumer = DefaultConsumer
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchWait == 0 {
		c.BatchWait = DefaultBatchWait
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if len(c.Backoff) == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = max(DefaultMaxAckPending, c.BatchSize)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.KVConcurrency == 0 {
		c.KVConcurrency = DefaultKVConcurrency
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	return c
}

func (c Config) validate() error {
	if err := c.Topology.Validate(); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	switch {
	case strings.ContainsAny(c.Consumer, ".*> \t"):
		return fmt.Errorf("consumer name %q: must not contain '.', '*', '>' or spaces", c.Consumer)
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return fmt.Errorf("batch size %d: must be between 1 and 10000", c.BatchSize)
	case c.BatchWait < time.Millisecond:
		return fmt.Errorf("batch wait %s: must be at least 1ms", c.BatchWait)
	case c.MaxAttempts < 1:
		return fmt.Errorf("max attempts %d: must be at least 1", c.MaxAttempts)
	case c.AckWait < time.Second:
		return fmt.Errorf("ack wait %s: must be at least 1s", c.AckWait)
	case c.MaxAckPending < c.BatchSize:
		return fmt.Errorf("max ack pending %d: must be at least the batch size %d", c.MaxAckPending, c.BatchSize)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("shutdown timeout %s: must not be negative", c.ShutdownTimeout)
	case c.KVConcurrency < 1 || c.KVConcurrency > 1024:
		return fmt.Errorf("KV concurrency %d: must be between 1 and 1024", c.KVConcurrency)
	case c.Concurrency < 1 || c.Concurrency > 64:
		return fmt.Errorf("concurrency %d: must be between 1 and 64", c.Concurrency)
	}
	for _, d := range c.Backoff {
		if d <= 0 {
			return errors.New("backoff: every delay must be positive")
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
