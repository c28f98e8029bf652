package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nomnom-io/nomnom/internal/confirm"
	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/migrations"
)

const migrateUsage = `usage: nomnom migrate [flags] up | down N | down --all | version

  up        apply every platform migration not yet applied
  down N    revert the last N platform migrations
  down      revert them all: asks on a terminal, needs --all otherwise
  version   print the version the database is at

flags:`

// runMigrate applies, reverts or reports the platform migrations
// (message_status), kept in the schema_migrations version table.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var databaseURL string
	var createDatabase, all bool
	f := envflag.New("migrate")
	f.BoolVar(&createDatabase, "create-database", false, "create the database first when it does not exist")
	f.BoolVar(&all, "all", false, "with down and no N: revert every migration without asking")
	f.Secret(&databaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL, postgres://user:password@host:5432/db (required)")
	f.SetOutput(envflag.Output(stderr))
	f.Usage = func() {
		fmt.Fprintln(f.Output(), migrateUsage)
		f.PrintDefaults()
	}
	if err := f.Parse(args); err != nil {
		return err
	}
	op, steps, err := migrations.ParseOp(f.Args())
	if err != nil {
		fmt.Fprintf(f.Output(), "nomnom migrate: %v\n\n", err)
		f.Usage()
		return envflag.ErrUsage
	}
	if databaseURL == "" {
		return errors.New("no database: set DATABASE_URL or --database-url")
	}
	if op == "down" && steps == 0 {
		in, interactive := confirm.Terminal()
		if err := confirm.DownAll(all, "platform", in, interactive, envflag.Output(stderr)); err != nil {
			return err
		}
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
