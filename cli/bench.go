package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nomnom-io/nomnom/bench"
	"github.com/nomnom-io/nomnom/internal/envflag"
)

const benchUsage = `usage: nomnom bench [flags]
       nomnom bench baseline-http [--addr 127.0.0.1:0]

Load-tests a running gateway over HTTP and prints throughput and latency
percentiles (text, --json or --csv). Modes:
  message  single POST /ingest/message requests; latency to the 202
  batch    POST /ingest/batch of --batch-size NDJSON lines; messages/s
  e2e      posts, then follows every message to a terminal status and reports
           accepted→completed from the records' received_at/completed_at
           (--batch-size above 1 posts batches)

With --rate, requests are sent on a fixed schedule and latency counts from
each request's scheduled time, so a server that falls behind shows it.

baseline-http serves a trivial 202 handler with the gateway's API shape and
prints its URL: the HTTP floor of this machine, to compare the gateway with.

Send load only to a gateway you run yourself.

flags:`

// runBench runs the load generator, or with "baseline-http" the trivial
// HTTP server it is compared with.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "baseline-http" {
		return runBaselineHTTP(ctx, args[1:], stdout, stderr)
	}
	var (
		cfg         bench.Config
		mode, file  string
		save        string
		asJSON, csv bool
	)
	f := envflag.New("bench")
	f.SetOutput(envflag.Output(stderr))
	f.Secret(&cfg.URL, "url", "NOMNOM_URL", bench.DefaultURL, "gateway base URL")
	f.StringVar(&mode, "mode", "message", "message, batch or e2e")
	f.IntVar(&cfg.Concurrency, "c", bench.DefaultConcurrency, "connections posting at once")
	f.IntVar(&cfg.Rate, "rate", 0, "fixed messages per second across all connections (0: as fast as possible)")
	f.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "how long to post (ignored with -n)")
	f.Int64Var(&cfg.Count, "n", 0, "post exactly this many messages instead of running for --duration")
	f.IntVar(&cfg.BatchSize, "batch-size", 0, "NDJSON lines per request (default 100 in batch mode, 1 otherwise)")
	f.IntVar(&cfg.BodySize, "size", bench.DefaultBodySize, "bytes of each generated JSON body")
	f.StringVar(&file, "file", "", "NDJSON file of message bodies to cycle through instead of generated ones")
	f.StringVar(&cfg.EntityType, "entity", "", "entity type sent as X-Entity-Type")
	f.Secret(&cfg.APIKey, "api-key", "NOMNOM_API_KEY", "", "API key sent as Authorization: Bearer")
	f.IntVar(&cfg.Followers, "followers", 0, "concurrent status long-polls in e2e mode (default -c)")
	f.DurationVar(&cfg.FollowTimeout, "follow-timeout", bench.DefaultFollowTimeout, "e2e: how long to wait for messages still in flight after posting")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&csv, "csv", false, "print the report as CSV (header and one row)")
	f.StringVar(&save, "save", "", "also write the report as JSON to this file")
	f.Usage = func() {
		fmt.Fprintln(f.Output(), benchUsage)
		f.PrintDefaults()
	}
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 || asJSON && csv {
		fmt.Fprintf(f.Output(), "nomnom bench: unexpected arguments %q or both --json and --csv\n\n", f.Args())
		f.Usage()
		return envflag.ErrUsage
	}
	cfg.Mode = bench.Mode(mode)
	if cfg.Count > 0 {
		cfg.Duration = 0
	}
	if file != "" {
		bodies, err := readBodyFile(file)
		if err != nil {
			return err
		}
		cfg.Bodies = bodies
	}
	cfg.Progress = stderr

	rep, err := bench.Run(ctx, cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if err := printReport(stdout, rep, asJSON, csv); err != nil {
		return err
	}
	if save != "" {
		if err := saveReport(save, rep); err != nil {
			return err
		}
	}
	if rep.Accepted == 0 && rep.Sent > 0 {
		return fmt.Errorf("the gateway accepted no message (errors by status: %v)", rep.Errors)
	}
	return nil
}

func readBodyFile(path string) ([][]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	bodies, err := bench.ReadBodies(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return bodies, nil
}

func printReport(w io.Writer, rep bench.Report, asJSON, csv bool) error {
	switch {
	case asJSON:
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case csv:
		return rep.WriteCSV(w, true)
	default:
		return rep.WriteText(w)
	}
}

func saveReport(path string, rep bench.Report) error {
	b, err := rep.JSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save report: %w", err)
	}
	return nil
}

// runBaselineHTTP serves bench.BaselineHandler until ctx ends, printing its
// URL first so that a script can read where it listens.
func runBaselineHTTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var addr string
	f := envflag.New("bench baseline-http")
	f.SetOutput(envflag.Output(stderr))
	f.StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on")
	if err := f.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: bench.BaselineHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
