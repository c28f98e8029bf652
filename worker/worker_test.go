package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/dlq"
	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// testBody is the message body the test handler understands.
type testBody struct {
	N int `json:"n"`
	// Poison makes the handler return a transient error (while the message
	// is listed in failTransient) or a permanent one (while in reject).
	Tag string `json:"tag,omitempty"`
}

// testHandler writes one row per message into items, whose CHECK refuses a
// negative n: such a message poisons its whole batch.
type testHandler struct {
	mu            sync.Mutex
	calls         map[string]int // handler calls per message_id
	failTransient map[string]int // message_id -> transient failures left
	reject        map[string]bool
	rejectWith    string        // the reason of a rejection, when set
	perMessage    bool          // transient failures as a message's Result, not the batch's error
	block         chan struct{} // when set, Handle signals entered and waits
	entered       chan struct{}
}

func newTestHandler() *testHandler {
	return &testHandler{calls: map[string]int{}, failTransient: map[string]int{}, reject: map[string]bool{}}
}

func (h *testHandler) Handle(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]Result, error) {
	h.mu.Lock()
	block := h.block
	h.block = nil
	for _, env := range batch {
		h.calls[env.MessageID]++
		if h.failTransient[env.MessageID] > 0 && !h.perMessage {
			h.failTransient[env.MessageID]--
			h.mu.Unlock()
			return nil, &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
		}
	}
	h.mu.Unlock()
	if block != nil {
		close(h.entered)
		<-block
	}
	results := make([]Result, len(batch))
	for i, env := range batch {
		var body testBody
		if err := json.Unmarshal(env.Body, &body); err != nil {
			results[i].Err = Permanent(err)
			continue
		}
		h.mu.Lock()
		rejected := h.reject[env.MessageID]
		transient := h.perMessage && h.failTransient[env.MessageID] > 0
		if transient {
			h.failTransient[env.MessageID]--
		}
		h.mu.Unlock()
		if transient {
			results[i].Err = &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
			continue
		}
		if rejected && h.rejectWith != "" {
			results[i].Err = Permanent(errors.New(h.rejectWith))
			continue
		}
		if rejected {
			results[i].Err = Permanent(errors.New("rejected by the test handler"))
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO items (message_id, n) VALUES ($1, $2)`, env.MessageID, body.N); err != nil {
			return nil, err
		}
		results[i].Entities = map[string]int{"items": 1}
	}
	return results, nil
}

func (h *testHandler) callsOf(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[id]
}

// fixture is what every test needs: NATS, a migrated database, a topology.
type fixture struct {
	t     testing.TB
	nc    *nats.Conn
	js    jetstream.JetStream
	top   wire.Topology
	pool  *pgxpool.Pool
	kv    *statusstore.KV
	pg    *statusstore.Postgres
	dbURL string
}

func setup(t testing.TB) *fixture {
	t.Helper()
	return setupOn(t, testsvc.NATS(t))
}

// setupOn is setup on a NATS server the test started.
func setupOn(t testing.TB, srv *server.Server) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, nc: testsvc.Connect(t, srv), top: testsvc.Topology(t)}
	f.pool, f.dbURL = testsvc.MigratedPool(t)
	pool := f.pool
	_, err := pool.Exec(ctx, `CREATE TABLE items (message_id uuid PRIMARY KEY, n integer NOT NULL CHECK (n >= 0))`)
	if err != nil {
		t.Fatal(err)
	}
	if f.js, err = jetstream.New(f.nc); err != nil {
		t.Fatal(err)
	}
	kv, err := wire.Ensure(ctx, f.js, f.top)
	if err != nil {
		t.Fatal(err)
	}
	f.kv, f.pg = statusstore.NewKV(kv), statusstore.NewPostgres(pool)
	return f
}

// config is a fast configuration for tests: short back-offs, logs to t.
func (f *fixture) config() Config {
	return Config{
		Topology:    f.top,
		BatchSize:   20,
		BatchWait:   20 * time.Millisecond,
		MaxAttempts: 3,
		Backoff:     []time.Duration{50 * time.Millisecond},
		AckWait:     time.Second,
		Logger:      testsvc.Logger(f.t),
	}
}

// start runs a worker until the test ends.
func (f *fixture) start(cfg Config, h Handler) *Worker {
	f.t.Helper()
	w, err := New(cfg, f.nc, f.pool, h)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w
}

// publish does what the gateway does: create the accepted record, publish
// the envelope. It returns the message_id.
func (f *fixture) publish(body any) string {
	f.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		f.t.Fatal(err)
	}
	env := wire.Envelope{MessageID: uuid.NewString(), Body: raw, ReceivedAt: time.Now().UTC()}
	ctx := context.Background()
	if err := f.kv.Create(ctx, statusstore.NewAccepted(&env, time.Now())); err != nil {
		f.t.Fatal(err)
	}
	data, err := env.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	m := nats.NewMsg(f.top.IngestSubject(""))
	m.Data, m.Header = data, env.Headers()
	if _, err := f.js.PublishMsg(ctx, m); err != nil {
		f.t.Fatal(err)
	}
	return env.MessageID
}

// waitTerminal polls the KV record until it is terminal.
func (f *fixture) waitTerminal(id string) statusstore.Record {
	f.t.Helper()
	var r statusstore.Record
	testsvc.Eventually(f.t, 30*time.Second, "message "+id+" terminal in KV", func() error {
		var err error
		if r, err = f.kv.Get(context.Background(), id); err != nil {
			return err
		}
		if !r.Status.Terminal() {
			return fmt.Errorf("record %+v", r)
		}
		return nil
	})
	return r
}

func (f *fixture) rows(id string) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM items WHERE message_id = $1`, id).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) pgStatus(id string) statusstore.Record {
	f.t.Helper()
	r, err := f.pg.Get(context.Background(), id)
	if err != nil {
		f.t.Fatalf("message_status %s: %v", id, err)
	}
	return r
}

// dlq returns the dead-letter admin of the fixture's topology; pg may be nil.
func (f *fixture) dlq(pg statusstore.Store) *dlq.Admin {
	f.t.Helper()
	a, err := dlq.New(dlq.Config{JetStream: f.js, Topology: f.top, KV: f.kv, Postgres: pg})
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) deadLetters() []dlq.DeadLetter {
	f.t.Helper()
	dls, err := f.dlq(nil).List(context.Background(), dlq.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return dls
}

func statuses(r statusstore.Record) []statusstore.State {
	out := make([]statusstore.State, len(r.History))
	for i, e := range r.History {
		out[i] = e.Status
	}
	return out
}

func sameStates(got []statusstore.State, want ...statusstore.State) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestPoisonousMessageFailsAlone(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var ids []string
	for i := range 9 {
		ids = append(ids, f.publish(testBody{N: i}))
	}
	poison := f.publish(testBody{N: -1})
	h := newTestHandler()
	f.start(f.config(), h)

	for _, id := range ids {
		if r := f.waitTerminal(id); r.Status != statusstore.Completed {
			t.Errorf("%s: status %s (%s), want completed", id, r.Status, r.Error)
		}
		if n := f.rows(id); n != 1 {
			t.Errorf("%s: %d rows, want 1", id, n)
		}
	}
	r := f.waitTerminal(poison)
	if r.Status != statusstore.Failed || r.Error == "" {
		t.Fatalf("poison: %+v, want failed with an error", r)
	}
	if f.rows(poison) != 0 {
		t.Error("poison: a row was written")
	}
	if pr := f.pgStatus(poison); pr.Status != statusstore.Failed {
		t.Errorf("poison message_status: %s, want failed", pr.Status)
	}
	dls := f.deadLetters()
	if len(dls) != 1 || dls[0].MessageID != poison || dls[0].Reason == "" {
		t.Fatalf("dead letters %+v, want only %s with a reason", dls, poison)
	}
}

func TestTransientFailureIsRetried(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	id := f.publish(testBody{N: 1})
	h.failTransient[id] = 1
	f.start(f.config(), h)

	r := f.waitTerminal(id)
	if r.Status != statusstore.Completed || r.Attempts != 2 {
		t.Fatalf("record %+v, want completed at attempt 2", r)
	}
	want := []statusstore.State{statusstore.Accepted, statusstore.Processing, statusstore.Retrying, statusstore.Processing, statusstore.Completed}
	if got := statuses(r); !sameStates(got, want...) {
		t.Errorf("history %v, want %v", got, want)
	}
	if r.Entities["items"] != 1 {
		t.Errorf("entities %v, want items: 1", r.Entities)
	}
	if pr := f.pgStatus(id); pr.Status != statusstore.Completed || pr.Attempts != 2 {
		t.Errorf("message_status %s at attempt %d, want completed at 2", pr.Status, pr.Attempts)
	}
	if n := f.rows(id); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
}

func TestExhaustedAttemptsDeadLetter(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	id := f.publish(testBody{N: 1})
	h.failTransient[id] = 100
	cfg := f.config()
	f.start(cfg, h)

	r := f.waitTerminal(id)
	if r.Status != statusstore.Failed || r.Attempts != cfg.MaxAttempts {
		t.Fatalf("record %+v, want failed at attempt %d", r, cfg.MaxAttempts)
	}
	if got := h.callsOf(id); got != cfg.MaxAttempts {
		t.Errorf("handler called %d times, want %d", got, cfg.MaxAttempts)
	}
	dls := f.deadLetters()
	if len(dls) != 1 || dls[0].MessageID != id || dls[0].Attempts != cfg.MaxAttempts {
		t.Fatalf("dead letters %+v, want %s at attempt %d", dls, id, cfg.MaxAttempts)
	}
	if want := "40001"; !contains(dls[0].Reason, want) {
		t.Errorf("reason %q does not mention %s", dls[0].Reason, want)
	}
}

func TestUndecodablePayloadDeadLetters(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := uuid.NewString()
	m := nats.NewMsg(f.top.IngestSubject("orders"))
	m.Data = []byte("this is not an envelope")
	m.Header.Set(wire.HeaderMsgID, id)
	if _, err := f.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	f.start(f.config(), newTestHandler())

	r := f.waitTerminal(id)
	if r.Status != statusstore.Failed {
		t.Fatalf("record %+v, want failed", r)
	}
	if pr := f.pgStatus(id); pr.Status != statusstore.Failed {
		t.Errorf("message_status %s, want failed", pr.Status)
	}
	dls := f.deadLetters()
	if len(dls) != 1 || dls[0].MessageID != id || string(dls[0].Data) != string(m.Data) {
		t.Fatalf("dead letters %+v, want the raw payload of %s", dls, id)
	}
	if !contains(dls[0].Reason, "invalid envelope") {
		t.Errorf("reason %q", dls[0].Reason)
	}
}

func TestCrashBetweenCommitAndAck(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	id := f.publish(testBody{N: 7})

	f.crashAfterFirstCommit(h)
	if n := f.rows(id); n != 1 {
		t.Fatalf("after the commit: %d rows, want 1", n)
	}

	f.start(f.config(), h) // a fresh worker; the message is redelivered after AckWait
	r := f.waitTerminal(id)
	if r.Status != statusstore.Completed {
		t.Fatalf("record %+v, want completed", r)
	}
	if n := f.rows(id); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
	if got := h.callsOf(id); got != 1 {
		t.Errorf("handler called %d times, want 1", got)
	}
	waitAcked(t, f)
}

// waitAcked waits until the consumer has nothing pending or unacknowledged.
func waitAcked(t *testing.T, f *fixture) {
	t.Helper()
	testsvc.Eventually(t, 30*time.Second, "every message acknowledged", func() error {
		c, err := f.js.Consumer(context.Background(), f.top.Stream, DefaultConsumer)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("consumer still has %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

func TestRedriveCompletesAfterFix(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	id := f.publish(testBody{N: 3})
	h.reject[id] = true
	f.start(f.config(), h)
	if r := f.waitTerminal(id); r.Status != statusstore.Failed {
		t.Fatalf("record %+v, want failed", r)
	}
	dls := f.deadLetters()
	if len(dls) != 1 || !contains(dls[0].Reason, "rejected") {
		t.Fatalf("dead letters %+v", dls)
	}

	h.mu.Lock()
	delete(h.reject, id)
	h.mu.Unlock()
	out, err := f.dlq(f.pg).Redrive(context.Background(), dlq.RedriveOptions{IDs: []string{id}})
	if err != nil || len(out) != 1 || out[0].Outcome != dlq.OutcomeRedriven || out[0].Err != nil {
		t.Fatalf("redrive: %+v, %v", out, err)
	}
	r := f.waitTerminal(id)
	want := []statusstore.State{statusstore.Accepted, statusstore.Processing, statusstore.Failed,
		statusstore.Accepted, statusstore.Processing, statusstore.Completed}
	if r.Status != statusstore.Completed || !sameStates(statuses(r), want...) || r.Attempts != 2 {
		t.Fatalf("record %s at attempt %d, history %v; want completed at 2, history %v", r.Status, r.Attempts, statuses(r), want)
	}
	if pr := f.pgStatus(id); pr.Status != statusstore.Completed {
		t.Errorf("message_status %s, want completed", pr.Status)
	}
	if n := f.rows(id); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
	if dls := f.deadLetters(); len(dls) != 0 {
		t.Errorf("DLQ still holds %+v", dls)
	}
	// Running it again finds nothing to do.
	if out, err := f.dlq(nil).Redrive(context.Background(), dlq.RedriveOptions{All: true}); err != nil || len(out) != 0 {
		t.Errorf("second redrive: %+v, %v", out, err)
	}
}

// A message that always fails goes round the redrive loop until the cap
// stops it: at the cap it stays failed in the DLQ, below it it is redriven.
func TestRedriveCapStopsALoop(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	looping, fresh := f.publish(testBody{N: 1}), f.publish(testBody{N: 2})
	h.reject[looping], h.reject[fresh] = true, true
	f.start(f.config(), h)
	for _, id := range []string{looping, fresh} {
		if r := f.waitTerminal(id); r.Status != statusstore.Failed {
			t.Fatalf("%s: record %+v, want failed", id, r)
		}
	}
	const limit = 1
	ctx := context.Background()
	out, err := f.dlq(f.pg).Redrive(ctx, dlq.RedriveOptions{IDs: []string{looping}, MaxRedrives: limit})
	if err != nil || len(out) != 1 || out[0].Outcome != dlq.OutcomeRedriven {
		t.Fatalf("first redrive: %+v, %v", out, err)
	}
	testsvc.Eventually(t, 60*time.Second, "the redriven message failed again and back in the DLQ", func() bool {
		r, err := f.kv.Get(ctx, looping)
		if err != nil || r.Status != statusstore.Failed || r.Redrives != limit {
			return false
		}
		for _, dl := range f.deadLetters() {
			if dl.MessageID == looping {
				return true
			}
		}
		return false
	})

	h.mu.Lock()
	delete(h.reject, looping)
	delete(h.reject, fresh)
	h.mu.Unlock()
	calls := h.callsOf(looping)
	out, err = f.dlq(f.pg).Redrive(ctx, dlq.RedriveOptions{All: true, MaxRedrives: limit})
	if err != nil || len(out) != 2 {
		t.Fatalf("redrive at the cap: %+v, %v", out, err)
	}
	for _, r := range out {
		switch {
		case r.MessageID == looping && (r.Outcome != dlq.OutcomeCapped || r.Err == nil):
			t.Errorf("message at the cap: %s (%v), want capped", r.Outcome, r.Err)
		case r.MessageID == fresh && (r.Outcome != dlq.OutcomeRedriven || r.Err != nil):
			t.Errorf("message below the cap: %s (%v), want redriven", r.Outcome, r.Err)
		}
	}
	if r := f.waitTerminal(fresh); r.Status != statusstore.Completed || r.Redrives != 1 {
		t.Errorf("message below the cap: %s after %d redrive(s), want completed after 1", r.Status, r.Redrives)
	}
	if r, err := f.kv.Get(ctx, looping); err != nil || r.Status != statusstore.Failed || r.Redrives != limit {
		t.Errorf("message at the cap: %s after %d redrive(s) (%v), want failed after %d", r.Status, r.Redrives, err, limit)
	}
	if pr := f.pgStatus(looping); pr.Status != statusstore.Failed {
		t.Errorf("message at the cap: message_status %s, want failed", pr.Status)
	}
	if dls := f.deadLetters(); len(dls) != 1 || dls[0].MessageID != looping {
		t.Errorf("DLQ holds %+v, want only %s", dls, looping)
	}
	if n := h.callsOf(looping); n != calls || f.rows(looping) != 0 {
		t.Errorf("message at the cap was handled again: %d calls, was %d", n, calls)
	}
}

func TestConcurrentWorkersNeverRegress(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	ids := f.publishSomeFailingOnce(h, 300, 7)
	cfg := f.config()
	cfg.BatchSize = 10
	for range 3 {
		f.start(cfg, h)
	}
	for _, id := range ids {
		r := f.waitTerminal(id)
		if r.Status != statusstore.Completed {
			t.Errorf("%s: %s (%s), want completed", id, r.Status, r.Error)
			continue
		}
		if err := replay(r); err != nil {
			t.Errorf("%s: history %v out of order: %v", id, r.History, err)
		}
	}
	var rows, distinct int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT message_id) FROM items`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(ids) || distinct != len(ids) {
		t.Errorf("%d rows for %d messages, want %d", rows, distinct, len(ids))
	}
	var completed int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM message_status WHERE status = 'completed'`).Scan(&completed); err != nil {
		t.Fatal(err)
	}
	if completed != len(ids) {
		t.Errorf("%d completed message_status rows, want %d", completed, len(ids))
	}
}

// replay checks that a record's history is a sequence of allowed
// transitions from accepted.
func replay(r statusstore.Record) error {
	if len(r.History) == 0 || r.History[0].Status != statusstore.Accepted {
		return errors.New("does not start at accepted")
	}
	cur := statusstore.Record{Status: statusstore.Accepted}
	for _, e := range r.History[1:] {
		next, err := statusstore.Apply(cur, statusstore.Change{To: e.Status, At: e.At, Attempt: e.Attempt, Error: e.Error})
		if err != nil {
			return err
		}
		cur = next
	}
	return nil
}

func TestGracefulStopFinishesBatch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	release := make(chan struct{})
	h.block, h.entered = release, make(chan struct{})
	id := f.publish(testBody{N: 5})
	w := f.start(f.config(), h)

	<-h.entered
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stopped <- w.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while the batch was in hand", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	if n := f.rows(id); n != 1 {
		t.Fatalf("%d rows after Stop, want 1", n)
	}
	if r := f.pgStatus(id); r.Status != statusstore.Completed {
		t.Errorf("message_status %s after Stop, want completed", r.Status)
	}
	if r, err := f.kv.Get(context.Background(), id); err != nil || r.Status != statusstore.Completed {
		t.Errorf("KV record %+v (%v) after Stop, want completed: Stop flushes status writes", r, err)
	}
	waitAcked(t, f)
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}

func TestOpsHandler(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.publish(testBody{N: 1})
	w := f.start(f.config(), newTestHandler())
	f.waitTerminal(id)
	srv := httptest.NewServer(w.OpsHandler())
	defer srv.Close()
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/livez":   "ok",
		"/readyz":  "ok",
		"/metrics": `nomnom_worker_messages_total{outcome="completed"} 1`,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %q, want 200 with %q", path, resp.StatusCode, body, want)
		}
	}
	f.nc.Close()
	for _, path := range []string{"/healthz", "/readyz", "/livez"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s with NATS closed: %d, want 503", path, resp.StatusCode)
		}
	}
}

// TestSameMessageInConsecutiveBatches publishes one message twice (a
// redrive racing its original) between others, one message per batch: the
// second copy's batch shares a message with the batch before it, which may
// still be settling when it is prepared. The message is written once and
// every copy is acknowledged.
func TestSameMessageInConsecutiveBatches(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	before := f.publish(testBody{N: 1})
	env := wire.Envelope{MessageID: uuid.NewString(), Body: []byte(`{"n":2}`), ReceivedAt: time.Now().UTC()}
	ctx := context.Background()
	if err := f.kv.Create(ctx, statusstore.NewAccepted(&env, time.Now())); err != nil {
		t.Fatal(err)
	}
	data, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		m := nats.NewMsg(f.top.IngestSubject(""))
		m.Data, m.Header = data, env.Headers()
		m.Header.Del(wire.HeaderMsgID) // not de-duplicated by the stream
		if _, err := f.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	after := f.publish(testBody{N: 3})

	cfg := f.config()
	cfg.BatchSize = 1
	f.start(cfg, h)
	for _, id := range []string{before, env.MessageID, after} {
		if r := f.waitTerminal(id); r.Status != statusstore.Completed {
			t.Fatalf("%s: %+v, want completed", id, r)
		}
		if n := f.rows(id); n != 1 {
			t.Errorf("%s: %d rows, want 1", id, n)
		}
		if got := h.callsOf(id); got != 1 {
			t.Errorf("%s: handler called %d times, want 1", id, got)
		}
	}
	waitAcked(t, f)
}

// TestConcurrentBatchesInOneWorker writes several batches at once in one
// worker, with transient failures among them: every message completes
// once, with a history of allowed steps.
func TestConcurrentBatchesInOneWorker(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	ids := f.publishSomeFailingOnce(h, 200, 9)
	cfg := f.config()
	cfg.BatchSize = 10
	cfg.Concurrency = 4
	f.start(cfg, h)
	for i, id := range ids {
		r := f.waitTerminal(id)
		if r.Status != statusstore.Completed {
			t.Errorf("%s: %s (%s), want completed", id, r.Status, r.Error)
			continue
		}
		if err := replay(r); err != nil {
			t.Errorf("%s: history %v out of order: %v", id, r.History, err)
		}
		want := 1
		if i%9 == 0 {
			want = 2 // the transient failure, then the write
		}
		if got := h.callsOf(id); got != want {
			t.Errorf("%s: handler called %d times, want %d", id, got, want)
		}
	}
	var rows int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM items`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(ids) {
		t.Errorf("%d rows, want %d", rows, len(ids))
	}
	waitAcked(t, f)
}

// TestAckFollowsFinalStatus holds the KV write of a message's final status
// and checks that JetStream still has the message unacknowledged meanwhile:
// a worker that died at that point would leave it to a redelivery, which
// brings KV up to the committed row, instead of leaving KV behind for good.
func TestAckFollowsFinalStatus(t *testing.T) {
	t.Parallel()
	f := setup(t)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cfg := f.config()
	cfg.beforeKVWrite = func(states []statusstore.State) {
		if slices.Contains(states, statusstore.Completed) {
			once.Do(func() { close(held) })
			<-release
		}
	}
	id := f.publish(testBody{N: 3})
	f.start(cfg, newTestHandler())
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the worker's stop, even after a failure
	<-held
	if f.pgStatus(id).Status != statusstore.Completed {
		t.Fatal("the final KV write began before the commit")
	}
	c, err := f.js.Consumer(context.Background(), f.top.Stream, DefaultConsumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 1 {
		t.Fatalf("while the completed status is not in KV: %d unacknowledged, want 1", info.NumAckPending)
	}
	unblock()
	if r := f.waitTerminal(id); r.Status != statusstore.Completed {
		t.Fatalf("record %+v, want completed", r)
	}
	waitAcked(t, f)
}

// TestFailedRedeliveryStaysFailed fails a message, abandons the batch after
// the commit as a crash would (no DLQ copy stored, no Term), and fixes the
// handler: the redelivery must find the failed row and dead-letter it, not
// run the handler again as if it had been redriven.
func TestFailedRedeliveryStaysFailed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	id := f.publish(testBody{N: 5})
	h.reject[id] = true

	f.crashAfterFirstCommit(h)
	if r := f.pgStatus(id); r.Status != statusstore.Failed {
		t.Fatalf("after the crash: message_status %+v, want failed", r)
	}

	h.mu.Lock()
	h.reject[id] = false
	h.mu.Unlock()
	f.start(f.config(), h) // redelivered after AckWait
	waitAcked(t, f)
	if got := h.callsOf(id); got != 1 {
		t.Errorf("handler called %d times, want 1", got)
	}
	if r := f.pgStatus(id); r.Status != statusstore.Failed || r.Redrives != 0 {
		t.Errorf("message_status %+v, want failed and never redriven", r)
	}
	if n := f.rows(id); n != 0 {
		t.Errorf("%d rows, want 0", n)
	}
	if dl := f.deadLetters(); len(dl) != 1 || dl[0].MessageID != id {
		t.Errorf("dead letters %+v, want one copy of %s", dl, id)
	}
}

// crashAfterFirstCommit runs a worker that stops after its first commit
// without acknowledging or terminating anything, as a crash there would,
// and returns once it has stopped.
func (f *fixture) crashAfterFirstCommit(h Handler) {
	cfg := f.config()
	var first *Worker
	ready, crashed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cfg.afterCommit = func() bool {
		abandon := false
		once.Do(func() {
			abandon = true
			go func() {
				<-ready
				_ = first.Stop(context.Background())
				close(crashed)
			}()
		})
		return abandon
	}
	first = f.start(cfg, h)
	close(ready)
	<-crashed
}

// publishSomeFailingOnce publishes n messages and makes every k-th one fail
// once with a transient per-message error.
func (f *fixture) publishSomeFailingOnce(h *testHandler, n, k int) []string {
	h.perMessage = true
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.publish(testBody{N: i})
		if i%k == 0 {
			h.failTransient[ids[i]] = 1
		}
	}
	return ids
}

// TestProcessingStatusOnlyWhenSlow checks Config.ProcessingAfter both ways:
// a batch settled in time writes each KV record once, its final state with
// the processing step in its history; a batch held longer shows processing
// while it is in hand, then the same history.
func TestProcessingStatusOnlyWhenSlow(t *testing.T) {
	t.Parallel()
	want := []statusstore.State{statusstore.Accepted, statusstore.Processing, statusstore.Completed}
	t.Run("fast", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		var mu sync.Mutex
		var written []statusstore.State
		cfg := f.config()
		cfg.ProcessingAfter = time.Minute
		cfg.beforeKVWrite = func(states []statusstore.State) {
			mu.Lock()
			defer mu.Unlock()
			written = append(written, states...)
		}
		var ids []string
		for i := range 5 {
			ids = append(ids, f.publish(testBody{N: i}))
		}
		f.start(cfg, newTestHandler())
		for _, id := range ids {
			if r := f.waitTerminal(id); !sameStates(statuses(r), want...) {
				t.Errorf("%s: history %v, want %v", id, statuses(r), want)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if slices.Contains(written, statusstore.Processing) || len(written) != len(ids) {
			t.Errorf("KV writes %v, want one completed write per message", written)
		}
	})
	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		h := newTestHandler()
		block := make(chan struct{})
		h.block, h.entered = block, make(chan struct{})
		release := sync.OnceFunc(func() { close(block) })
		t.Cleanup(release)
		cfg := f.config()
		cfg.ProcessingAfter = 50 * time.Millisecond
		id := f.publish(testBody{N: 1})
		f.start(cfg, h)
		<-h.entered
		testsvc.Eventually(t, 30*time.Second, "processing in KV while the batch is held", func() error {
			r, err := f.kv.Get(context.Background(), id)
			if err == nil && r.Status != statusstore.Processing {
				err = fmt.Errorf("status %s", r.Status)
			}
			return err
		})
		release()
		if r := f.waitTerminal(id); !sameStates(statuses(r), want...) {
			t.Errorf("history %v, want %v", statuses(r), want)
		}
	})
}

// TestClaimLostToAnotherWorker has another "worker" settle a message while
// this worker's transaction writes it (the message had no row at the
// claim): this worker's settle must find the row, roll back its writes and
// claim again, then acknowledge the message as a duplicate.
func TestClaimLostToAnotherWorker(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.publish(testBody{N: 7})
	var calls int
	var mu sync.Mutex
	h := HandlerFunc(func(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]Result, error) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		results := make([]Result, len(batch))
		for i, env := range batch {
			if first {
				// The other worker commits first, from its own session.
				if _, err := f.pool.Exec(ctx, `INSERT INTO items (message_id, n) VALUES ($1, 70)`, env.MessageID); err != nil {
					return nil, err
				}
				rec := statusstore.NewAccepted(env, time.Now())
				rec, _ = statusstore.Apply(rec, statusstore.Change{To: statusstore.Processing, At: time.Now(), Attempt: 1})
				rec, _ = statusstore.Apply(rec, statusstore.Change{To: statusstore.Completed, At: time.Now(), Attempt: 1, Entities: map[string]int{"items": 1}})
				if err := statusstore.UpsertBatch(ctx, f.pool, []statusstore.Record{rec}); err != nil {
					return nil, err
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO items (message_id, n) VALUES ($1, 7) ON CONFLICT (message_id) DO UPDATE SET n = 7`, env.MessageID); err != nil {
				return nil, err
			}
			results[i].Entities = map[string]int{"items": 1}
		}
		return results, nil
	})
	f.start(f.config(), h)
	if r := f.waitTerminal(id); r.Status != statusstore.Completed {
		t.Fatalf("record %+v, want completed", r)
	}
	waitAcked(t, f)
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT n FROM items WHERE message_id = $1`, id).Scan(&n); err != nil || n != 70 {
		t.Fatalf("items.n = %d (%v), want 70: the losing transaction's write must be rolled back", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("handler called %d times, want 1 (the second claim finds the message completed)", calls)
	}
	if dl := f.deadLetters(); len(dl) != 0 {
		t.Errorf("dead letters %+v, want none", dl)
	}
}
