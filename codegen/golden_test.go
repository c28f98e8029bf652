package codegen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and the committed example from the generator")

// goldenCase generates entities into want, a folder of files: the committed
// example or testdata/<case>/golden.
type goldenCase struct {
	name     string
	entities string
	want     string
	opts     Options
	// owned limits the comparison to these top folders of want (the example
	// folder also holds hand-written files).
	owned []string
}

func goldenCases(t *testing.T) []goldenCase {
	cases := []goldenCase{{
		name:     "tpch",
		entities: "../examples/tpch/entities",
		want:     "../examples/tpch",
		opts:     Options{Package: "tpch", ModulePath: "github.com/nomnom-io/nomnom/examples/tpch"},
		owned:    []string{"tpch", "cmd", "migrations"},
	}}
	dirs, err := filepath.Glob("testdata/golden/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		name := filepath.Base(d)
		cases = append(cases, goldenCase{
			name:     name,
			entities: filepath.Join(d, "entities"),
			want:     filepath.Join(d, "out"),
			opts:     Options{Package: name, ModulePath: "example.com/" + name},
		})
	}
	return cases
}

// TestGolden regenerates every case and compares byte for byte. The tpch
// case is the committed example: this is how CI fails on stale generated
// code (go test ./codegen -update regenerates it, as does go generate).
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := Load(c.entities)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			got, err := Generate(m, c.opts)
			if err != nil {
				t.Fatalf("generate: %v", err)
			}
			again, err := Generate(m, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range got {
				if !bytes.Equal(data, again[name]) {
					t.Errorf("%s differs between two runs", name)
				}
				if !IsGenerated(data) {
					t.Errorf("%s does not start with the generated header", name)
				}
			}
			if *update {
				writeGolden(t, c, got)
			}
			compareGolden(t, c, got)
		})
	}
}

// hasHeader reports whether a file starts with the generated header of Go,
// SQL, or Dockerfile and YAML files.
func (c goldenCase) existing(t *testing.T) map[string]bool {
	out := map[string]bool{}
	roots := c.owned
	if roots == nil {
		roots = []string{"."}
	}
	for _, r := range roots {
		filepath.WalkDir(filepath.Join(c.want, r), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			data, _ := os.ReadFile(path)
			if IsGenerated(data) {
				rel, _ := filepath.Rel(c.want, path)
				out[filepath.ToSlash(rel)] = true
			}
			return nil
		})
	}
	return out
}

func writeGolden(t *testing.T, c goldenCase, got map[string][]byte) {
	for name := range c.existing(t) {
		if _, ok := got[name]; !ok {
			os.Remove(filepath.Join(c.want, name))
		}
	}
	for name, data := range got {
		path := filepath.Join(c.want, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func compareGolden(t *testing.T, c goldenCase, got map[string][]byte) {
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		want, err := os.ReadFile(filepath.Join(c.want, name))
		if err != nil {
			t.Errorf("%s: %v (run go test ./codegen -update)", name, err)
			continue
		}
		if !bytes.Equal(want, got[name]) {
			t.Errorf("%s is stale: it differs from what the generator writes now (run go test ./codegen -update, or go generate ./examples/tpch/...)\n%s", name, firstDiff(string(want), string(got[name])))
		}
	}
	for name := range c.existing(t) {
		if _, ok := got[name]; !ok {
			t.Errorf("%s is a generated file the generator no longer writes; delete it", name)
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + itoa(i+1) + ":\n  committed: " + x + "\n  generated: " + y
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }
