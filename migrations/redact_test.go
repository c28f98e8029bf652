package migrations

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	cause := errors.New("refused")
	for _, dbURL := range []string{
		"postgres://app:s3cret@db:5432/app",
		"postgres://app:s3cret%2Fpw@db:5432/app?sslmode=disable",
	} {
		err := redact(fmt.Errorf("open %s: %w", dbURL, cause), dbURL)
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("redact kept the password: %v", err)
		}
		if !errors.Is(err, cause) {
			t.Errorf("redact lost the error chain: %v", err)
		}
	}
}

func TestDriverURL(t *testing.T) {
	t.Parallel()
	got, err := driverURL("postgresql://app@db:5432/app?sslmode=disable", "entity_migrations")
	want := "pgx5://app@db:5432/app?sslmode=disable&x-migrations-table=entity_migrations"
	if err != nil || got != want {
		t.Fatalf("driverURL = %q, %v; want %q", got, err, want)
	}
}
