package cli

import (
	"context"
	"io"

	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/internal/healthcheck"
)

func init() {
	commands["healthcheck"] = command{"exit 0 when the local gateway is ready (container healthchecks)", runHealthcheck}
}

// runHealthcheck is `nomnom healthcheck`: the gateway's /readyz on PORT
// (its /health when it has no /readyz).
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := envflag.New("healthcheck")
	var port int
	f.Int(&port, "port", "PORT", 8080, "HTTP port of the gateway")
	return healthcheck.Run(ctx, f, args, "nomnom", func() (string, string, error) {
		base, err := healthcheck.PortBase(port, "PORT (--port)")
		return base + healthcheck.ReadyPath, base + "/health", err
	}, stdout, stderr)
}
