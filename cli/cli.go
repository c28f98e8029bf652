package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/nomnom-io/nomnom/internal/envflag"
)

// Version is the version reported by /health and --version; set at build
// time with -ldflags "-X github.com/nomnom-io/nomnom/cli.Version=…".
var Version = "dev"

// command is one subcommand of the nomnom binary.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"gateway":  {"run the HTTP ingest gateway", runGateway},
	"migrate":  {"apply the platform migrations: migrate up|down|version", runMigrate},
	"bench":    {"load-test a running gateway", runBench},
	"convert":  {"rewrite the origin project's entity files into nomnom's format", runConvert},
	"dlq":      {"inspect and redrive dead-lettered messages: dlq list|redrive", runDLQ},
	"generate": {"generate a worker from entity definitions", runGenerate},
	"validate": {"check entity definitions without generating", runValidate},
	"version":  {"print the version", runVersion},
	"status":   {"print a message's status record: status ID [--wait 30s]", runStatus},
	"topology": {"create or update the streams and the status bucket: topology apply", runTopology},
	"messages": {"search status records: messages [--status failed] [--entity E] ...", runMessages},
}

// Main runs the nomnom binary and returns its exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		return run(ctx, []string{"version"}, stdout, stderr)
	}
	if len(args) < 1 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "nomnom: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, envflag.ErrUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintf(stderr, "nomnom %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: nomnom <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-9s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'nomnom <command> -h' for a command's flags and environment.")
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := envflag.New("version")
	f.SetOutput(envflag.Output(stderr))
	f.Usage = func() {
		fmt.Fprintln(f.Output(), "usage: nomnom version (or nomnom --version)\n\nPrint the version; it takes no flags.")
	}
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		f.Usage()
		return envflag.ErrUsage
	}
	fmt.Fprintln(stdout, "nomnom", Version)
	return nil
}
