package tpch_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nomnom-io/nomnom/codegen/rt"
	"github.com/nomnom-io/nomnom/examples/tpch/tpch"
)

func readLines(t testing.TB, name string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

func TestDecodeSampleOrders(t *testing.T) {
	t.Parallel()
	lines := readLines(t, "orders.ndjson")
	if len(lines) < 200 {
		t.Fatalf("only %d sample orders", len(lines))
	}
	fours := 0
	for i, line := range lines {
		rows, err := tpch.Decode("", line)
		if err != nil {
			t.Fatalf("order %d: %v", i+1, err)
		}
		if len(rows.Order) != 1 || len(rows.Customer)+len(rows.Product) != 0 {
			t.Fatalf("order %d decoded as %+v", i+1, rows)
		}
		o := rows.Order[0]
		n := len(rows.OrderLineItem)
		if n < 1 || n > 7 {
			t.Fatalf("order %d has %d line items", i+1, n)
		}
		if n == 4 {
			fours++
		}
		for j, li := range rows.OrderLineItem {
			if li.OrderKey != o.OrderKey || li.LineNumber != int32(j+1) {
				t.Fatalf("order %d line %d: key %d/%d", i+1, j, li.OrderKey, li.LineNumber)
			}
			if !slices.Contains([]string{"REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"}, li.ShipMode) {
				t.Fatalf("ship mode %q not upper-cased", li.ShipMode)
			}
		}
		if o.Channel != "tpch-dbgen" {
			t.Fatalf("constant channel = %q", o.Channel)
		}
	}
	if fours < len(lines)/2 {
		t.Errorf("only %d of %d orders have 4 line items", fours, len(lines))
	}
}

// TestDecimalsStayExact checks that a decimal keeps the text of its JSON
// number: no float64 on the way.
func TestDecimalsStayExact(t *testing.T) {
	t.Parallel()
	body := bytes.Replace(readLines(t, "orders.ndjson")[0], []byte(`"total_price":15841.20`), []byte(`"total_price":"9999999999999.99"`), 1)
	rows, err := tpch.Decode("Order", body)
	if err != nil {
		t.Fatal(err)
	}
	if got := rows.Order[0].TotalPrice; got != "9999999999999.99" {
		t.Fatalf("total_price = %q", got)
	}
	if got := rows.OrderLineItem[0].ExtendedPrice; got != "3694.01" {
		t.Fatalf("extended_price = %q", got)
	}
}

func TestDecodeCustomersAndProducts(t *testing.T) {
	t.Parallel()
	for i, line := range readLines(t, "customers.ndjson") {
		rows, err := tpch.Decode("", line)
		if err != nil {
			t.Fatalf("customer %d: %v", i+1, err)
		}
		c := rows.Customer[0]
		// go:normalizePhone and the built-in trim.
		if len(c.Phone) != 15 || c.Phone[2] != '-' || c.Name[0] == ' ' {
			t.Fatalf("customer %d: phone %q name %q", i+1, c.Phone, c.Name)
		}
	}
	for i, line := range readLines(t, "products.ndjson") {
		if rows, err := tpch.Decode("", line); err != nil || len(rows.Product) != 1 {
			t.Fatalf("product %d: %v", i+1, err)
		}
	}
}

func TestDecodeBadOrders(t *testing.T) {
	t.Parallel()
	for i, line := range readLines(t, "bad_orders.ndjson") {
		var expect struct {
			Paths []string `json:"_expect_errors"`
		}
		if err := json.Unmarshal(line, &expect); err != nil || len(expect.Paths) == 0 {
			t.Fatalf("bad order %d carries no _expect_errors: %v", i+1, err)
		}
		_, err := tpch.Decode("", line)
		var de *rt.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("bad order %d: got %v, want a DecodeError", i+1, err)
		}
		var paths []string
		for _, f := range de.Fields {
			if !slices.Contains(paths, f.Path) {
				paths = append(paths, f.Path)
			}
		}
		slices.Sort(paths)
		slices.Sort(expect.Paths)
		if !slices.Equal(paths, expect.Paths) {
			t.Errorf("bad order %d: error paths %v, want %v (%v)", i+1, paths, expect.Paths, err)
		}
	}
}

func TestRootSelection(t *testing.T) {
	t.Parallel()
	order := readLines(t, "orders.ndjson")[0]
	customer := readLines(t, "customers.ndjson")[0]
	cases := []struct {
		name, entityType string
		body             []byte
		want             string // root decoded, or "" for an error
		wantErr          string
	}{
		{"order by shape", "", order, "Order", ""},
		{"customer by shape", "", customer, "Customer", ""},
		{"named", "order", order, "Order", ""},
		{"named any case", "ORDER", order, "Order", ""},
		{"named wrongly", "Customer", order, "", "invalid Customer: cust_key: required"},
		{"derived is not a root", "OrderLineItem", order, "", `entity_type "OrderLineItem" is not a root entity (roots: Customer, Order, Product)`},
		{"no shape", "", []byte(`{"hello":"world"}`), "", "carries the required fields of no root entity (Customer lacks cust_key"},
		{"two shapes", "", mergeJSON(t, order, customer), "", "required fields of several root entities (Customer, Order); set entity_type"},
		{"not an object", "", []byte(`[1,2]`), "", "body: expected object, got array"},
		{"not JSON", "", []byte(`{"order_key":`), "", "body: invalid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rows, err := tpch.Decode(c.entityType, c.body)
			if c.wantErr != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.wantErr)) {
					t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[bool]string{true: "Order", false: "Customer"}[len(rows.Order) == 1]
			if got != c.want {
				t.Fatalf("decoded as %s, want %s", got, c.want)
			}
		})
	}
}

func mergeJSON(t *testing.T, a, b []byte) []byte {
	var x, y map[string]any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	for k, v := range y {
		x[k] = v
	}
	out, _ := json.Marshal(x)
	return out
}

// BenchmarkDecode measures decoding and validating the sample orders, the
// generated decoder's share of a worker's CPU.
func BenchmarkDecode(b *testing.B) {
	lines := readLines(b, "orders.ndjson")
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := tpch.Decode("", lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
