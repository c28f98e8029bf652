package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The example's tables and how a row's key reads as text; orderKey and
// lineKey compute the same keys from a message.
const (
	ordersTable    = "orders"
	orderKeyExpr   = "order_key"
	lineItemsTable = "order_line_items"
	lineKeyExpr    = "order_key || ':' || line_number"
)

// order is one message of the example data and the keys of the rows it
// must produce.
type order struct {
	raw      []byte
	key      string
	lineKeys []string
}

// loadOrders reads examples/tpch/testdata/orders.ndjson.
func loadOrders(t testing.TB) []order {
	t.Helper()
	var out []order
	for i, line := range readNDJSON(t, "orders.ndjson") {
		var m struct {
			OrderKey  json.Number `json:"order_key"`
			LineItems []struct {
				LineNumber json.Number `json:"line_number"`
			} `json:"line_items"`
		}
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		if err := d.Decode(&m); err != nil || m.OrderKey == "" {
			t.Fatalf("orders.ndjson line %d: no order_key (%v)", i+1, err)
		}
		o := order{raw: line, key: m.OrderKey.String()}
		for _, li := range m.LineItems {
			o.lineKeys = append(o.lineKeys, fmt.Sprintf("%s:%s", m.OrderKey, li.LineNumber))
		}
		out = append(out, o)
	}
	if len(out) < 50 {
		t.Fatalf("orders.ndjson: %d orders; the scenarios need a real load", len(out))
	}
	return out
}

// readNDJSON returns the non-blank lines of an example data file
// (NOMNOM_E2E_TESTDATA names another directory of such files).
func readNDJSON(t testing.TB, name string) [][]byte {
	t.Helper()
	dir := filepath.Join(repoRoot, "examples", "tpch", "testdata")
	if d := os.Getenv("NOMNOM_E2E_TESTDATA"); d != "" {
		dir = d
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("example data: %v", err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			lines = append(lines, bytes.Clone(l))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return lines
}

// rowCheck is what PostgreSQL holds of a set of orders.
type rowCheck struct {
	orders, lines tableCheck
}

func (c rowCheck) rows() int       { return c.orders.rows + c.lines.rows }
func (c rowCheck) duplicates() int { return c.orders.duplicates + c.lines.duplicates }
func (c rowCheck) missing() int    { return c.orders.missing + c.lines.missing }

// checkRows counts the order and line item rows of orders in PostgreSQL.
func checkRows(t testing.TB, dbURL string, orders []order) rowCheck {
	t.Helper()
	ok, lk := map[string]bool{}, map[string]bool{}
	for _, o := range orders {
		ok[o.key] = true
		for _, k := range o.lineKeys {
			lk[k] = true
		}
	}
	return rowCheck{
		orders: checkTable(t, dbURL, ordersTable, orderKeyExpr, ok),
		lines:  checkTable(t, dbURL, lineItemsTable, lineKeyExpr, lk),
	}
}
