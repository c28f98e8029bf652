package tpch_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/nomnom-io/nomnom/wire"
)

// withLines is the sample order body with the line items at indexes idx of
// its own (an index may repeat).
func withLines(t *testing.T, body []byte, idx ...int) []byte {
	t.Helper()
	var o map[string]any
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	lines := o["line_items"].([]any)
	picked := []any{}
	for _, i := range idx {
		picked = append(picked, lines[i])
	}
	o["line_items"] = picked
	out, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lineNumbers(t *testing.T, conn *pgx.Conn, order int) []int {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT line_number FROM order_line_items WHERE order_key = $1 ORDER BY line_number", order)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestResentOrderReplacesItsLines re-sends an order with fewer, more and
// duplicate line items, alone and twice in one batch: its lines are the
// set of the last message each time, the counts reported are the rows
// written, and the other orders' lines stay.
func TestResentOrderReplacesItsLines(t *testing.T) {
	t.Parallel()
	conn := setup(t)
	samples := readLines(t, "orders.ndjson")
	order1, order2 := samples[0], samples[1]
	send := func(bodies ...[]byte) []map[string]int {
		var envs []*wire.Envelope
		for _, b := range bodies {
			envs = append(envs, &wire.Envelope{MessageID: uuid.NewString(), Body: b})
		}
		var counts []map[string]int
		for _, r := range handle(t, conn, envs, len(envs)) {
			if r.Err != nil {
				t.Fatalf("message failed: %v", r.Err)
			}
			counts = append(counts, r.Entities)
		}
		return counts
	}
	send(order1, order2)
	all1, all2 := lineNumbers(t, conn, 1), lineNumbers(t, conn, 2)
	if len(all1) < 3 || len(all2) == 0 {
		t.Fatalf("sample orders have %d and %d lines; the test needs 3 and 1", len(all1), len(all2))
	}
	steps := []struct {
		name   string
		bodies [][]byte
		want   []int
		counts []int // order_line_items reported per message
	}{
		{"fewer", [][]byte{withLines(t, order1, 0, 2)}, []int{all1[0], all1[2]}, []int{2}},
		{"more", [][]byte{withLines(t, order1, 0, 1, 2)}, all1[:3], []int{3}},
		{"duplicate", [][]byte{withLines(t, order1, 1, 1)}, []int{all1[1]}, []int{1}},
		{"none", [][]byte{withLines(t, order1)}, []int{}, []int{0}},
		{"twice in one batch, last one fewer", [][]byte{withLines(t, order1, 0, 1, 2), withLines(t, order1, 2)}, []int{all1[2]}, []int{3, 1}},
		{"twice in one batch, last one more", [][]byte{withLines(t, order1, 2), withLines(t, order1, 0, 2)}, []int{all1[0], all1[2]}, []int{1, 2}},
	}
	for _, s := range steps {
		counts := send(s.bodies...)
		for i, c := range counts {
			if c["order_line_items"] != s.counts[i] || c["orders"] != 1 {
				t.Errorf("%s: message %d reports %v, want %d lines and 1 order", s.name, i, c, s.counts[i])
			}
		}
		if got := lineNumbers(t, conn, 1); !equalInts(got, s.want) {
			t.Errorf("%s: order 1 has lines %v, want %v", s.name, got, s.want)
		}
		if got := lineNumbers(t, conn, 2); !equalInts(got, all2) {
			t.Errorf("%s: order 2's lines changed: %v, want %v", s.name, got, all2)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
