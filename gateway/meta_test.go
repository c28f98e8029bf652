package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// TestLongNamesKeepTheConnection sends the names that once made the NATS
// server close the gateway's connection: they are refused, and the gateway
// still ingests on the same connection afterwards.
func TestLongNamesKeepTheConnection(t *testing.T) {
	t.Parallel()
	h := setup(t)
	long := strings.Repeat("A", 5000)
	for _, res := range []response{
		h.post("/ingest/message?entity="+long, `{}`),
		h.post("/ingest/message", `{}`, "X-Entity-Type", long),
		h.post("/ingest/batch", "{}\n", "X-Entity-Type", long, "Content-Type", "application/x-ndjson"),
		h.post("/ingest/message", `{}`, "X-Source", long),
	} {
		if res.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400: %s", res.status, res.body)
		}
	}
	if !h.nc.IsConnected() {
		t.Fatal("the NATS connection is not connected after the long names")
	}
	h.accepted(`{"after":true}`, "X-Entity-Type", strings.Repeat("B", 128))
}

func TestValidTenant(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"acme": true, "team-a.eu_1": true, strings.Repeat("t", MaxTenantLength): true,
		"": false, "a b": false, "a\nb": false, "é": false, strings.Repeat("t", MaxTenantLength+1): false,
	} {
		if got := validTenant(name); got != want {
			t.Errorf("validTenant(%q) = %v, want %v", name, got, want)
		}
	}
}
