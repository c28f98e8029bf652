package migrations_test

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
)

func TestUpIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testsvc.Postgres(t)
	for range 2 {
		if err := migrations.Up(ctx, db, migrations.Platform, migrations.PlatformTable); err != nil {
			t.Fatalf("Up: %v", err)
		}
	}
	checkVersion(t, db, migrations.Platform, migrations.PlatformTable, migrations.PlatformVersion)
	if !tableExists(t, db, "message_status") {
		t.Fatal("message_status missing after Up")
	}
}

func TestDownThenUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testsvc.Postgres(t)
	if err := migrations.Up(ctx, db, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Down(ctx, db, migrations.Platform, migrations.PlatformTable, 0); err != nil {
		t.Fatalf("Down: %v", err)
	}
	checkVersion(t, db, migrations.Platform, migrations.PlatformTable, 0)
	if tableExists(t, db, "message_status") {
		t.Fatal("message_status still there after Down")
	}
	if err := migrations.Down(ctx, db, migrations.Platform, migrations.PlatformTable, 3); err != nil {
		t.Fatalf("Down at version 0: %v", err)
	}
	if err := migrations.Up(ctx, db, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatalf("Up after Down: %v", err)
	}
	checkVersion(t, db, migrations.Platform, migrations.PlatformTable, migrations.PlatformVersion)
}

func TestVersionOfFreshDatabase(t *testing.T) {
	t.Parallel()
	checkVersion(t, testsvc.Postgres(t), migrations.Platform, migrations.PlatformTable, 0)
}

func TestStatusCheckConstraint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testsvc.Postgres(t)
	if err := migrations.Up(ctx, db, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, db)
	const insert = `INSERT INTO message_status (message_id, status, received_at, updated_at)
		VALUES (gen_random_uuid(), $1, now(), now())`
	if _, err := conn.Exec(ctx, insert, "completed"); err != nil {
		t.Fatalf("insert completed: %v", err)
	}
	_, err := conn.Exec(ctx, insert, "done")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.ConstraintName != "message_status_status_check" {
		t.Fatalf("insert of an unknown status: err = %v, want the status check to refuse it", err)
	}
}

// TestSetsKeepTheirOwnVersions applies a second set with its own version
// table to the same database, as a generated worker does with its entity
// migrations.
func TestSetsKeepTheirOwnVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testsvc.Postgres(t)
	entities := fstest.MapFS{
		"0001_orders.up.sql":      {Data: []byte("CREATE TABLE orders (id int PRIMARY KEY);")},
		"0001_orders.down.sql":    {Data: []byte("DROP TABLE orders;")},
		"0002_items.up.sql":       {Data: []byte("CREATE TABLE items (id int PRIMARY KEY);")},
		"0002_items.down.sql":     {Data: []byte("DROP TABLE items;")},
		"0003_customers.up.sql":   {Data: []byte("CREATE TABLE customers (id int PRIMARY KEY);")},
		"0003_customers.down.sql": {Data: []byte("DROP TABLE customers;")},
	}
	if err := migrations.Up(ctx, db, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, db, entities, "entity_migrations"); err != nil {
		t.Fatal(err)
	}
	checkVersion(t, db, entities, "entity_migrations", 3)
	checkVersion(t, db, migrations.Platform, migrations.PlatformTable, migrations.PlatformVersion)
	if err := migrations.Down(ctx, db, entities, "entity_migrations", 2); err != nil {
		t.Fatal(err)
	}
	checkVersion(t, db, entities, "entity_migrations", 1)
	if !tableExists(t, db, "orders") || tableExists(t, db, "items") || !tableExists(t, db, "message_status") {
		t.Fatal("Down 2 of the entity set reverted the wrong tables")
	}
}

func TestDirtyDatabaseNamesVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testsvc.Postgres(t)
	broken := fstest.MapFS{
		"0001_ok.up.sql":    {Data: []byte("CREATE TABLE ok (id int);")},
		"0001_ok.down.sql":  {Data: []byte("DROP TABLE ok;")},
		"0002_bad.up.sql":   {Data: []byte("CREATE TABLE bad (id nosuchtype);")},
		"0002_bad.down.sql": {Data: []byte("DROP TABLE bad;")},
	}
	if err := migrations.Up(ctx, db, broken, "broken_migrations"); err == nil {
		t.Fatal("Up of a broken migration succeeded")
	}
	v, dirty, err := migrations.Version(ctx, db, broken, "broken_migrations")
	if err != nil || v != 2 || !dirty {
		t.Fatalf("Version = %d, %v, %v; want 2, dirty", v, dirty, err)
	}
	err = migrations.Up(ctx, db, broken, "broken_migrations")
	if err == nil || !strings.Contains(err.Error(), "dirty at version 2") {
		t.Fatalf("Up of a dirty database: %v; want an error naming version 2", err)
	}
}

func TestErrorsHidePassword(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testsvc.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("nosuchuser", "s3cret-pw")
	u.Host = "127.0.0.1:1" // nothing listens there
	err = migrations.Up(context.Background(), u.String(), migrations.Platform, migrations.PlatformTable)
	if err == nil {
		t.Fatal("Up against a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestRejectsNonURL(t *testing.T) {
	t.Parallel()
	err := migrations.Up(context.Background(), "host=localhost password=s3cret", migrations.Platform, migrations.PlatformTable)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Up with a keyword DSN: %v; want an error without the password", err)
	}
}

func checkVersion(t *testing.T, db string, src fs.FS, table string, want uint) {
	t.Helper()
	v, dirty, err := migrations.Version(context.Background(), db, src, table)
	if err != nil || v != want || dirty {
		t.Fatalf("Version(%s) = %d, dirty %v, %v; want %d, clean", table, v, dirty, err, want)
	}
}

func connect(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func tableExists(t *testing.T, db, name string) bool {
	t.Helper()
	var ok bool
	err := connect(t, db).QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestCreateDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, err := url.Parse(testsvc.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = u.Path + "_created"
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, testsvc.AdminURL())
		if err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
	for i, want := range []bool{true, false} {
		created, err := migrations.CreateDatabase(ctx, u.String())
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if created != want {
			t.Fatalf("call %d: created = %v, want %v", i+1, created, want)
		}
	}
	if err := migrations.Up(ctx, u.String(), migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatalf("up on the created database: %v", err)
	}
}

// TestPlatformVersionIsNewestFile keeps PlatformVersion in step with the
// files: a new migration without a new constant fails here.
func TestPlatformVersionIsNewestFile(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(migrations.Platform, "*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	var newest uint
	for _, n := range names {
		v, err := strconv.ParseUint(strings.SplitN(n, "_", 2)[0], 10, 32)
		if err != nil {
			t.Fatalf("%s: no version number: %v", n, err)
		}
		newest = max(newest, uint(v))
	}
	if newest != migrations.PlatformVersion {
		t.Fatalf("newest platform migration is %d, PlatformVersion is %d", newest, migrations.PlatformVersion)
	}
}
