// Package dlqcmd is the dlq subcommand shared by the nomnom binary and every
// worker binary: it maps flags and environment onto package dlq and prints
// the result. It must never hold dead-letter logic of its own.
package dlqcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/dlq"
	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/internal/natsconn"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

const dlqUsage = `usage: %[1]s dlq list [--limit N] [--json] [--show-body] [flags]
       %[1]s dlq redrive (--id MESSAGE_ID ... | --all) [--max-redrives N] [flags]

  list     show dead-lettered messages, oldest first
  redrive  move them back to accepted and republish them to the main stream;
           with DATABASE_URL the message_status rows are moved back too;
           a message redriven --max-redrives times already stays (capped)

flags:
`

// Run is the dlq subcommand of the binary called name: args are what
// follows "dlq" on its command line.
func Run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	var (
		s           natsconn.Settings
		databaseURL string
		limit       int
		maxRedrives int
		asJSON, all bool
		showBody    bool
		ids         []string
	)
	f := envflag.New(name + " dlq")
	s.Define(f)
	f.Secret(&databaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL; when set, redrive updates message_status too")
	f.IntVar(&limit, "limit", 100, "list: at most N messages (0: all)")
	f.BoolVar(&asJSON, "json", false, "list: print JSON")
	f.BoolVar(&showBody, "show-body", false, "list: print each message's body too")
	f.BoolVar(&all, "all", false, "redrive: every dead-lettered message")
	f.Int(&maxRedrives, "max-redrives", "NOMNOM_MAX_REDRIVES", dlq.DefaultMaxRedrives, "redrive: redrives of one message allowed (loop guard; 0: no limit)")
	f.Func("id", "redrive: a message_id (repeatable)", func(v string) error {
		ids = append(ids, v)
		return nil
	})
	f.SetOutput(envflag.Output(stderr))
	f.Usage = func() {
		fmt.Fprintf(f.Output(), dlqUsage, name)
		f.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		f.Usage()
		return envflag.ErrUsage
	}
	op := args[0]
	if err := f.Parse(args[1:]); err != nil {
		return err
	}
	switch {
	case op != "list" && op != "redrive", f.NArg() > 0:
		f.Usage()
		return envflag.ErrUsage
	case op == "redrive" && all == (len(ids) > 0):
		return errors.New("redrive: give --id MESSAGE_ID (repeatable) or --all, not both")
	case maxRedrives < 0:
		return fmt.Errorf("--max-redrives (NOMNOM_MAX_REDRIVES): %d is negative (0: no limit)", maxRedrives)
	}
	log, err := s.Logger(envflag.Output(stderr))
	if err != nil {
		return err
	}
	nc, js, err := s.JetStream(ctx, name+"-dlq", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if op == "list" {
		return list(ctx, js, s.Topology, listOptions{limit: limit, asJSON: asJSON, showBody: showBody}, stdout)
	}
	return redrive(ctx, js, s.Topology, databaseURL, dlq.RedriveOptions{IDs: ids, All: all, MaxRedrives: maxRedrives}, stdout)
}

// listOptions are the flags of dlq list.
type listOptions struct {
	limit            int
	asJSON, showBody bool
}

// listed is one dead letter as dlq list --json prints it.
type listed struct {
	dlq.DeadLetter
	Body json.RawMessage `json:"body,omitempty"`
}

func list(ctx context.Context, js jetstream.JetStream, top wire.Topology, o listOptions, stdout io.Writer) error {
	admin, err := dlq.New(dlq.Config{JetStream: js, Topology: top})
	if err != nil {
		return err
	}
	total, err := admin.Count(ctx)
	if err != nil {
		return err
	}
	dls, err := admin.List(ctx, dlq.ListOptions{Limit: o.limit})
	if err != nil {
		return err
	}
	out := make([]listed, len(dls))
	for i, d := range dls {
		out[i].DeadLetter = d
		if o.showBody {
			out[i].Body = bodyOf(d)
		}
	}
	if o.asJSON {
		// An array, as before totals were printed: scripts read it as one.
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tMESSAGE_ID\tENTITY\tATTEMPTS\tFAILED_AT\tREASON")
	for _, m := range out {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", m.Sequence, orDash(m.MessageID), orDash(m.EntityType),
			m.Attempts, m.FailedAt.Format(time.RFC3339), m.Reason)
		if o.showBody {
			fmt.Fprintf(tw, "\tbody: %s\n", m.Body)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d of %d message(s)\n", len(dls), total)
	return nil
}

// bodyOf is the client's JSON of a dead letter, or its raw payload as a
// JSON string when it is not an envelope.
func bodyOf(d dlq.DeadLetter) json.RawMessage {
	if env, err := wire.DecodeEnvelope(d.Data); err == nil {
		return env.Body
	}
	raw, _ := json.Marshal(string(d.Data))
	return raw
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func redrive(ctx context.Context, js jetstream.JetStream, top wire.Topology, databaseURL string, opts dlq.RedriveOptions, stdout io.Writer) error {
	kv, err := wire.Ensure(ctx, js, top)
	if err != nil {
		return err
	}
	cfg := dlq.Config{JetStream: js, Topology: top, KV: statusstore.NewKV(kv)}
	if databaseURL != "" {
		pool, err := pgxpool.New(ctx, databaseURL)
		if err != nil {
			return errors.New("DATABASE_URL: not a valid PostgreSQL URL")
		}
		defer pool.Close()
		cfg.Postgres = statusstore.NewPostgres(pool)
	}
	admin, err := dlq.New(cfg)
	if err != nil {
		return err
	}
	out, err := admin.Redrive(ctx, opts)
	failed := 0
	for _, r := range out {
		line := fmt.Sprintf("%s\t%s\tseq %d", r.Outcome, orDash(r.MessageID), r.Sequence)
		if r.Err != nil {
			failed++
			line += "\t" + envflag.RedactDatabaseError(r.Err, databaseURL)
		}
		fmt.Fprintln(stdout, line)
	}
	if err != nil {
		return err
	}
	found := map[string]bool{}
	for _, r := range out {
		found[r.MessageID] = true
	}
	for _, id := range opts.IDs {
		if !found[strings.ToLower(id)] {
			fmt.Fprintf(stdout, "not found\t%s\n", id)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d message(s) not redriven", failed)
	}
	fmt.Fprintf(stdout, "%d message(s) redriven\n", len(out))
	return nil
}
