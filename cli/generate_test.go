package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const eventEntity = `apiVersion: nomnom.io/v1
kind: Entity
metadata: {name: Event}
spec:
  type: root
  fields:
    - {name: id, type: bigint, constraints: {primaryKey: true}}
`

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestGenerateWritesAndRemovesStaleFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/shop\n\ngo 1.26\n")
	writeFile(t, filepath.Join(dir, "entities", "event.yaml"), eventEntity)
	out := filepath.Join(dir, "gen")
	code, stdout, stderr := runCLI(t, "generate", "--entities", filepath.Join(dir, "entities"), "--out", out, "--package", "events")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range []string{"events/models.go", "cmd/events-worker/main.go", "migrations/0001_events_entities.up.sql"} {
		if !strings.Contains(stdout, filepath.Join(out, f)) {
			t.Errorf("%s not listed in:\n%s", f, stdout)
		}
	}
	main, err := os.ReadFile(filepath.Join(out, "cmd", "events-worker", "main.go"))
	if err != nil || !strings.Contains(string(main), `"example.com/shop/gen/events"`) {
		t.Fatalf("module path not found from go.mod: %v\n%s", err, main)
	}

	// A hand-written file among the generated ones survives a new name,
	// while the files of the old name go.
	userFile := filepath.Join(out, "events", "transforms.go")
	writeFile(t, userFile, "package events\n")
	code, stdout, stderr = runCLI(t, "generate", "--entities", filepath.Join(dir, "entities"), "--out", out, "--package", "events", "--name", "audit")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "removed "+filepath.Join(out, "cmd", "events-worker", "main.go")) ||
		!strings.Contains(stdout, "removed "+filepath.Join(out, "migrations", "0001_events_entities.up.sql")) {
		t.Errorf("stale files not reported removed:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "cmd", "events-worker")); !os.IsNotExist(err) {
		t.Errorf("stale folder kept: %v", err)
	}
	if _, err := os.Stat(userFile); err != nil {
		t.Errorf("hand-written file removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "cmd", "audit-worker", "main.go")); err != nil {
		t.Errorf("new main missing: %v", err)
	}
}

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok", "event.yaml"), eventEntity)
	code, stdout, _ := runCLI(t, "validate", "--entities", filepath.Join(dir, "ok"))
	if code != 0 || stdout != "1 entities OK\n" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	bad := strings.Replace(eventEntity, "type: bigint", "type: strng", 1) + "colour: red\n"
	writeFile(t, filepath.Join(dir, "bad", "event.yaml"), bad)
	code, _, stderr := runCLI(t, "validate", "--entities", filepath.Join(dir, "bad"))
	file := filepath.Join(dir, "bad", "event.yaml")
	if code != 1 || !strings.Contains(stderr, file+`:7: spec.fields[0].type: unknown type "strng"`) ||
		!strings.Contains(stderr, file+`:8: colour: unknown key "colour"`) || !strings.Contains(stderr, "2 error(s)") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
