package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nomnom-io/nomnom/internal/testsvc"
)

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHTTP polls url until it answers 200 or the deadline passes.
func waitHTTP(t testing.TB, what, url string, timeout time.Duration) {
	t.Helper()
	testsvc.Eventually(t, timeout, what+" ready at "+url, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
}

// natsServer is a nats-server process with JetStream whose port and store
// survive a restart, so a test can stop NATS and bring the same one back.
type natsServer struct {
	*proc
	URL        string
	monitorURL string
}

func startNATS(t testing.TB, logs *logBook) *natsServer {
	t.Helper()
	port, mport := freePort(t), freePort(t)
	p := startProc(t, logs, "nats", bin(t, "nats-server"), nil,
		"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport),
		"-js", "-sd", t.TempDir())
	n := &natsServer{proc: p, URL: fmt.Sprintf("nats://127.0.0.1:%d", port), monitorURL: fmt.Sprintf("http://127.0.0.1:%d", mport)}
	n.waitReady()
	return n
}

func (n *natsServer) waitReady() {
	n.t.Helper()
	waitHTTP(n.t, "nats", n.monitorURL+"/healthz?js-enabled-only=true", 30*time.Second)
}

// logState logs JetStream's view of streams and consumers (delivered,
// acknowledged, pending, redelivered), which explains most stuck messages.
func (n *natsServer) logState(t testing.TB) {
	if !n.Running() {
		return
	}
	resp, err := http.Get(n.monitorURL + "/jsz?consumers=true")
	if err != nil {
		t.Logf("nats /jsz: %v", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	t.Logf("nats /jsz?consumers=true:\n%s", b)
}

// Restart brings a stopped server back on the same port and store.
func (n *natsServer) Restart() {
	n.t.Helper()
	n.proc.Restart()
	n.waitReady()
}

// pgCluster is a PostgreSQL cluster of the test's own, made with initdb and
// run with pg_ctl, so the test can stop and start it.
type pgCluster struct {
	t      testing.TB
	pgBin  string
	dir    string
	port   int
	asUser string // "" to run the tools as the current user
	logs   *logBook
}

// newPGCluster creates and starts a cluster, or skips the test saying why
// it cannot.
func newPGCluster(t testing.TB, logs *logBook) *pgCluster {
	t.Helper()
	binDirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(binDirs)
	var pgBin string
	for i := len(binDirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(binDirs[i], "initdb")); err == nil {
			pgBin = binDirs[i]
			break
		}
	}
	if pgBin == "" {
		if p, err := exec.LookPath("initdb"); err == nil {
			pgBin = filepath.Dir(p)
		}
	}
	if pgBin == "" {
		t.Skip("e2e: no initdb under /usr/lib/postgresql/*/bin or on PATH; this scenario needs a PostgreSQL cluster it can stop")
	}
	c := &pgCluster{t: t, pgBin: pgBin, port: freePort(t), logs: logs}
	// initdb refuses to run as root: run the tools as the postgres user in a
	// directory that user owns.
	parent, err := os.MkdirTemp("", "nomnom-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	c.dir = filepath.Join(parent, "data")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("e2e: running as root and there is no postgres user to run initdb as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(parent, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.asUser = "postgres"
	}
	if out, err := c.tool("initdb", "-D", c.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Skipf("e2e: initdb cannot run here (%v): %s", err, out)
	}
	c.Start()
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(c.dir, "postmaster.pid")); err != nil {
			return // stopped by the test
		}
		if out, err := c.tool("pg_ctl", "-D", c.dir, "-m", "immediate", "-w", "stop"); err != nil {
			t.Logf("pg_ctl stop: %v: %s", err, out)
		}
	})
	return c
}

// tool runs a PostgreSQL program, as the postgres user when we are root.
func (c *pgCluster) tool(name string, args ...string) (string, error) {
	path := filepath.Join(c.pgBin, name)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Start starts the cluster and waits until it accepts connections.
func (c *pgCluster) Start() {
	c.t.Helper()
	c.logs.add("--- pg_ctl start")
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, filepath.Dir(c.dir))
	if out, err := c.tool("pg_ctl", "-D", c.dir, "-l", filepath.Join(filepath.Dir(c.dir), "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		c.t.Fatalf("pg_ctl start: %v: %s", err, out)
	}
}

// Stop stops the cluster (fast shutdown: sessions are cut, as in an outage).
func (c *pgCluster) Stop() {
	c.t.Helper()
	c.logs.add("--- pg_ctl stop")
	if out, err := c.tool("pg_ctl", "-D", c.dir, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v: %s", err, out)
	}
}

// Database creates a database on the cluster and returns its URL.
func (c *pgCluster) Database(name string) string {
	c.t.Helper()
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		c.t.Fatalf("connect to own cluster: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		c.t.Fatalf("create database: %v", err)
	}
	return strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
}

// sharedPostgres is a fresh database per test on the machine's server.
func sharedPostgres(t testing.TB) string {
	t.Helper()
	return testsvc.Postgres(t)
}
