package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// binaries are built once per run by TestMain into binDir.
var (
	binDir    string
	buildErrs = map[string]error{}
	repoRoot  string
)

// targets are the binaries the suite runs, by name.
var targets = map[string]string{
	"nomnom":      "./cmd/nomnom",
	"tpch-worker": "./examples/tpch/cmd/tpch-worker",
	"nats-server": "github.com/nats-io/nats-server/v2",
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "nomnom-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	if repoRoot, err = moduleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	buildAll()
	return m.Run()
}

// moduleRoot is the directory of nomnom's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// buildAll builds every target in parallel; a failed build fails only the
// tests that need that binary, with the compiler's output.
func buildAll() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, pkg := range targets {
		wg.Go(func() {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg)
			cmd.Dir = repoRoot
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				mu.Lock()
				buildErrs[name] = fmt.Errorf("go build %s: %v\n%s", pkg, err, out.String())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// bin returns the path of a built binary, failing the test when it did not
// build.
func bin(t testing.TB, name string) string {
	t.Helper()
	if err := buildErrs[name]; err != nil {
		t.Fatalf("e2e: %v", err)
	}
	return filepath.Join(binDir, name)
}
