package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	tpchmigrations "github.com/nomnom-io/nomnom/examples/tpch/migrations"
	"github.com/nomnom-io/nomnom/examples/tpch/tpch"
	"github.com/nomnom-io/nomnom/gateway"
	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
	"github.com/nomnom-io/nomnom/worker"
)

// update writes the screenshot of the overview to docs/console.png.
var update = flag.Bool("update", false, "write docs/console.png from the browser test")

// Keys of the test's two tenants.
const (
	acmeKey   = "k-acme-console"
	globexKey = "k-globex-console"
)

// stack is a gateway and a worker of the generated tpch entities on an
// embedded NATS server and a database of their own.
type stack struct {
	t    *testing.T
	base string
	js   jetstream.JetStream
	top  wire.Topology
	pool *pgxpool.Pool
	// fixed turns the worker's failure of messages from source "flaky"
	// off, as a deployed fix would.
	fixed atomic.Bool
}

func startStack(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := testsvc.NATS(t)
	nc := testsvc.Connect(t, ns)
	top := testsvc.Topology(t)
	dbURL := testsvc.Postgres(t)
	if err := migrations.Up(ctx, dbURL, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, dbURL, tpchmigrations.Files, tpchmigrations.Table); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{t: t, js: js, top: top, pool: pool}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))

	db := statusstore.NewPostgres(pool)
	srv, err := gateway.New(gateway.Config{
		Topology: top, Addr: "127.0.0.1:0", Logger: log, Version: "test",
		APIKeys:        map[string]string{acmeKey: "acme", globexKey: "globex"},
		StatusFallback: db, StatusDatabase: db, Database: pool, ConsoleDatabase: pool,
		EntityTenants: []string{"acme"},
	}, nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(sctx)
	})
	st.base = "http://" + srv.Addr().String()

	cfg := worker.DefaultConfig()
	cfg.Topology, cfg.Consumer, cfg.Logger = top, "console-test", log
	cfg.BatchWait, cfg.MaxAttempts, cfg.Backoff = 50*time.Millisecond, 2, []time.Duration{100 * time.Millisecond}
	w, err := worker.New(cfg, nc, pool, st.handler(tpch.NewHandler()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Stop(sctx)
	})
	if err := wire.PublishCatalog(ctx, js, top, wire.Catalog{Worker: "tpch-worker", Tables: tpch.Catalog}); err != nil {
		t.Fatal(err)
	}
	return st
}

// handler is the generated tpch handler, except that it fails messages
// from source "flaky" permanently until st.fixed is set.
func (st *stack) handler(next worker.Handler) worker.Handler {
	return worker.HandlerFunc(func(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]worker.Result, error) {
		results := make([]worker.Result, len(batch))
		var pass []*wire.Envelope
		var at []int
		for i, env := range batch {
			if env.Source != nil && *env.Source == "flaky" && !st.fixed.Load() {
				results[i].Err = worker.Permanent(errors.New("the flaky feed is not supported yet"))
				continue
			}
			pass, at = append(pass, env), append(at, i)
		}
		if len(pass) == 0 {
			return results, nil
		}
		out, err := next.Handle(ctx, tx, pass)
		if err != nil {
			return nil, err
		}
		for j, r := range out {
			results[at[j]] = r
		}
		return results, nil
	})
}

// post sends one message and returns its id.
func (st *stack) post(key, source, body string) string {
	st.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, st.base+"/ingest/message", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	req.Header.Set("X-Entity-Type", "Order")
	if source != "" {
		req.Header.Set("X-Source", source)
	}
	var ans struct {
		MessageID string `json:"message_id"`
	}
	st.call(req, http.StatusAccepted, &ans)
	return ans.MessageID
}

// status waits up to 30 s for a terminal status and returns the record.
func (st *stack) status(key, id string) statusstore.Record {
	st.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, st.base+"/ingest/status/"+id+"?wait=30s", nil)
	req.Header.Set("X-API-Key", key)
	var rec statusstore.Record
	st.call(req, http.StatusOK, &rec)
	return rec
}

func (st *stack) call(req *http.Request, want int, into any) {
	st.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		st.t.Fatalf("%s %s: %d %s, want %d", req.Method, req.URL.Path, res.StatusCode, data, want)
	}
	if err := json.Unmarshal(data, into); err != nil {
		st.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
}

// orders returns the first n lines of the example's valid orders.
func orders(t *testing.T, n int) []string {
	t.Helper()
	f, err := os.Open("../../examples/tpch/testdata/orders.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var out []string
	for len(out) < n && sc.Scan() {
		out = append(out, sc.Text())
	}
	if len(out) < n {
		t.Fatalf("orders.ndjson has %d lines, want %d", len(out), n)
	}
	return out
}

// browser starts headless Chromium with a profile of its own; the test is
// skipped only when no chromium binary is installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium); .ci/run installs it")
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	t.Cleanup(cancel)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// waitFor evaluates a JavaScript condition until it is true, for up to a
// minute, and fails the test with what the page shows otherwise.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("timed out waiting for %s (%s; last error %v); the page shows:\n%s", what, cond, err, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// screenshot saves the page as a PNG under NOMNOM_TEST_ARTIFACTS (or the
// test's temporary folder) and returns it.
func screenshot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("NOMNOM_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	return png
}

// TestConsoleInBrowser drives the console in headless Chromium against a
// real gateway and worker: the overview lists the tenant's recent messages
// with their statuses, the list filters to failed ones, one is redriven
// with a dry run then for real, and its row changes status live, from the
// event stream, without a reload.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	st := startStack(t)

	good := orders(t, 4)
	var completed []string
	for _, o := range good[:3] {
		completed = append(completed, st.post(acmeKey, "web", o))
	}
	// A body the page must show as text, never as markup.
	var order map[string]any
	if err := json.Unmarshal([]byte(good[3]), &order); err != nil {
		t.Fatal(err)
	}
	order["comment"] = "<img src=x onerror=window.pwned=1><script>window.pwned=2</script>"
	hostile, _ := json.Marshal(order)
	flaky := st.post(acmeKey, "flaky", string(hostile))
	broken := st.post(acmeKey, "web", `{"order_key":"not a number","customer_key":1}`)
	other := st.post(globexKey, "web", good[0])
	for _, id := range completed {
		if rec := st.status(acmeKey, id); rec.Status != statusstore.Completed {
			t.Fatalf("order %s: %s (%s), want completed", id, rec.Status, rec.Error)
		}
	}
	for _, id := range []string{flaky, broken} {
		if rec := st.status(acmeKey, id); rec.Status != statusstore.Failed {
			t.Fatalf("message %s: %s, want failed", id, rec.Status)
		}
	}
	st.status(globexKey, other)

	// The overview, after typing the key once.
	do(t, ctx, "open the overview", chromedp.Navigate(st.base+"/ui/"))
	do(t, ctx, "type the API key",
		chromedp.SendKeys(chromedp.CSS("#api-key"), acmeKey),
		chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)))
	waitFor(t, ctx, "five recent messages", `document.querySelectorAll("#recent tbody tr").length === 5`)
	statuses := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll("#recent tbody tr")].map(r => [r.dataset.id, r.dataset.status]))`)
	for _, id := range completed {
		if statuses[id] != "completed" {
			t.Errorf("overview: message %s shows %q, want completed", id, statuses[id])
		}
	}
	if statuses[flaky] != "failed" || statuses[broken] != "failed" {
		t.Errorf("overview: failed messages show %q and %q", statuses[flaky], statuses[broken])
	}
	if _, seen := statuses[other]; seen {
		t.Errorf("overview: another tenant's message %s is listed", other)
	}
	waitFor(t, ctx, "the status counts", `document.querySelector('.card[data-status="completed"] .n').textContent === "3"`)
	if got := eval[string](t, ctx, `document.querySelector("#dlq-size .n").textContent`); got != "2" {
		t.Errorf("overview: DLQ size %q, want 2", got)
	}
	waitFor(t, ctx, "the consumer's lag", `[...document.querySelectorAll("#consumers td")].some(td => td.textContent === "console-test")`)
	if href := eval[string](t, ctx, `location.href`); strings.Contains(href, acmeKey) {
		t.Errorf("the API key is in the URL %s", href)
	}

	// The message list, filtered to failed messages with the form.
	do(t, ctx, "open the message list", chromedp.Navigate(st.base+"/ui/messages"))
	waitFor(t, ctx, "every message", `document.querySelectorAll("#messages tbody tr").length === 5`)
	do(t, ctx, "filter to failed messages",
		chromedp.SetValue(chromedp.CSS(`#filters select[name="status"]`), "failed"),
		chromedp.Click(chromedp.CSS(`#filters button[type="submit"]`)))
	waitFor(t, ctx, "the failed messages", `location.search === "?status=failed" && document.querySelectorAll("#messages tbody tr").length === 2`)
	if n := eval[int](t, ctx, `document.querySelectorAll('#messages tbody tr:not([data-status="failed"])').length`); n != 0 {
		t.Errorf("filtered to failed, %d rows are not failed", n)
	}
	waitFor(t, ctx, "the live stream", `document.querySelector("#live").classList.contains("on")`)

	eval[int](t, ctx, `window.stillHere = 1`)

	// A dry run first: it says what would happen and moves nothing.
	st.fixed.Store(true)
	row := fmt.Sprintf(`#messages tr[data-id=%q]`, flaky)
	do(t, ctx, "ask for a redrive", chromedp.Click(chromedp.CSS(row+" button.redrive")))
	waitFor(t, ctx, "the dry run", `document.querySelector("#redrive-summary") && document.querySelector("#redrive-summary").textContent.startsWith("1 would redrive")`)
	if rec := st.status(acmeKey, flaky); rec.Status != statusstore.Failed || rec.Redrives != 0 {
		t.Fatalf("after the dry run the message is %s with %d redrives, want failed and none", rec.Status, rec.Redrives)
	}
	screenshot(t, ctx, "console-dry-run.png")

	// Then for real; the row follows the message live to completed.
	do(t, ctx, "confirm the redrive", chromedp.Click(chromedp.CSS("#redrive-confirm")))
	waitFor(t, ctx, "the redrive", `document.querySelector("#redrive-summary").textContent === "1 redriven"`)
	waitFor(t, ctx, "the row to show completed", fmt.Sprintf(`document.querySelector(%q).dataset.status === "completed"`, row))
	if got := eval[string](t, ctx, `window.stillHere + ":" + location.search`); got != "1:?status=failed" {
		t.Errorf("the page navigated during the redrive (%s); the change must come from the event stream", got)
	}
	if rec := st.status(acmeKey, flaky); rec.Status != statusstore.Completed || rec.Redrives != 1 {
		t.Errorf("after the redrive the message is %s with %d redrives, want completed and 1", rec.Status, rec.Redrives)
	}
	screenshot(t, ctx, "console-messages.png")

	// The detail: its history, its body as text, the rows it wrote.
	do(t, ctx, "open the message", chromedp.Click(chromedp.CSS(row+" a")))
	waitFor(t, ctx, "the history", `document.querySelectorAll("#timeline li").length >= 6`)
	waitFor(t, ctx, "the body", `document.querySelector("#body").textContent.includes("order_key")`)
	if got := eval[string](t, ctx, `[...document.querySelectorAll("#timeline li .status")].map(s => s.textContent).join(",")`); got != "accepted,processing,failed,accepted,processing,completed" {
		t.Errorf("history %q", got)
	}
	if !eval[bool](t, ctx, `document.querySelector("#body").textContent.includes("<script>window.pwned=2</script>") && document.querySelectorAll("#body *").length === 0 && window.pwned === undefined`) {
		t.Error("the body's markup was not shown as text")
	}
	waitFor(t, ctx, "the rows written", `[...document.querySelectorAll("#written td")].some(td => td.textContent === "orders")`)

	// The dead letters: the broken message only.
	do(t, ctx, "open the dead letters", chromedp.Navigate(st.base+"/ui/dlq"))
	waitFor(t, ctx, "the dead letters", `document.querySelectorAll("#messages tbody tr").length === 1`)
	if got := eval[string](t, ctx, `document.querySelector("#messages tbody tr").dataset.id`); got != broken {
		t.Errorf("dead letters list %s, want %s", got, broken)
	}

	// The entities: the catalog's four tables, the orders' rows.
	do(t, ctx, "open the entities", chromedp.Navigate(st.base+"/ui/entities"))
	waitFor(t, ctx, "the tables", `document.querySelectorAll("#tables tbody tr").length === 4`)
	waitFor(t, ctx, "the order count", `document.querySelector('#tables tr[data-table="orders"] td.num').textContent === "4"`)
	do(t, ctx, "show the orders", chromedp.Click(chromedp.CSS(`#tables tr[data-table="orders"] button`)))
	waitFor(t, ctx, "the order rows", `document.querySelector("#rows-table").textContent === "orders" && document.querySelectorAll("#rows tbody tr").length === 4`)

	// The overview again, for the README.
	do(t, ctx, "open the overview", chromedp.Navigate(st.base+"/ui/"))
	waitFor(t, ctx, "the counts", `document.querySelector('.card[data-status="completed"] .n').textContent === "4" && document.querySelectorAll("#recent tbody tr").length === 5`)
	png := screenshot(t, ctx, "console.png")
	if *update {
		if err := os.WriteFile("../../docs/console.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
