package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serve answers the given paths with the given codes, 404 elsewhere, and
// returns the server's port.
func serve(t *testing.T, codes map[string]int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, ok := codes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		w.Write([]byte("state of " + r.URL.Path))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		l.Close()
		return port
	}()
	tests := []struct {
		name     string
		codes    map[string]int // nil: nothing listens
		wantCode int
		wantOut  string
	}{
		{"gateway ready", map[string]int{"/readyz": 200, "/health": 503}, 0, "/readyz: 200 OK"},
		{"gateway not ready", map[string]int{"/readyz": 503, "/health": 200}, 1, "503 Service Unavailable: state of /readyz"},
		{"gateway without /readyz", map[string]int{"/health": 200}, 0, "/health: 200 OK"},
		{"gateway without /readyz, unhealthy", map[string]int{"/health": 503}, 1, "/health: 503"},
		{"gateway down", nil, 1, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port := closed
			if tt.codes != nil {
				port = serve(t, tt.codes)
			}
			var out bytes.Buffer
			code := run(context.Background(), []string{"healthcheck", "--port", port}, &out, &out)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("exit %d, output %q; want exit %d and %q", code, out.String(), tt.wantCode, tt.wantOut)
			}
		})
	}
}

func TestHealthcheckSettings(t *testing.T) {
	t.Parallel()
	port := serve(t, map[string]int{"/custom": 200})
	var out bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck", "--url", "http://127.0.0.1:" + port + "/custom"}, &out, &out); code != 0 {
		t.Fatalf("--url: exit %d: %s", code, out.String())
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"healthcheck", "--port", "0"}, "PORT (--port) 0 is not a TCP port"},
		{[]string{"healthcheck", "extra"}, `unexpected argument "extra"`},
		{[]string{"healthcheck", "--timeout", "0s"}, "--timeout must be positive"},
	} {
		out.Reset()
		if code := run(context.Background(), tt.args, &out, &out); code == 0 || !strings.Contains(out.String(), tt.want) {
			t.Errorf("%v: exit %d, output %q; want an error with %q", tt.args, code, out.String(), tt.want)
		}
	}
}
