package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/internal/natsconn"
	"github.com/nomnom-io/nomnom/wire"
)

const topologyUsage = `usage: nomnom topology apply [--refuse-lost] [flags]

  apply  create or update the main stream, its dead-letter stream and the
         status bucket to the configured settings; the one step that changes
         them (every other process keeps what the server holds)

flags:
`

// runTopology is `nomnom topology apply`, the owner of the streams and the
// bucket: a deployment runs it once, before the gateway and the workers.
func runTopology(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		s          natsconn.Settings
		refuseLost bool
	)
	f := envflag.New("nomnom topology")
	s.Define(f)
	f.Bool(&refuseLost, "refuse-lost", "NOMNOM_TOPOLOGY_REFUSE_LOST", false,
		"fail instead of warning when the status bucket holds records but the main stream is missing or empty")
	f.SetOutput(envflag.Output(stderr))
	f.Usage = func() {
		fmt.Fprint(f.Output(), topologyUsage)
		f.PrintDefaults()
	}
	if len(args) == 0 || args[0] != "apply" {
		f.Usage()
		return envflag.ErrUsage
	}
	if err := f.Parse(args[1:]); err != nil {
		return err
	}
	if f.NArg() > 0 {
		f.Usage()
		return envflag.ErrUsage
	}
	log, err := s.Logger(envflag.Output(stderr))
	if err != nil {
		return err
	}
	nc, js, err := s.JetStream(ctx, "nomnom-topology", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := wire.Apply(ctx, js, s.Topology, wire.ApplyOptions{RefuseLost: refuseLost, Logger: log}); err != nil {
		return err
	}
	t := s.Topology
	fmt.Fprintf(stdout, "applied: stream %s (max age %s, replicas %d), stream %s, bucket %s (ttl %s)\n",
		t.Stream, t.MaxAge, t.Replicas, t.DLQStream(), t.StatusBucket, t.StatusTTL)
	return nil
}
