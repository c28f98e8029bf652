package codegen

import (
	"os"
	"path/filepath"
	"testing"
)

// noInputs is an entity whose go: transform reads nothing but its args.
const noInputs = "apiVersion: nomnom.io/v1\nkind: Entity\nmetadata: {name: Stamp}\nspec:\n  type: root\n" +
	"  fields:\n    - {name: stampId, type: string, constraints: {primaryKey: true}}\n" +
	"    - name: batchLabel\n      type: string\n      source:\n        transform: go:batchLabel\n        inputs: []\n        args: [\"nightly\"]\n"

// mustGenerate fails t when files validate but do not generate; a panic
// fails it as well.
func mustGenerate(t *testing.T, files map[string][]byte) {
	t.Helper()
	m, err := LoadFiles(files)
	if err != nil {
		return
	}
	if _, err := Generate(m, Options{Package: "fuzzed", ModulePath: "example.com/fuzzed"}); err != nil {
		t.Fatalf("validated, then generate failed: %v", err)
	}
}

// goldenFiles reads the entity files of every golden case.
func goldenFiles(t testing.TB) []map[string][]byte {
	var out []map[string][]byte
	for _, c := range goldenCases(nil) {
		paths, _ := filepath.Glob(filepath.Join(c.entities, "*.y*ml"))
		if len(paths) == 0 {
			t.Fatalf("no entity file in %s", c.entities)
		}
		files := map[string][]byte{}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Base(p)] = b
		}
		out = append(out, files)
	}
	return out
}

// TestValidatedGenerates checks that every golden case, and a go: transform
// with no inputs, generate once they validate.
func TestValidatedGenerates(t *testing.T) {
	t.Parallel()
	m, err := LoadFiles(map[string][]byte{"stamp.yaml": []byte(noInputs)})
	if err != nil {
		t.Fatalf("a go: transform with inputs: [] does not validate: %v", err)
	}
	if _, err := Generate(m, Options{Package: "stamp", ModulePath: "example.com/stamp"}); err != nil {
		t.Fatalf("generate: %v", err)
	}
	for _, files := range goldenFiles(t) {
		mustGenerate(t, files)
	}
}

// FuzzValidateGenerate mutates one entity document: whatever validates must
// generate, and neither may panic.
func FuzzValidateGenerate(f *testing.F) {
	f.Add([]byte(noInputs))
	for _, files := range goldenFiles(f) {
		for _, b := range files {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		mustGenerate(t, map[string][]byte{"e.yaml": doc})
	})
}
