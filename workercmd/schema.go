package workercmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nomnom-io/nomnom/internal/backoff"
	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/migrations"
)

// schemaPoll is how often a worker whose database lacks migrations looks
// again before it starts.
var schemaPoll = 5 * time.Second

// migrationSet is one set of migrations a worker needs applied.
type migrationSet struct {
	name  string // platform or entity
	src   fs.FS
	table string
}

func (app App) migrationSets() []migrationSet {
	sets := []migrationSet{{"platform", migrations.Platform, migrations.PlatformTable}}
	if app.Migrations != nil {
		sets = append(sets, migrationSet{"entity", app.Migrations, app.MigrationsTable})
	}
	return sets
}

var upFile = regexp.MustCompile(`^(\d+)_.*\.up\.sql$`)

// upMigrations lists the up files of src by version.
func upMigrations(src fs.FS) (map[uint]string, error) {
	entries, err := fs.ReadDir(src, ".")
	if err != nil {
		return nil, err
	}
	out := map[uint]string{}
	for _, e := range entries {
		if m := upFile.FindStringSubmatch(e.Name()); m != nil {
			v, _ := strconv.ParseUint(m[1], 10, 64)
			out[uint(v)] = e.Name()
		}
	}
	return out, nil
}

// errSchemaAhead is a database migrated by a newer binary than this one.
var errSchemaAhead = errors.New("the database schema is newer than this worker")

// missingMigrations compares the database with the binary's migrations:
// the files not applied yet (nil when none), or an error wrapping
// errSchemaAhead when the database is past the newest one the binary has.
func missingMigrations(ctx context.Context, databaseURL string, sets []migrationSet) ([]string, error) {
	var missing []string
	for _, set := range sets {
		files, err := upMigrations(set.src)
		if err != nil {
			return nil, err
		}
		version, dirty, err := migrations.Version(ctx, databaseURL, set.src, set.table)
		if err != nil {
			return nil, err
		}
		var newest uint
		for v := range files {
			newest = max(newest, v)
		}
		if version > newest {
			return nil, fmt.Errorf("%w: its %s migrations (%s) are at version %d, and this binary's newest is %d: a newer worker migrated it; run that version (or revert with its migrate down N)",
				errSchemaAhead, set.name, set.table, version, newest)
		}
		if dirty {
			missing = append(missing, fmt.Sprintf("%s (dirty: it failed part-way; repair it by hand)", files[version]))
		}
		var versions []uint
		for v := range files {
			if v > version {
				versions = append(versions, v)
			}
		}
		slices.Sort(versions)
		for _, v := range versions {
			missing = append(missing, files[v])
		}
	}
	return missing, nil
}

// schemaGate holds a worker until its database has every migration the
// binary carries, saying which are missing in the log, on /healthz and in
// nomnom_worker_missing_migrations; with migrate it applies them first.
type schemaGate struct {
	app         App
	databaseURL string
	migrate     bool
	metricsAddr string
	log         *slog.Logger
	reg         *prometheus.Registry
	missing     prometheus.Gauge

	mu     sync.Mutex
	reason string
}

func newSchemaGate(app App, databaseURL string, migrate bool, metricsAddr string, log *slog.Logger, reg *prometheus.Registry) *schemaGate {
	g := &schemaGate{app: app, databaseURL: databaseURL, migrate: migrate, metricsAddr: metricsAddr, log: log, reg: reg,
		missing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nomnom_worker_missing_migrations",
			Help: "Migrations the database lacks that this worker's binary carries; the worker consumes nothing until it is 0.",
		})}
	reg.MustRegister(g.missing)
	return g
}

// wait returns once the schema is complete, or an error when it is ahead
// or ctx ends.
func (g *schemaGate) wait(ctx context.Context) error {
	sets := g.app.migrationSets()
	if g.migrate {
		for _, set := range sets {
			if err := migrations.Up(ctx, g.databaseURL, set.src, set.table); err != nil {
				return err
			}
		}
		g.log.Info("migrations applied (--migrate)")
	}
	var stopServer func()
	defer func() {
		if stopServer != nil {
			stopServer()
		}
	}()
	for {
		missing, err := missingMigrations(ctx, g.databaseURL, sets)
		switch {
		case errors.Is(err, errSchemaAhead):
			return err
		case err != nil:
			g.log.Warn("cannot read the schema version; retrying", "err", envflag.RedactDatabaseError(err, g.databaseURL))
		case len(missing) == 0:
			g.missing.Set(0)
			return nil
		default:
			g.missing.Set(float64(len(missing)))
			reason := fmt.Sprintf("waiting for migrations %s: run %q migrate up, or start with --migrate (NOMNOM_MIGRATE=true); consuming nothing until then",
				strings.Join(missing, ", "), g.app.Name)
			g.setReason(reason)
			g.log.Warn("database schema behind this worker; consuming nothing", "missing", missing, "fix", g.app.Name+" migrate up")
			if stopServer == nil && g.metricsAddr != "" {
				if stopServer, err = g.serve(); err != nil {
					return err
				}
			}
		}
		if err := backoff.Sleep(ctx, schemaPoll); err != nil {
			return err
		}
	}
}

// schemaRecheck is how often a running worker checks that its database
// still has every migration of its binary.
var schemaRecheck = 30 * time.Second

// holder is the worker as watch holds and releases it (worker.Worker).
type holder interface {
	Hold(reason string)
	Release()
}

// watch checks the schema while the worker runs (a `migrate down`, a
// database restored from an older backup, a reconnect to another server).
// Behind, it holds the worker: it fetches nothing, /readyz and /healthz
// name the missing migrations and nomnom_worker_missing_migrations counts
// them, until they are applied again and it resumes by itself. Ahead, it
// says so loudly and holds the worker too, rather than exit mid-batch.
func (g *schemaGate) watch(ctx context.Context, w holder) {
	sets := g.app.migrationSets()
	held := ""
	for {
		if backoff.Sleep(ctx, schemaRecheck) != nil {
			return
		}
		missing, err := missingMigrations(ctx, g.databaseURL, sets)
		switch {
		case errors.Is(err, errSchemaAhead):
			reason := fmt.Sprintf("schema: %v; consuming nothing", err)
			if reason != held {
				g.log.Error("database schema now newer than this worker; consuming nothing", "err", err)
			}
			held = reason
			w.Hold(reason)
		case err != nil:
			// Unreachable or unreadable: the worker pauses on its batches'
			// environment errors by itself.
			g.log.Warn("cannot read the schema version", "err", envflag.RedactDatabaseError(err, g.databaseURL))
		case len(missing) > 0:
			g.missing.Set(float64(len(missing)))
			reason := fmt.Sprintf("schema: waiting for migrations %s: run %q migrate up; consuming nothing until then",
				strings.Join(missing, ", "), g.app.Name)
			if reason != held {
				g.log.Error("database schema now behind this worker; consuming nothing", "missing", missing, "fix", g.app.Name+" migrate up")
			}
			held = reason
			w.Hold(reason)
		default:
			g.missing.Set(0)
			if held != "" {
				g.log.Info("database schema complete again; consuming")
				held = ""
				w.Release()
			}
		}
	}
}

func (g *schemaGate) setReason(r string) {
	g.mu.Lock()
	g.reason = r
	g.mu.Unlock()
}

// serve answers on the worker's ops address while it waits: /healthz and
// /readyz 503 with the reason, /livez 200, /metrics.
func (g *schemaGate) serve() (func(), error) {
	ln, err := net.Listen("tcp", g.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %s: %w", g.metricsAddr, err)
	}
	mux := http.NewServeMux()
	notReady := func(rw http.ResponseWriter, _ *http.Request) {
		g.mu.Lock()
		reason := g.reason
		g.mu.Unlock()
		http.Error(rw, "schema: "+reason, http.StatusServiceUnavailable)
	}
	mux.HandleFunc("/healthz", notReady)
	mux.HandleFunc("/readyz", notReady)
	mux.HandleFunc("/livez", func(rw http.ResponseWriter, _ *http.Request) { rw.Write([]byte("ok\n")) })
	mux.Handle("/metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
