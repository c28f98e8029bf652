package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestOriginTPCH runs the origin project's TPC-H example end to end, the
// way someone coming from it would: its legacy entity files are converted
// with `nomnom convert`, a worker is generated from them into a module of
// its own and built, and its example messages, sent as its test-api.sh and
// README send them (a pretty-printed order as text/plain, JSON arrays of
// customers and products, an envelope its own gateway wrote to the
// stream), all complete with their rows.
func TestOriginTPCH(t *testing.T) {
	t.Parallel()
	logs := newLogBook(t)
	worker := buildOriginWorker(t, logs)

	s := &stack{t: t, logs: logs}
	s.nats = startNATS(t, logs)
	s.dbURL = sharedPostgres(t)
	id := strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:10])
	prefix := "e" + strings.ToLower(id)
	s.topo = []string{
		"NATS_URL=" + s.nats.URL,
		"NATS_STREAM=E" + id,
		"NATS_SUBJECT_PREFIX=" + prefix,
		"NATS_STATUS_BUCKET=ES" + id,
		"NATS_CONSUMER=shop-" + strings.ToLower(id),
		"LOG_LEVEL=info",
	}
	if out, err := runCmd(t, logs, []string{"DATABASE_URL=" + s.dbURL}, worker, "migrate", "up"); err != nil {
		t.Fatalf("shop-worker migrate up: %v\n%s", err, out)
	}
	s.startGateway()
	port := freePort(t)
	env := append([]string{fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", port), "DATABASE_URL=" + s.dbURL}, s.topo...)
	startProc(t, logs, "shop-worker", worker, env, "run")
	waitHTTP(t, "shop-worker", fmt.Sprintf("http://127.0.0.1:%d/healthz", port), 60*time.Second)

	order := readOriginFixture(t, "example_order.json")
	a, err := s.client.do(http.MethodPost, "/ingest/message", "text/plain", order)
	if err != nil || a.code != http.StatusAccepted {
		t.Fatalf("POST the example order as text/plain: %s (%v)", a, err)
	}
	var acc accepted
	if err := json.Unmarshal(a.body, &acc); err != nil {
		t.Fatal(err)
	}
	ids := []string{acc.MessageID}
	ids = append(ids, postArray(t, s.client, "application/json", readOriginFixture(t, "example_customers.json"), 3)...)
	ids = append(ids, postArray(t, s.client, "application/x-www-form-urlencoded", readOriginFixture(t, "example_products.json"), 3)...)
	envID := publishOriginEnvelope(t, s.nats.URL, prefix+".ingest.default",
		strings.NewReplacer(`"O40017"`, `"O40018"`, `"C3002"`, `"C3001"`).Replace(string(order)))
	ids = append(ids, envID)

	recs := s.client.awaitTerminal(t, ids, 2*time.Minute)
	for _, id := range ids {
		if r := recs[id]; r.Status != "completed" {
			t.Fatalf("message %s: %+v", id, r)
		}
	}
	if e := recs[acc.MessageID].Entities; e["orders"] != 1 || e["order_line_items"] != 2 {
		t.Errorf("order's entities %v", e)
	}
	if e := recs[envID].Entities; e["orders"] != 1 || e["order_line_items"] != 2 {
		t.Errorf("origin envelope's entities %v", e)
	}
	checks := []struct {
		query string
		want  string
	}{
		{"SELECT string_agg(order_key || ':' || total_price, ',' ORDER BY order_key) FROM orders", "O40017:862.4,O40018:862.4"},
		{"SELECT string_agg(order_key || ':' || line_number || ':' || part_key || ':' || coalesce(receipt_date, '-'), ',' ORDER BY order_key, line_number) FROM order_line_items",
			"O40017:1:P8101:-,O40017:2:P8102:-,O40018:1:P8101:-,O40018:2:P8102:-"},
		{"SELECT string_agg(customer_key || ':' || coalesce(phone, '-'), ',' ORDER BY customer_key) FROM customers", "C3001:555-0411,C3002:555-0422,C3003:-"},
		{"SELECT string_agg(part_key || ':' || size, ',' ORDER BY part_key) FROM products", "P8101:8,P8102:40,P8103:2"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, c := range checks {
		var got string
		if err := conn.QueryRow(ctx, c.query).Scan(&got); err != nil || got != c.want {
			t.Errorf("%s\n  got %q (%v)\n want %q", c.query, got, err, c.want)
		}
	}
}

// buildOriginWorker converts the origin's legacy TPC-H definitions (the
// golden case written from its config/examples/tpch/entities), generates a
// worker from them into a module outside nomnom's and builds it.
func buildOriginWorker(t *testing.T, logs *logBook) string {
	t.Helper()
	work := t.TempDir()
	nomnom := bin(t, "nomnom")
	legacy := filepath.Join(repoRoot, "codegen", "testdata", "golden", "originlegacy", "entities")
	entities := filepath.Join(work, "entities")
	if out, err := runCmd(t, logs, nil, nomnom, "convert", "--entities", legacy, "--out", entities); err != nil {
		t.Fatalf("nomnom convert: %v\n%s", err, out)
	}
	gomod := "module example.com/shop\n\ngo 1.26\n\nrequire github.com/nomnom-io/nomnom v0.0.0\n\nreplace github.com/nomnom-io/nomnom => " + repoRoot + "\n"
	sum, err := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmdIn(t, work, nomnom, "generate", "--entities", entities, "--out", work, "--package", "shop"); err != nil {
		t.Fatalf("nomnom generate: %v\n%s", err, out)
	}
	// Offline: every module comes from this machine's cache.
	if out, err := runCmdIn(t, work, "go", "mod", "tidy", "-e"); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	worker := filepath.Join(work, "shop-worker")
	if out, err := runCmdIn(t, work, "go", "build", "-o", worker, "./cmd/shop-worker"); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return worker
}

// runCmdIn runs a build step in dir and returns its combined output. Modules
// come from the cache, or from the module proxy for the go.mod files a
// fresh cache lacks (see codegen's TestOutOfRepoBuild).
func runCmdIn(t testing.TB, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func readOriginFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "e2e", "testdata", "origin", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// postArray sends a JSON array of objects to /ingest/batch and returns the
// ids of its n elements, failing unless all are accepted.
func postArray(t testing.TB, c *client, contentType string, body []byte, n int) []string {
	t.Helper()
	a, err := c.do(http.MethodPost, "/ingest/batch", contentType, body)
	if err != nil || a.code != http.StatusAccepted {
		t.Fatalf("POST /ingest/batch (%s): %s (%v)", contentType, a, err)
	}
	var ans batchAnswer
	if err := json.Unmarshal(a.body, &ans); err != nil || ans.Status != "success" || ans.Inserted != n || len(ans.Results) != n {
		t.Fatalf("POST /ingest/batch (%s): %s (%v)", contentType, a, err)
	}
	ids := make([]string, n)
	for i, r := range ans.Results {
		ids[i] = r.MessageID
	}
	return ids
}

// publishOriginEnvelope writes body to the stream as the origin's gateway
// does: serde_json of its MessageEnvelope (body a JSON string, chrono's
// timestamp), no Nats-Msg-Id header, no status record.
func publishOriginEnvelope(t testing.TB, url, subject, body string) string {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	quoted, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	at := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	payload := `{"message_id":"` + id + `","body":` + string(quoted) + `,"entity_type":null,"received_at":"` + at + `","retry_count":0,"source":null}`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, subject, []byte(payload)); err != nil {
		t.Fatalf("publish the origin envelope: %v", err)
	}
	return id
}
