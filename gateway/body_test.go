package gateway

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/wire"
)

// objectOfSize is a JSON object of exactly n bytes (n >= 8).
func objectOfSize(n int) string {
	return `{"p":"` + strings.Repeat("x", n-8) + `"}`
}

// TestBodyLimitFollowsMaxPayload runs a gateway on a server whose
// max_payload is far below MaxBodyBytes: a body of the derived limit is
// accepted and stored, one byte more is 413 stating the limit, on a message
// and on a batch line alike.
func TestBodyLimitFollowsMaxPayload(t *testing.T) {
	t.Parallel()
	const maxPayload = 64 << 10
	ns := testsvc.NATSWith(t, func(o *server.Options) { o.MaxPayload = maxPayload })
	h := setupOn(t, ns, testsvc.Connect(t, ns))
	limit := int(wire.MaxBodyBytes(maxPayload))
	h.accepted(objectOfSize(limit), "X-Entity-Type", strings.Repeat("e", wire.MaxEntityTypeLength),
		"X-Source", strings.Repeat("<", MaxSourceLength), "Idempotency-Key", strings.Repeat("&", MaxIdempotencyKeyLength))
	res := h.post("/ingest/message", objectOfSize(limit+1))
	if res.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(res.body), fmt.Sprint(limit)) {
		t.Fatalf("body of limit+1: %d %s, want 413 stating %d", res.status, res.body, limit)
	}
	res = h.post("/ingest/batch", ndjson(`{"ok":1}`, objectOfSize(limit+1)), "Content-Type", "application/x-ndjson")
	if res.status != http.StatusAccepted {
		t.Fatalf("batch: %d %s", res.status, res.body)
	}
	b := decode[batchResponse](t, res.body)
	if b.Inserted != 1 || !strings.Contains(b.Results[1].Error, fmt.Sprintf("at most %d bytes", limit)) {
		t.Fatalf("batch results %+v", b.Results)
	}
}

// slowBody opens a connection that announces a body of announced bytes to
// path and sends only the first sent of them.
func slowBody(t *testing.T, addr, path string, announced, sent int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ct := "application/json"
	if path == "/ingest/batch" {
		ct = "application/x-ndjson"
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, ct, announced)
	if _, err := conn.Write([]byte(strings.Repeat(" ", sent))); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestSlowBodyHoldsWhatItSent announces a large body and sends one byte:
// the gateway holds a small buffer, not the announced size, and answers 408
// once the body read timeout passes.
func TestSlowBodyHoldsWhatItSent(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) { c.BodyReadTimeout = time.Second })
	conn := slowBody(t, h.srv.Addr().String(), "/ingest/batch", 16<<20, 1)
	testsvc.Eventually(t, 20*time.Second, "the body read to start", func() bool { return h.srv.bodies.held() > 0 })
	if held := h.srv.bodies.held(); held > 64<<10 {
		t.Fatalf("%d bytes held for a body of one byte so far", held)
	}
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", res.StatusCode)
	}
	testsvc.Eventually(t, 20*time.Second, "the buffer to be released", func() bool { return h.srv.bodies.held() == 0 })
}

// TestBodyBudget fills the gateway-wide body budget with bodies that do not
// finish: the next request is 503 with Retry-After, and once they are gone
// requests are accepted again.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) {
		c.MaxBodyBytes, c.MaxBatchBytes, c.MaxBodyBytesInFlight = 64<<10, 64<<10, 128<<10
	})
	var conns []net.Conn
	for range 3 {
		conns = append(conns, slowBody(t, h.srv.Addr().String(), "/ingest/message", 64<<10, 60<<10))
	}
	var res response
	testsvc.Eventually(t, 20*time.Second, "the budget to be spent", func() bool {
		res = h.post("/ingest/message", objectOfSize(40<<10))
		return res.status == http.StatusServiceUnavailable
	})
	if errorCode(t, res.body) != codeBusy || res.header.Get("Retry-After") == "" {
		t.Fatalf("over budget: %d %v %s", res.status, res.header, res.body)
	}
	for _, c := range conns {
		c.Close()
	}
	testsvc.Eventually(t, 20*time.Second, "the budget to be released", func() bool { return h.srv.bodies.held() == 0 })
	h.accepted(objectOfSize(40 << 10))
}
