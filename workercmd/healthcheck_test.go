package workercmd

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
// returns the server's address.
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
	return srv.Listener.Addr().String()
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	portOnly := func(a string) string { _, p, _ := net.SplitHostPort(a); return ":" + p }
	tests := []struct {
		name     string
		codes    map[string]int // nil: nothing listens
		addr     func(string) string
		wantCode int
		wantOut  string
	}{
		{"ready", map[string]int{"/readyz": 200, "/healthz": 503}, nil, 0, "/readyz: 200 OK"},
		{"ready on :port", map[string]int{"/readyz": 200}, portOnly, 0, "GET http://127.0.0.1:"},
		{"not ready", map[string]int{"/readyz": 503, "/healthz": 200}, nil, 1, "503 Service Unavailable: state of /readyz"},
		{"without /readyz", map[string]int{"/healthz": 200}, nil, 0, "/healthz: 200 OK"},
		{"down", nil, portOnly, 1, "connection refused"},
		{"no metrics address", nil, func(string) string { return "" }, 1, "METRICS_ADDR (--metrics-addr)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := closed
			if tt.codes != nil {
				addr = serve(t, tt.codes)
			}
			if tt.addr != nil {
				addr = tt.addr(addr)
			}
			var out bytes.Buffer
			code := run(context.Background(), testApp(), []string{"healthcheck", "--metrics-addr", addr}, &out, &out)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("exit %d, output %q; want exit %d and %q", code, out.String(), tt.wantCode, tt.wantOut)
			}
		})
	}
}
