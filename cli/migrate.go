package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nomnom-io/nomnom/migrations"
)

const migrateUsage = `usage: nomnom migrate [flags] up | down [N] | version

  up        apply every platform migration not yet applied
  down [N]  revert the last N platform migrations (all without N)
  version   print the version the database is at

flags:`

// runMigrate applies, reverts or reports the platform migrations
// (message_status), kept in the schema_migrations version table.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var databaseURL string
	var createDatabase bool
	f := newFlags("migrate")
	f.BoolVar(&createDatabase, "create-database", false, "create the database first when it does not exist")
	f.Secret(&databaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL, postgres://user:password@host:5432/db (required)")
	f.SetOutput(stderrOr(stderr))
	f.Usage = func() {
		fmt.Fprintln(f.Output(), migrateUsage)
		f.PrintDefaults()
	}
	if err := f.parse(args); err != nil {
		return err
	}
	op, steps, err := migrateOp(f.Args())
	if err != nil {
		fmt.Fprintf(f.Output(), "nomnom migrate: %v\n\n", err)
		f.Usage()
		return errUsage
	}
	if databaseURL == "" {
		return errors.New("no database: set DATABASE_URL or --database-url")
	}
	if createDatabase {
		created, err := migrations.CreateDatabase(ctx, databaseURL)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintln(stdout, "created the database")
		}
	}
	return migrate(ctx, stdout, databaseURL, op, steps)
}

// migrateOp reads the operation and its step count from the arguments.
func migrateOp(args []string) (op string, steps int, err error) {
	if len(args) == 0 {
		return "", 0, errors.New("missing operation")
	}
	op, rest := args[0], args[1:]
	switch {
	case (op == "up" || op == "version") && len(rest) == 0:
		return op, 0, nil
	case op == "down" && len(rest) == 0:
		return op, 0, nil
	case op == "down" && len(rest) == 1:
		steps, err = strconv.Atoi(rest[0])
		if err != nil || steps < 1 {
			return "", 0, fmt.Errorf("down %s: N must be a positive integer", rest[0])
		}
		return op, steps, nil
	}
	return "", 0, fmt.Errorf("unknown operation %q", strings.Join(args, " "))
}

func migrate(ctx context.Context, stdout io.Writer, databaseURL, op string, steps int) error {
	var err error
	switch op {
	case "up":
		err = migrations.Up(ctx, databaseURL, migrations.Platform, migrations.PlatformTable)
	case "down":
		err = migrations.Down(ctx, databaseURL, migrations.Platform, migrations.PlatformTable, steps)
	}
	if err != nil {
		return err
	}
	version, dirty, err := migrations.Version(ctx, databaseURL, migrations.Platform, migrations.PlatformTable)
	if err != nil {
		return err
	}
	state := ""
	if dirty {
		state = " (dirty: a migration failed part-way)"
	}
	fmt.Fprintf(stdout, "platform migrations: at version %d%s\n", version, state)
	return nil
}
