package cli

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

	"github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/worker"
)

// WorkerApp describes a worker binary: its handler and its entity migrations.
// Generated mains fill it in and call WorkerMain, so every worker binary has
// the same subcommands, configuration and lifecycle.
type WorkerApp struct {
	Name            string         // e.g. "tpch-worker", used in logs and the NATS connection name
	Handler         worker.Handler // writes the entity rows of a batch
	Migrations      fs.FS          // the entity migrations (golang-migrate files at the root of the FS); may be nil
	MigrationsTable string         // their version table, e.g. "tpch_schema_migrations"
}

const workerUsage = `usage: %[1]s [command] [flags]

commands:
  run                      consume the stream and write entity rows (the default)
  migrate up|down [N]|version
                           platform migrations (schema_migrations), then the entity
                           migrations (%[2]s); down reverts entity migrations only
  dlq list|redrive         inspect and redrive dead-lettered messages
  version                  print the version

Run '%[1]s <command> -h' for a command's flags and environment.
`

// WorkerMain runs a worker binary and returns its exit code: generated
// mains call os.Exit(cli.WorkerMain(app)).
func WorkerMain(app WorkerApp) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runWorkerApp(ctx, app, os.Args[1:], os.Stdout, os.Stderr)
}

func runWorkerApp(ctx context.Context, app WorkerApp, args []string, stdout, stderr io.Writer) int {
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
		err = runWorkerMigrate(ctx, app, args, stdout, stderr)
	case "dlq":
		err = dlqCommand(ctx, app.Name, args, stdout, stderr)
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
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintf(stderr, "%s %s: %v\n", app.Name, cmd, err)
		return 1
	}
}

// workerSettings are the settings of `run`, each with its environment
// variable.
type workerSettings struct {
	nats            natsSettings
	databaseURL     string
	consumer        string
	batchSize       int
	batchWait       time.Duration
	maxAttempts     int
	backoff         []time.Duration
	ackWait         time.Duration
	maxAckPending   int
	kvConcurrency   int
	metricsAddr     string
	shutdownTimeout time.Duration
}

func (s *workerSettings) define(f *flags) {
	s.nats.define(f)
	f.Secret(&s.databaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL, postgres://user:password@host:5432/db (required)")
	f.String(&s.consumer, "consumer", "NATS_CONSUMER", worker.DefaultConsumer, "durable consumer shared by the deployment's workers")
	f.Int(&s.batchSize, "batch-size", "NOMNOM_BATCH_SIZE", worker.DefaultBatchSize, "messages per fetch and per transaction")
	f.Duration(&s.batchWait, "batch-wait", "NOMNOM_BATCH_WAIT", worker.DefaultBatchWait, "longest wait to fill a batch")
	f.Int(&s.maxAttempts, "max-attempts", "NOMNOM_MAX_ATTEMPTS", worker.DefaultMaxAttempts, "deliveries before a transiently failing message is dead-lettered")
	f.Durations(&s.backoff, "backoff", "NOMNOM_BACKOFF", worker.DefaultBackoff, "delay before each retry, the last repeating")
	f.Duration(&s.ackWait, "ack-wait", "NOMNOM_ACK_WAIT", worker.DefaultAckWait, "JetStream ack wait of the consumer")
	f.Int(&s.maxAckPending, "max-ack-pending", "NOMNOM_MAX_ACK_PENDING", worker.DefaultMaxAckPending, "messages in flight across all workers")
	f.Int(&s.kvConcurrency, "kv-concurrency", "NOMNOM_KV_CONCURRENCY", worker.DefaultKVConcurrency, "goroutines writing status records to KV")
	f.String(&s.metricsAddr, "metrics-addr", "METRICS_ADDR", ":9090", "address of /metrics and /healthz (empty: none)")
	f.Duration(&s.shutdownTimeout, "shutdown-timeout", "NOMNOM_SHUTDOWN_TIMEOUT", worker.DefaultShutdownTimeout, "time to finish the batch in hand on SIGTERM")
}

// check rejects values the worker would otherwise replace by a default,
// naming the variable.
func (s *workerSettings) check() error {
	positive := []struct {
		name string
		ok   bool
	}{
		{"NOMNOM_BATCH_SIZE (--batch-size) must be between 1 and 10000", s.batchSize >= 1 && s.batchSize <= 10000},
		{"NOMNOM_BATCH_WAIT (--batch-wait) must be at least 1ms", s.batchWait >= time.Millisecond},
		{"NOMNOM_MAX_ATTEMPTS (--max-attempts) must be at least 1", s.maxAttempts >= 1},
		{"NOMNOM_BACKOFF (--backoff) needs positive durations", len(s.backoff) > 0 && allPositive(s.backoff)},
		{"NOMNOM_ACK_WAIT (--ack-wait) must be at least 1s", s.ackWait >= time.Second},
		{"NOMNOM_MAX_ACK_PENDING (--max-ack-pending) must be at least NOMNOM_BATCH_SIZE", s.maxAckPending >= s.batchSize},
		{"NOMNOM_KV_CONCURRENCY (--kv-concurrency) must be between 1 and 1024", s.kvConcurrency >= 1 && s.kvConcurrency <= 1024},
		{"NOMNOM_SHUTDOWN_TIMEOUT (--shutdown-timeout) must be positive", s.shutdownTimeout > 0},
		{"NATS_CONSUMER (--consumer) must not be empty", s.consumer != ""},
	}
	for _, p := range positive {
		if !p.ok {
			return errors.New(p.name)
		}
	}
	if s.databaseURL == "" {
		return errors.New("no database: set DATABASE_URL or --database-url")
	}
	return nil
}

func allPositive(ds []time.Duration) bool {
	for _, d := range ds {
		if d <= 0 {
			return false
		}
	}
	return true
}

func (s *workerSettings) config(log *slog.Logger) worker.Config {
	return worker.Config{
		Topology:        s.nats.topology,
		Consumer:        s.consumer,
		BatchSize:       s.batchSize,
		BatchWait:       s.batchWait,
		MaxAttempts:     s.maxAttempts,
		Backoff:         s.backoff,
		AckWait:         s.ackWait,
		MaxAckPending:   s.maxAckPending,
		ShutdownTimeout: s.shutdownTimeout,
		KVConcurrency:   s.kvConcurrency,
		MetricsAddr:     s.metricsAddr,
		Logger:          log,
	}
}

func runWorker(ctx context.Context, app WorkerApp, args []string, stderr io.Writer) error {
	var s workerSettings
	f := newFlags(app.Name + " run")
	s.define(f)
	f.SetOutput(stderrOr(stderr))
	if err := f.parse(args); err != nil {
		return err
	}
	if err := s.check(); err != nil {
		return err
	}
	if err := s.nats.topology.Validate(); err != nil {
		return err
	}
	log, err := s.nats.logger(stderrOr(stderr))
	if err != nil {
		return err
	}
	log = log.With("service", app.Name)
	if app.Handler == nil {
		return errors.New("the binary has no handler")
	}
	pool, err := openPool(ctx, s.databaseURL, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	nc, err := s.nats.connect(app.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	w, err := worker.New(s.config(log), nc, pool, app.Handler)
	if err != nil {
		return err
	}
	if err := startWorker(ctx, w, nc, log); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("stopping: finishing the batch in hand", "timeout", s.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	if err := w.Stop(sctx); err != nil {
		log.Warn("hard stop: the batch in hand will be redelivered", "err", err)
	}
	return nil
}

// openPool opens the pool and waits, with back-off, until PostgreSQL answers:
// a worker started before its database must not crash. The pool reconnects
// on every acquire afterwards, so it survives PostgreSQL restarts.
func openPool(ctx context.Context, databaseURL string, log *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("DATABASE_URL: not a valid PostgreSQL URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	for i := 0; ; i++ {
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
		wait := min(time.Duration(1<<min(i, 5))*250*time.Millisecond, 5*time.Second)
		log.Warn("postgres unreachable; retrying", "host", cfg.ConnConfig.Host, "in", wait, "err", redactErr(err, databaseURL))
		sleepCtx(ctx, wait)
	}
}

// startWorker starts w, retrying while NATS is not connected yet.
// startTriesConnected is how many times a worker connected to NATS retries
// its start (about 20 seconds in all) before reporting the error.
const startTriesConnected = 6

func startWorker(ctx context.Context, w *worker.Worker, nc *nats.Conn, log *slog.Logger) error {
	for i := 0; ; i++ {
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
		if nc.Status() == nats.CONNECTED && i >= startTriesConnected {
			return err
		}
		wait := min(time.Duration(1<<min(i, 5))*250*time.Millisecond, 5*time.Second)
		log.Warn("cannot start yet; retrying", "in", wait, "err", err)
		sleepCtx(ctx, wait)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// redactErr keeps the database password out of an error's text.
func redactErr(err error, databaseURL string) string {
	msg := err.Error()
	if cfg, perr := pgxpool.ParseConfig(databaseURL); perr == nil && cfg.ConnConfig.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.ConnConfig.Password, "***")
	}
	return msg
}

func runWorkerMigrate(ctx context.Context, app WorkerApp, args []string, stdout, stderr io.Writer) error {
	var databaseURL string
	f := newFlags(app.Name + " migrate")
	f.Secret(&databaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL, postgres://user:password@host:5432/db (required)")
	f.SetOutput(stderrOr(stderr))
	f.Usage = func() {
		fmt.Fprintf(f.Output(), "usage: %s migrate [flags] up | down [N] | version\n\nflags:\n", app.Name)
		f.PrintDefaults()
	}
	if err := f.parse(args); err != nil {
		return err
	}
	op, steps, err := migrateOp(f.Args())
	if err != nil {
		fmt.Fprintf(f.Output(), "%s migrate: %v\n\n", app.Name, err)
		f.Usage()
		return errUsage
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
