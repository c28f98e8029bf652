package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/nomnom-io/nomnom/codegen"
	"github.com/nomnom-io/nomnom/internal/envflag"
)

// runConvert rewrites entity definitions of the origin project (its legacy
// `entity:` files and its nomnom.io/v1 documents) into nomnom's own format.
func runConvert(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := envflag.New("convert")
	var entities, out string
	f.String(&entities, "entities", "NOMNOM_ENTITIES", "entities", "folder (or one file) of entity definitions to convert")
	f.String(&out, "out", "NOMNOM_OUT", "", "folder to write the converted files to, one per input file (empty: print them)")
	f.SetOutput(stderr)
	if err := f.Parse(args); err != nil {
		return err
	}
	files, err := readDefinitions(entities)
	if err != nil {
		return err
	}
	converted, err := codegen.Convert(files)
	var list codegen.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(stderr, e.Error())
		}
		return fmt.Errorf("%d error(s) in entity definitions; nothing converted", len(list))
	}
	if err != nil {
		return err
	}
	names := make([]string, 0, len(converted))
	for n := range converted {
		names = append(names, n)
	}
	sort.Strings(names)
	if out == "" {
		for i, n := range names {
			if i > 0 {
				fmt.Fprintln(stdout, "---")
			}
			fmt.Fprintf(stdout, "# %s\n%s", n, converted[n])
		}
		return nil
	}
	if same, _ := sameDir(out, entities); same {
		return fmt.Errorf("--out %s is the folder being converted; write to another folder", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	for _, n := range names {
		path := filepath.Join(out, n)
		if err := os.WriteFile(path, converted[n], 0o644); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s\n", path)
	}
	return nil
}

// readDefinitions reads one definition file, or every *.yaml and *.yml
// file of a folder.
func readDefinitions(path string) (map[string][]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read entity definitions: %w", err)
	}
	names := []string{path}
	if info.IsDir() {
		names = nil
		for _, pattern := range []string{"*.yaml", "*.yml"} {
			found, _ := filepath.Glob(filepath.Join(path, pattern))
			names = append(names, found...)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("read entity definitions: no *.yaml or *.yml file in %s", path)
		}
	}
	files := map[string][]byte{}
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read entity definitions: %w", err)
		}
		files[n] = data
	}
	return files, nil
}

// sameDir reports whether a and b name the same folder.
func sameDir(a, b string) (bool, error) {
	ia, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	ib, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(ia, ib), nil
}
