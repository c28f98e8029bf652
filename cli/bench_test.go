package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/bench"
)

func TestBenchPrintsReportAgainstBaseline(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(bench.BaselineHandler())
	t.Cleanup(srv.Close)
	body := filepath.Join(t.TempDir(), "orders.ndjson")
	if err := os.WriteFile(body, []byte("{\"order_key\":1}\n\n{\"order_key\":2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"json", []string{"--mode", "batch", "--batch-size", "5", "-n", "23", "-c", "2", "--json"},
			[]string{`"accepted": 23`, `"requests": 5`, `"batch_size": 5`}},
		{"csv", []string{"-n", "7", "-c", "1", "--csv", "--file", body},
			[]string{"mode,url,concurrency", "\nmessage," + srv.URL + ",1,0,1,15,"}},
		{"text", []string{"-n", "4", "-c", "2", "--size", "64"}, []string{"4 accepted", "body 64 B", "202 latency"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			args := append([]string{"bench", "--url", srv.URL}, tt.args...)
			if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			for _, want := range tt.want {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func TestBenchSavesJSONReport(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(bench.BaselineHandler())
	t.Cleanup(srv.Close)
	saved := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", "--url", srv.URL, "-n", "9", "--csv", "--save", saved}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	raw, err := os.ReadFile(saved)
	var rep struct{ Accepted int64 }
	if err != nil || json.Unmarshal(raw, &rep) != nil || rep.Accepted != 9 {
		t.Errorf("saved report %s, %v; want 9 accepted", raw, err)
	}
}

func TestBenchFailsWhenNothingIsAccepted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"bench", "--url", srv.URL, "-n", "3", "-c", "1"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "accepted no message") || !strings.Contains(stdout.String(), "503:3") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 naming 3 503s", code, stdout.String(), stderr.String())
	}
}

func TestBenchRefusesBadFlags(t *testing.T) {
	t.Parallel()
	tests := [][]string{
		{"bench", "--json", "--csv"},
		{"bench", "extra"},
		{"bench", "--mode", "burst", "-n", "1"},
		{"bench", "--file", filepath.Join(t.TempDir(), "missing.ndjson")},
	}
	for _, args := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code == 0 {
			t.Errorf("%v: exit 0, want a refusal", args)
		}
	}
}

func TestBenchBaselineHTTPServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	stdout := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"bench", "baseline-http", "--addr", "127.0.0.1:0"}, stdout, &bytes.Buffer{})
	}()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); {
		url = strings.TrimSpace(stdout.String())
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("printed %q, want its URL", url)
	}
	res, err := http.Post(url+"/ingest/message", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var ack struct {
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
	}
	err = json.NewDecoder(res.Body).Decode(&ack)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusAccepted || ack.MessageID == "" || ack.Status != "accepted" {
		t.Errorf("POST answered %d %+v, %v", res.StatusCode, ack, err)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after cancel, want 0", code)
	}
}

// syncBuffer is stdout for a command that runs while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
