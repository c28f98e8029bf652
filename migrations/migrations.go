package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers the pgx5 scheme
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// Platform is the platform schema: the files of this folder, embedded so the
// nomnom binary migrates a database without a checkout.
//
//go:embed *.sql
var Platform embed.FS

// PlatformTable is the version table of the Platform set.
const PlatformTable = "schema_migrations"

// PlatformVersion is the version of the newest migration of Platform: the
// version a database is at once Up has run.
const PlatformVersion = 2

// Up applies every migration of src that the database has not run yet. A
// database already at the newest version is not an error, so Up can run at
// every start. table is the set's version table.
func Up(ctx context.Context, databaseURL string, src fs.FS, table string) error {
	return run(ctx, databaseURL, src, table, func(m *migrate.Migrate) error { return m.Up() })
}

// Down reverts steps migrations of src, or all of them when steps <= 0.
// Reverting below version zero is not an error.
func Down(ctx context.Context, databaseURL string, src fs.FS, table string, steps int) error {
	return run(ctx, databaseURL, src, table, func(m *migrate.Migrate) error {
		if steps <= 0 {
			return m.Down()
		}
		return m.Steps(-steps)
	})
}

// Version reports the version the database is at for the set of src (0 when
// none ran) and whether a migration failed halfway, leaving it dirty.
func Version(ctx context.Context, databaseURL string, src fs.FS, table string) (version uint, dirty bool, err error) {
	err = run(ctx, databaseURL, src, table, func(m *migrate.Migrate) error {
		version, dirty, err = m.Version()
		if errors.Is(err, migrate.ErrNilVersion) {
			return nil
		}
		return err
	})
	return version, dirty, err
}

// run opens a migrator on the database, runs op and closes it. Cancelling
// ctx stops it between two migrations.
func run(ctx context.Context, databaseURL string, src fs.FS, table string, op func(*migrate.Migrate) error) error {
	m, err := open(databaseURL, src, table)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			m.GracefulStop <- true
		case <-done:
		}
	}()
	err = op(m)
	srcErr, dbErr := m.Close()
	if err = errors.Join(explain(err), srcErr, dbErr); err != nil {
		return redact(fmt.Errorf("migrations (table %s): %w", table, err), databaseURL)
	}
	return ctx.Err()
}

func open(databaseURL string, src fs.FS, table string) (*migrate.Migrate, error) {
	if table == "" {
		return nil, errors.New("migrations: no version table given")
	}
	u, err := driverURL(databaseURL, table)
	if err != nil {
		return nil, err
	}
	source, err := iofs.New(src, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: read source: %w", err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", source, u)
	if err != nil {
		source.Close()
		return nil, redact(fmt.Errorf("migrations: open database: %w", err), databaseURL)
	}
	return m, nil
}

// driverURL turns an ordinary postgres:// URL into the pgx5:// URL of the
// golang-migrate driver, naming the set's version table.
func driverURL(databaseURL, table string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql" && u.Scheme != "pgx5") {
		return "", errors.New("migrations: database URL must look like postgres://user@host:5432/db")
	}
	u.Scheme = "pgx5"
	q := u.Query()
	q.Set("x-migrations-table", table)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// explain turns golang-migrate's outcomes into what an operator needs: no
// change is success, a dirty database names its version.
func explain(err error) error {
	var dirty migrate.ErrDirty
	var short migrate.ErrShortLimit
	switch {
	case err == nil, errors.Is(err, migrate.ErrNoChange):
		return nil
	case errors.As(err, &dirty):
		return fmt.Errorf("database is dirty at version %d: that migration failed part-way; repair the schema by hand, then force the version with the migrate CLI: %w", dirty.Version, err)
	case errors.As(err, &short), errors.Is(err, fs.ErrNotExist):
		// Down more steps than were applied: the database is at zero.
		return nil
	}
	return err
}

// redactedError hides the database password in a message while keeping the
// error chain for errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redact(err error, databaseURL string) error {
	u, perr := url.Parse(databaseURL)
	if err == nil || perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return err
	}
	msg := err.Error()
	for _, s := range []string{databaseURL, pw, url.QueryEscape(pw), url.PathEscape(pw)} {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return &redactedError{msg: msg, err: err}
}
