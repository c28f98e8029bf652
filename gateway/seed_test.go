package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/wire"
)

// formType is what curl sends with -d and no -H 'Content-Type: …'.
const formType = "application/x-www-form-urlencoded"

// The calls of the seed's README and of the origin project's test-api.sh,
// as curl makes them, against a real gateway on a real NATS server. Each
// row names the curl command it transcribes.
func TestSeedCalls(t *testing.T) {
	t.Parallel()
	h := setup(t)
	twoLines := "{\"order_id\": \"1\", \"total\": 10}\n{\"order_id\": \"2\", \"total\": 20}"
	tests := []struct {
		curl        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		// batchStatus and inserted are checked on batch answers.
		batchStatus string
		inserted    int
		allow       string
	}{
		{curl: `curl -X POST /ingest/message -H "Content-Type: application/json" -d '{"order_id": "1"}'`,
			method: "POST", path: "/ingest/message", contentType: "application/json", body: `{"order_id": "1"}`, status: 202},
		{curl: `curl -X POST /ingest/message -H "Content-Type: text/plain" -d "$line"  (test-api.sh)`,
			method: "POST", path: "/ingest/message", contentType: "text/plain", body: `{"order_key": "O1", "line_items": []}`, status: 202},
		{curl: `curl -X POST /ingest/message -d '{"order_id": "1"}'  (no -H: form type)`,
			method: "POST", path: "/ingest/message", contentType: formType, body: `{"order_id": "1"}`, status: 202},
		{curl: `curl -X POST /ingest/batch -H "Content-Type: text/plain" -d $'{…}\n{…}'  (the seed's batch)`,
			method: "POST", path: "/ingest/batch", contentType: "text/plain", body: twoLines, status: 202, batchStatus: "success", inserted: 2},
		{curl: `curl -X POST /ingest/batch -H "Content-Type: text/plain" --data-binary @data.txt  (test-api.sh)`,
			method: "POST", path: "/ingest/batch", contentType: "text/plain; charset=utf-8", body: twoLines + "\n", status: 202, batchStatus: "success", inserted: 2},
		{curl: `curl -X POST /ingest/batch -H "Content-Type: application/x-ndjson" --data-binary @orders.ndjson`,
			method: "POST", path: "/ingest/batch", contentType: "application/x-ndjson", body: twoLines, status: 202, batchStatus: "success", inserted: 2},
		{curl: `curl -X POST /ingest/batch -H "Content-Type: application/jsonl" --data-binary @orders.jsonl`,
			method: "POST", path: "/ingest/batch", contentType: "application/jsonl", body: twoLines, status: 202, batchStatus: "success", inserted: 2},
		{curl: `curl -X POST /ingest/batch -H "Content-Type: application/json" --data-binary @orders.ndjson  (NDJSON)`,
			method: "POST", path: "/ingest/batch", contentType: "application/json", body: twoLines, status: 202, batchStatus: "success", inserted: 2},
		{curl: `curl -X POST /ingest/batch -H "Content-Type: application/json" -d '[{…}, {…}, {…}]'  (JSON array)`,
			method: "POST", path: "/ingest/batch", contentType: "application/json", body: "[\n  {\"order_id\": \"1\"},\n  {\"order_id\": \"2\"},\n  {\"order_id\": \"3\"}\n]\n", status: 202, batchStatus: "success", inserted: 3},
		{curl: `curl -X POST /ingest/batch -d $'{…}\n{…}'  (no -H: form type)`,
			method: "POST", path: "/ingest/batch", contentType: formType, body: twoLines, status: 202, batchStatus: "success", inserted: 2},
		{curl: `curl -X POST /ingest/batch -H "Content-Type: text/plain" -d $'{…}\nnot json'`,
			method: "POST", path: "/ingest/batch", contentType: "text/plain", body: "{\"order_id\": \"1\"}\nnot json", status: 202, batchStatus: "partial", inserted: 1},
		{curl: `curl -X POST /ingest/batch -H "Content-Type: application/json" -d '[{…}, 7]'`,
			method: "POST", path: "/ingest/batch", contentType: "application/json", body: `[{"order_id": "1"}, 7]`, status: 202, batchStatus: "partial", inserted: 1},
		{curl: `curl -X POST /ingest/batch -H "Content-Type: text/plain" -d $'nope\n[]'`,
			method: "POST", path: "/ingest/batch", contentType: "text/plain", body: "nope\n[]", status: 400, batchStatus: "rejected"},
		{curl: `curl -X POST /ingest/message -H "Content-Type: application/xml" -d '<order/>'`,
			method: "POST", path: "/ingest/message", contentType: "application/xml", body: `<order/>`, status: 415},
		{curl: `curl -X POST /ingest/batch -F file=@orders.ndjson  (multipart)`,
			method: "POST", path: "/ingest/batch", contentType: "multipart/form-data; boundary=b", body: "--b\r\n\r\n{}\r\n--b--\r\n", status: 415},
		{curl: `curl -s /health`, method: "GET", path: "/health", status: 200},
		{curl: `curl -s /ready  (the origin chart's readiness probe)`, method: "GET", path: "/ready", status: 200},
		{curl: `curl -s /readyz`, method: "GET", path: "/readyz", status: 200},
		{curl: `curl -s /livez`, method: "GET", path: "/livez", status: 200},
		{curl: `curl -X GET /ingest/message`, method: "GET", path: "/ingest/message", status: 405, allow: "POST"},
		{curl: `curl -X DELETE /health`, method: "DELETE", path: "/health", status: 405, allow: "GET, HEAD"},
		{curl: `curl -X OPTIONS /ingest/batch  (CORS off)`, method: "OPTIONS", path: "/ingest/batch", status: 405, allow: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.curl, func(t *testing.T) {
			var headers []string
			if tt.contentType != "" {
				headers = []string{"Content-Type", tt.contentType}
			}
			res := h.do(tt.method, tt.path, strings.NewReader(tt.body), headers...)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			switch {
			case tt.status == http.StatusMethodNotAllowed || tt.status == http.StatusUnsupportedMediaType:
				if errorCode(t, res.body) == "" {
					t.Fatalf("no error code: %s", res.body)
				}
			case tt.batchStatus != "":
				got := decode[batchResponse](t, res.body)
				if got.Status != tt.batchStatus || got.Inserted != tt.inserted {
					t.Fatalf("batch answer %s, want status %s with %d inserted", res.body, tt.batchStatus, tt.inserted)
				}
				for _, r := range got.Results {
					if r.MessageID != "" && h.record(r.MessageID).Status != "accepted" {
						t.Fatalf("line %d not recorded", r.Line)
					}
				}
			case tt.path == "/ingest/message" && tt.status == 202:
				acc := decode[acceptedResponse](t, res.body)
				if acc.Status != "accepted" || h.record(acc.MessageID).MessageID != acc.MessageID {
					t.Fatalf("answer %s", res.body)
				}
			case tt.path == "/health":
				if got := decode[healthResponse](t, res.body); got.Status != "healthy" || got.Checks["jetstream"].Status != "ok" {
					t.Fatalf("health %s", res.body)
				}
			case tt.path == "/ready" || tt.path == "/readyz":
				if got := decode[healthResponse](t, res.body); got.Status != "ready" || got.Checks["nats"].Status != "ok" {
					t.Fatalf("ready %s", res.body)
				}
			}
		})
	}
}

// The entity type comes from X-Entity-Type, else ?entity=, else the body's
// top-level entity_type, and decides the subject and the envelope's field.
func TestEntityTypeFromBody(t *testing.T) {
	t.Parallel()
	h := setup(t)
	type want struct{ id, entity string }
	var wants []want
	accept := func(entity, body string, headers ...string) {
		t.Helper()
		wants = append(wants, want{h.accepted(body, headers...).MessageID, entity})
	}
	accept("order", `{"entity_type":"order","order_key":"O1"}`)
	accept("header_wins", `{"entity_type":"order"}`, "X-Entity-Type", "header_wins")
	accept("", `{"nested":{"entity_type":"order"}}`)
	accept("", `{"entity_type":null}`)
	res := h.post("/ingest/batch", ndjson(`{"entity_type":"customer","k":1}`, `{"k":2}`, `{"entity_type":"bad type"}`), "Content-Type", "text/plain")
	got := decode[batchResponse](t, res.body)
	if got.Status != "partial" || got.Inserted != 2 || !strings.Contains(got.Results[2].Error, `entity type "bad type"`) {
		t.Fatalf("batch %s", res.body)
	}
	wants = append(wants, want{got.Results[0].MessageID, "customer"}, want{got.Results[1].MessageID, ""})
	res = h.post("/ingest/batch?entity=query_wins", `[{"entity_type":"customer"}]`, "Content-Type", "application/json")
	got = decode[batchResponse](t, res.body)
	wants = append(wants, want{got.Results[0].MessageID, "query_wins"})

	subjects := map[string]string{}
	entities := map[string]string{}
	for _, m := range h.streamMessages() {
		env, err := wire.DecodeEnvelope(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		subjects[env.MessageID], entities[env.MessageID] = m.Subject, env.EntityTypeOrEmpty()
	}
	for _, w := range wants {
		if entities[w.id] != w.entity || subjects[w.id] != h.top.IngestSubject(w.entity) {
			t.Errorf("message %s: entity %q on %s, want %q", w.id, entities[w.id], subjects[w.id], w.entity)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) { c.CORSOrigins = []string{"https://console.example"} })
	preflight := func(origin, path, method string) response {
		return h.do(http.MethodOptions, path, nil, "Origin", origin, "Access-Control-Request-Method", method,
			"Access-Control-Request-Headers", "content-type, x-entity-type")
	}
	res := preflight("https://console.example", "/ingest/batch", "POST")
	hd := res.header
	if res.status != http.StatusNoContent || hd.Get("Access-Control-Allow-Origin") != "https://console.example" ||
		hd.Get("Access-Control-Allow-Methods") != "POST" || !strings.Contains(hd.Get("Access-Control-Allow-Headers"), "X-Entity-Type") ||
		hd.Get("Access-Control-Max-Age") == "" || !strings.Contains(strings.Join(hd.Values("Vary"), ","), "Origin") {
		t.Fatalf("preflight: %d %v", res.status, hd)
	}
	res = preflight("https://console.example", "/ingest/status/"+"0b0e7a3c-58a4-4a8e-9a43-7d29f6b2e1d0", "GET")
	if res.status != http.StatusNoContent || res.header.Get("Access-Control-Allow-Methods") != "GET, HEAD" {
		t.Fatalf("status preflight: %d %v", res.status, res.header)
	}
	if res := preflight("https://console.example", "/nope", "GET"); res.status != http.StatusNotFound {
		t.Fatalf("preflight of an unknown path: %d", res.status)
	}
	res = preflight("https://evil.example", "/ingest/batch", "POST")
	if res.status != http.StatusMethodNotAllowed || res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %d %v", res.status, res.header)
	}
	res = h.post("/ingest/message", `{}`, "Origin", "https://console.example")
	if res.status != http.StatusAccepted || res.header.Get("Access-Control-Allow-Origin") != "https://console.example" ||
		!strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Fatalf("simple request: %d %v", res.status, res.header)
	}
	if res := h.post("/ingest/message", `{}`, "Origin", "https://evil.example"); res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin got %v", res.header)
	}
	if _, err := New(Config{Topology: h.top, CORSOrigins: []string{"console.example"}}, h.nc); err == nil || !strings.Contains(err.Error(), "console.example") {
		t.Fatalf("origin without a scheme: %v", err)
	}
}

// /health shows dependency errors to authenticated callers only; /readyz
// and /ready also need PostgreSQL when the gateway has one, /livez nothing.
func TestHealthDetailsAndReadiness(t *testing.T) {
	t.Parallel()
	// A real pool on a port nothing listens on: PostgreSQL is down.
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := setup(t, func(c *Config) {
		c.APIKeys = map[string]string{"k1": "acme"}
		c.Database = pool
	})
	anon := decode[healthResponse](t, h.get("/health").body)
	if anon.Status != "healthy" || anon.Checks["database"].Status != "unavailable" || anon.Checks["database"].Error != "" ||
		anon.Checks["nats"].State != "" || anon.Checks["jetstream"].Stream != "" {
		t.Fatalf("anonymous health shows details: %+v", anon)
	}
	auth := decode[healthResponse](t, h.get("/health", "X-API-Key", "k1").body)
	if auth.Checks["database"].Error == "" || auth.Checks["jetstream"].Stream != h.top.Stream || auth.Checks["nats"].State != "CONNECTED" {
		t.Fatalf("authenticated health lacks details: %+v", auth)
	}
	if wrong := decode[healthResponse](t, h.get("/health", "X-API-Key", "nope").body); wrong.Checks["database"].Error != "" {
		t.Fatalf("a wrong key sees details: %+v", wrong)
	}
	for _, path := range []string{"/readyz", "/ready"} {
		res := h.get(path, "Authorization", "Bearer k1")
		got := decode[healthResponse](t, res.body)
		if res.status != http.StatusServiceUnavailable || got.Status != "not_ready" || got.Checks["database"].Error == "" {
			t.Fatalf("%s with PostgreSQL down: %d %s", path, res.status, res.body)
		}
	}
	if res := h.get("/livez"); res.status != http.StatusOK || decode[healthResponse](t, res.body).Status != "alive" {
		t.Fatalf("livez: %d %s", res.status, res.body)
	}
	// NATS down: /livez still 200, the others 503.
	h.ns.Shutdown()
	testsvc.Eventually(t, 30*time.Second, "the client to see NATS gone", func() bool { return !h.nc.IsConnected() })
	if res := h.get("/health"); res.status != http.StatusServiceUnavailable || decode[healthResponse](t, res.body).Status != "unhealthy" {
		t.Fatalf("health with NATS down: %d %s", res.status, res.body)
	}
	if res := h.get("/livez"); res.status != http.StatusOK {
		t.Fatalf("livez with NATS down: %d", res.status)
	}
}
