package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serverStats counts what a test server received.
type serverStats struct {
	requests atomic.Int64
	lines    atomic.Int64
	mu       sync.Mutex
	headers  http.Header
}

// baseline starts the HTTP baseline behind a handler that counts requests
// and lines and keeps the last request's headers.
func baseline(t *testing.T) (*httptest.Server, *serverStats) {
	t.Helper()
	stats := &serverStats{}
	inner := BaselineHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		stats.requests.Add(1)
		stats.lines.Add(int64(len(bytes.Fields(body)))) // generated bodies hold no spaces
		stats.mu.Lock()
		stats.headers = r.Header.Clone()
		stats.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, stats
}

func TestRunMessageAgainstBaseline(t *testing.T) {
	t.Parallel()
	srv, stats := baseline(t)
	rep, err := Run(t.Context(), Config{
		URL: srv.URL, Mode: ModeMessage, Concurrency: 8, Count: 500,
		EntityType: "order", APIKey: "k1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 500 || rep.Sent != 500 || rep.Accepted != 500 || rep.Rejected != 0 || len(rep.Errors) != 0 {
		t.Errorf("report counts = requests %d sent %d accepted %d rejected %d errors %v; want 500 accepted",
			rep.Requests, rep.Sent, rep.Accepted, rep.Rejected, rep.Errors)
	}
	if got := stats.requests.Load(); got != 500 {
		t.Errorf("server saw %d requests, want 500", got)
	}
	if rep.Latency.Count != 500 || rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
		t.Errorf("latency = %+v, want 500 ordered values", rep.Latency)
	}
	if rep.Mode != ModeMessage || rep.BatchSize != 1 || rep.BodyBytes != DefaultBodySize || rep.Concurrency != 8 ||
		rep.Duration <= 0 || rep.MsgsPerSec <= 0 || rep.RequestsPerSec != rep.MsgsPerSec || rep.E2E != nil {
		t.Errorf("report fields = %+v", rep)
	}
	h := stats.headers
	if h.Get("Content-Type") != "application/json" || h.Get("X-Entity-Type") != "order" || h.Get("Authorization") != "Bearer k1" {
		t.Errorf("request headers = %v", h)
	}
}

func TestRunBatchCountsLines(t *testing.T) {
	t.Parallel()
	srv, stats := baseline(t)
	rep, err := Run(t.Context(), Config{URL: srv.URL, Mode: ModeBatch, Concurrency: 4, Count: 1050, BodySize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 11 || rep.Sent != 1050 || rep.Accepted != 1050 || rep.BatchSize != DefaultBatchSize {
		t.Errorf("report = requests %d sent %d accepted %d batch %d; want 11 requests of up to 100 lines, 1050 accepted",
			rep.Requests, rep.Sent, rep.Accepted, rep.BatchSize)
	}
	if got := stats.lines.Load(); got != 1050 {
		t.Errorf("server saw %d lines, want 1050", got)
	}
	if rep.BodyBytes != 64 {
		t.Errorf("body bytes = %d, want 64 (newlines are not message)", rep.BodyBytes)
	}
	if ct := stats.headers.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestRunAtFixedRateSendsExactlyTheSchedule(t *testing.T) {
	t.Parallel()
	srv, stats := baseline(t)
	// 1,000 msgs/s for 100ms schedules messages 0..99: exactly 100, however
	// fast or slow the machine, because a message is sent if and only if its
	// scheduled time falls inside the run.
	rep, err := Run(t.Context(), Config{URL: srv.URL, Concurrency: 4, Rate: 1000, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 100 || rep.Accepted != 100 || stats.requests.Load() != 100 || rep.Rate != 1000 {
		t.Errorf("sent %d accepted %d server %d rate %d, want 100 at 1000", rep.Sent, rep.Accepted, stats.requests.Load(), rep.Rate)
	}
}

func TestRunCountsErrorsByCodeAndHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	ok := BaselineHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 4 {
		case 1:
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":{"code":"too_many_requests"}}`, http.StatusTooManyRequests)
		case 2:
			http.Error(w, "{}", http.StatusInternalServerError)
		default:
			ok.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	rep, err := Run(t.Context(), Config{URL: srv.URL, Concurrency: 1, Count: 40})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"429": 10, "500": 10}
	if fmt.Sprint(rep.Errors) != fmt.Sprint(want) || rep.ErrorCount() != 20 || rep.Accepted != 20 || rep.Sent != 40 {
		t.Errorf("errors %v (%d) accepted %d sent %d; want %v and 20 accepted of 40", rep.Errors, rep.ErrorCount(), rep.Accepted, rep.Sent, want)
	}
	if rep.Latency.Count != 20 {
		t.Errorf("latency count = %d, want only the 20 202s", rep.Latency.Count)
	}
}

func TestRunWithoutServerCountsTransportErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	rep, err := Run(t.Context(), Config{URL: url, Concurrency: 2, Count: 6})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors["transport"] != 6 || rep.Accepted != 0 {
		t.Errorf("errors %v accepted %d, want 6 transport errors", rep.Errors, rep.Accepted)
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	var n atomic.Int64
	ok := BaselineHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 50 {
			cancel()
		}
		ok.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rep, err := Run(ctx, Config{URL: srv.URL, Concurrency: 2, Duration: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The cancel comes with the 50th request; each of the 2 connections may
	// have one more in flight, answered or cut off.
	if rep.Accepted < 48 || rep.Accepted > 51 || len(rep.Errors) != 0 {
		t.Errorf("accepted %d errors %v; want the 48 to 51 answered around the cancel and no errors", rep.Accepted, rep.Errors)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"url", Config{URL: "localhost:8080"}, "url"},
		{"mode", Config{Mode: "burst"}, "mode"},
		{"concurrency", Config{Concurrency: -1}, "concurrency"},
		{"rate", Config{Rate: -5}, "rate"},
		{"body", Config{BodySize: 8}, "body size"},
		{"count", Config{Count: -1}, "count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Run(t.Context(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one about %s", err, tt.want)
			}
		})
	}
}

// e2eServer is an HTTP server with the gateway's API shape whose statuses
// follow a fixed script per message: message i is accepted with
// received_at = base + i ms; every 10th ends failed, every 25th is never
// found, the rest read "processing" once and then "completed" 5ms after
// received_at.
func e2eServer(t *testing.T) *httptest.Server {
	t.Helper()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var seq atomic.Int64
	var mu sync.Mutex
	reads := map[string]int{}
	mux := http.NewServeMux()
	id := func(i int64) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	mux.HandleFunc("POST /ingest/message", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		writeAccepted(w, fmt.Sprintf(`{"message_id":%q,"status":"accepted"}`, id(seq.Add(1))))
	})
	mux.HandleFunc("POST /ingest/batch", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var results []string
		for i, line := range bytes.Split(bytes.TrimSpace(body), []byte{'\n'}) {
			if bytes.Contains(line, []byte(`"bad"`)) {
				results = append(results, fmt.Sprintf(`{"line":%d,"error":"bad"}`, i+1))
				continue
			}
			results = append(results, fmt.Sprintf(`{"line":%d,"message_id":%q}`, i+1, id(seq.Add(1))))
		}
		writeAccepted(w, `{"status":"accepted","results":[`+strings.Join(results, ",")+`]}`)
	})
	mux.HandleFunc("GET /ingest/status/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("wait") == "" {
			http.Error(w, "want a long poll", http.StatusBadRequest)
			return
		}
		msgID := r.PathValue("id")
		var i int64
		fmt.Sscanf(msgID[len(msgID)-12:], "%d", &i)
		mu.Lock()
		reads[msgID]++
		n := reads[msgID]
		mu.Unlock()
		received := base.Add(time.Duration(i) * time.Millisecond)
		rec := map[string]any{"message_id": msgID, "received_at": received, "completed_at": nil}
		switch {
		case i%25 == 0:
			http.Error(w, `{"error":{"code":"not_found"}}`, http.StatusNotFound)
			return
		case i%10 == 0:
			rec["status"] = "failed"
		case n == 1:
			rec["status"] = "processing"
		default:
			rec["status"] = "completed"
			rec["completed_at"] = received.Add(5 * time.Millisecond)
			rec["entities"] = map[string]int{"orders": 1, "order_line_items": 3}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rec)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestRunEndToEndFollowsEveryMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		batchSize int
		bodies    [][]byte
		accepted  int64
		rejected  int64
	}{
		{"single messages", 1, nil, 100, 0},
		{"batches with a refused line", 7, [][]byte{[]byte(`{"ok":1}`), []byte(`{"ok":2}`), []byte(`{"bad":3}`), []byte(`{"ok":4}`)}, 75, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := e2eServer(t)
			rep, err := Run(t.Context(), Config{
				URL: srv.URL, Mode: ModeE2E, Concurrency: 4, Count: 100, BatchSize: tt.batchSize, Bodies: tt.bodies,
				Followers: 3, FollowWait: time.Second, FollowTimeout: 500 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Accepted != tt.accepted || rep.Rejected != tt.rejected {
				t.Fatalf("accepted %d rejected %d, want %d and %d", rep.Accepted, rep.Rejected, tt.accepted, tt.rejected)
			}
			e := rep.E2E
			if e == nil {
				t.Fatal("no e2e report")
			}
			// Ids 1..accepted: multiples of 25 are never found, other
			// multiples of 10 fail, the rest complete.
			var wantLost, wantFailed int64
			for i := int64(1); i <= tt.accepted; i++ {
				switch {
				case i%25 == 0:
					wantLost++
				case i%10 == 0:
					wantFailed++
				}
			}
			wantCompleted := tt.accepted - wantLost - wantFailed
			if e.Completed != wantCompleted || e.Failed != wantFailed || e.Lost != wantLost {
				t.Errorf("completed %d failed %d lost %d, want %d %d %d", e.Completed, e.Failed, e.Lost, wantCompleted, wantFailed, wantLost)
			}
			if e.Latency.Count != uint64(wantCompleted) || e.Latency.P50 != 5*time.Millisecond || e.Latency.Max != 5*time.Millisecond {
				t.Errorf("accepted→completed latency = %+v, want every one 5ms from the records", e.Latency)
			}
			// First completed id is 1 (received at base+1ms); the last one
			// completes 5ms after its received_at.
			last := tt.accepted
			for last%10 == 0 || last%25 == 0 {
				last--
			}
			wantSpan := time.Duration(last-1)*time.Millisecond + 5*time.Millisecond
			if e.Span != wantSpan {
				t.Errorf("span = %v, want %v", e.Span, wantSpan)
			}
			if e.Rows != 4*wantCompleted || e.RowsPerSec != float64(e.Rows)/wantSpan.Seconds() {
				t.Errorf("rows %d at %v/s, want 4 per completed message over the span", e.Rows, e.RowsPerSec)
			}
		})
	}
}

func TestReportJSONAndCSV(t *testing.T) {
	t.Parallel()
	srv := e2eServer(t)
	rep, err := Run(t.Context(), Config{URL: srv.URL, Mode: ModeE2E, Concurrency: 2, Count: 20, FollowTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Mode      string           `json:"mode"`
		Accepted  int64            `json:"accepted"`
		DurationS float64          `json:"duration_s"`
		Errors    map[string]int64 `json:"errors"`
		Latency   map[string]float64
		E2E       struct {
			Completed int64              `json:"completed"`
			Lost      int64              `json:"lost"`
			SpanS     float64            `json:"span_s"`
			Latency   map[string]float64 `json:"latency"`
		} `json:"e2e"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
	if got.Mode != "e2e" || got.Accepted != 20 || got.DurationS <= 0 || got.E2E.Completed != 18 || got.E2E.Lost != 0 ||
		got.E2E.Latency["p99_ms"] != 5 || got.E2E.SpanS <= 0 || got.Latency["p50_ms"] <= 0 {
		t.Errorf("JSON = %s", raw)
	}

	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf, true); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteCSV(&buf, false); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("CSV rows = %v, %v; want a header and two rows", rows, err)
	}
	col := map[string]string{}
	for i, name := range rows[0] {
		col[name] = rows[1][i]
	}
	if col["mode"] != "e2e" || col["accepted"] != "20" || col["e2e_completed"] != "18" || col["e2e_p50_ms"] != "5.000" || col["e2e_rows"] != "72" {
		t.Errorf("CSV row = %v", col)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "18 completed, 2 failed, 0 lost") {
		t.Errorf("text = %q, %v", text.String(), err)
	}
}

func TestProgressOnlyOnTerminals(t *testing.T) {
	t.Parallel()
	f, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []io.Writer{nil, &bytes.Buffer{}, f} {
		if isTerminal(w) {
			t.Errorf("isTerminal(%T) = true", w)
		}
	}
	r := newRunner(Config{Mode: ModeBatch, Duration: 10 * time.Second, BatchSize: 100}.withDefaults())
	r.start = time.Now()
	r.sent.Store(1200)
	r.accepted.Store(1100)
	line := r.progressLine(r.start.Add(5 * time.Second))
	for _, want := range []string{"batch", " 50%", "sent 1200", "accepted 1100", "220 msgs/s"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	if strings.ContainsAny(line, "\r\n") {
		t.Errorf("progress line %q holds a line break", line)
	}
}
