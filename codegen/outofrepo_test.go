package codegen

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
			// Modules come from this machine's cache, or from the module
			// proxy for what a fresh cache lacks: tidying a generated module
			// reads go.mod files of old versions (go-logr/logr v1.2.2, say)
			// that nomnom's own pruned build never needs.
			env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
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
			name := opts.Name
			if name == "" {
				name = opts.Package
			}
			dockerfile := filepath.Join("cmd", name+"-worker", "Dockerfile")
			data, err := os.ReadFile(filepath.Join(dir, dockerfile))
			if err != nil {
				t.Fatalf("no Dockerfile for the worker: %v", err)
			}
			if want := module + "/cmd/" + name + "-worker"; !strings.Contains(string(data), want) {
				t.Fatalf("%s does not build %s", dockerfile, want)
			}
			if c.name == "minimal" {
				// One image is enough to show the Dockerfile builds a
				// working worker; the replace to this checkout is not in
				// the build context, so the module is vendored first.
				run("mod", "vendor")
				t.Run("docker build", func(t *testing.T) {
					buildWorkerImage(t, repo, dir, dockerfile, name+"-worker")
				})
			}
		})
	}
}

// buildWorkerImage builds the generated Dockerfile of a module with
// Docker, the command its header gives, and runs the image: the binary is
// the entry point, the user is not root and there is no shell.
func buildWorkerImage(t *testing.T, repo, dir, dockerfile, binary string) {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("docker is not available (`docker info`: %v): %s was generated and checked, not built", err, dockerfile)
	}
	goImage := goImage(t)
	tag := "nomnom-outofrepo/" + binary + ":test"
	docker := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	build := exec.Command(filepath.Join(repo, "deploy", "images", "docker-build.sh"),
		"-f", dockerfile, "--build-arg", "GO_IMAGE="+goImage, "--build-arg", "VERSION=outofrepo", "-t", tag, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build -f %s: %v\n%s", dockerfile, err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	if got, want := docker("run", "--rm", tag, "version"), binary+" outofrepo"; got != want {
		t.Errorf("docker run %s version: %q, want %q", tag, got, want)
	}
	if user := docker("image", "inspect", "-f", "{{.Config.User}}", tag); user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("image user %q, want a non-root user", user)
	}
	if out, err := exec.Command("docker", "run", "--rm", "--entrypoint", "/bin/sh", tag, "-c", "true").CombinedOutput(); err == nil {
		t.Errorf("the image has a shell: %s", out)
	}
}

// goImage is the Go image the Dockerfile builds with: $GO_IMAGE, the
// official golang:1.26, or the stand-in `make images` builds where Docker
// Hub cannot be reached.
func goImage(t *testing.T) string {
	t.Helper()
	standin := "nomnom-standin/golang:" + strings.TrimPrefix(runtime.Version(), "go")
	candidates := []string{os.Getenv("GO_IMAGE"), "golang:1.26", standin}
	for _, image := range candidates {
		if image != "" && exec.Command("docker", "image", "inspect", image).Run() == nil {
			return image
		}
	}
	if exec.Command("docker", "pull", "golang:1.26").Run() == nil {
		return "golang:1.26"
	}
	t.Fatalf("docker is here but no Go image is: golang:1.26 cannot be pulled and %s is absent; run `make images` (or set GO_IMAGE)", standin)
	return ""
}
