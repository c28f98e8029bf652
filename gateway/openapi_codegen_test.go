package gateway

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// oapiCodegen is the generator the document is kept friendly to: users
// generate their clients with it, so a client it generates must compile.
const oapiCodegen = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"

func TestOpenAPIGeneratesACompilingClient(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches and builds oapi-codegen")
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "openapi.json")
	files := map[string]string{
		doc:                               string(OpenAPI),
		filepath.Join(dir, "config.yaml"): "package: nomclient\noutput: client.gen.go\ngenerate:\n  client: true\n  models: true\n",
		filepath.Join(dir, "go.mod"):      "module example.com/nomclient\n\ngo 1.23\n",
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v in %s: %v\n%s", args, dir, err, out)
		}
	}
	run("run", oapiCodegen, "-config", "config.yaml", "openapi.json")
	run("mod", "tidy")
	run("build", "./...")
}
