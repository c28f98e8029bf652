package statusstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
)

// BenchmarkSearchPage reads pages of 50 from a message_status of one million
// rows (two tenants, every status), the way the console pages: the first
// page of a filter, then the next ones by cursor. It reports the latency of
// one page.
func BenchmarkSearchPage(b *testing.B) {
	ctx := context.Background()
	db := testsvc.Postgres(b)
	if err := migrations.Up(ctx, db, migrations.Platform, migrations.PlatformTable); err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	const rows = 1_000_000
	_, err = pool.Exec(ctx, `INSERT INTO message_status (message_id, status, entity_type, source, tenant,
			attempts, error, received_at, updated_at, history)
		SELECT gen_random_uuid(),
			(ARRAY['accepted','processing','retrying','completed','failed'])[1 + i % 5],
			(ARRAY['order','customer','lineitem'])[1 + i % 3], 'bench',
			(ARRAY['a','b'])[1 + i % 2], i % 4,
			CASE WHEN i % 5 = 4 THEN 'field ' || (i % 97) || ': expected integer' END,
			now() - make_interval(secs => i * 0.01), now(), '[]'
		FROM generate_series(1, $1) AS i`, rows)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE message_status"); err != nil {
		b.Fatal(err)
	}
	store := NewPostgres(pool)
	tenant := "a"
	for _, bc := range []struct {
		name string
		q    Query
	}{
		{"all", Query{}},
		{"tenant", Query{Tenant: &tenant}},
		{"tenant_status", Query{Tenant: &tenant, Status: Failed}},
		{"tenant_entity_error", Query{Tenant: &tenant, Entity: "order", Error: "field 13:"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := bc.q
			q.Limit = 50
			pages := 0
			for b.Loop() {
				recs, err := store.Search(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				pages++
				if len(recs) < q.Limit || pages == 200 {
					q.After, pages = nil, 0 // back to the first page
					continue
				}
				p := PositionOf(recs[len(recs)-1])
				q.After = &p
			}
		})
	}
}
