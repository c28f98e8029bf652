package workercmd

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// goList runs go list in the module root and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = filepath.Join("..")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("go list %s: %s", strings.Join(args, " "), msg)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// forbiddenInWorker reports why a worker binary must not link pkg, or "".
func forbiddenInWorker(pkg string) string {
	const nomnom = "github.com/nomnom-io/nomnom/"
	switch {
	case pkg == nomnom+"codegen/rt" || strings.HasPrefix(pkg, nomnom+"codegen/rt/"):
		return ""
	case pkg == nomnom+"gateway" || strings.HasPrefix(pkg, nomnom+"gateway/"):
		return "the gateway"
	case pkg == nomnom+"bench" || strings.HasPrefix(pkg, nomnom+"bench/"):
		return "the bench"
	case pkg == nomnom+"codegen" || strings.HasPrefix(pkg, nomnom+"codegen/"):
		return "the generator (only codegen/rt is the runtime)"
	case pkg == nomnom+"cli" || strings.HasPrefix(pkg, nomnom+"cli/"):
		return "the nomnom commands"
	case strings.HasPrefix(pkg, "github.com/gorilla/mux"):
		return "the gateway's router"
	case strings.Contains(pkg, "yaml"):
		return "a YAML module (the generator's input)"
	case strings.Contains(pkg, "compose-spec/compose-go"):
		return "compose-go (the deployment tests)"
	case strings.HasPrefix(pkg, "github.com/nats-io/nats-server/v2/server"):
		return "an embedded NATS server"
	}
	return ""
}

// TestWorkerDependencies keeps a generated worker binary to the worker side:
// none of the gateway, bench, generator, router, YAML or NATS server.
func TestWorkerDependencies(t *testing.T) {
	t.Parallel()
	deps := goList(t, "-deps", "./examples/tpch/cmd/tpch-worker")
	if len(deps) < 10 || !slices.Contains(deps, "github.com/nomnom-io/nomnom/worker") {
		t.Fatalf("go list -deps printed %d lines without the worker package: %q", len(deps), deps)
	}
	for _, pkg := range deps {
		if why := forbiddenInWorker(pkg); why != "" {
			t.Errorf("tpch-worker links %s: %s", pkg, why)
		}
	}
}

func TestForbiddenInWorker(t *testing.T) {
	t.Parallel()
	for pkg, forbidden := range map[string]bool{
		"github.com/nomnom-io/nomnom/gateway":                  true,
		"github.com/nomnom-io/nomnom/bench":                    true,
		"github.com/nomnom-io/nomnom/codegen":                  true,
		"github.com/nomnom-io/nomnom/cli":                      true,
		"github.com/gorilla/mux":                               true,
		"go.yaml.in/yaml/v4":                                   true,
		"gopkg.in/yaml.v3":                                     true,
		"github.com/compose-spec/compose-go/v2/cli":            true,
		"github.com/nats-io/nats-server/v2/server":             true,
		"github.com/nomnom-io/nomnom/codegen/rt":               false,
		"github.com/nomnom-io/nomnom/worker":                   false,
		"github.com/nomnom-io/nomnom/workercmd":                false,
		"github.com/nats-io/nats.go/jetstream":                 false,
		"github.com/nomnom-io/nomnom/examples/tpch/migrations": false,
	} {
		if got := forbiddenInWorker(pkg) != ""; got != forbidden {
			t.Errorf("forbiddenInWorker(%s) = %v, want %v", pkg, got, forbidden)
		}
	}
}

// TestOnlyMainsImportCommands checks that the command packages stay at the
// top: only a main under a cmd/ folder imports cli or workercmd.
func TestOnlyMainsImportCommands(t *testing.T) {
	t.Parallel()
	lines := goList(t, "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./...")
	commands := map[string]bool{"github.com/nomnom-io/nomnom/cli": true, "github.com/nomnom-io/nomnom/workercmd": true}
	checked := 0
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		importer := fields[0]
		for _, imp := range fields[1:] {
			if !commands[imp] || imp == importer {
				continue
			}
			checked++
			if !strings.Contains(importer+"/", "/cmd/") {
				t.Errorf("%s imports %s: only a main under cmd/ may", importer, imp)
			}
		}
	}
	if checked < 2 {
		t.Errorf("found %d imports of the command packages, want at least cmd/nomnom's and tpch-worker's", checked)
	}
}
