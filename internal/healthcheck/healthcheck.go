// Package healthcheck is the `healthcheck` subcommand of the nomnom binary
// and of worker binaries: it lets a container image check its own process
// with the binary it already has, so the image needs no shell, wget or
// curl. It GETs the process's readiness URL on the loopback interface and
// succeeds on a 2xx answer. It never reads the environment itself: the
// caller defines the flags that say where the process listens.
package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nomnom-io/nomnom/internal/envflag"
)

// ReadyPath is the readiness endpoint of the gateway and of workers.
const ReadyPath = "/readyz"

const usage = `usage: %s healthcheck [--url URL] [--timeout D]

GETs the local readiness URL (%s by default) and exits 0 when it answers
2xx, 1 otherwise. Meant for container healthchecks in images without a shell.
`

// URLs returns the readiness URL of the process and the health URL of a
// server that predates /readyz, asked only when the first answers 404.
type URLs func() (ready, legacy string, err error)

// Run parses args with f (which already holds the caller's address flags),
// works out the URLs and checks them, printing the answer to stdout.
func Run(ctx context.Context, f *envflag.Set, args []string, name string, urls URLs, stdout, stderr io.Writer) error {
	f.SetOutput(envflag.Output(stderr))
	var url string
	var timeout time.Duration
	f.StringVar(&url, "url", "", "URL to GET instead of the local readiness URL")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "longest wait for the answer")
	f.Usage = func() {
		fmt.Fprintf(stderr, usage, name, ReadyPath)
		f.PrintDefaults()
	}
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", f.Arg(0))
	}
	if timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if url != "" {
		return probe(ctx, url, stdout)
	}
	ready, legacy, err := urls()
	if err != nil {
		return err
	}
	err = probe(ctx, ready, stdout)
	if errors.Is(err, errNotFound) {
		return probe(ctx, legacy, stdout)
	}
	return err
}

// errNotFound is a 404: the server has no such endpoint.
var errNotFound = errors.New("404 Not Found")

// probe GETs url and succeeds on a 2xx answer.
func probe(ctx context.Context, url string, stdout io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("--url %q: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	text := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("GET %s: %w", url, errNotFound)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, text)
	}
	fmt.Fprintf(stdout, "GET %s: %s\n", url, resp.Status)
	return nil
}

// PortBase is the base URL of a server on port of this host.
func PortBase(port int, name string) (string, error) {
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("%s %d is not a TCP port", name, port)
	}
	return "http://127.0.0.1:" + strconv.Itoa(port), nil
}

// LocalBase turns a listen address (":9090", "0.0.0.0:9090", "[::]:9090",
// "host:9090") into the base URL that reaches it from the same host.
func LocalBase(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q has no TCP port", addr)
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
