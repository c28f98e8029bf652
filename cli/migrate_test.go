package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
)

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	db := testsvc.Postgres(t)
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "platform migrations: at version 0\n"},
		{[]string{"up"}, at(migrations.PlatformVersion)},
		{[]string{"up"}, at(migrations.PlatformVersion)},
		{[]string{"version"}, at(migrations.PlatformVersion)},
		{[]string{"down", "1"}, at(migrations.PlatformVersion - 1)},
		{[]string{"up"}, at(migrations.PlatformVersion)},
		{[]string{"down", "--all"}, "platform migrations: at version 0\n"},
	}
	for _, s := range steps {
		var stdout, stderr bytes.Buffer
		args := append([]string{"migrate", "--database-url", db}, s.args...)
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 || stdout.String() != s.want {
			t.Fatalf("migrate %v: exit %d, stdout %q, stderr %q; want 0 and %q", s.args, code, stdout.String(), stderr.String(), s.want)
		}
	}
}

func at(v uint) string { return fmt.Sprintf("platform migrations: at version %d\n", v) }

func TestMigrateCommandErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"migrate", "--database-url", "postgres://x@127.0.0.1:1/x"}, 2, "missing operation"},
		{[]string{"migrate", "--database-url", "postgres://x@127.0.0.1:1/x", "sideways"}, 2, `unknown operation "sideways"`},
		{[]string{"migrate", "--database-url", "postgres://x@127.0.0.1:1/x", "down", "0"}, 2, "N must be a positive integer"},
		{[]string{"migrate", "--database-url", "", "up"}, 1, "set DATABASE_URL or --database-url"},
		{[]string{"migrate", "--database-url", "postgres://x@127.0.0.1:1/x", "down"}, 1, "down without N reverts every platform migration, dropping their tables and rows: pass N to revert the last N, or --all"},
		{[]string{"migrate", "--database-url", "postgres://x:pw-secret@127.0.0.1:1/x", "up"}, 1, "127.0.0.1"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) || strings.Contains(stderr.String(), "pw-secret") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args[2:], code, stderr.String(), tt.code, tt.stderr)
		}
	}
}
