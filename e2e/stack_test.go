package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// stack is one running nomnom deployment under test: NATS, a database with
// the migrations applied, a gateway and workers, all processes of their own
// on free ports and with a NATS topology no other test shares.
type stack struct {
	t       *testing.T
	logs    *logBook
	nats    *natsServer // nil against a compose stack
	pg      *pgCluster  // non-nil when the test owns its PostgreSQL
	dbURL   string
	topo    []string // NATS_* environment shared by gateway and workers
	gateway *gatewayProc
	workers []*workerProc
	client  *client
	// workerEnv is added to every worker's environment.
	workerEnv []string
	// schemaPending is set until migrate runs on a stack made with
	// migrateLater: its workers wait for the schema and are only alive.
	schemaPending bool
}

// stackOptions shape a stack.
type stackOptions struct {
	// ownPostgres runs a PostgreSQL cluster of the test's own, which the
	// test can stop; otherwise a fresh database on the machine's server.
	ownPostgres bool
	// workers is the number of workers started (default 1; -1 for none,
	// when the test starts them itself with startWorker).
	workers int
	// workerEnv is added to every worker's environment (NOMNOM_BATCH_SIZE…).
	workerEnv []string
	// migrateLater leaves the database empty: the test applies the
	// migrations itself with migrate, after starting the workers.
	migrateLater bool
}

type gatewayProc struct {
	*proc
	url string
}

type workerProc struct {
	*proc
	metricsURL string
}

// newStack starts a deployment for the test and stops it at the end.
func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, logs: newLogBook(t), workerEnv: o.workerEnv}
	s.nats = startNATS(t, s.logs)
	t.Cleanup(func() {
		if t.Failed() {
			s.nats.logState(t)
		}
	})
	if o.ownPostgres {
		s.pg = newPGCluster(t, s.logs)
		s.dbURL = s.pg.Database("nomnom")
	} else {
		s.dbURL = sharedPostgres(t)
	}
	id := strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:10])
	s.topo = []string{
		"NATS_URL=" + s.nats.URL,
		"NATS_STREAM=E" + id,
		"NATS_SUBJECT_PREFIX=e" + strings.ToLower(id),
		"NATS_STATUS_BUCKET=ES" + id,
		"NATS_CONSUMER=tpch-" + strings.ToLower(id),
		"LOG_LEVEL=info",
	}
	s.schemaPending = o.migrateLater
	if !o.migrateLater {
		s.migrate()
	}
	s.startGateway()
	n := o.workers
	switch n {
	case 0:
		n = 1
	case -1:
		n = 0
	}
	for range n {
		s.startWorker()
	}
	return s
}

// migrate applies the platform and entity migrations, as the compose
// one-shot service does.
func (s *stack) migrate() {
	s.t.Helper()
	if out, err := runCmd(s.t, s.logs, []string{"DATABASE_URL=" + s.dbURL}, bin(s.t, "tpch-worker"), "migrate", "up"); err != nil {
		s.t.Fatalf("tpch-worker migrate up: %v\n%s", err, out)
	}
	s.schemaPending = false
}

func (s *stack) startGateway() {
	s.t.Helper()
	port := freePort(s.t)
	env := append([]string{
		fmt.Sprintf("PORT=%d", port),
		"DATABASE_URL=" + s.dbURL,
		"NOMNOM_SHUTDOWN_TIMEOUT=30s",
	}, s.topo...)
	p := startProc(s.t, s.logs, "gateway", bin(s.t, "nomnom"), env, "gateway")
	s.gateway = &gatewayProc{proc: p, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	s.client = newClient(s.gateway.url)
	waitHTTP(s.t, "gateway", s.gateway.url+"/health", 60*time.Second)
}

// startWorker starts one more worker on the shared consumer.
func (s *stack) startWorker() *workerProc {
	s.t.Helper()
	port := freePort(s.t)
	env := append([]string{
		fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", port),
		"DATABASE_URL=" + s.dbURL,
		"NOMNOM_BACKOFF=100ms,250ms,500ms,1s",
	}, s.topo...)
	env = append(env, s.workerEnv...)
	name := fmt.Sprintf("worker%d", len(s.workers)+1)
	p := startProc(s.t, s.logs, name, bin(s.t, "tpch-worker"), env, "run")
	w := &workerProc{proc: p, metricsURL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	s.workers = append(s.workers, w)
	probe := "/healthz"
	if s.schemaPending {
		probe = "/livez" // it waits for its migrations, not ready until then
	}
	waitHTTP(s.t, name, w.metricsURL+probe, 60*time.Second)
	return w
}

// workerCLI runs a tpch-worker subcommand (dlq list, dlq redrive) against
// the stack and returns its stdout.
func (s *stack) workerCLI(args ...string) string {
	s.t.Helper()
	env := append([]string{"DATABASE_URL=" + s.dbURL}, s.topo...)
	out, err := runCmd(s.t, s.logs, env, bin(s.t, "tpch-worker"), args...)
	if err != nil {
		s.t.Fatalf("tpch-worker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
