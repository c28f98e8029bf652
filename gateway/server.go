package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/nomnom-io/nomnom/gateway/console"
	"github.com/nomnom-io/nomnom/internal/backoff"
	"github.com/nomnom-io/nomnom/internal/startstop"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// ensureRetry is the back-off between attempts to ensure the stream and
// bucket while NATS is not reachable; its first wait also spaces the
// re-ensures that publishes ask for.
var ensureRetry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}

// Server is the HTTP gateway. It serves from Start until Stop; it answers
// 503 on ingest and /health until the stream and bucket have been ensured,
// so it can start before NATS does.
type Server struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	log     *slog.Logger
	metrics *metrics
	limiter *limiter
	bodies  *byteBudget
	handler http.Handler
	// router serves every route but the two ingest POSTs (see ingestFirst).
	router *mux.Router
	http   *http.Server
	// console is the web console at /ui/.
	console *console.Console
	reader  *statusstore.Reader
	// tracer is nil when tracing is off (no Config.TracerProvider).
	tracer trace.Tracer

	// store is the status bucket, nil until wire.Ensure has succeeded once.
	store atomic.Pointer[statusstore.KV]
	// watcher is the one watcher of the status bucket that ?wait= reads and
	// event streams share, nil until wire.Ensure has succeeded once.
	watcher atomic.Pointer[statusstore.Watcher]
	// waits and streams bound the ?wait= reads and the event streams.
	waits, streams *limiter
	ready          chan struct{}
	// kick asks the ensure loop to ensure again (a publish found no stream).
	kick chan struct{}

	// life runs Start and Stop once each. Its Context ends when Stop
	// begins: it releases ?wait= readers and the ensure loop at once, while
	// other requests finish.
	life     startstop.Base
	wg       sync.WaitGroup
	listener net.Listener
}

// New returns a Server publishing on nc. The caller owns nc: it connects it
// (preferably with nats.MaxReconnects(-1) and nats.ReconnectBufSize(-1), so
// that a publish during an outage fails at once rather than being sent after
// the client was told 503), and drains it after Stop returns.
func New(cfg Config, nc *nats.Conn) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if nc == nil {
		return nil, errors.New("gateway: nil NATS connection")
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(2*cfg.MaxInFlightPublishes),
		jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("gateway: jetstream: %w", err)
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("gateway: metrics: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		nc:      nc,
		js:      js,
		log:     cfg.Logger,
		metrics: m,
		limiter: &limiter{max: cfg.MaxInFlightPublishes},
		waits:   &limiter{max: cfg.MaxWaits},
		streams: &limiter{max: cfg.MaxEventStreams},
		bodies:  &byteBudget{max: cfg.MaxBodyBytesInFlight},
		ready:   make(chan struct{}),
		kick:    make(chan struct{}, 1),
	}
	s.reader = statusstore.NewReader(statusstore.ReaderConfig{
		Conn:     nc,
		Bucket:   cfg.Topology.StatusBucket,
		Replicas: cfg.Topology.Replicas,
		Fallback: cfg.StatusFallback,
		Timeout:  cfg.PublishTimeout,
		Logger:   cfg.Logger,
	})
	if cfg.TracerProvider != nil {
		s.tracer = cfg.TracerProvider.Tracer(tracerName)
	}
	if s.console, err = s.newConsole(); err != nil {
		return nil, fmt.Errorf("gateway: console: %w", err)
	}
	s.handler = s.routes()
	s.http = &http.Server{
		Handler:           s.bodyDeadline(s.handler),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	s.router = r
	m := s.metrics
	keys := newKeyring(s.cfg.APIKeys)
	message := m.instrument("message", keys.authenticate(s.traced("ingest", s.serve(s.handleMessage))))
	batch := m.instrument("batch", keys.authenticate(s.traced("ingest", s.serve(s.handleBatch))))
	r.NotFoundHandler = m.instrument("unmatched", http.HandlerFunc(notFound))
	r.MethodNotAllowedHandler = m.instrument("unmatched", methodNotAllowed(r))
	r.Handle("/ingest/message", message).Methods(http.MethodPost)
	r.Handle("/ingest/batch", batch).Methods(http.MethodPost)
	r.Handle("/ingest/status/{id}", m.instrument("status", keys.authenticate(s.serve(s.handleStatus)))).Methods(http.MethodGet, http.MethodHead)
	s.consoleRoutes(r, keys)
	r.Handle("/health", m.instrument("health", s.withCaller(keys, s.handleHealth))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/livez", m.instrument("livez", http.HandlerFunc(s.handleLive))).Methods(http.MethodGet, http.MethodHead)
	ready := m.instrument("readyz", s.withCaller(keys, s.handleReady))
	r.Handle("/readyz", ready).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/ready", ready).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", m.instrument("metrics", metricsHandler(s.cfg.Registry))).Methods(http.MethodGet)
	return cors(s.cfg.CORSOrigins, r, ingestFirst(message, batch, r))
}

// ingestFirst sends the two ingest POSTs straight to their handlers and
// everything else through the router. They are nearly all the traffic and
// take no path variables, and the router's matching (a regular expression
// per route, two request copies for its variables) cost more than the
// rest of the request's routing.
func ingestFirst(message, batch, router http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			switch r.URL.Path {
			case "/ingest/message":
				message.ServeHTTP(w, r)
				return
			case "/ingest/batch":
				batch.ServeHTTP(w, r)
				return
			}
		}
		router.ServeHTTP(w, r)
	})
}

// serve adapts a handler that returns its failure, so that every failure is
// answered the same way, with Retry-After when retrying can help.
func (s *Server) serve(h func(w http.ResponseWriter, r *http.Request) *apiError) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := h(w, r); e != nil {
			if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
				setRetryAfter(w, s.cfg.RetryAfter)
			}
			writeError(w, e)
		}
	})
}

// Handler returns the gateway's routes, for tests and for embedding the
// gateway in another server. Ingest answers 503 until Start has ensured the
// stream and bucket.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on Config.Addr and serves in the background until Stop. It
// ensures the stream and bucket before it returns when NATS answers within
// ctx; otherwise it keeps serving (/health says 503) and retries in the
// background, so the platform can start before NATS does. It fails only
// when it cannot listen.
func (s *Server) Start(ctx context.Context) error {
	err := s.life.Start(func(context.Context) error { return s.start(ctx) })
	if errors.Is(err, startstop.ErrStarted) || errors.Is(err, startstop.ErrStopped) {
		return fmt.Errorf("gateway: %w", err)
	}
	return err
}

func (s *Server) start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s: %w", s.cfg.Addr, err)
	}
	s.listener = ln
	if err := s.ensure(ctx); err != nil {
		s.log.Warn("stream and bucket not ensured yet; retrying in the background", "err", err)
	}
	s.wg.Add(2)
	go s.keepEnsured()
	go s.serveHTTP(ln)
	s.log.Info("gateway listening", "addr", ln.Addr().String(), "stream", s.cfg.Topology.Stream, "bucket", s.cfg.Topology.StatusBucket)
	return nil
}

// Addr is the address Start listens on (with the port chosen when
// Config.Addr asked for port 0), or nil before Start.
func (s *Server) Addr() net.Addr {
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Ready is closed once the stream and bucket have been ensured.
func (s *Server) Ready() <-chan struct{} { return s.ready }

func (s *Server) serveHTTP(ln net.Listener) {
	defer s.wg.Done()
	if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("gateway stopped serving", "err", err)
	}
}

// Stop shuts the gateway down gracefully: it stops accepting connections,
// releases ?wait= readers with their latest record, and waits for the other
// requests to finish (every accepted publish is acknowledged by then). When
// ctx ends first, it closes the remaining connections and returns ctx's
// error. It does not touch the NATS connection: the caller drains it after
// Stop returns. Stop may be called any number of times, from any goroutine:
// the first call does the work, the others wait for it and return its
// result.
func (s *Server) Stop(ctx context.Context) error {
	return s.life.Stop(ctx, s.stop)
}

// stop is Stop's work, run once, and only when Start succeeded.
func (s *Server) stop(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("gateway: stop: %w", err)
	}
	s.log.Info("gateway stopped")
	return nil
}

// ensure creates or updates the stream and bucket once.
func (s *Server) ensure(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	kv, err := wire.Ensure(ctx, s.js, s.cfg.Topology)
	if err != nil {
		return err
	}
	s.store.Store(statusstore.NewKVPipelined(s.js, kv))
	s.startWatcher(kv)
	select {
	case <-s.ready:
	default:
		close(s.ready)
		s.log.Info("stream and bucket ensured", "stream", s.cfg.Topology.Stream, "bucket", s.cfg.Topology.StatusBucket)
	}
	return nil
}

// keepEnsured retries ensure until it succeeds, then again whenever a
// publish finds no stream (an operator deleted it, or NATS came back with an
// empty store).
func (s *Server) keepEnsured() {
	defer s.wg.Done()
	stopping := s.life.Context()
	retry := backoff.New(ensureRetry)
	for {
		if s.store.Load() != nil {
			select {
			case <-stopping.Done():
				return
			case <-s.kick:
			}
		}
		wait := ensureRetry.Initial
		if err := s.ensure(stopping); err == nil {
			retry.Reset()
		} else if wait = retry.Next(); stopping.Err() == nil {
			s.log.Warn("ensure stream and bucket", "err", err, "retry_in", wait)
		}
		if backoff.Sleep(stopping, wait) != nil {
			return
		}
	}
}

// reensure asks keepEnsured to ensure the topology again, without waiting.
func (s *Server) reensure() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// available returns the status store, or 503 when NATS is disconnected or
// the stream and bucket are not ensured yet. Checking the connection first
// means a request during an outage fails at once instead of waiting for its
// publish timeout.
func (s *Server) available() (*statusstore.KV, *apiError) {
	if !s.nc.IsConnected() {
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "NATS is not reachable")
	}
	store := s.store.Load()
	if store == nil {
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "the stream is not ready yet")
	}
	return store, nil
}

// limiter bounds the publishes in flight across requests.
type limiter struct {
	mu   sync.Mutex
	used int
	max  int
}

// tryAcquire takes n slots (at most max, so an oversized batch is admitted
// when alone) and returns the release, or false when they are not free.
func (l *limiter) tryAcquire(n int) (release func(), ok bool) {
	n = min(n, l.max)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used+n > l.max {
		return nil, false
	}
	l.used += n
	return func() {
		l.mu.Lock()
		l.used -= n
		l.mu.Unlock()
	}, true
}

// admit takes n publish slots or answers 429.
func (s *Server) admit(n int) (release func(), e *apiError) {
	release, ok := s.limiter.tryAcquire(n)
	if !ok {
		s.metrics.rejected.Inc()
		return nil, errorf(http.StatusTooManyRequests, codeTooManyRequests, "too many messages are waiting for JetStream; retry later")
	}
	return release, nil
}
