package workercmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nomnom-io/nomnom/internal/backoff"
	"github.com/nomnom-io/nomnom/internal/confirm"
	"github.com/nomnom-io/nomnom/internal/dlqcmd"
	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/internal/natsconn"
	"github.com/nomnom-io/nomnom/internal/telemetry"
	"github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/wire"
	"github.com/nomnom-io/nomnom/worker"
)

// Version is the version a worker binary reports; set at build time with
// -ldflags "-X github.com/nomnom-io/nomnom/workercmd.Version=…".
var Version = "dev"

// App describes a worker binary: its handler and its entity migrations.
// Generated mains fill it in and call Main, so every worker binary has the
// same subcommands, configuration and lifecycle.
type App struct {
	Name            string         // e.g. "tpch-worker", used in logs and the NATS connection name
	Handler         worker.Handler // writes the entity rows of a batch
	Migrations      fs.FS          // the entity migrations (golang-migrate files at the root of the FS); may be nil
	MigrationsTable string         // their version table, e.g. "tpch_schema_migrations"
	// Entities are the root entity types of the handler: the worker
	// consumes only their subjects. Empty: every subject.
	Entities []string
	// Consumer is the default durable consumer name (NATS_CONSUMER), e.g.
	// the generated package's name, so that the workers of two feeds never
	// share one. Empty: worker.DefaultConsumer.
	Consumer string
	// Catalog describes the entity tables, published at start for the
	// console (nil: none is published).
	Catalog []wire.CatalogTable
}

const workerUsage = `usage: %[1]s [command] [flags]

commands:
  run                      consume the stream and write entity rows (the default)
  migrate up|down N|down --all|version
                           platform migrations (schema_migrations), then the entity
                           migrations (%[2]s); down reverts entity migrations only,
                           and without N asks on a terminal or needs --all
  dlq list|redrive         inspect and redrive dead-lettered messages
  healthcheck              exit 0 when the local worker is ready (container healthchecks)
  version                  print the version

Run '%[1]s <command> -h' for a command's flags and environment.
`

// Main runs a worker binary and returns its exit code: generated mains call
// os.Exit(workercmd.Main(app)).
func Main(app App) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, app, os.Args[1:], os.Stdout, os.Stderr)
}

func run(ctx context.Context, app App, args []string, stdout, stderr io.Writer) int {
	if app.Name == "" {
		app.Name = "nomnom-worker"
	}
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runWorker(ctx, app, args, stderr)
	case "migrate":
		err = runMigrate(ctx, app, args, stdout, stderr)
	case "dlq":
		err = dlqcmd.Run(ctx, app.Name, args, stdout, stderr)
	case "healthcheck":
		err = runHealthcheck(ctx, app, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, app.Name, Version)
	case "help":
		fmt.Fprintf(stderr, workerUsage, app.Name, app.MigrationsTable)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n", app.Name, cmd)
		fmt.Fprintf(stderr, workerUsage, app.Name, app.MigrationsTable)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, envflag.ErrUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintf(stderr, "%s %s: %v\n", app.Name, cmd, err)
		return 1
	}
}

// runSettings are the settings of `run`, each with its environment
// variable: the worker.Config that the flags fill in, starting from
// worker.DefaultConfig, and what the command itself needs.
type runSettings struct {
	nats        natsconn.Settings
	databaseURL string
	migrate     bool
	cfg         worker.Config
}

func (s *runSettings) define(f *envflag.Set, app App) {
	d := worker.DefaultConfig()
	if app.Consumer != "" {
		d.Consumer = app.Consumer
	}
	d.Entities = app.Entities
	s.cfg = d
	s.nats.Define(f)
	f.Secret(&s.databaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL, postgres://user:password@host:5432/db (required)")
	f.String(&s.cfg.Consumer, "consumer", "NATS_CONSUMER", d.Consumer, "durable consumer shared by the workers of this feed")
	f.Bool(&s.migrate, "migrate", "NOMNOM_MIGRATE", false, "apply the platform and entity migrations before consuming (otherwise the worker waits for them)")
	f.String((*string)(&s.cfg.Untyped), "take-untyped", "NATS_TAKE_UNTYPED", string(d.Untyped), "take the messages without entity type: true, false, or auto (unless another feed's consumer does)")
	f.Int(&s.cfg.BatchSize, "batch-size", "NOMNOM_BATCH_SIZE", d.BatchSize, "messages per fetch and per transaction")
	f.Duration(&s.cfg.BatchWait, "batch-wait", "NOMNOM_BATCH_WAIT", d.BatchWait, "longest wait to fill a batch")
	f.Int(&s.cfg.MaxAttempts, "max-attempts", "NOMNOM_MAX_ATTEMPTS", d.MaxAttempts, "deliveries before a transiently failing message is dead-lettered")
	f.Durations(&s.cfg.Backoff, "backoff", "NOMNOM_BACKOFF", d.Backoff, "delay before each retry, the last repeating")
	f.Duration(&s.cfg.AckWait, "ack-wait", "NOMNOM_ACK_WAIT", d.AckWait, "JetStream ack wait of the consumer")
	f.Int(&s.cfg.MaxAckPending, "max-ack-pending", "NOMNOM_MAX_ACK_PENDING", d.MaxAckPending, "messages in flight across all workers")
	f.Int(&s.cfg.KVConcurrency, "kv-concurrency", "NOMNOM_KV_CONCURRENCY", d.KVConcurrency, "goroutines writing status records to KV")
	f.Int(&s.cfg.Concurrency, "concurrency", "NOMNOM_CONCURRENCY", d.Concurrency, "batches written at once, each in its own transaction (above 1, batches may commit out of fetch order)")
	f.Duration(&s.cfg.LockTimeout, "lock-timeout", "NOMNOM_LOCK_TIMEOUT", d.LockTimeout, "PostgreSQL lock_timeout of the worker's sessions")
	f.Duration(&s.cfg.StatementTimeout, "statement-timeout", "NOMNOM_STATEMENT_TIMEOUT", d.StatementTimeout, "PostgreSQL statement_timeout of the worker's sessions")
	f.Duration(&s.cfg.IdleInTransactionTimeout, "idle-in-transaction-timeout", "NOMNOM_IDLE_IN_TRANSACTION_TIMEOUT", d.IdleInTransactionTimeout, "PostgreSQL idle_in_transaction_session_timeout of the worker's sessions")
	f.Duration(&s.cfg.StallTimeout, "stall-timeout", "NOMNOM_STALL_TIMEOUT", d.StallTimeout, "no progress this long makes /livez fail")
	f.Duration(&s.cfg.ProcessingAfter, "processing-after", "NOMNOM_PROCESSING_AFTER", d.ProcessingAfter, "a batch in hand this long shows its messages as processing in KV (negative: at once)")
	f.String(&s.cfg.MetricsAddr, "metrics-addr", "METRICS_ADDR", ":9090", "address of /metrics, /livez, /readyz and /healthz (empty: none)")
	f.Duration(&s.cfg.ShutdownTimeout, "shutdown-timeout", "NOMNOM_SHUTDOWN_TIMEOUT", d.ShutdownTimeout, "time to finish the batch in hand on SIGTERM")
}

// settingNames are the environment variable and flag of each worker.Config
// field that `run` sets, to name them in errors.
var settingNames = map[string]string{
	"Consumer":        "NATS_CONSUMER (--consumer)",
	"Untyped":         "NATS_TAKE_UNTYPED (--take-untyped)",
	"BatchSize":       "NOMNOM_BATCH_SIZE (--batch-size)",
	"BatchWait":       "NOMNOM_BATCH_WAIT (--batch-wait)",
	"MaxAttempts":     "NOMNOM_MAX_ATTEMPTS (--max-attempts)",
	"Backoff":         "NOMNOM_BACKOFF (--backoff)",
	"AckWait":         "NOMNOM_ACK_WAIT (--ack-wait)",
	"MaxAckPending":   "NOMNOM_MAX_ACK_PENDING (--max-ack-pending)",
	"KVConcurrency":   "NOMNOM_KV_CONCURRENCY (--kv-concurrency)",
	"Concurrency":     "NOMNOM_CONCURRENCY (--concurrency)",
	"ShutdownTimeout": "NOMNOM_SHUTDOWN_TIMEOUT (--shutdown-timeout)",

	"LockTimeout":              "NOMNOM_LOCK_TIMEOUT (--lock-timeout)",
	"StatementTimeout":         "NOMNOM_STATEMENT_TIMEOUT (--statement-timeout)",
	"IdleInTransactionTimeout": "NOMNOM_IDLE_IN_TRANSACTION_TIMEOUT (--idle-in-transaction-timeout)",
	"StallTimeout":             "NOMNOM_STALL_TIMEOUT (--stall-timeout)",
	"ProcessingAfter":          "NOMNOM_PROCESSING_AFTER (--processing-after)",
}

// config returns the worker.Config of the settings, checked by
// worker.Config.Validate.
func (s *runSettings) config() (worker.Config, error) {
	cfg := s.cfg
	cfg.Topology = s.nats.Topology
	if err := cfg.Validate(); err != nil {
		return cfg, settingError(err)
	}
	if s.databaseURL == "" {
		return cfg, errors.New("no database: set DATABASE_URL or --database-url")
	}
	return cfg, nil
}

// settingError names the environment variable and flag of the field that
// worker.Config.Validate rejected.
func settingError(err error) error {
	var fe *worker.FieldError
	switch {
	case !errors.As(err, &fe):
		return err
	case fe.Field == "Topology":
		return fe.Err
	case settingNames[fe.Field] != "":
		return fmt.Errorf("%s: %w", settingNames[fe.Field], fe.Err)
	}
	return err
}

func runWorker(ctx context.Context, app App, args []string, stderr io.Writer) error {
	var s runSettings
	f := envflag.New(app.Name + " run")
	s.define(f, app)
	f.SetOutput(envflag.Output(stderr))
	if err := f.Parse(args); err != nil {
		return err
	}
	cfg, err := s.config()
	if err != nil {
		return err
	}
	log, err := s.nats.Logger(envflag.Output(stderr))
	if err != nil {
		return err
	}
	log = log.With("service", app.Name)
	cfg.Logger = log
	if app.Handler == nil {
		return errors.New("the binary has no handler")
	}
	pool, err := openPool(ctx, s.databaseURL, log, cfg.ConfigurePool)
	if err != nil {
		return err
	}
	defer pool.Close()
	cfg.Registry = prometheus.NewRegistry()
	gate := newSchemaGate(app, s.databaseURL, s.migrate, cfg.MetricsAddr, log, cfg.Registry)
	if err := gate.wait(ctx); err != nil {
		return err
	}
	tp, stopTracing, err := telemetry.Setup(ctx, app.Name)
	if err != nil {
		return err
	}
	defer flushTraces(stopTracing, log)
	cfg.TracerProvider = tp
	nc, err := s.nats.Connect(app.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	w, err := worker.New(cfg, nc, pool, app.Handler)
	if err != nil {
		return err
	}
	if err := startWorker(ctx, w, nc, log); err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		gate.watch(watchCtx, w)
	}()
	publishCatalog(ctx, app, nc, s.nats.Topology, log)
	var fatal error
	select {
	case <-ctx.Done():
	case <-natsconn.ClosedForGood(nc):
		fatal = natsconn.ClosedError(nc, log)
	}
	stopWatch()
	<-watched
	log.Info("stopping: finishing the batch in hand", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := w.Stop(sctx); err != nil {
		log.Warn("hard stop: the batch in hand will be redelivered", "err", err)
	}
	return fatal
}

// publishCatalog publishes the app's catalog into the catalog bucket. The
// console is its only reader, so a failure is logged, never fatal.
func publishCatalog(ctx context.Context, app App, nc *nats.Conn, top wire.Topology, log *slog.Logger) {
	if len(app.Catalog) == 0 {
		return
	}
	js, err := jetstream.New(nc)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = wire.PublishCatalog(pctx, js, top, wire.Catalog{Worker: app.Name, Tables: app.Catalog})
		cancel()
	}
	if err != nil {
		log.Warn("catalog not published; the console will not list the entity tables", "err", err)
	}
}

// openPool opens the pool and waits, with back-off, until PostgreSQL answers:
// a worker started before its database must not crash. The pool reconnects
// on every acquire afterwards, so it survives PostgreSQL restarts.
func openPool(ctx context.Context, databaseURL string, log *slog.Logger, configure func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("DATABASE_URL: not a valid PostgreSQL URL")
	}
	configure(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	b := backoff.New(startBackoff)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := pool.Ping(pctx)
		cancel()
		if err == nil {
			return pool, nil
		}
		if ctx.Err() != nil {
			pool.Close()
			return nil, ctx.Err()
		}
		wait := b.Next()
		log.Warn("postgres unreachable; retrying", "host", cfg.ConnConfig.Host, "in", wait, "err", envflag.RedactDatabaseError(err, databaseURL))
		_ = backoff.Sleep(ctx, wait) // an ended ctx is noticed by the next round
	}
}

// startTriesConnected is how many times a worker connected to NATS retries
// its start (about 20 seconds in all) before reporting the error.
const startTriesConnected = 6

// startBackoff spaces the retries of openPool and startWorker: 250ms
// doubling up to 5s.
var startBackoff = backoff.Policy{Initial: 250 * time.Millisecond, Max: 5 * time.Second}

// startWorker starts w, retrying while NATS is not connected yet.
func startWorker(ctx context.Context, w *worker.Worker, nc *nats.Conn, log *slog.Logger) error {
	b := backoff.New(startBackoff)
	for {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := w.Start(sctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Connected and still refused after several tries: a real
		// configuration problem rather than a JetStream cluster electing
		// leaders or catching up with a replica change.
		if nc.Status() == nats.CONNECTED && b.Retries() >= startTriesConnected {
			return err
		}
		wait := b.Next()
		log.Warn("cannot start yet; retrying", "in", wait, "err", err)
		_ = backoff.Sleep(ctx, wait) // an ended ctx is noticed by the next round
	}
}

func runMigrate(ctx context.Context, app App, args []string, stdout, stderr io.Writer) error {
	var databaseURL string
	var all bool
	f := envflag.New(app.Name + " migrate")
	f.Secret(&databaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL, postgres://user:password@host:5432/db (required)")
	f.BoolVar(&all, "all", false, "with down and no N: revert every entity migration without asking")
	f.SetOutput(envflag.Output(stderr))
	f.Usage = func() {
		fmt.Fprintf(f.Output(), "usage: %s migrate [flags] up | down N | down --all | version\n\n"+
			"down without N reverts every entity migration: it asks on a terminal and needs --all otherwise.\n\nflags:\n", app.Name)
		f.PrintDefaults()
	}
	if err := f.Parse(args); err != nil {
		return err
	}
	op, steps, err := migrations.ParseOp(f.Args())
	if err != nil {
		fmt.Fprintf(f.Output(), "%s migrate: %v\n\n", app.Name, err)
		f.Usage()
		return envflag.ErrUsage
	}
	if databaseURL == "" {
		return errors.New("no database: set DATABASE_URL or --database-url")
	}
	hasApp := app.Migrations != nil
	if hasApp && app.MigrationsTable == "" {
		return errors.New("the binary's entity migrations have no version table")
	}
	switch op {
	case "up":
		if err := migrations.Up(ctx, databaseURL, migrations.Platform, migrations.PlatformTable); err != nil {
			return err
		}
		if hasApp {
			if err := migrations.Up(ctx, databaseURL, app.Migrations, app.MigrationsTable); err != nil {
				return err
			}
		}
	case "down":
		// The platform tables are shared with the gateway; `nomnom migrate
		// down` reverts them.
		if hasApp && steps == 0 {
			in, interactive := confirm.Terminal()
			if err := confirm.DownAll(all, "entity", in, interactive, envflag.Output(stderr)); err != nil {
				return err
			}
		}
		if hasApp {
			if err := migrations.Down(ctx, databaseURL, app.Migrations, app.MigrationsTable, steps); err != nil {
				return err
			}
		}
	}
	sets := []struct {
		name  string
		src   fs.FS
		table string
	}{{"platform", migrations.Platform, migrations.PlatformTable}}
	if hasApp {
		sets = append(sets, struct {
			name  string
			src   fs.FS
			table string
		}{"entity", app.Migrations, app.MigrationsTable})
	}
	for _, set := range sets {
		version, dirty, err := migrations.Version(ctx, databaseURL, set.src, set.table)
		if err != nil {
			return err
		}
		state := ""
		if dirty {
			state = " (dirty: a migration failed part-way)"
		}
		fmt.Fprintf(stdout, "%s migrations (%s): at version %d%s\n", set.name, set.table, version, state)
	}
	return nil
}

// flushTraces exports the spans still buffered, for up to five seconds.
func flushTraces(stop func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		log.Warn("traces not flushed", "err", err)
	}
}
