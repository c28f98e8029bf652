package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestWorkerKilled SIGKILLs the only worker while it works through a
// backlog and starts it again: every message completes, and every row is
// there exactly once although some batches were written and never
// acknowledged.
func TestWorkerKilled(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{workers: -1, workerEnv: []string{"NOMNOM_BATCH_SIZE=10", "NOMNOM_ACK_WAIT=3s"}})
	orders := loadOrders(t)
	ids := postBatches(t, s.client, orders, 50)
	w := s.startWorker()
	end := time.Now().Add(completionDeadline)
	for statusCounts(t, s.dbURL, ids)["completed"] == 0 && time.Now().Before(end) {
		time.Sleep(10 * time.Millisecond)
	}
	w.Kill()
	t.Logf("e2e: worker killed: at the kill sent=%d completed=%d", len(ids), statusCounts(t, s.dbURL, ids)["completed"])
	w.Restart()
	settle(t, "worker killed", s.client, s.dbURL, ids, orders)
}

// TestThreeWorkers runs three workers on the same durable consumer: the
// result is the same as with one, and each worker did some of the work.
func TestThreeWorkers(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{workers: 3, workerEnv: []string{"NOMNOM_BATCH_SIZE=5"}})
	orders := loadOrders(t)
	ids := postBatches(t, s.client, orders, 20)
	settle(t, "three workers", s.client, s.dbURL, ids, orders)
	total := 0
	for _, w := range s.workers {
		n := completedByWorker(t, w)
		t.Logf("e2e: three workers: %s completed=%d", w.name, n)
		if n == 0 {
			t.Errorf("%s completed nothing: the consumer is not shared", w.name)
		}
		total += n
	}
	if total < len(ids) {
		t.Errorf("the workers' metrics count %d completed messages, want at least %d", total, len(ids))
	}
}

// metricSum adds up the values of a metric (every label set) on a worker's
// /metrics.
func metricSum(t testing.TB, w *workerProc, name string) int {
	t.Helper()
	resp, err := http.Get(w.metricsURL + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", w.name, err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && (f[0] == name || strings.HasPrefix(f[0], name+"{")) {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("%s /metrics: %q: %v", w.name, sc.Text(), err)
			}
			sum += v
		}
	}
	return int(sum)
}

// completedByWorker reads nomnom_worker_messages_total{outcome="completed"}
// from a worker's /metrics.
func completedByWorker(t testing.TB, w *workerProc) int {
	t.Helper()
	return completedAt(t, w.name, w.metricsURL)
}

// completedAt reads nomnom_worker_messages_total{outcome="completed"} from
// the /metrics of the worker called name at metricsURL.
func completedAt(t testing.TB, name, metricsURL string) int {
	t.Helper()
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, `nomnom_worker_messages_total{outcome="completed"} `) {
			f, err := strconv.ParseFloat(strings.Fields(line)[1], 64)
			if err != nil {
				t.Fatalf("%s /metrics: %q: %v", name, line, err)
			}
			return int(f)
		}
	}
	return 0
}

// TestPostgresStopped stops PostgreSQL while a load is processed and starts
// it again: messages go retrying, then complete; nothing is lost.
func TestPostgresStopped(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{ownPostgres: true, workerEnv: []string{
		"NOMNOM_BATCH_SIZE=10", "NOMNOM_MAX_ATTEMPTS=1000", "NOMNOM_BACKOFF=100ms,250ms,500ms,1s",
	}})
	orders := loadOrders(t)
	third := len(orders) / 3
	ids := postBatches(t, s.client, orders[:third], 10)
	waitFor(t, "some messages to complete", completionDeadline, func() bool {
		return statusCounts(t, s.dbURL, ids)["completed"] > 0
	})
	s.pg.Stop()
	during := postBatches(t, s.client, orders[third:2*third], 10)
	ids = append(ids, during...)
	// The outage reaches the worker: its health says PostgreSQL is down.
	waitFor(t, "the worker's /healthz to report PostgreSQL down", completionDeadline, func() bool {
		resp, err := http.Get(s.workers[0].metricsURL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode != http.StatusOK
	})
	s.pg.Start()
	ids = append(ids, postBatches(t, s.client, orders[2*third:], 10)...)
	recs := settle(t, "postgres stopped", s.client, s.dbURL, ids, orders)
	// The outage is the environment's fault, not the messages': the worker
	// held the batches it had in hand and retried them (its metrics count
	// the attempts the outage held back) instead of spending the messages'
	// deliveries on it.
	held := metricSum(t, s.workers[0], "nomnom_worker_environment_errors_total")
	spent := 0
	for _, r := range recs {
		spent = max(spent, r.Attempts)
	}
	t.Logf("e2e: postgres stopped: batch attempts held back by the outage=%d, most attempts of a message=%d", held, spent)
	if held == 0 {
		t.Error("the worker never met the outage with a batch in hand")
	}
	if spent > 2 {
		t.Errorf("a message spent %d attempts on the outage", spent)
	}
	for _, w := range s.workers {
		if !w.Running() {
			t.Errorf("%s exited during the outage: %v", w.name, w.err)
		}
	}
}

// TestNATSStopped stops NATS: the gateway answers 503 with Retry-After,
// never 202, and /health says NATS is down. NATS comes back on the same port
// and store: the same gateway recovers, and every message it accepted is
// processed.
func TestNATSStopped(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	orders := loadOrders(t)
	third := len(orders) / 3
	ids := postBatches(t, s.client, orders[:third], 20)

	s.nats.Term()
	refused := 0
	for _, o := range orders[third : third+5] {
		a, err := s.client.post(o.raw)
		if err != nil {
			t.Fatalf("POST during the outage: %v", err)
		}
		switch {
		case a.code == http.StatusAccepted:
			t.Fatalf("gateway answered 202 with NATS down: %s", a)
		case a.code != http.StatusServiceUnavailable:
			t.Errorf("POST during the outage: %s, want 503", a)
		case a.header.Get("Retry-After") == "":
			t.Errorf("503 without Retry-After: %s", a)
		default:
			refused++
		}
	}
	if _, err := s.client.tryPostBatch([][]byte{orders[third+5].raw}); err == nil {
		t.Fatal("a batch was accepted with NATS down")
	}
	a, h, err := s.client.health()
	if err != nil || a.code != http.StatusServiceUnavailable {
		t.Errorf("/health with NATS down: %s (%v), want 503", a, err)
	}
	if checks, _ := json.Marshal(h["checks"]); !strings.Contains(strings.ToLower(string(checks)), "nats") {
		t.Errorf("/health with NATS down does not say why: %s", a)
	}
	t.Logf("e2e: nats stopped: refused=%d (503 with Retry-After)", refused)

	s.nats.Restart()
	waitFor(t, "the gateway to report healthy again", completionDeadline, func() bool {
		a, _, err := s.client.health()
		return err == nil && a.code == http.StatusOK
	})
	if !s.gateway.Running() {
		t.Fatalf("the gateway exited: %v", s.gateway.err)
	}
	ids = append(ids, postBatches(t, s.client, orders[third:], 20)...)
	settle(t, "nats stopped", s.client, s.dbURL, ids, orders)
}

// TestGatewayStopped sends SIGTERM to the gateway while clients are
// posting: it stops cleanly, and every request it answered 202 is
// processed.
func TestGatewayStopped(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	orders := loadOrders(t)

	var mu sync.Mutex
	byID := map[string]order{} // message_id → order, for every 202
	var posted, refused, failedRequests int
	third := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	const clients = 4
	for c := range clients {
		// Each client posts its share of the orders, round and round, until
		// the gateway is gone.
		wg.Go(func() {
			for i := c; ; i = (i + clients) % len(orders) {
				a, err := s.client.post(orders[i].raw)
				mu.Lock()
				posted++
				switch {
				case err != nil:
					failedRequests++
				case a.code == http.StatusAccepted:
					var acc accepted
					if json.Unmarshal(a.body, &acc) == nil && acc.MessageID != "" {
						byID[acc.MessageID] = orders[i]
					}
				default:
					refused++
				}
				if len(byID) >= len(orders)/3 {
					once.Do(func() { close(third) })
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	select {
	case <-third:
	case <-time.After(completionDeadline):
		t.Fatal("a third of the load was never accepted")
	}
	s.gateway.Signal(syscall.SIGTERM)
	err := s.gateway.Wait(time.Minute)
	wg.Wait()
	if err != nil {
		t.Errorf("gateway after SIGTERM: %v, want a clean exit", err)
	}
	t.Logf("e2e: gateway stopped: posted=%d accepted=%d refused=%d connection errors=%d",
		posted, len(byID), refused, failedRequests)

	// A new gateway on the same port answers the status reads.
	s.gateway.Restart()
	waitHTTP(t, "gateway", s.gateway.url+"/health", time.Minute)
	ids := make([]string, 0, len(byID))
	seen := map[string]bool{}
	var done []order
	for id, o := range byID {
		ids = append(ids, id)
		if !seen[o.key] {
			seen[o.key] = true
			done = append(done, o)
		}
	}
	settle(t, "gateway stopped", s.client, s.dbURL, ids, done)
}
