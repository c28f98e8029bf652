package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/internal/testsvc"
)

// completionDeadline bounds every wait for messages to settle. It is
// generous on purpose: the suite asserts counts, never timings.
const completionDeadline = 4 * time.Minute

// tally is what a scenario counts; every scenario logs it in one format.
type tally struct {
	sent, completed, rows, duplicates, lost int
}

func (c tally) log(t testing.TB, scenario string) {
	t.Helper()
	t.Logf("e2e: %s: sent=%d completed=%d rows=%d duplicates=%d lost=%d",
		scenario, c.sent, c.completed, c.rows, c.duplicates, c.lost)
}

// settle waits for every id to be terminal, checks the rows of orders in
// PostgreSQL, logs the tally and fails the test unless every message
// completed and every row is there exactly once.
func settle(t testing.TB, scenario string, c *client, dbURL string, ids []string, orders []order) map[string]record {
	t.Helper()
	recs := c.awaitTerminal(t, ids, completionDeadline)
	var rc rowCheck
	if dbURL != "" {
		rc = checkRows(t, dbURL, orders)
	} else {
		t.Logf("e2e: %s: no database URL; rows not checked", scenario)
	}
	var tl tally
	tl.sent = len(ids)
	var bad []string
	for _, id := range ids {
		r := recs[id]
		if r.Status == "completed" {
			tl.completed++
		} else if len(bad) < 10 {
			bad = append(bad, fmt.Sprintf("%s: %q attempts=%d error=%q history=%v", id, r.Status, r.Attempts, r.Error, r.statuses()))
		}
	}
	tl.rows, tl.duplicates = rc.rows(), rc.duplicates()
	tl.lost = tl.sent - tl.completed + rc.missing()
	tl.log(t, scenario)
	if tl.completed != tl.sent {
		var stuck []string
		for _, id := range ids {
			if recs[id].Status != "completed" {
				stuck = append(stuck, id)
			}
		}
		var inTable map[string]int
		if dbURL != "" {
			inTable = statusCounts(t, dbURL, stuck)
		}
		t.Errorf("%d of %d messages did not complete (message_status has them as %v), e.g.:\n%s",
			tl.sent-tl.completed, tl.sent, inTable, strings.Join(bad, "\n"))
	}
	if rc.missing() > 0 {
		t.Errorf("rows missing: %d orders, %d line items", rc.orders.missing, rc.lines.missing)
	}
	if tl.duplicates > 0 {
		t.Errorf("duplicate rows: %d orders, %d line items", rc.orders.duplicates, rc.lines.duplicates)
	}
	return recs
}

// postOneByOne posts each order with POST /ingest/message.
func postOneByOne(t testing.TB, c *client, orders []order) []string {
	t.Helper()
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = c.postOK(t, o.raw)
	}
	return ids
}

// postBatches posts the orders as NDJSON batches of size lines.
func postBatches(t testing.TB, c *client, orders []order, size int) []string {
	t.Helper()
	var ids []string
	for chunk := range slices.Chunk(orders, size) {
		lines := make([][]byte, len(chunk))
		for i, o := range chunk {
			lines[i] = o.raw
		}
		ids = append(ids, c.postBatch(t, lines)...)
	}
	return ids
}

// background posts orders in batches on another goroutine, so that a
// scenario can break something while the load runs.
type background struct {
	mu   sync.Mutex
	ids  []string
	err  error
	done chan struct{}
}

func postInBackground(c *client, orders []order, size int) *background {
	b := &background{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for chunk := range slices.Chunk(orders, size) {
			lines := make([][]byte, len(chunk))
			for i, o := range chunk {
				lines[i] = o.raw
			}
			ids, err := c.tryPostBatch(lines)
			b.mu.Lock()
			b.ids = append(b.ids, ids...)
			b.err = err
			b.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return b
}

// wait returns every id posted once the load has been sent, failing the
// test if a batch was refused.
func (b *background) wait(t testing.TB) []string {
	t.Helper()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		t.Fatalf("load: %v", b.err)
	}
	return slices.Clone(b.ids)
}

// sentSoFar returns the ids posted so far.
func (b *background) sentSoFar() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.ids)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	testsvc.Eventually(t, deadline, what, cond)
}

// TestExampleData posts the example orders one by one and as NDJSON
// batches: every message completes, every order and line item is in
// PostgreSQL exactly once, and each history reads accepted, processing,
// completed.
func TestExampleData(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	exampleData(t, "example data", s.client, s.dbURL)
	consoleEntities(t, s.client)
}

// consoleEntities checks that the worker binary published its catalog and
// that the gateway's console counts the rows of its tables.
func consoleEntities(t *testing.T, c *client) {
	t.Helper()
	var ans struct {
		Tables []struct {
			Table  string `json:"table"`
			Worker string `json:"worker"`
			Rows   *int   `json:"rows"`
		} `json:"tables"`
	}
	res, err := c.do(http.MethodGet, "/ui/api/entities", "", nil)
	if err != nil || res.code != http.StatusOK {
		t.Fatalf("GET /ui/api/entities: %v %v", res, err)
	}
	if err := json.Unmarshal(res.body, &ans); err != nil {
		t.Fatalf("GET /ui/api/entities: %v", err)
	}
	rows := map[string]int{}
	for _, tb := range ans.Tables {
		if tb.Rows != nil && tb.Worker == "tpch-worker" {
			rows[tb.Table] = *tb.Rows
		}
	}
	if rows["orders"] == 0 || rows["order_line_items"] == 0 {
		t.Errorf("the console's entity tables %s, want tpch-worker's orders and line items with rows", res.body)
	}
}

// exampleData is TestExampleData against any deployment.
func exampleData(t *testing.T, scenario string, c *client, dbURL string) {
	t.Helper()
	orders := loadOrders(t)
	half := len(orders) / 2
	ids := postOneByOne(t, c, orders[:half])
	ids = append(ids, postBatches(t, c, orders[half:], 50)...)
	recs := settle(t, scenario, c, dbURL, ids, orders)
	checkHistories(t, recs)
}

// checkHistories fails the test unless every history is exactly accepted,
// processing, completed.
func checkHistories(t testing.TB, recs map[string]record) {
	t.Helper()
	want := []string{"accepted", "processing", "completed"}
	n := 0
	for id, r := range recs {
		if got := r.statuses(); !slices.Equal(got, want) {
			if n++; n <= 5 {
				t.Errorf("%s: history %v, want %v", id, got, want)
			}
		}
	}
	if n > 0 {
		t.Errorf("%d histories out of order", n)
	}
}
