package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedSampleData checks that the committed files are what the
// generator writes, so the data stays reproducible.
func TestCommittedSampleData(t *testing.T) {
	t.Parallel()
	for name, want := range Files(300) {
		got, err := os.ReadFile(filepath.Join("..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s is stale: run go run ./examples/tpch/sampledata", name)
		}
	}
}
