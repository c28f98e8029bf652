// Command testprogress turns `go test -json` into a short live report: one
// line per package as it finishes, one line per top-level test of the slow
// packages as it finishes (so a five-minute end-to-end package is not five
// silent minutes), and the whole output of every failed test and build.
//
//	go test -json ./... | go run ./internal/testprogress
//
// It exits 1 when any test, package or build failed, so a pipeline with
// pipefail fails as `go test` would.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Elapsed    float64
	Output     string
}

// slowTest is how long a top-level test runs before its result gets a line of
// its own; quicker ones are only counted in their package's line.
const slowTest = 2 * time.Second

func main() {
	failed, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testprogress:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// report reads events from r and writes the report to w; it says whether
// anything failed.
func report(r io.Reader, w io.Writer) (bool, error) {
	out := map[string][]string{} // package/test → its output lines, kept until it passes
	counts := map[string]int{}   // package → tests passed
	failed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(w, sc.Text()) // not an event: a line of go itself
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "build-fail":
			failed = true
		case "output":
			out[key] = append(out[key], e.Output)
		case "pass", "skip":
			if e.Test == "" {
				fmt.Fprintf(w, "%-4s %s\t%.1fs\t(%d tests)\n", statusWord(e.Action), e.Package, e.Elapsed, counts[e.Package])
			} else if !strings.Contains(e.Test, "/") {
				counts[e.Package]++
				if time.Duration(e.Elapsed*float64(time.Second)) >= slowTest {
					fmt.Fprintf(w, "     %s %s\t%.1fs\n", e.Package, e.Test, e.Elapsed)
				}
			}
			delete(out, key)
		case "fail":
			failed = true
			if e.Test == "" {
				for _, line := range out[key] {
					fmt.Fprint(w, line)
				}
				fmt.Fprintf(w, "FAIL %s\t%.1fs\n", e.Package, e.Elapsed)
			} else {
				fmt.Fprintf(w, "--- FAIL: %s %s (%.1fs)\n", e.Package, e.Test, e.Elapsed)
				for _, line := range out[key] {
					fmt.Fprint(w, "    ", line)
				}
			}
			delete(out, key)
		}
	}
	return failed, sc.Err()
}

func statusWord(action string) string {
	if action == "skip" {
		return "skip"
	}
	return "ok"
}
