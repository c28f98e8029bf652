package codegen

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nomnom-io/nomnom/codegen/rt"
	"github.com/nomnom-io/nomnom/internal/testsvc"
)

// TestGeneratedSQL runs every case's migrations up, down and up again on
// PostgreSQL, and its upserts with a row of every column type, twice: the
// DDL and the casts of every type are checked by the database itself.
func TestGeneratedSQL(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := Load(c.entities)
			if err != nil {
				t.Fatal(err)
			}
			files, err := Generate(m, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			conn, err := pgx.Connect(ctx, testsvc.Postgres(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			up := string(files["migrations/0001_"+c.opts.Package+"_entities.up.sql"])
			down := string(files["migrations/0001_"+c.opts.Package+"_entities.down.sql"])
			for _, script := range []string{up, down, up} {
				if _, err := conn.PgConn().Exec(ctx, script).ReadAll(); err != nil {
					t.Fatalf("%v\n%s", err, script)
				}
			}
			v := newView(m, c.opts)
			for _, e := range v.Tables {
				tab := &rt.Table{Name: e.Table, SQL: e.Upsert, Columns: e.Columns(), Unicity: e.Persistence.Unicity}
				for range 2 {
					b := rt.NewBatch([]*rt.Table{tab})
					b.Add(0, sampleRow(e))
					tx, err := conn.Begin(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if err := b.Write(ctx, tx); err != nil {
						t.Fatalf("%s: %v\n%s", e.Table, err, e.Upsert)
					}
					if err := tx.Commit(ctx); err != nil {
						t.Fatal(err)
					}
				}
				var n int
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+e.Table).Scan(&n); err != nil || n != 1 {
					t.Fatalf("%s: %d rows, %v", e.Table, n, err)
				}
			}
		})
	}
}

// sampleRow is a row of valid column texts for e.
func sampleRow(e *ventity) []*string {
	row := make([]*string, len(e.Fields))
	for i, f := range e.Fields {
		s := sampleText(f.Field)
		if f.Type.Array {
			s = fmt.Sprintf(`{"%s"}`, s)
		}
		row[i] = &s
	}
	return row
}

func sampleText(f *Field) string {
	c := f.Constraints
	if len(c.Enum) > 0 {
		return c.Enum[0]
	}
	if c.Minimum != nil {
		return plainNumber(*c.Minimum)
	}
	switch f.Type.Base {
	case "float":
		return "1.5"
	case "boolean":
		return "true"
	case "date":
		return "2024-01-02"
	case "timestamp":
		return "2024-01-02T03:04:05.123Z"
	case "uuid":
		return "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	case "json":
		return `{"a": [1, "x"]}`
	case "string", "text":
		return "x"
	}
	return "1"
}
