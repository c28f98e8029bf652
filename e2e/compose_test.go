package e2e

import (
	"context"
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
	healthPort := func(name string) string {
		test := strings.Join(p.Services[name].HealthCheck.Test, " ")
		m := regexp.MustCompile(`127\.0\.0\.1:(\d+)(/\S*)`).FindStringSubmatch(test)
		if m == nil {
			t.Fatalf("%s: healthcheck %q calls no local URL", name, test)
		}
		return m[1] + m[2]
	}
	if got, want := healthPort("gateway"), env(p, "gateway", "PORT")+"/health"; got != want {
		t.Errorf("gateway healthcheck calls :%s, want :%s", got, want)
	}
	if got, want := healthPort("worker"), strings.TrimPrefix(env(p, "worker", "METRICS_ADDR"), ":")+"/healthz"; got != want {
		t.Errorf("worker healthcheck calls :%s, want :%s", got, want)
	}

	// Scaling: `--scale worker=3` needs no fixed name and no host port.
	w := p.Services["worker"]
	if w.ContainerName != "" {
		t.Errorf("worker: container_name %q prevents --scale", w.ContainerName)
	}
	for _, port := range w.Ports {
		if port.Published != "" {
			t.Errorf("worker: host port %s prevents --scale", port.Published)
		}
	}

	// NATS and PostgreSQL as the README ("Docker compose") and the healthchecks expect them.
	n := p.Services["nats"]
	if !strings.HasPrefix(n.Image, "nats:2.10") {
		t.Errorf("nats image %q, want nats:2.10", n.Image)
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
	for _, flag := range []string{"-trimpath", `-s -w`, "github.com/nomnom-io/nomnom/cli.Version="} {
		if !strings.Contains(string(dockerfile), flag) {
			t.Errorf("Dockerfile: the build lacks %s", flag)
		}
	}
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

// composeTarget returns a client for the running compose stack named by
// NOMNOM_E2E_GATEWAY_URL, and its database URL (NOMNOM_E2E_DATABASE_URL,
// optional), or skips the test when no stack is named.
func composeTarget(t *testing.T) (*client, string) {
	t.Helper()
	gw := os.Getenv("NOMNOM_E2E_GATEWAY_URL")
	if gw == "" {
		t.Skip("e2e: NOMNOM_E2E_GATEWAY_URL is not set; run `docker compose up -d` and `make e2e-compose`")
	}
	return newClient(gw), os.Getenv("NOMNOM_E2E_DATABASE_URL")
}

// TestComposeHealth checks that the stack's gateway is up with every
// dependency.
func TestComposeHealth(t *testing.T) {
	t.Parallel()
	c, _ := composeTarget(t)
	a, h, err := c.health()
	if err != nil || a.code != 200 || h["status"] != "healthy" {
		t.Fatalf("GET /health: %s (%v)", a, err)
	}
	m, err := c.do("GET", "/metrics", "", nil)
	if err != nil || m.code != 200 || !strings.Contains(string(m.body), "nomnom_") {
		t.Fatalf("GET /metrics: %d (%v)", m.code, err)
	}
}

// TestComposeExampleData is TestExampleData against the compose stack.
func TestComposeExampleData(t *testing.T) {
	t.Parallel()
	c, dbURL := composeTarget(t)
	exampleData(t, "compose example data", c, dbURL)
}

// TestComposeMalformedMessages checks, against the compose stack, that the
// malformed orders end failed naming their field paths.
func TestComposeMalformedMessages(t *testing.T) {
	t.Parallel()
	c, _ := composeTarget(t)
	ids, failed := postMalformed(t, c)
	t.Logf("e2e: compose malformed: sent=%d completed=0 rows=0 duplicates=0 lost=%d (failed=%d)", len(ids), len(ids)-failed, failed)
}
