package cli

import (
	"context"
	"io"

	"github.com/nomnom-io/nomnom/internal/dlqcmd"
)

// runDLQ is `nomnom dlq`, the same command as a worker binary's `dlq`.
func runDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dlqcmd.Run(ctx, "nomnom", args, stdout, stderr)
}
