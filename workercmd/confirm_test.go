package workercmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nomnom-io/nomnom/internal/testsvc"
)

// TestWorkerMigrateDownNeedsAll checks that a worker binary's `migrate
// down` without N, run without a terminal (as go test is), reverts nothing
// and says to pass --all, and that --all reverts every entity migration.
func TestWorkerMigrateDownNeedsAll(t *testing.T) {
	t.Parallel()
	db := testsvc.Postgres(t)
	app := testApp()
	migrate := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), app, append([]string{"migrate", "--database-url", db}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, _, stderr := migrate("up"); code != 0 {
		t.Fatalf("up: exit %d: %s", code, stderr)
	}
	code, _, stderr := migrate("down")
	if code != 1 || !strings.Contains(stderr, "down without N reverts every entity migration") || !strings.Contains(stderr, "--all") {
		t.Fatalf("down: exit %d: %s", code, stderr)
	}
	if _, stdout, _ := migrate("version"); !strings.Contains(stdout, "entity migrations (test_schema_migrations): at version 1") {
		t.Fatalf("down without --all reverted something: %s", stdout)
	}
	if code, stdout, stderr := migrate("down", "--all"); code != 0 || !strings.Contains(stdout, "entity migrations (test_schema_migrations): at version 0") {
		t.Fatalf("down --all: exit %d: %s %s", code, stdout, stderr)
	}
}
