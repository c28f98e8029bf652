package cli

import "errors"

// The subcommands below are filled in by their own files as each component
// lands; until then they say so.
var errNotBuilt = errors.New("not built yet")
