package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml as `docker compose` would, with an
// environment of the test's own, so that it resolves offline and the same
// way on every machine.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot),
		cli.WithEnv([]string{"NOMNOM_VERSION=test"}),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

var envNameRe = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)\)`)

// commandEnv asks a built binary which environment variables a command
// reads: every flag's help ends with "(env NAME)". A command the binary does
// not have fails the test.
func commandEnv(t *testing.T, command []string) map[string]bool {
	t.Helper()
	if len(command) < 2 {
		t.Fatalf("command %q: want a binary and a subcommand", command)
	}
	path := bin(t, command[0])
	help := func(args ...string) string {
		out, _ := exec.Command(path, args...).CombinedOutput() // -h exits 0 or 2
		return string(out)
	}
	out := help(append(slices.Clone(command[1:]), "-h")...)
	if strings.Contains(out, "unknown") && len(command) > 2 {
		// An operation after the subcommand ("migrate up"): the
		// subcommand's own help lists its flags and its operations.
		out = help(command[1], "-h")
		for _, op := range command[2:] {
			if !regexp.MustCompile(`\b` + regexp.QuoteMeta(op) + `\b`).MatchString(out) {
				t.Fatalf("%s: %q is not an operation of %s %s:\n%s", strings.Join(command, " "), op, command[0], command[1], out)
			}
		}
	}
	if strings.Contains(out, "unknown") {
		t.Fatalf("%s: not a command of %s:\n%s", strings.Join(command, " "), command[0], out)
	}
	names := map[string]bool{}
	for _, m := range envNameRe.FindAllStringSubmatch(out, -1) {
		names[m[1]] = true
	}
	if len(names) == 0 {
		t.Fatalf("%s: its -h lists no flag with (env NAME); is it a real command?\n%s", strings.Join(command, " "), out)
	}
	return names
}

func mustService(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml: no service %q", name)
	}
	return s
}

// TestDockerComposeFile checks docker-compose.yml against the binaries it
// runs: every command is a real subcommand, every variable set is one that
// command reads, the services start in the right order, and the settings
// that must agree across services do. It needs no Docker.
func TestDockerComposeFile(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)

	want := []string{"gateway", "migrate", "nats", "postgres", "worker"}
	got := p.ServiceNames()
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}

	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// The services built from the Dockerfile, and the binary each runs.
	own := map[string]string{"migrate": "tpch-worker", "gateway": "nomnom", "worker": "tpch-worker"}
	for name, binary := range own {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := mustService(t, p, name)
			if s.Build == nil || s.Build.Context != repoRoot || s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("build = %+v, want the repository's Dockerfile", s.Build)
			}
			if s.Image == "" {
				t.Error("no image name: the services built from one Dockerfile should share one tag")
			}
			if len(s.Command) == 0 || s.Command[0] != binary {
				t.Fatalf("command %q, want %s …", s.Command, binary)
			}
			if !strings.Contains(string(dockerfile), targets[binary]) {
				t.Errorf("the Dockerfile does not build %s (%s)", binary, targets[binary])
			}
			reads := commandEnv(t, s.Command)
			for k := range s.Environment {
				if !reads[k] {
					t.Errorf("environment %s: `%s -h` does not read it (it reads %v)", k, strings.Join(s.Command, " "), sortedKeys(reads))
				}
			}
			if _, ok := s.Environment["DATABASE_URL"]; !ok && reads["DATABASE_URL"] {
				t.Error("DATABASE_URL not set")
			}
		})
	}

	checkDependsOn(t, p, "migrate", map[string]string{"postgres": types.ServiceConditionHealthy})
	for _, name := range []string{"gateway", "worker"} {
		checkDependsOn(t, p, name, map[string]string{
			"nats":    types.ServiceConditionHealthy,
			"migrate": types.ServiceConditionCompletedSuccessfully,
		})
	}

	// Healthchecks: every long-running service has one; the one-shot has none.
	for _, name := range got {
		s := p.Services[name]
		hc := s.HealthCheck
		has := hc != nil && !hc.Disable && len(hc.Test) > 1
		if name == "migrate" {
			if has {
				t.Errorf("%s: a one-shot service needs no healthcheck", name)
			}
			if s.Restart != "" && s.Restart != types.RestartPolicyNo {
				t.Errorf("%s: restart %q; a one-shot must not restart", name, s.Restart)
			}
			continue
		}
		if !has {
			t.Errorf("%s: no healthcheck", name)
		}
	}
	// The runtime image has no shell: the long-running nomnom services check
	// themselves with their own binary, which reads the same PORT or
	// METRICS_ADDR as the command it checks.
	for name, binary := range map[string]string{"gateway": "nomnom", "worker": "tpch-worker"} {
		if got, want := p.Services[name].HealthCheck.Test, []string{"CMD", binary, "healthcheck"}; !slices.Equal(got, want) {
			t.Errorf("%s healthcheck %q, want %q", name, got, want)
		}
		if reads := commandEnv(t, []string{binary, "healthcheck"}); !reads[map[string]string{"gateway": "PORT", "worker": "METRICS_ADDR"}[name]] {
			t.Errorf("%s healthcheck does not read the address its service listens on (it reads %v)", binary, sortedKeys(reads))
		}
	}

	// Scaling: `--scale worker=3` needs no fixed name and no fixed host
	// port; each worker's metrics port is published on a port Docker picks.
	w := p.Services["worker"]
	if w.ContainerName != "" {
		t.Errorf("worker: container_name %q prevents --scale", w.ContainerName)
	}
	for _, port := range w.Ports {
		if port.Published != "" {
			t.Errorf("worker: host port %s prevents --scale", port.Published)
		}
	}

	// Host ports: on 127.0.0.1, away from the standard ports a local
	// PostgreSQL, NATS or `make run` use, each from a variable.
	standard := map[string]bool{"4222": true, "5432": true, "8080": true, "8222": true}
	for _, name := range got {
		for _, port := range p.Services[name].Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %d published on %q, want 127.0.0.1 by default", name, port.Target, port.HostIP)
			}
			if standard[port.Published] {
				t.Errorf("%s: host port %s collides with a local service on the standard port", name, port.Published)
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"GATEWAY_PORT", "NATS_PORT", "NATS_MONITOR_PORT", "POSTGRES_PORT", "NOMNOM_BIND"} {
		if !strings.Contains(string(raw), "${"+v+":-") {
			t.Errorf("docker-compose.yml: no ${%s:-…}", v)
		}
	}

	// Every image from a variable whose default is the official image, so
	// that a private registry's copies (or local stand-ins) can replace it.
	for v, def := range map[string]string{
		"NOMNOM_IMAGE": "nomnom", "NATS_IMAGE": "nats:" + natsServerVersion(t) + "-alpine",
		"POSTGRES_IMAGE": "postgres:15", "GO_IMAGE": "golang:1.26",
	} {
		if !strings.Contains(string(raw), "${"+v+":-"+def+"}") {
			t.Errorf("docker-compose.yml: no ${%s:-%s}", v, def)
		}
	}
	if !strings.Contains(string(dockerfile), "ARG GO_IMAGE=golang:1.26\n") {
		t.Error("Dockerfile: no ARG GO_IMAGE=golang:1.26")
	}

	// NATS and PostgreSQL as the README ("Docker compose") and the healthchecks expect them.
	n := p.Services["nats"]
	if want := "nats:" + natsServerVersion(t) + "-alpine"; n.Image != want {
		t.Errorf("nats image %q, want %s: the server version of go.mod, which the tests embed", n.Image, want)
	}
	for _, arg := range []string{"-js", "-sd", "-m"} {
		if !slices.Contains(n.Command, arg) {
			t.Errorf("nats command %q lacks %s", n.Command, arg)
		}
	}
	if len(n.Volumes) == 0 {
		t.Error("nats: no volume for the JetStream store")
	}
	if hc := strings.Join(n.HealthCheck.Test, " "); !strings.Contains(hc, "/healthz?js-enabled-only=true") {
		t.Errorf("nats healthcheck %q does not check JetStream", hc)
	}
	pg := p.Services["postgres"]
	if !strings.HasPrefix(pg.Image, "postgres:15") {
		t.Errorf("postgres image %q, want postgres:15", pg.Image)
	}
	if len(pg.Volumes) == 0 {
		t.Error("postgres: no volume for its data")
	}
	if hc := strings.Join(pg.HealthCheck.Test, " "); !strings.Contains(hc, "pg_isready") {
		t.Errorf("postgres healthcheck %q, want pg_isready", hc)
	}

	// Settings that must agree across services.
	for _, k := range []string{"NATS_URL", "NATS_STREAM", "NATS_SUBJECT_PREFIX", "NATS_STATUS_BUCKET", "NATS_REPLICAS", "DATABASE_URL"} {
		if g, w := env(p, "gateway", k), env(p, "worker", k); g != w || g == "" {
			t.Errorf("%s: gateway %q, worker %q; they must be set and agree", k, g, w)
		}
	}
	if g, m := env(p, "gateway", "DATABASE_URL"), env(p, "migrate", "DATABASE_URL"); g != m {
		t.Errorf("DATABASE_URL: gateway %q, migrate %q", g, m)
	}
	if u, err := url.Parse(env(p, "gateway", "NATS_URL")); err != nil || u.Hostname() != "nats" || u.Port() != "4222" {
		t.Errorf("NATS_URL %q does not name the nats service", env(p, "gateway", "NATS_URL"))
	}
	db, err := url.Parse(env(p, "gateway", "DATABASE_URL"))
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	pass, _ := db.User.Password()
	if db.Hostname() != "postgres" || db.User.Username() != env(p, "postgres", "POSTGRES_USER") ||
		pass != env(p, "postgres", "POSTGRES_PASSWORD") || db.Path != "/"+env(p, "postgres", "POSTGRES_DB") {
		t.Errorf("DATABASE_URL %s does not match the postgres service's user, password and database", db.Redacted())
	}

	// The image runs as a non-root user.
	if m := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(string(dockerfile), -1); len(m) == 0 ||
		strings.HasPrefix(m[len(m)-1][1], "root") || strings.HasPrefix(m[len(m)-1][1], "0") {
		t.Error("Dockerfile: the final stage must run as a non-root USER")
	}
	// Static binaries on an empty base, built on the builder's platform for
	// the target one, with OCI labels.
	froms := regexp.MustCompile(`(?m)^FROM\s+(.*)$`).FindAllStringSubmatch(string(dockerfile), -1)
	if len(froms) == 0 || strings.TrimSpace(froms[len(froms)-1][1]) != "scratch" {
		t.Error("Dockerfile: the final stage must be FROM scratch (no shell, no package manager)")
	}
	for _, want := range []string{"--platform=$BUILDPLATFORM", "ARG TARGETOS", "ARG TARGETARCH", "CGO_ENABLED=0",
		"org.opencontainers.image.version=", "org.opencontainers.image.revision=", "org.opencontainers.image.source="} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("Dockerfile: lacks %s", want)
		}
	}
	for _, flag := range []string{"-trimpath", `-s -w`, "github.com/nomnom-io/nomnom/cli.Version=", "github.com/nomnom-io/nomnom/workercmd.Version="} {
		if !strings.Contains(string(dockerfile), flag) {
			t.Errorf("Dockerfile: the build lacks %s", flag)
		}
	}
}

// natsServerVersion is the nats-server version of go.mod, without the v.
func natsServerVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
	if err != nil {
		t.Fatalf("go list -m nats-server: %v", err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
}

func checkDependsOn(t *testing.T, p *types.Project, name string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for dep, d := range p.Services[name].DependsOn {
		got[dep] = d.Condition
	}
	for dep, cond := range want {
		if got[dep] != cond {
			t.Errorf("%s depends_on %s: condition %q, want %q", name, dep, got[dep], cond)
		}
	}
	for dep := range got {
		if _, ok := want[dep]; !ok {
			t.Errorf("%s depends_on %s: unexpected", name, dep)
		}
	}
}

// env returns a service's resolved environment variable.
func env(p *types.Project, service, name string) string {
	if v := p.Services[service].Environment[name]; v != nil {
		return *v
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// composeStack is a running `docker compose` stack, reached only through
// the ports it publishes on 127.0.0.1, and driven with the compose command
// (to scale, kill and restart its services).
type composeStack struct {
	client  *client
	dbURL   string
	compose []string // the compose command with its project, env file and file; nil: no control
}

// composeTarget returns the stack named by NOMNOM_E2E_GATEWAY_URL,
// NOMNOM_E2E_DATABASE_URL and NOMNOM_E2E_COMPOSE (the compose command line,
// e.g. "docker compose -p nomnom-e2e --env-file images.env"), as
// `make compose-e2e` sets them, or skips the test when no stack is named.
func composeTarget(t *testing.T) *composeStack {
	t.Helper()
	gw := os.Getenv("NOMNOM_E2E_GATEWAY_URL")
	if gw == "" {
		t.Skip("e2e: NOMNOM_E2E_GATEWAY_URL is not set; `make compose-e2e` builds, starts and tests the compose stack")
	}
	return &composeStack{
		client:  newClient(gw),
		dbURL:   os.Getenv("NOMNOM_E2E_DATABASE_URL"),
		compose: strings.Fields(os.Getenv("NOMNOM_E2E_COMPOSE")),
	}
}

// control skips the test when the stack cannot be driven.
func (s *composeStack) control(t *testing.T) {
	t.Helper()
	if len(s.compose) == 0 {
		t.Skip("e2e: NOMNOM_E2E_COMPOSE is not set; the stack cannot be scaled or restarted")
	}
	if s.dbURL == "" {
		t.Skip("e2e: NOMNOM_E2E_DATABASE_URL is not set; counts need the database")
	}
}

// run runs the compose command with args and returns its output.
func (s *composeStack) run(t *testing.T, args ...string) string {
	t.Helper()
	return command(t, append(slices.Clone(s.compose), args...)...)
}

// command runs a command and returns its output, failing the test on error.
func command(t *testing.T, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// container is one worker container as Docker reports it.
type container struct {
	id, state, health, metricsURL string
}

// workers returns the stack's worker containers, running or not.
func (s *composeStack) workers(t *testing.T) []container {
	t.Helper()
	var out []container
	for _, id := range strings.Fields(s.run(t, "ps", "-q", "worker")) {
		f := strings.Fields(command(t, "docker", "inspect", "-f",
			`{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{range $p, $b := .NetworkSettings.Ports}}{{if eq $p "9090/tcp"}}{{range $b}}{{.HostIp}}:{{.HostPort}}{{end}}{{end}}{{end}}`, id))
		c := container{id: id[:min(12, len(id))], state: f[0], health: f[1]}
		if len(f) > 2 {
			c.metricsURL = "http://" + f[2]
		}
		out = append(out, c)
	}
	return out
}

// scaleWorkers runs n workers and waits until n are running and healthy.
func (s *composeStack) scaleWorkers(t *testing.T, n int) []container {
	t.Helper()
	s.run(t, "up", "-d", "--no-deps", "--no-build", "--scale", fmt.Sprintf("worker=%d", n), "worker")
	var healthy []container
	waitFor(t, fmt.Sprintf("%d healthy workers", n), 3*time.Minute, func() bool {
		healthy = healthy[:0]
		for _, c := range s.workers(t) {
			if c.state == "running" && c.health == "healthy" && c.metricsURL != "" {
				healthy = append(healthy, c)
			}
		}
		return len(healthy) == n
	})
	for _, c := range healthy {
		if !strings.HasPrefix(c.metricsURL, "http://127.0.0.1:") {
			t.Fatalf("worker %s: metrics published on %s, want 127.0.0.1", c.id, c.metricsURL)
		}
	}
	return healthy
}

// ordersFrom returns n example orders with keys of their own: offset
// apart from every other scenario's, so that each counts only its rows.
func ordersFrom(t *testing.T, n, offset int) []order {
	t.Helper()
	many := manyOrders(t, n)
	for i := range many {
		many[i] = rekey(t, many[i], offset)
	}
	return many
}

// TestComposeStack runs the scenarios against the compose stack one after
// the other (they share one stream and one database): health, the example
// data, malformed messages, three workers on one consumer, a worker
// container killed mid-load and NATS restarted mid-load. Every load ends
// with exact counts in PostgreSQL: sent = completed, no duplicate row,
// nothing lost.
func TestComposeStack(t *testing.T) {
	s := composeTarget(t)
	c := s.client

	t.Run("health", func(t *testing.T) {
		a, h, err := c.health()
		if err != nil || a.code != 200 || h["status"] != "healthy" {
			t.Fatalf("GET /health: %s (%v)", a, err)
		}
		m, err := c.do("GET", "/metrics", "", nil)
		if err != nil || m.code != 200 || !strings.Contains(string(m.body), "nomnom_") {
			t.Fatalf("GET /metrics: %d (%v)", m.code, err)
		}
	})

	t.Run("example data", func(t *testing.T) {
		exampleData(t, "compose example data", c, s.dbURL)
	})

	t.Run("malformed messages", func(t *testing.T) {
		ids, failed := postMalformed(t, c)
		t.Logf("e2e: compose malformed: sent=%d completed=0 rows=0 duplicates=0 lost=%d (failed=%d)", len(ids), len(ids)-failed, failed)
	})

	t.Run("three workers", func(t *testing.T) {
		s.control(t)
		workers := s.scaleWorkers(t, 3)
		before := map[string]int{}
		for _, w := range workers {
			before[w.id] = completedAt(t, w.id, w.metricsURL)
		}
		orders := ordersFrom(t, 600, 10_000_000)
		ids := postBatches(t, c, orders, 20)
		settle(t, "compose three workers", c, s.dbURL, ids, orders)
		total := 0
		for _, w := range workers {
			n := completedAt(t, w.id, w.metricsURL) - before[w.id]
			t.Logf("e2e: compose three workers: container %s completed=%d", w.id, n)
			if n == 0 {
				t.Errorf("worker container %s completed nothing: the consumer is not shared", w.id)
			}
			total += n
		}
		if total < len(ids) {
			t.Errorf("the workers' metrics count %d completed messages, want at least %d", total, len(ids))
		}
	})

	t.Run("worker container killed", func(t *testing.T) {
		s.control(t)
		workers := s.scaleWorkers(t, 3)
		orders := ordersFrom(t, 900, 20_000_000)
		load := postInBackground(c, orders, 30)
		waitFor(t, "the first completed message", completionDeadline, func() bool {
			sent := load.sentSoFar()
			return len(sent) > 0 && statusCounts(t, s.dbURL, sent)["completed"] > 0
		})
		victim := workers[0]
		command(t, "docker", "kill", "--signal", "KILL", victim.id)
		sent := load.sentSoFar()
		t.Logf("e2e: compose worker killed: container %s at sent=%d completed=%d", victim.id, len(sent), statusCounts(t, s.dbURL, sent)["completed"])
		ids := load.wait(t)
		settle(t, "compose worker killed", c, s.dbURL, ids, orders)
		s.scaleWorkers(t, 3)
	})

	t.Run("nats restarted", func(t *testing.T) {
		s.control(t)
		orders := ordersFrom(t, 600, 30_000_000)
		load := postSteadily(c, orders, 40)
		waitFor(t, "a quarter of the load", completionDeadline, func() bool { return load.accepted() >= len(orders)/4 })
		s.run(t, "restart", "nats")
		t.Logf("e2e: compose nats restarted at accepted=%d", load.accepted())
		<-load.done
		load.mu.Lock()
		ids, gaveUp, refusals := slices.Clone(load.ids), load.gaveUp, maps.Clone(load.refusals)
		load.mu.Unlock()
		t.Logf("e2e: compose nats restarted: refused and retried %v", refusals)
		if gaveUp > 0 || len(ids) != len(orders) {
			t.Fatalf("%d of %d orders were never accepted (%d gave up)", len(orders)-len(ids), len(orders), gaveUp)
		}
		settle(t, "compose nats restarted", c, s.dbURL, ids, orders)
		waitFor(t, "gateway health after the restart", time.Minute, func() bool {
			a, h, err := c.health()
			return err == nil && a.code == 200 && h["status"] == "healthy"
		})
	})
}
