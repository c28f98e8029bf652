package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/nomnom-io/nomnom/gateway/console"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// Defaults of Config; a zero field takes its default.
const (
	DefaultAddr                 = ":8080"
	DefaultMaxBodyBytes         = 1 << 20
	DefaultMaxBatchBytes        = 16 << 20
	DefaultMaxBatchLines        = 10_000
	DefaultPublishTimeout       = 5 * time.Second
	DefaultMaxWait              = 60 * time.Second
	DefaultMaxInFlightPublishes = 10_000
	DefaultRetryAfter           = time.Second
	DefaultMaxWaits             = 4096
	DefaultMaxEventStreams      = 64
	DefaultEventHeartbeat       = 15 * time.Second
	DefaultMaxBodyBytesInFlight = 64 << 20
	DefaultBodyReadTimeout      = 30 * time.Second
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultIdleTimeout          = 2 * time.Minute
)

// StatusReader reads a status record from a store other than the KV bucket.
// The gateway falls back to it when KV has no record, which happens once a
// record has outlived the bucket's TTL; *statusstore.Postgres satisfies it.
type StatusReader interface {
	Get(ctx context.Context, messageID string) (statusstore.Record, error)
}

// StatusDatabase is the message_status table as the console endpoints use
// it: search, and the compare-and-swap of a redrive. *statusstore.Postgres
// satisfies it.
type StatusDatabase interface {
	statusstore.Store
	Search(ctx context.Context, q statusstore.Query) ([]statusstore.Record, error)
}

// Pinger reports whether a dependency answers; /health shows the result.
// *pgxpool.Pool satisfies it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config is everything a Server needs. Only Topology is required; every
// zero field takes the default named in its comment.
type Config struct {
	// Topology names the stream and the bucket; the gateway ensures both at
	// start with wire.Ensure, the same call the workers make.
	Topology wire.Topology

	// Addr is the TCP address Start listens on (default ":8080"). Tests pass
	// "127.0.0.1:0" and read Server.Addr.
	Addr string

	// MaxBodyBytes bounds a POST /ingest/message body (default 1 MiB); a
	// larger one is refused with 413 before it is read in full. The bound
	// applied is never more than the NATS server's max_payload leaves beside
	// the envelope and the dead-letter headers (wire.MaxBodyBytes), and so
	// is each line of a batch.
	MaxBodyBytes int64
	// MaxBatchBytes bounds a POST /ingest/batch body (default 16 MiB).
	MaxBatchBytes int64
	// MaxBatchLines bounds the non-blank lines of a batch (default 10,000),
	// so one request cannot hold an unbounded number of publishes.
	MaxBatchLines int

	// PublishTimeout bounds the wait for JetStream's acknowledgement of one
	// message or of a whole batch (default 5s). When it passes, the client
	// gets 503 and retries.
	PublishTimeout time.Duration
	// MaxWait caps the ?wait= of a status read (default 60s), so a client
	// cannot hold a connection open for ever.
	MaxWait time.Duration
	// MaxInFlightPublishes bounds the messages published and not yet
	// acknowledged across all requests (default 10,000). A request that would
	// exceed it is answered 429 with Retry-After rather than queued in
	// memory while JetStream is slow. A batch larger than the bound is
	// admitted alone.
	MaxInFlightPublishes int
	// MaxWaits bounds the status reads held open by ?wait= at once (default
	// 4,096); one more is answered 429 with Retry-After. Every wait shares
	// the gateway's one watcher of the status bucket, so a wait costs a
	// goroutine and a channel, not a JetStream consumer; the watcher's own
	// consumer exists only while some wait or event stream needs it.
	MaxWaits int
	// MaxEventStreams bounds the open GET /ingest/events streams (default
	// 64); one more is answered 429 with Retry-After.
	MaxEventStreams int
	// EventHeartbeat is how often an idle event stream sends a comment line
	// (default 15s), so proxies keep it open and clients notice a dead one.
	EventHeartbeat time.Duration
	// MaxRedrives is the loop guard of POST /ingest/dlq/redrive (default 5):
	// a message already redriven this many times is not redriven again by
	// it, so a message that always fails cannot cycle for ever.
	MaxRedrives int
	// RetryAfter is the Retry-After of 429 and 503 answers (default 1s).
	RetryAfter time.Duration
	// MaxBodyBytesInFlight bounds the request body bytes held in memory
	// across all requests (default 64 MiB); a request that would exceed it
	// is answered 503 with Retry-After. Bodies are buffered as they arrive,
	// so a slow client holds what it sent, not what it announced. A request
	// holds up to about three times its body at its peak (the body, its
	// compacted copy, its envelope): size the process's memory for three
	// times this budget plus the base.
	MaxBodyBytesInFlight int64
	// BodyReadTimeout bounds the time to receive a request's body (default
	// 30s), whatever the endpoint and whether or not the request is
	// authenticated; past it the request is answered 408, or its connection
	// closed, and its bytes released.
	BodyReadTimeout time.Duration
	// ReadHeaderTimeout bounds the time to receive a request's header lines
	// (default 10s), so a client that never finishes them holds no
	// connection for long.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its next
	// request (default 2m).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header lines (default 64 KiB).
	MaxHeaderBytes int

	// APIKeys maps an API key to its tenant's name. When it is empty, the
	// gateway is open and has no tenants; otherwise every endpoint except
	// /health and /metrics needs a key, and a tenant sees only its own
	// messages. Keys never appear in logs or errors. ParseAPIKeys reads the
	// NOMNOM_API_KEYS format.
	APIKeys map[string]string

	// CORSOrigins are the origins whose browser pages may call the gateway
	// ("*": any). Empty (the default) turns CORS off: no
	// Access-Control-Allow-Origin, and a preflight is answered 405.
	CORSOrigins []string

	// StatusFallback is read when KV has no record (optional): the
	// message_status table, which outlives the bucket's TTL.
	StatusFallback StatusReader
	// StatusDatabase serves search (GET /ingest/messages), search-based
	// redrives and the database side of every redrive (optional; without it
	// those endpoints answer 501).
	StatusDatabase StatusDatabase
	// ConsoleDatabase is where the web console counts messages and reads
	// the entity tables its catalogs name (optional; *pgxpool.Pool).
	ConsoleDatabase console.Querier
	// EntityTenants are the tenants that may read entity tables in the
	// console when API keys are on: the tables hold every tenant's rows.
	EntityTenants []string
	// TracerProvider traces ingest requests and their publishes, carrying
	// the trace to the workers in each message's traceparent header
	// (optional: nil turns tracing off at no cost).
	TracerProvider trace.TracerProvider
	// Database is pinged by /health when set, to report the fallback's state.
	Database Pinger

	// Logger receives the gateway's logs (default: discard).
	Logger *slog.Logger
	// Version is reported by /health.
	Version string
	// Registry receives the gateway's metrics and is served on /metrics
	// (default: a registry of the Server's own, so that many servers can
	// live in one process, as they do in tests).
	Registry *prometheus.Registry
}

func (c Config) withDefaults() Config {
	setDefault(&c.Addr, DefaultAddr)
	setDefault(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.MaxBatchBytes, DefaultMaxBatchBytes)
	setDefault(&c.MaxBatchLines, DefaultMaxBatchLines)
	setDefault(&c.PublishTimeout, DefaultPublishTimeout)
	setDefault(&c.MaxWait, DefaultMaxWait)
	setDefault(&c.MaxInFlightPublishes, DefaultMaxInFlightPublishes)
	setDefault(&c.RetryAfter, DefaultRetryAfter)
	setDefault(&c.MaxWaits, DefaultMaxWaits)
	setDefault(&c.MaxEventStreams, DefaultMaxEventStreams)
	setDefault(&c.EventHeartbeat, DefaultEventHeartbeat)
	setDefault(&c.MaxRedrives, DefaultMaxRedrives)
	setDefault(&c.MaxBodyBytesInFlight, DefaultMaxBodyBytesInFlight)
	setDefault(&c.BodyReadTimeout, DefaultBodyReadTimeout)
	setDefault(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	return c
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func (c Config) validate() error {
	if err := c.Topology.Validate(); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	switch {
	case c.MaxBodyBytes < 0 || c.MaxBatchBytes < 0:
		return errors.New("body limits must be positive")
	case c.MaxBatchLines < 0:
		return errors.New("max batch lines must be positive")
	case c.PublishTimeout < 0 || c.MaxWait < 0 || c.RetryAfter < 0:
		return errors.New("publish timeout, max wait and retry-after must be positive")
	case c.MaxInFlightPublishes < 0:
		return errors.New("max in-flight publishes must be positive")
	case c.MaxWaits < 0 || c.MaxEventStreams < 0 || c.EventHeartbeat < 0 || c.MaxRedrives < 0:
		return errors.New("max waits, max event streams, event heartbeat and max redrives must be positive")
	case c.MaxBodyBytesInFlight < c.MaxBodyBytes || c.MaxBodyBytesInFlight < c.MaxBatchBytes:
		return fmt.Errorf("max body bytes in flight %d must be at least the body and batch limits (%d, %d)", c.MaxBodyBytesInFlight, c.MaxBodyBytes, c.MaxBatchBytes)
	case c.BodyReadTimeout < 0 || c.MaxHeaderBytes < 0:
		return errors.New("body read timeout and max header bytes must be positive")
	case c.ReadHeaderTimeout < 0 || c.IdleTimeout < 0:
		return errors.New("read header timeout and idle timeout must be positive")
	}
	for _, o := range c.CORSOrigins {
		if o == "" || (o != "*" && !strings.Contains(o, "://")) {
			return fmt.Errorf("cors origin %q: want scheme://host[:port] or *", o)
		}
	}
	for key, tenant := range c.APIKeys {
		if key == "" || tenant == "" {
			return errors.New("api keys: empty key or tenant name")
		}
		if !validTenant(tenant) {
			return fmt.Errorf("api keys: tenant %q: at most %d letters, digits, '.', '-' and '_'", tenant, MaxTenantLength)
		}
	}
	return nil
}
