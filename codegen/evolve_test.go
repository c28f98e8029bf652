package codegen

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
)

// TestEvolution generates testdata/evolve/v1, then each case's definitions
// over it, and compares what the second generation writes with the case's
// want/ folder (the new migrations and the snapshot) or its error.txt. The
// migrations of every accepted case then run on a real database holding
// rows, up and down, and the database is compared with the snapshot each
// time.
func TestEvolution(t *testing.T) {
	t.Parallel()
	dirs, err := filepath.Glob("testdata/evolve/*/entities")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, d := range dirs {
		dir := filepath.Dir(d)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			testEvolutionCase(t, dir)
		})
	}
}

func testEvolutionCase(t *testing.T, dir string) {
	opts := Options{Package: "tickets", ModulePath: "example.com/tickets"}
	first := generateMigrations(t, "testdata/evolve/v1", opts)
	opts.Migrations = mapFS(first)
	_, err := os.Stat(filepath.Join(dir, "allow-destructive"))
	opts.AllowDestructive = err == nil
	m, err := Load(filepath.Join(dir, "entities"))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	files, err := Generate(m, opts)
	wantErr := filepath.Join(dir, "error.txt")
	if err != nil {
		var list ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("generate: %v", err)
		}
		for _, e := range list {
			if e.Pos.File == "" || e.Pos.Line < 1 {
				t.Errorf("error without a position: %v", e)
			}
		}
		compareFile(t, wantErr, []byte(err.Error()+"\n"))
		return
	}
	if _, statErr := os.Stat(wantErr); statErr == nil {
		t.Fatalf("generated, but %s expects a refusal", wantErr)
	}
	got := map[string][]byte{}
	for name, data := range files {
		if dirName, file := path.Split(name); dirName == "migrations/" && file != "migrations.go" {
			if prev, ok := first[name]; ok && strings.HasSuffix(name, ".sql") {
				t.Errorf("%s is generated again (it was %d bytes)", name, len(prev))
			}
			got[file] = data
		}
	}
	want := filepath.Join(dir, "want")
	if *update {
		os.RemoveAll(want)
		os.MkdirAll(want, 0o755)
	}
	for name, data := range got {
		compareFile(t, filepath.Join(want, name), data)
	}
	entries, _ := os.ReadDir(want)
	for _, e := range entries {
		if _, ok := got[e.Name()]; !ok {
			t.Errorf("want/%s is no longer generated", e.Name())
		}
	}
	v1, err := ParseSchema("v1", first["migrations/"+SchemaFile])
	if err != nil {
		t.Fatal(err)
	}
	v2, err := ParseSchema("v2", got[SchemaFile])
	if err != nil {
		t.Fatal(err)
	}
	applyEvolution(t, first, got, v1, v2)
}

// applyEvolution migrates a database to v1, writes rows, migrates to v2,
// reverts to v1 and migrates to v2 again, comparing the tables with the
// snapshot at each step and checking the rows are still there.
func applyEvolution(t *testing.T, first, next map[string][]byte, v1, v2 *Schema) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := testsvc.Postgres(t)
	table := "tickets_schema_migrations"
	src1 := mapFS(first)
	all := mapFS(first)
	added := 0
	for name, data := range next {
		if strings.HasSuffix(name, ".up.sql") {
			added++
		}
		all[name] = &fstest.MapFile{Data: data}
	}
	if err := migrations.Up(ctx, db, src1, table); err != nil {
		t.Fatalf("up v1: %v", err)
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	seed, err := os.ReadFile("testdata/evolve/seed.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, string(seed)); err != nil {
		t.Fatalf("seed: %v", err)
	}
	compareCatalog(t, ctx, conn, v1, "v1")
	steps := []struct {
		name string
		run  func() error
		want *Schema
	}{
		{"up", func() error { return migrations.Up(ctx, db, all, table) }, v2},
		{"down", func() error { return migrations.Down(ctx, db, all, table, added) }, v1},
		{"up again", func() error { return migrations.Up(ctx, db, all, table) }, v2},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		compareCatalog(t, ctx, conn, s.want, s.name)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM ticket").Scan(&n); err != nil || n != 2 {
			t.Fatalf("%s: ticket rows: %d, %v", s.name, n, err)
		}
	}
	if err := migrations.Down(ctx, db, all, table, 0); err != nil {
		t.Fatalf("down all: %v", err)
	}
	compareCatalog(t, ctx, conn, &Schema{}, "down all")
}

// compareCatalog checks that the database's tables, columns, types, NOT
// NULLs, CHECK constraints and indexes are the snapshot's.
func compareCatalog(t *testing.T, ctx context.Context, conn *pgx.Conn, s *Schema, step string) {
	t.Helper()
	var want, have []string
	for _, tb := range s.Tables {
		for _, c := range tb.Columns {
			want = append(want, tb.Name+"."+c.Name+" "+c.Type+map[bool]string{true: " NOT NULL"}[c.NotNull])
			if c.Check != nil {
				want = append(want, "check "+c.Check.Name)
			}
		}
		for _, ix := range tb.Indexes {
			want = append(want, "index "+ix.Name)
		}
	}
	rows, err := conn.Query(ctx, `
		SELECT c.relname || '.' || a.attname || ' ' || replace(format_type(a.atttypid, a.atttypmod), 'timestamp with time zone', 'timestamptz')
		       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND c.relname NOT LIKE '%schema_migrations'
		UNION ALL
		SELECT 'check ' || conname FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace
		UNION ALL
		SELECT 'index ' || indexname FROM pg_indexes i WHERE schemaname = 'public' AND indexname NOT LIKE '%schema_migrations%'
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)`)
	if err != nil {
		t.Fatal(err)
	}
	have, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	sort.Strings(have)
	if !slices.Equal(want, have) {
		t.Errorf("%s: the database is not the snapshot\nsnapshot: %q\ndatabase: %q", step, want, have)
	}
}

// generateMigrations generates a fresh project and returns its migration
// files.
func generateMigrations(t *testing.T, entities string, opts Options) map[string][]byte {
	t.Helper()
	m, err := Load(entities)
	if err != nil {
		t.Fatalf("load %s: %v", entities, err)
	}
	files, err := Generate(m, opts)
	if err != nil {
		t.Fatalf("generate %s: %v", entities, err)
	}
	out := map[string][]byte{}
	for name, data := range files {
		if strings.HasPrefix(name, "migrations/") && !strings.HasSuffix(name, ".go") {
			out[name] = data
		}
	}
	return out
}

// mapFS is the migrations folder of files (keys under migrations/).
func mapFS(files map[string][]byte) fstest.MapFS {
	out := fstest.MapFS{}
	for name, data := range files {
		out[strings.TrimPrefix(name, "migrations/")] = &fstest.MapFile{Data: data}
	}
	return out
}

func compareFile(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Errorf("%v (run go test ./codegen -run TestEvolution -update)", err)
		return
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from what the generator writes now\n%s", file, firstDiff(string(want), string(got)))
	}
}
