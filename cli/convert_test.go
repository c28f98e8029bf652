package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// legacyOrder is an entity in the origin project's legacy format.
const legacyOrder = `entity:
  name: Order
  source_type: root
  fields:
    - {name: order_key, type: String, nullable: false}
    - {name: total_price, type: Float, nullable: false}
  persistence:
    database: {conformant_table: orders, unicity_fields: [order_key]}
`

func TestConvertCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "origin"), filepath.Join(dir, "converted")
	writeFile(t, filepath.Join(in, "order.yaml"), legacyOrder)
	code, stdout, stderr := runCLI(t, "validate", "--entities", in)
	if code != 0 || !strings.Contains(stdout, "1 entities OK") {
		t.Fatalf("validate of a legacy file: %d %s %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "convert", "--entities", in, "--out", out)
	if code != 0 || !strings.Contains(stdout, filepath.Join(out, "order.yaml")) {
		t.Fatalf("convert: %d %s %s", code, stdout, stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "order.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apiVersion: nomnom.dev/v1", "name: total_price\n      type: float", "table: orders", "fields: [order_key]"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("converted file lacks %q:\n%s", want, data)
		}
	}
	if code, stdout, stderr := runCLI(t, "validate", "--entities", out); code != 0 {
		t.Fatalf("converted file does not validate: %s %s", stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "convert", "--entities", filepath.Join(in, "order.yaml"))
	if code != 0 || !strings.HasPrefix(stdout, "# order.yaml\napiVersion: nomnom.dev/v1\n") {
		t.Fatalf("convert to stdout: %d %q", code, stdout)
	}
	if code, _, stderr := runCLI(t, "convert", "--entities", in, "--out", in); code != 1 || !strings.Contains(stderr, "write to another folder") {
		t.Fatalf("convert onto itself: %d %s", code, stderr)
	}
	writeFile(t, filepath.Join(in, "bad.yaml"), "entity:\n  name: Bad\n  fields:\n    - {name: n, type: Integer, computed_from: {transform: count_children}}\n")
	code, _, stderr = runCLI(t, "convert", "--entities", in, "--out", filepath.Join(dir, "none"))
	if code != 1 || !strings.Contains(stderr, "bad.yaml:4: entity.fields[0].computed_from.transform") || !strings.Contains(stderr, "go:countChildren") {
		t.Fatalf("convert of an inexpressible transform: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); !os.IsNotExist(err) {
		t.Fatal("a failed convert wrote files")
	}
}
