package codegen

import (
	"strings"
	"testing"
)

// TestOwners checks which ancestor owns the rows of a repeated entity:
// the farthest one, with onConflict update, whose key it copies.
func TestOwners(t *testing.T) {
	t.Parallel()
	r := strings.NewReplacer
	cases := []struct {
		name  string
		text  string
		owner string // table of the owner of Line, or ""
	}{
		{"copies the parent key", order + "---\n" + line, "orders"},
		{"parent keeps its first write", r("table: orders", "table: orders\n    onConflict: ignore").Replace(order) + "---\n" + line, ""},
		{"no copy of the parent key", order + "---\n" + r("      source: {copyFrom: {entity: Order, field: order_key}}\n", "").Replace(line), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := LoadFiles(map[string][]byte{"e.yaml": []byte(c.text)})
			if err != nil {
				t.Fatal(err)
			}
			v := newView(m, Options{Package: "shop", Name: "shop", ModulePath: "example.com/shop"})
			var got string
			for _, e := range v.Tables {
				if e.Name == "Line" {
					if o, _, _ := e.owner(); o != nil {
						got = o.Table
					}
					if (e.Delete() != "") != (got != "") {
						t.Errorf("Delete %q with owner %q", e.Delete(), got)
					}
				}
			}
			if got != c.owner {
				t.Fatalf("owner of Line = %q, want %q", got, c.owner)
			}
		})
	}
}

// TestGrandchildOwnedByRoot checks that an item two levels down that
// copies the root's key follows the root, through a copy of a copy.
func TestGrandchildOwnedByRoot(t *testing.T) {
	t.Parallel()
	m, err := Load("testdata/golden/nested/entities")
	if err != nil {
		t.Fatal(err)
	}
	v := newView(m, Options{Package: "nested", Name: "nested", ModulePath: "example.com/nested"})
	for _, e := range v.Tables {
		o, scope, key := e.owner()
		switch e.Table {
		case "packages", "package_items", "shipment_tags":
			if o == nil || o.Table != "shipments" || len(scope) != 1 || len(key) != 1 {
				t.Errorf("%s: owner %v, scope %v, key %v; want shipments", e.Table, o, scope, key)
			}
		default:
			if o != nil {
				t.Errorf("%s (not repeated) owned by %s", e.Table, o.Table)
			}
		}
	}
}
