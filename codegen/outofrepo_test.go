package codegen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutOfRepoBuild generates each case into a module of its own, outside
// nomnom's, that requires nomnom through a replace to this checkout, and
// builds it: the path a user's project takes. Cases with a testdata/extra
// folder also get those hand-written files (Go transforms, tests) and run
// their tests.
func TestOutOfRepoBuild(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build a generated module")
	}
	if testing.Short() {
		t.Skip("builds whole modules; skipped with -short")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			module := "example.com/acme"
			opts := c.opts
			opts.ModulePath = module
			m, err := Load(c.entities)
			if err != nil {
				t.Fatal(err)
			}
			files, err := Generate(m, opts)
			if err != nil {
				t.Fatal(err)
			}
			gomod := "module " + module + "\n\ngo 1.26\n\nrequire github.com/nomnom-io/nomnom v0.0.0\n\nreplace github.com/nomnom-io/nomnom => " + repo + "\n"
			files["go.mod"] = []byte(gomod)
			files["go.sum"] = sum
			extra := filepath.Join("testdata", "extra", c.name)
			if entries, err := os.ReadDir(extra); err == nil {
				for _, e := range entries {
					data, err := os.ReadFile(filepath.Join(extra, e.Name()))
					if err != nil {
						t.Fatal(err)
					}
					files[filepath.Join(opts.Package, strings.TrimSuffix(e.Name(), ".txt"))] = data
				}
			}
			for name, data := range files {
				path := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Offline: every module comes from this machine's cache, as
			// nomnom's own build does.
			env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
			run := func(args ...string) {
				cmd := exec.Command(goBin, args...)
				cmd.Dir = dir
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			run("mod", "tidy", "-e")
			run("build", "./...")
			run("vet", "./...")
			if _, err := os.Stat(extra); err == nil {
				run("test", "-count=1", "./...")
			}
		})
	}
}
