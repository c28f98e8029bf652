package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
)

// sse is an open GET /ingest/events, its events read in the background.
type sse struct {
	t      *testing.T
	events chan sseEvent
	ready  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

type sseEvent struct {
	id     uint64
	record statusstore.Record
}

// events opens an event stream and waits until it is ready; headers are
// name, value pairs.
func (h *harness) events(query string, headers ...string) *sse {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/ingest/events"+query, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		h.t.Fatalf("GET /ingest/events%s: %d %s", query, res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{t: h.t, events: make(chan sseEvent, 1000), ready: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go s.read(res)
	h.t.Cleanup(s.close)
	select {
	case <-s.ready:
	case <-time.After(30 * time.Second):
		h.t.Fatal("event stream never said ready")
	}
	return s
}

func (s *sse) read(res *http.Response) {
	defer close(s.done)
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	var data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == ": ready":
			close(s.ready)
		case strings.HasPrefix(line, "id: "):
			ev.id, _ = strconv.ParseUint(line[4:], 10, 64)
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case line == "" && data != "":
			ev.record = decode[statusstore.Record](s.t, []byte(data))
			s.events <- ev
			ev, data = sseEvent{}, ""
		}
	}
}

func (s *sse) close() {
	s.cancel()
	<-s.done
}

// next returns the next event, failing after 30 seconds.
func (s *sse) next() sseEvent {
	s.t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(30 * time.Second):
		s.t.Fatal("no event within 30s")
		return sseEvent{}
	}
}

// until reads events until one of message id in status st, and returns the
// events read, that one included.
func (s *sse) until(id string, st statusstore.State) []sseEvent {
	s.t.Helper()
	var out []sseEvent
	for {
		ev := s.next()
		out = append(out, ev)
		if ev.record.MessageID == id && ev.record.Status == st {
			return out
		}
	}
}

// none checks that no event arrives for a while.
func (s *sse) none(what string) {
	s.t.Helper()
	select {
	case ev := <-s.events:
		s.t.Fatalf("%s: unexpected event %d %s %s", what, ev.id, ev.record.MessageID, ev.record.Status)
	case <-time.After(300 * time.Millisecond):
	}
}

// process moves a record to processing as a worker would.
func process(t *testing.T, store *statusstore.KV, id string) {
	t.Helper()
	_, err := store.Update(context.Background(), id, func(cur statusstore.Record, _ bool) (statusstore.Record, error) {
		return statusstore.Apply(cur, statusstore.Change{To: statusstore.Processing, At: time.Now(), Attempt: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEventsFiltersAndTenants(t *testing.T) {
	t.Parallel()
	h := setup(t, withKeys)
	all := h.events("", "X-API-Key", "key-a")
	done := h.events("?status=completed", "X-API-Key", "key-a")
	orders := h.events("?entity=order", "X-API-Key", "key-a")
	other := h.events("", "X-API-Key", "key-b")

	a1 := h.accepted(`{}`, "X-API-Key", "key-a", "X-Entity-Type", "order").MessageID
	b1 := h.accepted(`{}`, "X-API-Key", "key-b").MessageID
	a2 := h.accepted(`{}`, "X-API-Key", "key-a").MessageID
	complete(t, h.store(), a1)
	complete(t, h.store(), b1)
	complete(t, h.store(), a2)

	got := all.until(a2, statusstore.Completed)
	var seen []string
	var last uint64
	for _, ev := range got {
		if ev.record.Tenant != "a" {
			t.Fatalf("tenant a's stream carries %s of tenant %q", ev.record.MessageID, ev.record.Tenant)
		}
		if ev.id <= last {
			t.Fatalf("event ids not increasing: %d after %d", ev.id, last)
		}
		last = ev.id
		seen = append(seen, ev.record.MessageID[:8]+" "+string(ev.record.Status))
	}
	want := []string{a1[:8] + " accepted", a2[:8] + " accepted", a1[:8] + " completed", a2[:8] + " completed"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("tenant a's events %v, want %v", seen, want)
	}
	for _, id := range []string{a1, a2} {
		if ev := done.next(); ev.record.MessageID != id || ev.record.Status != statusstore.Completed {
			t.Fatalf("status=completed stream: %s %s, want %s completed", ev.record.MessageID, ev.record.Status, id)
		}
	}
	done.none("status=completed stream")
	for _, st := range []statusstore.State{statusstore.Accepted, statusstore.Completed} {
		if ev := orders.next(); ev.record.MessageID != a1 || ev.record.Status != st {
			t.Fatalf("entity=order stream: %s %s, want %s %s", ev.record.MessageID, ev.record.Status, a1, st)
		}
	}
	orders.none("entity=order stream")
	for _, st := range []statusstore.State{statusstore.Accepted, statusstore.Completed} {
		if ev := other.next(); ev.record.MessageID != b1 || ev.record.Status != st {
			t.Fatalf("tenant b's stream: %s %s, want %s %s", ev.record.MessageID, ev.record.Status, b1, st)
		}
	}
	other.none("tenant b's stream")
}

// TestEventsResume reconnects with Last-Event-ID: the changes made while
// the client was away arrive first (the latest record of each message),
// then the live ones, none twice.
func TestEventsResume(t *testing.T) {
	t.Parallel()
	h := setup(t)
	first := h.events("")
	m1 := h.accepted(`{}`).MessageID
	ev := first.next()
	if ev.record.MessageID != m1 {
		t.Fatalf("first event is of %s, want %s", ev.record.MessageID, m1)
	}
	first.close()

	// While away: m1 moves on twice, m2 arrives.
	process(t, h.store(), m1)
	m2 := h.accepted(`{}`).MessageID
	complete(t, h.store(), m1)

	again := h.events("", "Last-Event-ID", strconv.FormatUint(ev.id, 10))
	replayed := []sseEvent{again.next(), again.next()}
	if replayed[0].record.MessageID != m2 || replayed[0].record.Status != statusstore.Accepted ||
		replayed[1].record.MessageID != m1 || replayed[1].record.Status != statusstore.Completed {
		t.Fatalf("replay %+v, want m2 accepted then m1 completed", replayed)
	}
	complete(t, h.store(), m2)
	live := again.next()
	if live.record.MessageID != m2 || live.record.Status != statusstore.Completed || live.id <= replayed[1].id {
		t.Fatalf("live event %d %s %s after replay up to %d", live.id, live.record.MessageID, live.record.Status, replayed[1].id)
	}
	again.none("after the live event")

	if res := h.get("/ingest/events", "Last-Event-ID", "yesterday"); res.status != http.StatusBadRequest || errorCode(t, res.body) != codeInvalidParameter {
		t.Fatalf("bad Last-Event-ID: %d %s", res.status, res.body)
	}
	if res := h.get("/ingest/events?status=lost"); res.status != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d %s", res.status, res.body)
	}
}

func TestEventStreamsAreBounded(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) { c.MaxEventStreams = 1 })
	open := h.events("")
	res := h.get("/ingest/events")
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("second stream: %d, Retry-After %q; want 429 with Retry-After", res.status, res.header.Get("Retry-After"))
	}
	open.close()
	testsvc.Eventually(t, 30*time.Second, "the slot to be free", func() bool { return h.inFlight() == 0 })
	h.events("") // the freed slot serves again
}

func TestEventHeartbeat(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) { c.EventHeartbeat = 50 * time.Millisecond })
	res, err := h.client.Get(h.base + "/ingest/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if sc.Text() == ": heartbeat" {
			return
		}
	}
	t.Fatalf("stream ended without a heartbeat: %v", sc.Err())
}

func TestStatusWaitsAreBounded(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) { c.MaxWaits = 1 })
	id := h.accepted(`{}`).MessageID
	held := make(chan response, 1)
	go func() { held <- h.get("/ingest/status/" + id + "?wait=30s") }()
	testsvc.Eventually(t, 30*time.Second, "the wait to be held", func() bool { return h.inFlight() == 1 })
	res := h.get("/ingest/status/" + id + "?wait=30s")
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("second wait: %d %s; want 429 with Retry-After", res.status, res.body)
	}
	if rec := h.record(id); rec.Status != statusstore.Accepted {
		t.Fatalf("a read without wait: %s", rec.Status)
	}
	complete(t, h.store(), id)
	if res := <-held; res.status != http.StatusOK || decode[statusstore.Record](t, res.body).Status != statusstore.Completed {
		t.Fatalf("held wait: %d %s", res.status, res.body)
	}
}

// TestManyWaitsShareOneWatcher holds 1,500 ?wait= reads at once: they share
// the gateway's one watcher, all answer with the completed record, and the
// process (gateway, NATS server and clients together) stays under 200 MB
// while they are held. It does not run in parallel, so the resident set it
// reads is its own.
func TestManyWaitsShareOneWatcher(t *testing.T) {
	const n = 1500
	h := setup(t)
	var lines []string
	for range n {
		lines = append(lines, `{}`)
	}
	res := h.post("/ingest/batch", ndjson(lines...), "Content-Type", "application/x-ndjson")
	if res.status != http.StatusAccepted {
		t.Fatalf("batch: %d %s", res.status, res.body)
	}
	batch := decode[struct {
		Results []struct {
			MessageID string `json:"message_id"`
		} `json:"results"`
	}](t, res.body)
	before := consumers(t, h)
	var wg sync.WaitGroup
	answers := make(chan string, n)
	for _, r := range batch.Results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := h.get("/ingest/status/" + r.MessageID + "?wait=60s")
			if res.status != http.StatusOK {
				answers <- fmt.Sprintf("%s: %d %s", r.MessageID, res.status, res.body)
				return
			}
			if rec := decode[statusstore.Record](t, res.body); rec.Status != statusstore.Completed {
				answers <- fmt.Sprintf("%s: %s", r.MessageID, rec.Status)
			}
		}()
	}
	// Every wait is held, or has failed (reported below).
	testsvc.Eventually(t, 120*time.Second, "every wait to be held", func() bool {
		h.srv.waits.mu.Lock()
		defer h.srv.waits.mu.Unlock()
		return h.srv.waits.used+len(answers) == n
	})
	if got := consumers(t, h); got > before+1 {
		t.Fatalf("%d waits made %d consumers of the status bucket, want at most the watcher's one beyond %d", n, got, before)
	}
	rss := residentSet(t)
	t.Logf("resident set with %d waits held: %d MB", n, rss>>20)
	if rss >= 200<<20 {
		t.Fatalf("resident set %d MB with %d waits held, want < 200 MB", rss>>20, n)
	}
	for _, r := range batch.Results {
		complete(t, h.store(), r.MessageID)
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		t.Error(a)
	}
}

// consumers counts the consumers of the status bucket's stream.
func consumers(t *testing.T, h *harness) int {
	t.Helper()
	s, err := h.js.Stream(context.Background(), "KV_"+h.top.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

// residentSet is the process's resident set (VmRSS), in bytes.
func residentSet(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
