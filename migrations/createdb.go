package migrations

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CreateDatabase creates the database that databaseURL names when it does
// not exist yet, connecting to the server's "postgres" database to do so.
// It reports whether it created one. It lets `migrate up` bring a local
// setup up from nothing; in production the database is usually provisioned.
func CreateDatabase(ctx context.Context, databaseURL string) (bool, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return false, errors.New("database URL is not a URL")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return false, errors.New("database URL names no database")
	}
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return false, redact(fmt.Errorf("connect to create database %q: %w", name, err), databaseURL)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return false, nil
	}
	if err != nil {
		return false, redact(fmt.Errorf("create database %q: %w", name, err), databaseURL)
	}
	return true, nil
}
