package gateway

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseAPIKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		text    string
		want    map[string]string
		wantErr string
	}{
		{name: "empty", text: "", want: map[string]string{}},
		{name: "env list", text: "acme:k1, globex:k2", want: map[string]string{"k1": "acme", "k2": "globex"}},
		{name: "file", text: "# keys\nacme:k1\n\n  # rotated\nacme:k3\nglobex:k2\n", want: map[string]string{"k1": "acme", "k3": "acme", "k2": "globex"}},
		{name: "key with colon", text: "acme:a:b", want: map[string]string{"a:b": "acme"}},
		{name: "no colon", text: "acme:k1,secretkey", wantErr: "entry 2"},
		{name: "empty key", text: "acme:", wantErr: "entry 1"},
		{name: "empty tenant", text: ":k", wantErr: "entry 1"},
		{name: "shared key", text: "acme:k1,globex:k1", wantErr: "reuses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAPIKeys(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "k1") || strings.Contains(err.Error(), "secretkey") {
					t.Fatalf("error quotes a key: %v", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestAPIKeysIsolateTenants(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) { c.APIKeys = map[string]string{"acme-key": "acme", "globex-key": "globex"} })
	acme := []string{"Authorization", "Bearer acme-key"}
	globex := []string{"X-API-Key", "globex-key"}

	for _, tt := range []struct {
		name    string
		headers []string
	}{
		{"no key", nil},
		{"unknown key", []string{"Authorization", "Bearer nope"}},
		{"unknown X-API-Key", []string{"X-API-Key", "nope"}},
		{"not bearer", []string{"Authorization", "Basic acme-key"}},
	} {
		for _, path := range []string{"/ingest/message", "/ingest/batch"} {
			if res := h.post(path, `{}`, tt.headers...); res.status != http.StatusUnauthorized || errorCode(t, res.body) != codeUnauthorized {
				t.Fatalf("%s on %s: %d %s", tt.name, path, res.status, res.body)
			}
		}
		if res := h.get("/ingest/status/00000000-0000-4000-8000-000000000000", tt.headers...); res.status != http.StatusUnauthorized {
			t.Fatalf("%s on status: %d", tt.name, res.status)
		}
	}

	mine := h.accepted(`{}`, acme...)
	if rec := h.record(mine.MessageID, acme...); rec.Tenant != "acme" {
		t.Fatalf("tenant %q", rec.Tenant)
	}
	if res := h.get("/ingest/status/"+mine.MessageID, globex...); res.status != http.StatusNotFound || errorCode(t, res.body) != codeNotFound {
		t.Fatalf("other tenant reads acme's message: %d %s", res.status, res.body)
	}
	a := h.accepted(`{}`, append(acme, "Idempotency-Key", "k")...)
	g := h.accepted(`{}`, append(globex, "Idempotency-Key", "k")...)
	if a.MessageID == g.MessageID || g.Duplicate {
		t.Fatalf("one key in two tenants: %+v %+v", a, g)
	}
	for _, path := range []string{"/health", "/metrics"} {
		if res := h.get(path); res.status != http.StatusOK {
			t.Fatalf("%s without a key: %d", path, res.status)
		}
	}
}
