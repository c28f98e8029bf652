package gateway

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/internal/testsvc"
)

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.get("/health")
	health := decode[healthResponse](t, res.body)
	if res.status != http.StatusOK || health.Status != "healthy" || health.Service != "nomnom-gateway" || health.Version != "test" ||
		health.Checks["nats"].Status != "ok" || health.Checks["jetstream"].Status != "ok" {
		t.Fatalf("health %d %s", res.status, res.body)
	}
	if _, ok := health.Checks["database"]; ok {
		t.Fatal("database check without a database")
	}
	h.accepted(`{}`)
	h.post("/ingest/message", `[]`)
	metrics := string(h.get("/metrics").body)
	for _, want := range []string{
		`nomnom_gateway_requests_total{code="202",route="message"} 1`,
		`nomnom_gateway_requests_total{code="400",route="message"} 1`,
		`nomnom_gateway_messages_accepted_total 1`,
		`nomnom_gateway_request_duration_seconds_bucket{route="message"`,
		`nomnom_gateway_in_flight_requests 1`,
		`nomnom_gateway_publish_errors_total 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestBackpressure(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) { c.MaxInFlightPublishes = 10 })
	release, ok := h.srv.limiter.tryAcquire(10)
	if !ok {
		t.Fatal("could not take the publish slots")
	}
	for _, path := range []string{"/ingest/message", "/ingest/batch"} {
		res := h.post(path, "{}\n")
		if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "1" || errorCode(t, res.body) != codeTooManyRequests {
			t.Fatalf("%s: %d %v %s", path, res.status, res.header, res.body)
		}
	}
	release()
	h.accepted(`{}`)
	// A batch larger than the bound is admitted alone.
	res := h.post("/ingest/batch", strings.Repeat("{}\n", 25))
	if res.status != http.StatusAccepted || decode[batchResponse](t, res.body).Inserted != 25 {
		t.Fatalf("oversized batch: %d %s", res.status, res.body)
	}
}

// The gateway survives a NATS outage: 503 with Retry-After while NATS is
// down, and accepted messages again once it is back, without a restart.
func TestNATSOutage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ns := testsvc.NATSWithDir(t, dir, -1)
	port := ns.Addr().(*net.TCPAddr).Port
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h := setupOn(t, ns, nc, func(c *Config) { c.PublishTimeout = 500 * time.Millisecond })
	before := h.accepted(`{"n":1}`)

	ns.Shutdown()
	ns.WaitForShutdown()
	testsvc.Eventually(t, 20*time.Second, "disconnect", func() bool { return !nc.IsConnected() })
	for _, path := range []string{"/ingest/message", "/ingest/batch"} {
		res := h.post(path, "{}\n")
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" || errorCode(t, res.body) != codeUnavailable {
			t.Fatalf("%s while NATS is down: %d %v %s", path, res.status, res.header, res.body)
		}
	}
	if res := h.get("/health"); res.status != http.StatusServiceUnavailable || decode[healthResponse](t, res.body).Status != "unhealthy" {
		t.Fatalf("health while NATS is down: %d %s", res.status, res.body)
	}
	if res := h.get("/ingest/status/" + before.MessageID); res.status != http.StatusServiceUnavailable {
		t.Fatalf("status while NATS is down and no fallback: %d %s", res.status, res.body)
	}

	testsvc.NATSWithDir(t, dir, port)
	var after acceptedResponse
	testsvc.Eventually(t, 20*time.Second, "a POST accepted after the restart", func() bool {
		res := h.post("/ingest/message", `{"n":2}`)
		after = decode[acceptedResponse](t, res.body)
		return res.status == http.StatusAccepted
	})
	testsvc.Eventually(t, 20*time.Second, "health after the restart", func() bool { return h.get("/health").status == http.StatusOK })
	if rec := h.record(before.MessageID); rec.Status != "accepted" {
		t.Fatalf("record from before the outage: %+v", rec)
	}
	ids := map[string]bool{}
	for _, id := range h.streamIDs() {
		ids[id] = true
	}
	if !ids[before.MessageID] || !ids[after.MessageID] {
		t.Fatalf("stream lacks an accepted message: %v", ids)
	}
}

// The gateway starts before NATS: /health says 503 until NATS comes up,
// then the stream and bucket are ensured in the background.
func TestStartBeforeNATS(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	nc, err := nats.Connect("nats://127.0.0.1:"+strconv.Itoa(port), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h := setupOn(t, nil, nc, func(c *Config) { c.PublishTimeout = 300 * time.Millisecond })
	if res := h.get("/health"); res.status != http.StatusServiceUnavailable {
		t.Fatalf("health before NATS: %d %s", res.status, res.body)
	}
	if res := h.post("/ingest/message", `{}`); res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("POST before NATS: %d %s", res.status, res.body)
	}
	testsvc.NATSWithDir(t, t.TempDir(), port)
	select {
	case <-h.srv.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("stream and bucket never ensured")
	}
	testsvc.Eventually(t, 20*time.Second, "a POST accepted", func() bool { return h.post("/ingest/message", `{}`).status == http.StatusAccepted })
	if res := h.get("/health"); res.status != http.StatusOK {
		t.Fatalf("health after NATS: %d %s", res.status, res.body)
	}
}
