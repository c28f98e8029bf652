package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/gateway"
	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/internal/natsconn"
	"github.com/nomnom-io/nomnom/internal/telemetry"
	"github.com/nomnom-io/nomnom/statusstore"
)

// gatewaySettings are the gateway's own flags, beside natsconn.Settings.
type gatewaySettings struct {
	port            int
	listenAddr      string
	readHeader      time.Duration
	idleTimeout     time.Duration
	databaseURL     string
	maxBodyBytes    int64
	maxBatchBytes   int64
	maxBatchLines   int
	maxWait         time.Duration
	publishTimeout  time.Duration
	maxInFlight     int
	maxWaits        int
	maxEventStreams int
	eventHeartbeat  time.Duration
	maxRedrives     int
	maxBodyInFlight int64
	bodyReadTimeout time.Duration
	apiKeys         string
	apiKeysFile     string
	shutdownTimeout time.Duration
	corsOrigins     string
	entityTenants   string
}

func (s *gatewaySettings) define(f *envflag.Set) {
	f.Int(&s.port, "port", "PORT", 8080, "HTTP port")
	f.String(&s.listenAddr, "listen-addr", "NOMNOM_LISTEN_ADDR", "", "host or IP address to listen on, with PORT (empty: every interface)")
	f.Duration(&s.readHeader, "read-header-timeout", "NOMNOM_READ_HEADER_TIMEOUT", gateway.DefaultReadHeaderTimeout, "longest wait for a request's header lines")
	f.Duration(&s.idleTimeout, "idle-timeout", "NOMNOM_IDLE_TIMEOUT", gateway.DefaultIdleTimeout, "longest wait of a kept-alive connection for its next request")
	f.Secret(&s.databaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL for status reads of messages no longer in KV (optional)")
	f.Int64(&s.maxBodyBytes, "max-body-bytes", "NOMNOM_MAX_BODY_BYTES", gateway.DefaultMaxBodyBytes, "largest POST /ingest/message body")
	f.Int64(&s.maxBatchBytes, "max-batch-bytes", "NOMNOM_MAX_BATCH_BYTES", gateway.DefaultMaxBatchBytes, "largest POST /ingest/batch body")
	f.Int(&s.maxBatchLines, "max-batch-lines", "NOMNOM_MAX_BATCH_LINES", gateway.DefaultMaxBatchLines, "most lines of one batch")
	f.Duration(&s.maxWait, "status-max-wait", "NOMNOM_STATUS_MAX_WAIT", gateway.DefaultMaxWait, "longest ?wait= of a status read")
	f.Duration(&s.publishTimeout, "publish-timeout", "NOMNOM_PUBLISH_TIMEOUT", gateway.DefaultPublishTimeout, "longest wait for JetStream's acknowledgement")
	f.Int(&s.maxInFlight, "max-in-flight", "NOMNOM_MAX_IN_FLIGHT", gateway.DefaultMaxInFlightPublishes, "most unacknowledged publishes before 429")
	f.Int(&s.maxWaits, "max-waits", "NOMNOM_MAX_WAITS", gateway.DefaultMaxWaits, "most ?wait= status reads held at once before 429")
	f.Int(&s.maxEventStreams, "max-event-streams", "NOMNOM_MAX_EVENT_STREAMS", gateway.DefaultMaxEventStreams, "most open GET /ingest/events streams before 429")
	f.Duration(&s.eventHeartbeat, "event-heartbeat", "NOMNOM_EVENT_HEARTBEAT", gateway.DefaultEventHeartbeat, "interval of an idle event stream's heartbeat")
	f.Int(&s.maxRedrives, "max-redrives", "NOMNOM_MAX_REDRIVES", gateway.DefaultMaxRedrives, "redrives of one message POST /ingest/dlq/redrive allows (loop guard)")
	f.Int64(&s.maxBodyInFlight, "max-body-bytes-in-flight", "NOMNOM_MAX_BODY_BYTES_IN_FLIGHT", gateway.DefaultMaxBodyBytesInFlight, "request body bytes held in memory across requests before 503")
	f.Duration(&s.bodyReadTimeout, "body-read-timeout", "NOMNOM_BODY_READ_TIMEOUT", gateway.DefaultBodyReadTimeout, "longest wait for a request body to arrive before 408")
	f.Secret(&s.apiKeys, "api-keys", "NOMNOM_API_KEYS", "", "API keys as tenant:key,tenant2:key2 (empty: no authentication)")
	f.String(&s.apiKeysFile, "api-keys-file", "NOMNOM_API_KEYS_FILE", "", "file of API keys, one tenant:key a line, # comments")
	f.String(&s.corsOrigins, "cors-origins", "NOMNOM_CORS_ORIGINS", "", "origins whose browser pages may call the gateway, comma-separated, or * (empty: CORS off)")
	f.String(&s.entityTenants, "console-entity-tenants", "NOMNOM_CONSOLE_ENTITY_TENANTS", "", "tenants that may read entity tables in the console when API keys are on, comma-separated")
	f.Duration(&s.shutdownTimeout, "shutdown-timeout", "NOMNOM_SHUTDOWN_TIMEOUT", 25*time.Second, "longest graceful stop before connections are closed")
}

// loadAPIKeys reads the keys from the flag and the file; both may be given.
func (s *gatewaySettings) loadAPIKeys() (map[string]string, error) {
	text := s.apiKeys
	if s.apiKeysFile != "" {
		data, err := os.ReadFile(s.apiKeysFile)
		if err != nil {
			return nil, fmt.Errorf("NOMNOM_API_KEYS_FILE: %w", err)
		}
		text += "\n" + string(data)
	}
	keys, err := gateway.ParseAPIKeys(text)
	if err != nil {
		return nil, fmt.Errorf("API keys: %w", err)
	}
	return keys, nil
}

// runGateway runs the HTTP gateway until ctx ends (SIGTERM), then stops it
// gracefully within the shutdown timeout and drains the NATS connection.
func runGateway(ctx context.Context, args []string, _, stderr io.Writer) error {
	f := envflag.New("gateway")
	var ns natsconn.Settings
	var gs gatewaySettings
	ns.Define(f)
	gs.define(f)
	f.SetOutput(envflag.Output(stderr))
	if err := f.Parse(args); err != nil {
		return err
	}
	log, err := ns.Logger(envflag.Output(stderr))
	if err != nil {
		return err
	}
	keys, err := gs.loadAPIKeys()
	if err != nil {
		return err
	}
	cfg := gateway.Config{
		Topology:             ns.Topology,
		Addr:                 net.JoinHostPort(gs.listenAddr, strconv.Itoa(gs.port)),
		ReadHeaderTimeout:    gs.readHeader,
		IdleTimeout:          gs.idleTimeout,
		MaxBodyBytes:         gs.maxBodyBytes,
		MaxBatchBytes:        gs.maxBatchBytes,
		MaxBatchLines:        gs.maxBatchLines,
		MaxWait:              gs.maxWait,
		PublishTimeout:       gs.publishTimeout,
		MaxInFlightPublishes: gs.maxInFlight,
		MaxWaits:             gs.maxWaits,
		MaxEventStreams:      gs.maxEventStreams,
		EventHeartbeat:       gs.eventHeartbeat,
		MaxRedrives:          gs.maxRedrives,
		MaxBodyBytesInFlight: gs.maxBodyInFlight,
		BodyReadTimeout:      gs.bodyReadTimeout,
		APIKeys:              keys,
		CORSOrigins:          splitList(gs.corsOrigins),
		EntityTenants:        splitList(gs.entityTenants),
		Logger:               log,
		Version:              Version,
	}
	if gs.databaseURL != "" {
		pool, err := pgxpool.New(ctx, gs.databaseURL)
		if err != nil {
			return errors.New("DATABASE_URL: not a valid PostgreSQL URL")
		}
		defer pool.Close()
		db := statusstore.NewPostgres(pool)
		cfg.StatusFallback, cfg.StatusDatabase, cfg.Database, cfg.ConsoleDatabase = db, db, pool, pool
	}
	tp, stopTracing, err := telemetry.Setup(ctx, "nomnom-gateway")
	if err != nil {
		return err
	}
	defer flushTraces(stopTracing, log)
	cfg.TracerProvider = tp
	nc, err := ns.Connect("nomnom-gateway", log)
	if err != nil {
		return err
	}
	srv, err := gateway.New(cfg, nc)
	if err != nil {
		nc.Close()
		return err
	}
	if err := srv.Start(ctx); err != nil {
		nc.Close()
		return err
	}
	var fatal error
	select {
	case <-ctx.Done():
	case <-natsconn.ClosedForGood(nc):
		fatal = natsconn.ClosedError(nc, log)
	}
	log.Info("gateway stopping", "timeout", gs.shutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.Background(), gs.shutdownTimeout)
	defer cancel()
	stopErr := srv.Stop(stopCtx)
	drain(stopCtx, nc, log)
	return errors.Join(fatal, stopErr)
}

// drain drains nc and waits for it to close, or for ctx to end.
func drain(ctx context.Context, nc *nats.Conn, log *slog.Logger) {
	if err := nc.Drain(); err != nil {
		log.Warn("drain NATS connection", "err", err)
		nc.Close()
		return
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !nc.IsClosed() {
		select {
		case <-ctx.Done():
			nc.Close()
			return
		case <-tick.C:
		}
	}
}

// splitList splits a comma-separated setting into its non-blank entries.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// flushTraces exports the spans still buffered, for up to five seconds.
func flushTraces(stop func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		log.Warn("traces not flushed", "err", err)
	}
}
