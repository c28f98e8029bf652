package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/nomnom-io/nomnom/codegen"
	"github.com/nomnom-io/nomnom/internal/envflag"
)

// runGenerate writes the worker generated from entity definitions and
// removes the files it generated before that are no longer produced.
func runGenerate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := envflag.New("generate")
	var entities, out, pkg, module, name string
	var allowDestructive bool
	f.String(&entities, "entities", "NOMNOM_ENTITIES", "entities", "folder of entity definitions (*.yaml, *.yml)")
	f.String(&out, "out", "NOMNOM_OUT", ".", "output folder: <package>/, cmd/<name>-worker/ and migrations/ go under it")
	f.String(&pkg, "package", "NOMNOM_PACKAGE", "", "Go package name of the entities (default: the output folder's name)")
	f.String(&module, "module", "NOMNOM_MODULE", "", "import path of the output folder (default: found from the enclosing go.mod)")
	f.String(&name, "name", "NOMNOM_NAME", "", "worker name: binary <name>-worker, migration files and their version table (default: the package)")
	f.BoolVar(&allowDestructive, "allow-destructive", false, "generate changes that may lose or reject existing data (drop, type change, NOT NULL, new unicity) as a migration of their own instead of refusing them")
	f.SetOutput(stderr)
	if err := f.Parse(args); err != nil {
		return err
	}
	m, err := loadEntities(entities, stderr)
	if err != nil {
		return err
	}
	opts := codegen.Options{Package: pkg, ModulePath: module, Name: name, AllowDestructive: allowDestructive,
		Migrations: os.DirFS(filepath.Join(out, "migrations"))}
	if opts.Package == "" {
		opts.Package = defaultPackage(out)
	}
	if opts.ModulePath == "" {
		if opts.ModulePath, err = modulePath(out); err != nil {
			return err
		}
	}
	files, err := codegen.Generate(m, opts)
	var list codegen.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(stderr, e.Error())
		}
		return fmt.Errorf("%d change(s) refused; nothing written", len(list))
	}
	if err != nil {
		return err
	}
	return writeGenerated(out, files, stdout)
}

// runValidate checks entity definitions and prints every problem.
func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := envflag.New("validate")
	var entities string
	f.String(&entities, "entities", "NOMNOM_ENTITIES", "entities", "folder of entity definitions (*.yaml, *.yml)")
	f.SetOutput(stderr)
	if err := f.Parse(args); err != nil {
		return err
	}
	m, err := loadEntities(entities, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d entities OK\n", len(m.Entities))
	return nil
}

// loadEntities prints each definition error on a line of its own, the
// form editors and CI annotate.
func loadEntities(dir string, stderr io.Writer) (*codegen.Model, error) {
	m, err := codegen.Load(dir)
	var list codegen.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(stderr, e.Error())
		}
		return nil, fmt.Errorf("%d error(s) in entity definitions", len(list))
	}
	return m, err
}

var nonAlnum = regexp.MustCompile(`[^a-z0-9]`)

func defaultPackage(out string) string {
	abs, err := filepath.Abs(out)
	if err != nil {
		return "entities"
	}
	name := nonAlnum.ReplaceAllString(strings.ToLower(filepath.Base(abs)), "")
	if name == "" || name[0] < 'a' || name[0] > 'z' || name == "main" || name == "migrations" {
		return "entities"
	}
	return name
}

// modulePath finds the import path of dir from the nearest go.mod above it.
func modulePath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			mod := moduleLine(data)
			if mod == "" {
				return "", fmt.Errorf("%s: no module line", filepath.Join(d, "go.mod"))
			}
			rel, err := filepath.Rel(d, abs)
			if err != nil {
				return "", err
			}
			if rel == "." {
				return mod, nil
			}
			return mod + "/" + filepath.ToSlash(rel), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s: create the module first (go mod init) or pass --module", abs)
		}
	}
}

func moduleLine(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// writeGenerated writes files under out (leaving unchanged ones untouched)
// and deletes the files nomnom generated there before that it no longer
// produces. Files without the generated header are the user's and are never
// touched, and neither are migrations: a database may have applied them.
func writeGenerated(out string, files map[string][]byte, stdout io.Writer) error {
	names := make([]string, 0, len(files))
	dirs := map[string]bool{}
	for n := range files {
		names = append(names, n)
		dirs[strings.SplitN(n, "/", 2)[0]] = true
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(out, filepath.FromSlash(n))
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[n]) {
			fmt.Fprintln(stdout, path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[n], 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, path)
	}
	var stale []string
	for d := range dirs {
		root := filepath.Join(out, d)
		err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(out, path)
			if _, ok := files[filepath.ToSlash(rel)]; !ok && !isMigration(rel) && isGenerated(path) {
				stale = append(stale, path)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	sort.Strings(stale)
	for _, path := range stale {
		if err := os.Remove(path); err != nil {
			return err
		}
		os.Remove(filepath.Dir(path)) // only succeeds when the folder is now empty
		fmt.Fprintln(stdout, "removed", path)
	}
	return nil
}

// isMigration reports whether rel (relative to the output folder) is a
// migration file.
func isMigration(rel string) bool {
	dir, file := filepath.Split(filepath.ToSlash(rel))
	return dir == "migrations/" && strings.HasSuffix(file, ".sql")
}

func isGenerated(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := io.ReadFull(f, head)
	return codegen.IsGenerated(head[:n])
}
