package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// client speaks to the gateway over HTTP only, as curl would.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 90 * time.Second}}
}

// accepted is the 202 answer of POST /ingest/message.
type accepted struct {
	MessageID string `json:"message_id"`
	Status    string `json:"status"`
	Timestamp string `json:"timestamp"`
}

// batchAnswer is the answer of POST /ingest/batch.
type batchAnswer struct {
	Status    string        `json:"status"`
	Processed int           `json:"processed"`
	Inserted  int           `json:"inserted"`
	Failed    int           `json:"failed"`
	Results   []batchResult `json:"results"`
}

type batchResult struct {
	Line      int             `json:"line"`
	MessageID string          `json:"message_id"`
	Error     json.RawMessage `json:"error"`
}

// record is a status record as GET /ingest/status returns it.
type record struct {
	MessageID string         `json:"message_id"`
	Status    string         `json:"status"`
	Attempts  int            `json:"attempts"`
	Error     string         `json:"error"`
	Entities  map[string]int `json:"entities"`
	History   []struct {
		Status  string `json:"status"`
		Attempt int    `json:"attempt"`
		Error   string `json:"error"`
	} `json:"history"`
}

// statuses returns the statuses of the record's history, in order.
func (r record) statuses() []string {
	out := make([]string, len(r.History))
	for i, e := range r.History {
		out[i] = e.Status
	}
	return out
}

func terminal(status string) bool { return status == "completed" || status == "failed" }

// answer is a raw HTTP answer.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.code, bytes.TrimSpace(a.body)) }

func (c *client) do(method, path, contentType string, body []byte) (answer, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, header: resp.Header, body: b}, err
}

// post sends one message; the answer is returned whatever its code.
func (c *client) post(body []byte) (answer, error) {
	return c.do(http.MethodPost, "/ingest/message", "application/json", body)
}

// postOK sends one message and returns its id, failing the test unless the
// gateway answers 202.
func (c *client) postOK(t testing.TB, body []byte) string {
	t.Helper()
	a, err := c.post(body)
	if err != nil {
		t.Fatalf("POST /ingest/message: %v", err)
	}
	if a.code != http.StatusAccepted {
		t.Fatalf("POST /ingest/message: %s", a)
	}
	var acc accepted
	if err := json.Unmarshal(a.body, &acc); err != nil || acc.MessageID == "" || acc.Status != "accepted" {
		t.Fatalf("POST /ingest/message: answer %s (%v)", a, err)
	}
	return acc.MessageID
}

// postBatch sends NDJSON lines and returns the id of every line, in order,
// failing the test unless every line is accepted.
func (c *client) postBatch(t testing.TB, lines [][]byte) []string {
	t.Helper()
	ids, err := c.tryPostBatch(lines)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// tryPostBatch is postBatch for goroutines other than the test's.
func (c *client) tryPostBatch(lines [][]byte) ([]string, error) {
	a, err := c.do(http.MethodPost, "/ingest/batch", "application/x-ndjson", append(bytes.Join(lines, []byte("\n")), '\n'))
	if err != nil {
		return nil, fmt.Errorf("POST /ingest/batch: %w", err)
	}
	if a.code != http.StatusAccepted {
		return nil, fmt.Errorf("POST /ingest/batch: %s", a)
	}
	var ans batchAnswer
	if err := json.Unmarshal(a.body, &ans); err != nil {
		return nil, fmt.Errorf("POST /ingest/batch: %v: %s", err, a)
	}
	if ans.Inserted != len(lines) || len(ans.Results) != len(lines) {
		return nil, fmt.Errorf("POST /ingest/batch: %d lines, inserted=%d results=%d: %s", len(lines), ans.Inserted, len(ans.Results), a)
	}
	ids := make([]string, len(lines))
	for i, r := range ans.Results {
		if r.MessageID == "" || r.Line != i+1 {
			return nil, fmt.Errorf("POST /ingest/batch: result %d is %+v", i, r)
		}
		ids[i] = r.MessageID
	}
	return ids, nil
}

// status reads a status record; wait > 0 asks the gateway to hold the
// request until the record is terminal.
func (c *client) status(id string, wait time.Duration) (record, answer, error) {
	path := "/ingest/status/" + url.PathEscape(id)
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	a, err := c.do(http.MethodGet, path, "", nil)
	if err != nil {
		return record{}, a, err
	}
	var r record
	if a.code == http.StatusOK {
		err = json.Unmarshal(a.body, &r)
	}
	return r, a, err
}

// awaitTerminal waits, within deadline, for every id to reach a terminal
// status and returns the last record of each. Ids still not terminal at the
// deadline are returned as they are.
func (c *client) awaitTerminal(t testing.TB, ids []string, deadline time.Duration) map[string]record {
	t.Helper()
	return c.await(t, ids, deadline, func(r record) bool { return terminal(r.Status) })
}

// await waits, within deadline, for every id's record to satisfy done and
// returns the last record of each.
func (c *client) await(t testing.TB, ids []string, deadline time.Duration, done func(record) bool) map[string]record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	out := make(map[string]record, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, id := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var last record
			for ctx.Err() == nil {
				r, a, err := c.status(id, 10*time.Second)
				if err == nil && a.code == http.StatusOK {
					last = r
					if done(r) {
						break
					}
				} else {
					select { // the gateway may be restarting
					case <-ctx.Done():
					case <-time.After(250 * time.Millisecond):
					}
				}
			}
			mu.Lock()
			out[id] = last
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// health reads GET /health.
func (c *client) health() (answer, map[string]any, error) {
	a, err := c.do(http.MethodGet, "/health", "", nil)
	if err != nil {
		return a, nil, err
	}
	var h map[string]any
	err = json.Unmarshal(a.body, &h)
	return a, h, err
}
