package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/wire"
)

// overviewAnswer is the part of GET /ui/api/overview the tests read.
type overviewAnswer struct {
	Counts []struct {
		Status, Entity string
		Count          int
	}
	Consumers []struct{ Name string }
	Problems  []string
}

// TestConsoleAPIIsTenantScoped checks the console's JSON endpoints with
// API keys: counts are the caller's only, entity tables are read only by
// the tenants allowed to, and only through identifiers a catalog names.
func TestConsoleAPIIsTenantScoped(t *testing.T) {
	t.Parallel()
	pool := statusDB(t)
	h := setup(t, withDatabase(pool), withKeys, func(c *Config) {
		c.ConsoleDatabase, c.EntityTenants = pool, []string{"a"}
	})
	now := time.Now().UTC()
	insert(t, pool,
		seed{tenant: "a", status: "completed", entity: "Order", at: now.Add(-time.Minute)},
		seed{tenant: "a", status: "failed", entity: "Order", err: "bad", at: now.Add(-time.Minute)},
		seed{tenant: "b", status: "completed", entity: "Customer", at: now.Add(-time.Minute)},
		seed{tenant: "a", status: "completed", entity: "Order", at: now.Add(-48 * time.Hour)})

	if res := h.get("/ui/api/overview"); res.status != http.StatusUnauthorized {
		t.Errorf("overview without a key: %d, want 401", res.status)
	}
	res := h.get("/ui/api/overview", "X-API-Key", "key-a")
	if res.status != http.StatusOK {
		t.Fatalf("overview: %d %s", res.status, res.body)
	}
	ov := decode[overviewAnswer](t, res.body)
	got := map[string]int{}
	for _, c := range ov.Counts {
		got[c.Status+"/"+c.Entity] = c.Count
	}
	if len(got) != 2 || got["completed/Order"] != 1 || got["failed/Order"] != 1 {
		t.Errorf("tenant a's counts of the last day: %v, want one completed and one failed Order", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, `CREATE TABLE widgets (id bigint PRIMARY KEY, "name" text); INSERT INTO widgets VALUES (1, '<b>one</b>'), (2, NULL), (3, 'three')`); err != nil {
		t.Fatal(err)
	}
	err := wire.PublishCatalog(ctx, h.js, h.top, wire.Catalog{Worker: "shop-worker", Tables: []wire.CatalogTable{
		{Entity: "Widget", Table: "widgets", Keys: []string{"id"}, Fields: []string{"id", "name"}},
		{Entity: "Gadget", Table: "gadgets", Keys: []string{"id"}, Fields: []string{"id"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res := h.get("/ui/api/entities", "X-API-Key", "key-b"); res.status != http.StatusForbidden {
		t.Errorf("entities for tenant b: %d %s, want 403", res.status, res.body)
	}
	res = h.get("/ui/api/entities", "X-API-Key", "key-a")
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"table":"widgets"`) ||
		!strings.Contains(string(res.body), `"rows":3`) || !strings.Contains(string(res.body), `"problem":"the table does not exist`) {
		t.Errorf("entities: %d %s, want widgets with 3 rows and gadgets missing", res.status, res.body)
	}
	res = h.get("/ui/api/entities/widgets?limit=2", "X-API-Key", "key-a")
	if want := `"rows":[["3","three"],["2",null]]`; res.status != http.StatusOK || !strings.Contains(string(res.body), want) {
		t.Errorf("widget rows: %d %s, want %s", res.status, res.body, want)
	}
	for path, want := range map[string]int{
		"/ui/api/entities/pg_authid":          http.StatusNotFound,
		"/ui/api/entities/widgets%22%3B--":    http.StatusNotFound,
		"/ui/api/entities/widgets?limit=1000": http.StatusBadRequest,
	} {
		if res := h.get(path, "X-API-Key", "key-a"); res.status != want {
			t.Errorf("%s: %d %s, want %d", path, res.status, res.body, want)
		}
	}
}

// TestConsolePages checks that the pages are served from the binary with a
// policy that admits only the embedded script and styles, and that a path
// value reaches the page escaped.
func TestConsolePages(t *testing.T) {
	t.Parallel()
	h := setup(t, withKeys)
	for _, path := range []string{"/ui/", "/ui/messages", "/ui/dlq", "/ui/entities", "/ui/static/app.js", "/ui/static/app.css"} {
		res := h.get(path)
		if res.status != http.StatusOK {
			t.Errorf("%s: %d, want 200 without a key", path, res.status)
			continue
		}
		if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	res := h.get(`/ui/messages/"><img src=x onerror=alert(1)>`)
	if res.status != http.StatusOK || strings.Contains(string(res.body), "<img src=x") || !strings.Contains(string(res.body), "&lt;img") {
		t.Errorf("a message id with markup: %d, not escaped:\n%s", res.status, res.body)
	}
	if res := h.get("/ui"); res.status != http.StatusOK || !strings.Contains(string(res.body), `data-page="overview"`) {
		t.Errorf("/ui: %d, want the overview after a redirect", res.status)
	}
}
