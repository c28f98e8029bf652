// Package testsvc starts the real services that nomnom's tests talk to: an
// embedded nats-server with JetStream per test (or a three-server cluster,
// StartCluster), and a PostgreSQL database of its own per test on the
// machine's server, migrated when asked (MigratedPool). It never fakes
// either. It also holds the helpers every package's tests share: Eventually
// instead of sleep loops, and Logger, which routes slog to the test's log.
package testsvc

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/wire"
)

// NATS starts an embedded nats-server with JetStream on a free port and a
// store of its own; it is shut down when the test ends.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	return NATSWithDir(t, t.TempDir(), -1)
}

// NATSWithDir starts an embedded server on the given store directory and port
// (-1 for a free one); tests that restart a server pass the same directory
// and the port of the first run.
func NATSWithDir(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	return NATSWith(t, func(o *server.Options) { o.StoreDir, o.Port = dir, port })
}

// NATSWith starts an embedded server like NATS, with its options adjusted
// (a smaller max_payload, say) before it starts.
func NATSWith(t testing.TB, adjust func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}
	adjust(opts)
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect returns a connection to s that is drained when the test ends.
func Connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Topology returns a topology whose stream, subjects and bucket are unique to
// this test, so tests can share a NATS server without seeing each other.
func Topology(t testing.TB) wire.Topology {
	t.Helper()
	id := strings.ToUpper(strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
	top := wire.DefaultTopology()
	top.Stream = "T" + id
	top.SubjectPrefix = "t" + strings.ToLower(id)
	top.StatusBucket = "S" + id
	return top
}

// AdminURL is the PostgreSQL server the tests create their databases on;
// NOMNOM_TEST_DATABASE_URL overrides the machine's default.
func AdminURL() string {
	if u := os.Getenv("NOMNOM_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Postgres creates an empty database of its own for the test and returns its
// URL; the database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer conn.Close(ctx)
	name := "nomnom_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(t, admin, name) })
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("admin url: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func dropDatabase(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Logf("drop database %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		t.Logf("drop database %s: %v", name, err)
	}
}

// MigratedPool creates a database of the test's own (see Postgres), applies
// the platform migrations to it and returns a pool on it, closed when the
// test ends, with the database's URL.
func MigratedPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := Postgres(t)
	if err := migrations.Up(ctx, url, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatalf("migrate %s: %v", url, err)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, url
}
