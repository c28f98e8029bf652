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

	// A new name is refused while the migrations of the old one are there:
	// a database may have applied them under the old version table.
	args := []string{"generate", "--entities", filepath.Join(dir, "entities"), "--out", out, "--package", "events", "--name", "audit"}
	code, _, stderr = runCLI(t, args...)
	if code == 0 || !strings.Contains(stderr, `snapshot of the "events" migrations, not "audit"`) {
		t.Fatalf("rename with migrations present: exit %d: %s", code, stderr)
	}

	// Once the user removed them, a hand-written file among the generated
	// ones survives the new name, while the files of the old name go.
	if err := os.RemoveAll(filepath.Join(out, "migrations")); err != nil {
		t.Fatal(err)
	}
	userFile := filepath.Join(out, "events", "transforms.go")
	writeFile(t, userFile, "package events\n")
	code, stdout, stderr = runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "removed "+filepath.Join(out, "cmd", "events-worker", "main.go")) {
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

// TestGenerateEvolves changes a definition after the first generation:
// the first migration stays as it was and the change comes as the next
// one; a destructive change is refused with nothing written, unless asked
// for. A folder generated before snapshots existed is adopted when its
// migration matches the definitions.
func TestGenerateEvolves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/shop\n\ngo 1.26\n")
	entities := filepath.Join(dir, "entities")
	writeFile(t, filepath.Join(entities, "event.yaml"), eventEntity)
	out := filepath.Join(dir, "gen")
	gen := func(extra ...string) (int, string, string) {
		return runCLI(t, append([]string{"generate", "--entities", entities, "--out", out, "--package", "events"}, extra...)...)
	}
	if code, _, stderr := gen(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	migDir := filepath.Join(out, "migrations")
	first := readDir(t, migDir)

	// Adopting: without the snapshot, an unchanged 0001 gets one.
	if err := os.Remove(filepath.Join(migDir, "schema.json")); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := gen(); code != 0 {
		t.Fatalf("adopt: exit %d: %s", code, stderr)
	}
	if got := readDir(t, migDir); !equalFiles(got, first) {
		t.Fatalf("adopting changed the migrations: %v", keys(got))
	}

	writeFile(t, filepath.Join(entities, "event.yaml"), eventEntity+"    - {name: note, type: string, constraints: {nullable: true}}\n")
	if code, _, stderr := gen(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	second := readDir(t, migDir)
	up := second["0002_events_additive.up.sql"]
	if !strings.Contains(up, "ALTER TABLE event ADD COLUMN note text;") {
		t.Fatalf("0002 up:\n%s\nfiles: %v", up, keys(second))
	}
	for name, data := range first {
		if name != "schema.json" && second[name] != data {
			t.Errorf("%s was rewritten", name)
		}
	}

	// Adopting refuses a 0001 that no longer matches the definitions.
	os.Remove(filepath.Join(migDir, "0002_events_additive.up.sql"))
	os.Remove(filepath.Join(migDir, "0002_events_additive.down.sql"))
	os.Remove(filepath.Join(migDir, "schema.json"))
	if code, _, stderr := gen(); code == 0 || !strings.Contains(stderr, "no schema.json snapshot") {
		t.Fatalf("adopting a stale 0001: exit %d: %s", code, stderr)
	}
	writeFile(t, filepath.Join(entities, "event.yaml"), eventEntity)
	if code, _, stderr := gen(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}

	// A type change is refused, naming the entity and the field.
	before := readDir(t, migDir)
	writeFile(t, filepath.Join(entities, "event.yaml"), strings.Replace(eventEntity, "type: bigint", "type: string", 1))
	code, _, stderr := gen()
	if code == 0 || !strings.Contains(stderr, "event.yaml:7: spec.fields[0]: Event.id (column event.id): type change from bigint to text") ||
		!strings.Contains(stderr, "nothing written") {
		t.Fatalf("type change: exit %d: %s", code, stderr)
	}
	if got := readDir(t, migDir); !equalFiles(got, before) {
		t.Fatalf("a refused change wrote files: %v", keys(got))
	}
	if code, _, stderr := gen("--allow-destructive"); code != 0 {
		t.Fatalf("forced: exit %d: %s", code, stderr)
	}
	forced := readDir(t, migDir)["0002_events_destructive.up.sql"]
	if !strings.Contains(forced, "DESTRUCTIVE") || !strings.Contains(forced, "ALTER TABLE event ALTER COLUMN id TYPE text USING id::text;") {
		t.Fatalf("forced migration:\n%s", forced)
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

func equalFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
