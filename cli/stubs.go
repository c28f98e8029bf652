package cli

import (
	"context"
	"errors"
	"io"
)

// The subcommands below are filled in by their own files as each component
// lands; until then they say so.
var errNotBuilt = errors.New("not built yet")

func runDLQ(context.Context, []string, io.Writer, io.Writer) error { return errNotBuilt }
