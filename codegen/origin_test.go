package codegen

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readDir reads every YAML file of dir, keyed by path, as Load does.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no definitions in %s (%v)", dir, err)
	}
	files := map[string][]byte{}
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = data
	}
	return files
}

// The origin's legacy TPC-H definitions load into the model nomnom's own
// example has: roots chosen by fields, line items repeated for the array
// the List[Object] field named (which is no column), keys copied.
func TestOriginLegacy(t *testing.T) {
	t.Parallel()
	m, err := Load("testdata/golden/originlegacy/entities")
	if err != nil {
		t.Fatal(err)
	}
	order, line, customer := m.Entity("Order"), m.Entity("OrderLineItem"), m.Entity("Customer")
	if order.Format != FormatOriginLegacy || order.Type != "root" || order.Persistence.Table != "orders" || order.Field("line_items") != nil {
		t.Fatalf("order: %+v", order)
	}
	if c := order.Field("comment"); c.Constraints.MaxLength == nil || *c.Constraints.MaxLength != 200 || !c.Constraints.Nullable {
		t.Errorf("field_overrides not merged into comment: %+v", c.Constraints)
	}
	if customer.Type != "root" || customer.Field("account_balance").Type.Base != "float" {
		t.Errorf("reference entity: %+v", customer)
	}
	rf := line.Derivation.RepeatedFor
	if line.Type != "derived" || line.Repetition != "repeated" || rf == nil || rf.Entity != "Order" || rf.Field != "line_items" || rf.ItemName != "item" {
		t.Fatalf("line item derivation: %+v", line.Derivation)
	}
	if cf := line.Field("order_key").Source.CopyFrom; cf == nil || cf.Entity != "Order" || cf.Field != "order_key" {
		t.Errorf("copy_field: %+v", line.Field("order_key").Source)
	}
	if f := line.Field("tax"); f.Source.Field != "tax" || !f.Constraints.Nullable {
		t.Errorf("extract_field: %+v", f.Source)
	}
	if got := line.Persistence.Unicity; strings.Join(got, ",") != "order_key,line_number" {
		t.Errorf("unicity %v", got)
	}
}

// The origin's nomnom.io/v1 documents: camelCase keys read from the
// message into snake_case columns, labels and annotations kept, doc as the
// description, flat copyFrom through a parent's name, string transforms
// with positional args, derivation.parents resolved to one line of descent.
func TestOriginV1(t *testing.T) {
	t.Parallel()
	m, err := Load("testdata/golden/originv1/entities")
	if err != nil {
		t.Fatal(err)
	}
	cart, line, promo := m.Entity("Cart"), m.Entity("CartLine"), m.Entity("LinePromotion")
	if cart.Format != FormatOriginV1 || cart.Labels["domain"] != "retail" || cart.Annotations["owner"] != "checkout-team" ||
		cart.Description != "A shopping cart as the storefront sends it" {
		t.Fatalf("cart metadata: %+v", cart)
	}
	if f := cart.Field("customer_name"); f == nil || f.Source.Field != "customerName" || !f.Constraints.Nullable {
		t.Fatalf("customerName: %+v", f)
	}
	if f := cart.Field("cart_id"); f.Description != "Cart identifier" || !f.Constraints.PrimaryKey {
		t.Errorf("cartId: %+v", f)
	}
	if f := cart.Field("tags"); f.Type.String() != "string[]" || f.Constraints.MaxLength == nil || *f.Constraints.MaxLength != 20 {
		t.Errorf("tags: %s %+v", f.Type, f.Constraints)
	}
	if ix := cart.Persistence.Indexes; len(ix) != 1 || strings.Join(ix[0].Fields, ",") != "store_code,created_at" {
		t.Errorf("indexes %+v", ix)
	}
	if tr := line.Field("label").Source.Transform; tr == nil || tr.Name != "concat" || tr.Args["separator"] != "/" || strings.Join(tr.Inputs, ",") != "line.sku,line.size" {
		t.Errorf("concat: %+v", tr)
	}
	if strings.Join(line.Persistence.Unicity, ",") != "cart_id,line_no" {
		t.Errorf("unicity %v", line.Persistence.Unicity)
	}
	if promo.Derivation.Parent != "CartLine" || promo.Type != "derived" {
		t.Fatalf("parents: %+v", promo.Derivation)
	}
	if cf := promo.Field("store_code").Source.CopyFrom; cf == nil || cf.Entity != "Cart" || cf.Field != "store_code" {
		t.Errorf("copyFrom through a parent's name: %+v", cf)
	}
	if promo.Persistence.Unicity == nil || promo.Field("promo_code").Source.Field != "promo.code" {
		t.Errorf("promotion: %+v", promo)
	}
}

// nomnom's own format loads under its own apiVersion and, for files written
// before it had one, under nomnom.io/v1; both give the same code.
func TestOwnFormatUnderBothVersions(t *testing.T) {
	t.Parallel()
	old := readDir(t, "testdata/golden/nested/entities")
	renamed := map[string][]byte{}
	for name, data := range old {
		if !bytes.Contains(data, []byte("apiVersion: "+SharedAPIVersion)) {
			t.Fatalf("%s: the nested case is meant to keep the old apiVersion", name)
		}
		renamed[name] = bytes.ReplaceAll(data, []byte("apiVersion: "+SharedAPIVersion), []byte("apiVersion: "+APIVersion))
	}
	a, err := LoadFiles(old)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadFiles(renamed)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range a.Entities {
		if e.Format != FormatNomnom {
			t.Fatalf("%s read as %s", e.Name, e.Format)
		}
	}
	sameCode(t, a, b)
}

func sameCode(t *testing.T, a, b *Model) {
	t.Helper()
	opts := Options{Package: "acme", ModulePath: "example.com/acme"}
	ga, err := Generate(a, opts)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := Generate(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(ga) != len(gb) {
		t.Fatalf("%d files against %d", len(ga), len(gb))
	}
	for name, data := range ga {
		if !bytes.Equal(data, gb[name]) {
			t.Errorf("%s differs:\n%s", name, firstDiff(string(data), string(gb[name])))
		}
	}
}

// Convert rewrites origin files into nomnom's format; the result loads as
// nomnom's own and generates exactly the code the origin files do.
func TestConvert(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"testdata/golden/originlegacy/entities", "testdata/golden/originv1/entities", "../examples/tpch/entities"} {
		t.Run(filepath.Base(filepath.Dir(dir)), func(t *testing.T) {
			files := readDir(t, dir)
			converted, err := Convert(files)
			if err != nil {
				t.Fatal(err)
			}
			if len(converted) != len(files) {
				t.Fatalf("%d files converted from %d", len(converted), len(files))
			}
			for name, data := range converted {
				if !bytes.HasPrefix(data, []byte("apiVersion: "+APIVersion+"\n")) {
					t.Fatalf("%s does not start with apiVersion %s:\n%s", name, APIVersion, data)
				}
			}
			orig, err := LoadFiles(files)
			if err != nil {
				t.Fatal(err)
			}
			conv, err := LoadFiles(converted)
			if err != nil {
				t.Fatalf("converted files do not load: %v", err)
			}
			for _, e := range conv.Entities {
				if e.Format != FormatNomnom {
					t.Fatalf("%s converted reads as %s", e.Name, e.Format)
				}
			}
			sameCode(t, orig, conv)
			again, err := Convert(converted)
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range converted {
				if !bytes.Equal(again[name], data) {
					t.Errorf("converting %s twice changes it", name)
				}
			}
		})
	}
}

// What nomnom cannot express is an error at the construct's line that
// says what to write instead.
func TestOriginUnsupported(t *testing.T) {
	t.Parallel()
	v1 := func(spec string) string {
		return "apiVersion: nomnom.io/v1\nkind: Entity\nmetadata:\n  name: Diagnosis\n  labels: {domain: healthcare}\nspec:\n" + spec
	}
	legacy := func(fields string) string {
		return "entity:\n  name: Order\n  source_type: root\n  fields:\n" + fields
	}
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"hl7 transform", v1("  type: root\n  fields:\n    - name: diagnosisCode\n      type: string\n      source:\n        transform: extractFromHl7Segment\n        inputs: [segment]\n        args: [\"DG1.3.1\"]\n"),
			[]string{`e.yaml:12: spec.fields[0].source.transform: transform "extractFromHl7Segment" is not built into nomnom`, "func extractFromHl7Segment(inputs []any, args map[string]string) (any, error)", "go:extractFromHl7Segment"}},
		{"default now()", v1("  type: root\n  fields:\n    - name: id\n      type: string\n      constraints: {primaryKey: true}\n    - name: createdAt\n      type: timestamp\n      constraints:\n        default: now()\n"),
			[]string{"e.yaml:15: spec.fields[1].constraints.default: default now() (the database's clock) cannot be expressed", "go:now"}},
		{"legacy mapping", v1("  type: root\n  fields:\n    - {name: id, type: string, constraints: {primaryKey: true}}\n  persistence:\n    table: dx\n    legacyMapping:\n      enabled: true\n      table: dx_legacy\n"),
			[]string{"e.yaml:13: spec.persistence.legacyMapping: legacyMapping (a second, legacy table) cannot be expressed"}},
		{"gin index", v1("  type: root\n  fields:\n    - {name: id, type: string, constraints: {primaryKey: true}}\n    - {name: codes, type: json}\n  persistence:\n    indexes:\n      - {fields: [codes], method: gin}\n"),
			[]string{`e.yaml:13: spec.persistence.indexes[0].method: index method "gin" cannot be expressed`}},
		{"parents on two lines", v1("  type: derived\n  derivation:\n    parents:\n      - {name: a, entity: Filename}\n      - {name: b, entity: Message}\n  fields:\n    - {name: facilityId, type: string, source: {copyFrom: a, field: facilityId}}\n  persistence: {enabled: false}\n") +
			"---\napiVersion: nomnom.io/v1\nkind: Entity\nmetadata: {name: Filename}\nspec:\n  type: root\n  fields:\n    - {name: facility_id, type: string}\n  persistence: {enabled: false}\n" +
			"---\napiVersion: nomnom.io/v1\nkind: Entity\nmetadata: {name: Message}\nspec:\n  type: root\n  fields:\n    - {name: text, type: string}\n  persistence: {enabled: false}\n",
			[]string{"e.yaml:9: spec.derivation.parents: parents Filename, Message are not on one line of descent"}},
		{"repeatedFor over a go transform's camelCase output", "apiVersion: nomnom.io/v1\nkind: Entity\nmetadata: {name: Hl7Message}\nspec:\n  type: root\n  fields:\n    - {name: messageId, type: string, constraints: {primaryKey: true}}\n    - {name: rawText, type: string}\n    - name: dg1Segments\n      type: json\n      source:\n        transform: go:dg1Segments\n        inputs: [rawText]\n  persistence: {enabled: false}\n" +
			"---\napiVersion: nomnom.io/v1\nkind: Entity\nmetadata: {name: Diagnosis}\nspec:\n  type: derived\n  derivation:\n    repeatedFor: {entity: Hl7Message, field: dg1Segments, itemName: segment}\n  fields:\n    - {name: code, type: string}\n",
			[]string{`e.yaml:22: spec.derivation.repeatedFor.field: Hl7Message.dg1_segments (e.yaml:9) is computed by the transform go:dg1Segments, while repeatedFor.field "dg1Segments" is looked up as a path in Hl7Message's object in the message`}},
		{"legacy transform", legacy("    - name: line_item_count\n      type: Integer\n      computed_from:\n        transform: count_children\n        sources: []\n        args: {child_entity: OrderLineItem}\n"),
			[]string{`e.yaml:8: entity.fields[0].computed_from.transform: transform "count_children" has no nomnom equivalent`, "go:countChildren"}},
		{"legacy type", legacy("    - {name: tags, type: \"Map[String]\"}\n"),
			[]string{`e.yaml:5: entity.fields[0].type: unknown legacy type "Map[String]"`}},
		{"legacy override of no field", legacy("    - {name: order_key, type: String}\n  persistence:\n    database: {conformant_table: orders, unicity_fields: [order_key]}\n    field_overrides:\n      - {name: orderkey, type: String}\n"),
			[]string{`e.yaml:9: entity.persistence.field_overrides[0].name: field_overrides names "orderkey", which is not a field of Order`}},
		{"legacy unknown key", legacy("    - {name: order_key, type: String, extraction: {copy_from_source: X}}\n"),
			[]string{`entity.fields[0].extraction: unknown key "extraction"`}},
		{"unknown apiVersion", "apiVersion: nomnom.io/v2\nkind: Entity\nmetadata: {name: X}\nspec: {type: root, fields: [{name: a, type: string}]}\n",
			[]string{`e.yaml:1: apiVersion: unsupported apiVersion "nomnom.io/v2" (want nomnom.dev/v1`}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFiles(map[string][]byte{"e.yaml": []byte(tt.doc)})
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("got %v, want an ErrorList", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q:\n%v", w, err)
				}
			}
		})
	}
}
