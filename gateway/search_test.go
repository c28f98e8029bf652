package gateway

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/statusstore"
)

// testKeys are the API keys of the tenant tests: key → tenant.
var testKeys = map[string]string{"key-a": "a", "key-b": "b"}

// statusDB returns a migrated database of the test's own as a pool.
func statusDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	db := testsvc.Postgres(t)
	if err := migrations.Up(ctx, db, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// withDatabase gives the gateway pool's message_status as its status
// database and fallback.
func withDatabase(pool *pgxpool.Pool) func(*Config) {
	return func(c *Config) {
		pg := statusstore.NewPostgres(pool)
		c.StatusDatabase, c.StatusFallback = pg, pg
	}
}

func withKeys(c *Config) { c.APIKeys = testKeys }

// seed is one record to insert.
type seed struct {
	tenant, status, entity, source, err string
	at                                  time.Time
}

// insert writes the records and returns their message ids in order.
func insert(t *testing.T, pool *pgxpool.Pool, seeds ...seed) []string {
	t.Helper()
	recs := make([]statusstore.Record, len(seeds))
	ids := make([]string, len(seeds))
	for i, s := range seeds {
		ids[i] = uuid.NewString()
		r := statusstore.Record{MessageID: ids[i], Status: statusstore.State(s.status), Tenant: s.tenant,
			Error: s.err, ReceivedAt: s.at, UpdatedAt: s.at, History: []statusstore.Event{{Status: statusstore.Accepted, At: s.at}}}
		if s.entity != "" {
			r.EntityType = &seeds[i].entity
		}
		if s.source != "" {
			r.Source = &seeds[i].source
		}
		recs[i] = r
	}
	if err := statusstore.UpsertBatch(context.Background(), pool, recs); err != nil {
		t.Fatal(err)
	}
	return ids
}

// search runs GET /ingest/messages with the key and returns the page.
func (h *harness) search(key string, params url.Values) searchPage {
	h.t.Helper()
	res := h.get("/ingest/messages?"+params.Encode(), "X-API-Key", key)
	if res.status != http.StatusOK {
		h.t.Fatalf("search %s: %d %s", params.Encode(), res.status, res.body)
	}
	return decode[searchPage](h.t, res.body)
}

func idsOf(recs []statusstore.Record) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.MessageID
	}
	return ids
}

func TestSearchFilters(t *testing.T) {
	t.Parallel()
	pool := statusDB(t)
	h := setup(t, withDatabase(pool), withKeys)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ids := insert(t, pool,
		seed{tenant: "a", status: "completed", entity: "order", source: "shop", at: t0},
		seed{tenant: "a", status: "failed", entity: "order", source: "shop", err: "line_items[1].quantity: expected integer", at: t0.Add(time.Minute)},
		seed{tenant: "a", status: "failed", entity: "customer", source: "crm", err: "name: too long (100% over)", at: t0.Add(2 * time.Minute)},
		seed{tenant: "a", status: "accepted", at: t0.Add(3 * time.Minute)},
		seed{tenant: "b", status: "failed", entity: "order", source: "shop", err: "expected integer", at: t0.Add(4 * time.Minute)},
	)
	cases := []struct {
		params string
		want   []string
	}{
		{"", []string{ids[3], ids[2], ids[1], ids[0]}},
		{"status=failed", []string{ids[2], ids[1]}},
		{"entity=order", []string{ids[1], ids[0]}},
		{"source=crm", []string{ids[2]}},
		{"status=failed&entity=order", []string{ids[1]}},
		{"since=2026-03-01T12:01:00Z", []string{ids[3], ids[2], ids[1]}},
		{"until=2026-03-01T12:01:00Z", []string{ids[0]}},
		{"since=2026-03-01T12:01:00Z&until=2026-03-01T12:03:00Z", []string{ids[2], ids[1]}},
		{"error=EXPECTED", []string{ids[1]}},
		{"error=100%25", []string{ids[2]}}, // % is matched literally
		{"error=_", []string{ids[1]}},      // so is _
		{"status=processing", []string{}},  // none
		{"entity=nothing", []string{}},
	}
	for _, c := range cases {
		params, err := url.ParseQuery(c.params)
		if err != nil {
			t.Fatal(err)
		}
		page := h.search("key-a", params)
		if got := idsOf(page.Messages); !slices.Equal(got, c.want) {
			t.Errorf("search %q = %v, want %v", c.params, got, c.want)
		}
		if page.NextCursor != nil {
			t.Errorf("search %q: next_cursor %q on the only page", c.params, *page.NextCursor)
		}
	}
	if got := idsOf(h.search("key-b", nil).Messages); !slices.Equal(got, []string{ids[4]}) {
		t.Errorf("tenant b sees %v, want only its own %v", got, ids[4])
	}
}

func TestSearchTenantIsolation(t *testing.T) {
	t.Parallel()
	pool := statusDB(t)
	h := setup(t, withDatabase(pool), withKeys)
	now := time.Now().UTC()
	var seeds []seed
	for i := range 40 {
		seeds = append(seeds, seed{tenant: []string{"a", "b"}[i%2], status: "failed", err: "boom", at: now.Add(time.Duration(i) * time.Millisecond)})
	}
	insert(t, pool, seeds...)
	for key, tenant := range testKeys {
		var seen []string
		params := url.Values{"limit": {"7"}, "error": {"boom"}}
		for {
			page := h.search(key, params)
			for _, r := range page.Messages {
				if r.Tenant != tenant {
					t.Fatalf("%s sees %s of tenant %q", tenant, r.MessageID, r.Tenant)
				}
			}
			seen = append(seen, idsOf(page.Messages)...)
			if page.NextCursor == nil {
				break
			}
			params.Set("cursor", *page.NextCursor)
		}
		if len(seen) != 20 {
			t.Errorf("tenant %s saw %d messages, want its 20", tenant, len(seen))
		}
	}
	// A cursor names a position, not a tenant: tenant b paging with a
	// cursor from a's pages still sees only b's messages.
	page := h.search("key-a", url.Values{"limit": {"1"}})
	other := h.search("key-b", url.Values{"cursor": {*page.NextCursor}})
	for _, r := range other.Messages {
		if r.Tenant != "b" {
			t.Fatalf("b with a's cursor sees %s of tenant %q", r.MessageID, r.Tenant)
		}
	}
	if res := h.get("/ingest/messages"); res.status != http.StatusUnauthorized {
		t.Fatalf("search without a key: %d, want 401", res.status)
	}
}

// TestSearchPaginationStableUnderInserts pages through a listing while other
// messages arrive: every message present at the start is seen exactly once,
// in order, and none that arrived later slips in between.
func TestSearchPaginationStableUnderInserts(t *testing.T) {
	t.Parallel()
	pool := statusDB(t)
	h := setup(t, withDatabase(pool))
	base := time.Now().UTC().Add(-time.Hour)
	var seeds []seed
	for i := range 120 {
		// Pairs share a received_at, so message_id must break the tie.
		seeds = append(seeds, seed{status: "completed", at: base.Add(time.Duration(i/2) * time.Millisecond)})
	}
	insert(t, pool, seeds...)
	want := idsOf(h.search("", url.Values{"limit": {"500"}}).Messages)
	if len(want) != 120 {
		t.Fatalf("first listing has %d messages, want 120", len(want))
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // inserts newer messages while the pages are read
		defer close(done)
		for ctx.Err() == nil {
			insert(t, pool, seed{status: "accepted", at: time.Now().UTC()})
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var got []string
	params := url.Values{"limit": {"13"}}
	first := true
	for {
		page := h.search("", params)
		ids := idsOf(page.Messages)
		if first {
			// The first page may start with the newer messages; skip them.
			i := slices.Index(ids, want[0])
			for i < 0 {
				params.Set("cursor", *page.NextCursor)
				page = h.search("", params)
				ids = idsOf(page.Messages)
				i = slices.Index(ids, want[0])
			}
			ids, first = ids[i:], false
		}
		got = append(got, ids...)
		if page.NextCursor == nil {
			break
		}
		params.Set("cursor", *page.NextCursor)
		insert(t, pool, seed{status: "accepted", at: time.Now().UTC()})
	}
	cancel()
	<-done
	if !slices.Equal(got, want) {
		t.Fatalf("paged listing differs from the first:\n got %d %v\nwant %d %v", len(got), got, len(want), want)
	}
}

func TestSearchValidation(t *testing.T) {
	t.Parallel()
	h := setup(t, withDatabase(statusDB(t)))
	cases := []struct{ query, names string }{
		{"status=done", "status"},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"limit=ten", "limit"},
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		{"since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "until"},
		{"cursor=abc", "cursor"},
		{"cursor=" + encodeCursor(statusstore.Position{}), "cursor"},
		{"error=" + strings.Repeat("x", maxErrorFilter+1), "error"},
		{"entity=" + strings.Repeat("x", maxFilterValue+1), "entity"},
		{"source=%ff", "source"},
		{"sort=asc", "sort"},
		{"status=failed&status=completed", "status"},
	}
	for _, c := range cases {
		res := h.get("/ingest/messages?" + c.query)
		if res.status != http.StatusBadRequest || errorCode(t, res.body) != codeInvalidParameter {
			t.Errorf("%s: %d %s, want 400 invalid_parameter", c.query, res.status, res.body)
			continue
		}
		if msg := decode[errorBody](t, res.body).Error.Message; !strings.HasPrefix(msg, c.names+":") {
			t.Errorf("%s: message %q does not name %s first", c.query, msg, c.names)
		}
	}
}

func TestSearchWithoutDatabase(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.get("/ingest/messages")
	if res.status != http.StatusNotImplemented || errorCode(t, res.body) != codeNotConfigured {
		t.Fatalf("search without a database: %d %s, want 501 not_configured", res.status, res.body)
	}
}
