package workercmd

import (
	"context"
	"fmt"
	"io"

	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/internal/healthcheck"
)

// runHealthcheck is `<worker> healthcheck`: the worker's /readyz on
// METRICS_ADDR (its /healthz when it has no /readyz).
func runHealthcheck(ctx context.Context, app App, args []string, stdout, stderr io.Writer) error {
	f := envflag.New(app.Name + " healthcheck")
	var addr string
	f.String(&addr, "metrics-addr", "METRICS_ADDR", ":9090", "address of the worker's /readyz")
	return healthcheck.Run(ctx, f, args, app.Name, func() (string, string, error) {
		base, err := healthcheck.LocalBase(addr)
		if err != nil {
			return "", "", fmt.Errorf("METRICS_ADDR (--metrics-addr): %w", err)
		}
		return base + healthcheck.ReadyPath, base + "/healthz", nil
	}, stdout, stderr)
}
