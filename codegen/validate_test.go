package codegen

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// order is a valid definition the cases below break one rule at a time.
const order = `apiVersion: nomnom.io/v1
kind: Entity
metadata:
  name: Order
spec:
  type: root
  fields:
    - name: order_key
      type: bigint
      constraints: {primaryKey: true}
    - name: line_items
      type: json
      constraints: {nullable: true}
  persistence:
    table: orders
`

const line = `apiVersion: nomnom.io/v1
kind: Entity
metadata:
  name: Line
spec:
  type: derived
  derivation:
    repeatedFor: {entity: Order, field: line_items}
  fields:
    - name: order_key
      type: bigint
      source: {copyFrom: {entity: Order, field: order_key}}
    - name: line_number
      type: integer
  persistence:
    unicity: {fields: [order_key, line_number]}
`

func TestValidDefinitions(t *testing.T) {
	t.Parallel()
	m, err := LoadFiles(map[string][]byte{"e/order.yaml": []byte(order + "---\n" + line)})
	if err != nil {
		t.Fatalf("valid definitions refused:\n%v", err)
	}
	if len(m.Entities) != 2 || m.Entity("Line").Persistence.Table != "line" || m.Entity("Line").Repetition != "repeated" {
		t.Fatalf("unexpected model: %+v", m.Entities)
	}
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	r := strings.NewReplacer
	cases := []struct {
		name string
		text string
		want string // substring of one error, with file:line
	}{
		{"yaml syntax", order + "  bad: [\n", "e.yaml:16: invalid YAML"},
		{"unknown key", r("  type: root\n", "  type: root\n  colour: red\n").Replace(order), "e.yaml:7: spec.colour: unknown key \"colour\""},
		{"unknown field key", r("      type: bigint\n", "      type: bigint\n      nulable: true\n").Replace(order), "e.yaml:10: spec.fields[0].nulable: unknown key"},
		{"wrong yaml type", r("{primaryKey: true}", "{primaryKey: yes please}").Replace(order), "e.yaml:10: spec.fields[0].constraints.primaryKey: expected true or false"},
		{"wrong yaml type list", "apiVersion: nomnom.io/v1\nkind: Entity\nmetadata: {name: X}\nspec:\n  type: root\n  fields: {a: 1}\n", "e.yaml:6: spec.fields: expected a list, got a mapping"},
		{"unknown type", r("type: bigint", "type: bigintt").Replace(order), "e.yaml:9: spec.fields[0].type: unknown type \"bigintt\""},
		{"array spelled array<>", r("type: bigint", "type: array<integer>").Replace(order), "write arrays as T[]"},
		{"missing required key", r("      type: bigint\n", "").Replace(order), "e.yaml:8: spec.fields[0].type: missing required key \"type\""},
		{"missing metadata", r("metadata:\n  name: Order\n", "").Replace(order), "e.yaml:1: metadata: missing required key"},
		{"bad apiVersion", r("nomnom.io/v1", "nomnom.io/v2").Replace(order), "e.yaml:1: apiVersion: unsupported apiVersion"},
		{"duplicate entity", order + "---\n" + r("table: orders", "table: orders2").Replace(order), "e.yaml:20: metadata.name: duplicate entity \"Order\" (first defined at e.yaml:4)"},
		{"duplicate field", r("name: line_items", "name: order_key").Replace(order), "e.yaml:11: spec.fields[1].name: duplicate field \"order_key\""},
		{"bad entity name", r("name: Order", "name: order").Replace(order), "must be PascalCase"},
		// Under nomnom.io/v1 a camelCase name is the origin's JSON key (see
		// TestOriginV1); nomnom's own apiVersion keeps names snake_case.
		{"bad field name", r("name: line_items", "name: LineItems", "nomnom.io/v1", APIVersion).Replace(order), "e.yaml:11: spec.fields[1].name: field name \"LineItems\" must be snake_case"},
		{"reserved column", r("name: line_items", "name: select").Replace(order), "e.yaml:11: spec.fields[1].name: \"select\" is a reserved SQL word"},
		{"reserved table", r("table: orders", "table: order").Replace(order), "e.yaml:15: spec.persistence.table: table name \"order\" is a reserved SQL word"},
		{"default table reserved", r("  persistence:\n    table: orders\n", "").Replace(order), "table name \"order\" is a reserved SQL word"},
		{"two entities one table", order + "---\n" + r("name: Order", "name: Order2").Replace(order), "e.yaml:31: spec.persistence.table: table \"orders\" is also the table of Order"},
		{"repeatedFor missing entity", order + "---\n" + r("entity: Order, field: line_items", "entity: Ordr, field: line_items").Replace(line), "e.yaml:24: spec.derivation.repeatedFor.entity: unknown entity \"Ordr\""},
		{"repeatedFor non-array field", r("type: json", "type: string").Replace(order) + "---\n" + line, "Order.line_items is declared as string at e.yaml:11, not an array"},
		{"parent missing", order + "---\n" + r("repeatedFor: {entity: Order, field: line_items}", "parent: Nope").Replace(line), "e.yaml:24: spec.derivation.parent: unknown entity \"Nope\""},
		{"derivation on root", r("  type: root\n", "  type: root\n  derivation: {parent: Order}\n").Replace(order), "e.yaml:7: spec.derivation: a root entity has no derivation"},
		{"derived without derivation", order + "---\n" + r("  derivation:\n    repeatedFor: {entity: Order, field: line_items}\n", "").Replace(line), "a derived entity needs a derivation"},
		{"repetition mismatch", order + "---\n" + r("  type: derived\n", "  type: derived\n  repetition: singleton\n").Replace(line), "repetition \"singleton\" does not match the derivation"},
		{"derivation cycle", order + "---\n" +
			r("name: Line", "name: A", "repeatedFor: {entity: Order, field: line_items}", "parent: B", "{entity: Order, field: order_key}", "{entity: B, field: order_key}").Replace(line) + "---\n" +
			r("name: Line", "name: B", "repeatedFor: {entity: Order, field: line_items}", "parent: A", "{entity: Order, field: order_key}", "{entity: A, field: order_key}").Replace(line),
			"spec.derivation: derivation cycle: A → B → A"},
		{"copyFrom missing field", order + "---\n" + r("field: order_key}", "field: order_id}").Replace(line), "e.yaml:28: spec.fields[0].source.copyFrom.field: Order has no field \"order_id\""},
		{"copyFrom missing entity", order + "---\n" + r("{entity: Order, field: order_key}", "{entity: Nope, field: order_key}").Replace(line), "copyFrom.entity: unknown entity \"Nope\""},
		{"copyFrom not ancestor", order + "---\n" + line + "---\n" + r("name: Order", "name: Other", "table: orders", "table: others").Replace(order) + "---\n" +
			r("name: Line", "name: Line2", "{entity: Order, field: order_key}", "{entity: Other, field: order_key}").Replace(line),
			"Other is not an ancestor of Line2"},
		{"copyFrom type mismatch", order + "---\n" + r("      type: bigint\n      source", "      type: integer\n      source").Replace(line), "Order.order_key is bigint but this field is integer"},
		{"unicity nullable", order + "---\n" + r("      type: integer\n", "      type: integer\n      constraints: {nullable: true}\n").Replace(line), "unicity field \"line_number\" is nullable"},
		{"unicity undeclared", order + "---\n" + r("[order_key, line_number]", "[order_key, line_no]").Replace(line), "e.yaml:32: spec.persistence.unicity.fields[1]: Line has no field \"line_no\""},
		{"no unicity", order + "---\n" + r("  persistence:\n    unicity: {fields: [order_key, line_number]}\n", "").Replace(line), "a persisted entity needs unicity.fields or a primaryKey field"},
		{"enum on non-string", r("{primaryKey: true}", "{primaryKey: true, enum: [1, 2]}").Replace(order), "e.yaml:9: spec.fields[0].constraints.enum: enum applies to string and text fields, not bigint"},
		{"precision on non-decimal", r("{primaryKey: true}", "{primaryKey: true, precision: 4}").Replace(order), "precision and scale apply to decimal fields, not bigint"},
		{"scale above precision", r("type: json", "type: decimal").Replace(r("{nullable: true}", "{precision: 4, scale: 5}").Replace(order)), "scale must be between 0 and the precision 4"},
		{"bad pattern", r("type: json", "type: string").Replace(r("{nullable: true}", "{pattern: '[a-'}").Replace(order)), "e.yaml:12: spec.fields[1].constraints.pattern: bad pattern"},
		{"minimum on string", r("type: json", "type: string").Replace(r("{nullable: true}", "{minimum: 1}").Replace(order)), "minimum and maximum apply to numeric fields, not string"},
		{"minimum above maximum", r("{primaryKey: true}", "{primaryKey: true, minimum: 5, maximum: 1}").Replace(order), "minimum 5 is above maximum 1"},
		{"bad default", r("{primaryKey: true}", "{primaryKey: true, default: abc}").Replace(order), "e.yaml:10: spec.fields[0].constraints.default: \"abc\" is not a valid bigint"},
		{"unknown transform", r("{nullable: true}", "{nullable: true}\n      source: {transform: {name: shout, inputs: [x]}}").Replace(order), "e.yaml:14: spec.fields[1].source.transform.name: unknown transform \"shout\""},
		{"bad go transform", r("{nullable: true}", "{nullable: true}\n      source: {transform: {name: \"go:not-ident\", inputs: [x]}}").Replace(order), "\"not-ident\" is not a Go identifier"},
		{"transform arity", r("type: json", "type: string").Replace(r("{nullable: true}", "{nullable: true}\n      source: {transform: {name: lower, inputs: [a, b]}}").Replace(order)), "lower takes exactly 1 input(s), got 2"},
		{"text transform on number", r("{primaryKey: true}", "{primaryKey: true}\n      source: {transform: {name: upper, inputs: [a]}}").Replace(order), "upper returns a string, but the field is bigint"},
		{"two sources", r("{nullable: true}", "{nullable: true}\n      source: {field: a, constant: 1}").Replace(order), "set one of field, copyFrom, constant or transform, not 2"},
		{"bad constant", r("{nullable: true}", "{nullable: true}\n      source: {constant: [1]}").Replace(r("type: json", "type: integer").Replace(order)), "source.constant: expected a single value"},
		{"no root", line, "no root entity"},
		{"go transform name taken", r("{nullable: true}", "{nullable: true}\n      source: {transform: {name: \"go:decodeOrder\", inputs: [x]}}").Replace(order), "\"decodeOrder\" is a name the generated package uses"},
		{"onConflict", r("table: orders", "table: orders\n    onConflict: replace").Replace(order), "e.yaml:16: spec.persistence.onConflict: unknown onConflict \"replace\""},
		{"index field undeclared", r("table: orders", "table: orders\n    indexes: [{fields: [nope]}]").Replace(order), "spec.persistence.indexes[0].fields[0]: Order has no field \"nope\""},
		{"generated name", r("name: Order", "name: Rows").Replace(order), "entity name \"Rows\" is taken by the generated package"},
		{"go field collision same entity", r("    - name: line_items\n", "    - name: x1\n      type: integer\n    - name: x_1\n").Replace(order),
			"e.yaml:13: spec.fields[2].name: fields \"x_1\" and \"x1\" (line 11) both become the Go field X1; rename one of them"},
		{"index names collide", withTable("a", "b_c") + "---\n" + withTable("a_b", "c"),
			"e.yaml:27: spec.fields[1]: the index of field \"c\" of table \"a_b\" is named a_b_c_idx, like the index of field \"b_c\" of table \"a\" (e.yaml:11); PostgreSQL names share one namespace: rename the table or the field"},
		{"truncated names collide", r("table: orders", "table: orders\n    indexes:\n      - {name: "+strings.Repeat("x", 63)+"_by_key, fields: [order_key]}\n      - {name: "+strings.Repeat("x", 63)+"_by_items, fields: [line_items]}").Replace(order),
			"e.yaml:18: spec.persistence.indexes[1]: the index 1 of table \"orders\" is named " + strings.Repeat("x", 63) + " (PostgreSQL cuts"},
		{"platform table", r("table: orders", "table: message_status").Replace(order),
			"e.yaml:15: spec.persistence.table: the table \"message_status\" of Order is named message_status, a name of nomnom's own tables in the same database; rename spec.persistence.table"},
		{"version table", r("table: orders", "table: shop_schema_migrations").Replace(order), "a name of nomnom's own tables"},
		{"table named like a primary key", order + "---\n" + r("name: Order", "name: Other", "table: orders", "table: orders_pkey").Replace(order),
			"e.yaml:31: spec.persistence.table: the table \"orders_pkey\" of Other is named orders_pkey, like the primary key of table \"orders\" (e.yaml:15)"},
		{"repeatedFor over a transform", r("      constraints: {nullable: true}\n", "      constraints: {nullable: true}\n      source: {transform: {name: coalesce, inputs: [items, lines]}}\n").Replace(order) + "---\n" + line,
			"e.yaml:25: spec.derivation.repeatedFor.field: Order.line_items (e.yaml:11) is computed by the transform coalesce, while repeatedFor.field \"line_items\" is looked up as a path in Order's object in the message, where that value is not: no item would ever be found; point field at the array in the message (the transform reads \"items\")"},
		{"repeatedFor over a renamed path", r("      constraints: {nullable: true}\n", "      constraints: {nullable: true}\n      source: {field: raw.lines}\n").Replace(order) + "---\n" + line,
			"Order.line_items (e.yaml:11) is read from the path raw.lines, while repeatedFor.field \"line_items\" is looked up as a path in Order's object in the message, where that value is not: no item would ever be found; point field at the array in the message (\"raw.lines\")"},
		{"field name with a space", r("name: line_items", "name: line items").Replace(order), "e.yaml:11: spec.fields[1].name: field name \"line items\" must be snake_case"},
		{"system column xmin", r("name: line_items", "name: xmin").Replace(order), "e.yaml:11: spec.fields[1].name: \"xmin\" is a PostgreSQL system column of every table; rename the field"},
		{"system column ctid", r("name: line_items", "name: ctid").Replace(order), "\"ctid\" is a PostgreSQL system column"},
		{"too many columns", r("  persistence:\n", manyFields(1600)+"  persistence:\n").Replace(order), "e.yaml:3215: spec.fields: Order has 1602 fields, more than the 1600 columns a PostgreSQL table can hold"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadFiles(map[string][]byte{"e.yaml": []byte(c.text)})
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("got %v, want an ErrorList containing %q", err, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("errors do not mention %q:\n%v", c.want, err)
			}
			for _, e := range list {
				if e.Pos.File == "" || e.Pos.Line < 1 {
					t.Errorf("error without a line: %q", e.Error())
				}
			}
		})
	}
}

// TestEveryErrorReported checks that one run reports all problems, in
// file and line order.
func TestEveryErrorReported(t *testing.T) {
	t.Parallel()
	bad := strings.NewReplacer("type: bigint", "type: strng", "table: orders", "table: select", "kind: Entity", "kind: Entity\ncolour: red").Replace(order)
	_, err := LoadFiles(map[string][]byte{"a.yaml": []byte(bad), "b.yaml": []byte("apiVersion: nomnom.io/v1\nkind: Entity\n")})
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v", err)
	}
	want := []string{
		`a.yaml:3: colour: unknown key "colour"`,
		`a.yaml:10: spec.fields[0].type: unknown type "strng"`,
		`a.yaml:16: spec.persistence.table: table name "select" is a reserved SQL word`,
		`b.yaml:1: metadata: missing required key "metadata"`,
		`b.yaml:1: spec: missing required key "spec"`,
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, list[i].Error(), w)
		}
	}
}

// TestMultiLineDescription checks that descriptions of several lines stay
// inside their Go comment.
func TestMultiLineDescription(t *testing.T) {
	t.Parallel()
	text := strings.Replace(order, "  name: Order\n", "  name: Order\n  description: |\n    an order,\n    on two lines.\n", 1)
	m, err := LoadFiles(map[string][]byte{"e.yaml": []byte(text)})
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(m, Options{Package: "shop", ModulePath: "example.com/shop"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(files["shop/models.go"]), "// Order is an order, on two lines.\n") {
		t.Fatalf("models.go:\n%s", files["shop/models.go"])
	}
}

// withTable is an entity of table name with an indexed field.
func withTable(table, field string) string {
	return strings.NewReplacer("name: Order", "name: T"+strings.ReplaceAll(table, "_", ""), "table: orders", "table: "+table,
		"    - name: line_items\n      type: json\n      constraints: {nullable: true}\n",
		"    - name: "+field+"\n      type: integer\n      constraints: {indexed: true}\n").Replace(order)
}

// manyFields is n field definitions.
func manyFields(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "    - name: f%d\n      type: integer\n", i)
	}
	return b.String()
}
