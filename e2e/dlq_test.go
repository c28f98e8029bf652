package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// badOrder is a message of bad_orders.ndjson and the error paths it must
// fail with (its "_expect_errors", a key the entities ignore).
type badOrder struct {
	raw   []byte
	paths []string
}

func loadBadOrders(t testing.TB) []badOrder {
	t.Helper()
	var out []badOrder
	for i, line := range readNDJSON(t, "bad_orders.ndjson") {
		var m struct {
			Paths []string `json:"_expect_errors"`
		}
		if err := json.Unmarshal(line, &m); err != nil || len(m.Paths) == 0 {
			t.Fatalf("bad_orders.ndjson line %d: no _expect_errors (%v)", i+1, err)
		}
		out = append(out, badOrder{raw: line, paths: m.Paths})
	}
	return out
}

// deadLetters returns the message ids `tpch-worker dlq list --json` shows.
func (s *stack) deadLetters() map[string]bool {
	s.t.Helper()
	out := s.workerCLI("dlq", "list", "--json", "--limit", "0")
	var dls []struct {
		MessageID string `json:"message_id"`
		Reason    string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(out), &dls); err != nil {
		s.t.Fatalf("dlq list --json: %v\n%s", err, out)
	}
	ids := map[string]bool{}
	for _, d := range dls {
		ids[d.MessageID] = true
	}
	return ids
}

func countStatus(h []string, status string) int {
	n := 0
	for _, s := range h {
		if s == status {
			n++
		}
	}
	return n
}

// postMalformed posts bad_orders.ndjson one by one and checks each ends
// failed, naming every expected path; it returns the ids and the count of
// those that failed as expected.
func postMalformed(t *testing.T, c *client) ([]string, int) {
	t.Helper()
	bad := loadBadOrders(t)
	ids := make([]string, len(bad))
	for i, b := range bad {
		ids[i] = c.postOK(t, b.raw)
	}
	recs := c.awaitTerminal(t, ids, completionDeadline)
	failed := 0
	for i, id := range ids {
		r := recs[id]
		if r.Status != "failed" {
			t.Errorf("bad order %d: status %q, want failed (error %q)", i+1, r.Status, r.Error)
			continue
		}
		failed++
		for _, p := range bad[i].paths {
			if !strings.Contains(r.Error, p) {
				t.Errorf("bad order %d: error %q does not name %s", i+1, r.Error, p)
			}
		}
		if want := []string{"accepted", "processing", "failed"}; !slices.Equal(r.statuses(), want) {
			t.Errorf("bad order %d: history %v, want %v", i+1, r.statuses(), want)
		}
	}
	return ids, failed
}

// TestMalformedMessages posts the example's malformed orders: each ends
// failed with every expected field path in its error and is in the DLQ; a
// redrive with nothing fixed fails each again and dead-letters it again.
func TestMalformedMessages(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	ids, failed := postMalformed(t, s.client)
	dlq := s.deadLetters()
	inDLQ := 0
	for i, id := range ids {
		if dlq[id] {
			inDLQ++
		} else {
			t.Errorf("bad order %d (%s) is not in the DLQ", i+1, id)
		}
	}
	t.Logf("e2e: malformed: sent=%d completed=0 rows=0 duplicates=0 lost=%d (failed=%d in_dlq=%d)",
		len(ids), len(ids)-failed, failed, inDLQ)

	// Redrive with nothing fixed: each fails again and is dead-lettered again.
	s.workerCLI("dlq", "redrive", "--all")
	recs := s.client.await(t, ids, completionDeadline, func(r record) bool {
		return r.Status == "failed" && countStatus(r.statuses(), "failed") == 2
	})
	again := 0
	for i, id := range ids {
		h := recs[id].statuses()
		if recs[id].Status != "failed" || countStatus(h, "failed") != 2 {
			t.Errorf("bad order %d after redrive: status %q history %v, want failed twice", i+1, recs[id].Status, h)
			continue
		}
		again++
	}
	dlq = s.deadLetters()
	for i, id := range ids {
		if !dlq[id] {
			t.Errorf("bad order %d (%s) is not in the DLQ after failing again", i+1, id)
		}
	}
	t.Logf("e2e: malformed redriven unfixed: sent=%d completed=0 rows=0 duplicates=0 lost=%d (failed again=%d)",
		len(ids), len(ids)-again, again)
}

// TestRedriveAfterFix fails orders for a reason an operator can fix — the
// deployment enforces that an order's customer exists, and the customers
// have not been ingested yet — then ingests the customers and redrives the
// dead letters: every order completes, its rows written exactly once.
func TestRedriveAfterFix(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	execSQL(t, s.dbURL, `ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
		FOREIGN KEY (customer_key) REFERENCES customers (cust_key)`)
	orders := loadOrders(t)[:20]
	ids := postBatches(t, s.client, orders, 10)
	recs := s.client.awaitTerminal(t, ids, completionDeadline)
	for _, id := range ids {
		if r := recs[id]; r.Status != "failed" || !strings.Contains(r.Error, "orders_customer_fk") {
			t.Fatalf("%s: status %q error %q, want failed on orders_customer_fk", id, r.Status, r.Error)
		}
	}
	dlq := s.deadLetters()
	for _, id := range ids {
		if !dlq[id] {
			t.Fatalf("%s is not in the DLQ", id)
		}
	}

	// The fix: the customers arrive.
	customers := readNDJSON(t, "customers.ndjson")
	cids := s.client.postBatch(t, customers)
	for id, r := range s.client.awaitTerminal(t, cids, completionDeadline) {
		if r.Status != "completed" {
			t.Fatalf("customer %s: %q %q", id, r.Status, r.Error)
		}
	}

	args := []string{"dlq", "redrive"}
	for _, id := range ids {
		args = append(args, "--id", id)
	}
	s.workerCLI(args...)
	recs = settle(t, "redrive after fix", s.client, s.dbURL, ids, orders)
	for _, id := range ids {
		if h := recs[id].statuses(); !slices.Equal(h[len(h)-1:], []string{"completed"}) || countStatus(h, "failed") != 1 {
			t.Errorf("%s: history %v, want failed once then completed", id, h)
		}
	}
	if left := s.deadLetters(); len(left) != 0 {
		t.Errorf("DLQ after the redrive: %d messages, want none", len(left))
	}
	if a, err := s.client.do(http.MethodGet, "/ingest/status/"+ids[0], "", nil); err != nil || a.code != http.StatusOK {
		t.Errorf("status read: %v %v", a, err)
	}
}
