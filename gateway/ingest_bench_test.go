package gateway

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/internal/testsvc"
)

// BenchmarkIngest runs the ingest handlers in process against an embedded
// NATS server, with concurrent requests, so that the hot path can be
// profiled without a load generator:
//
//	go test -run '^$' -bench Ingest -cpuprofile cpu.out ./gateway/
//
// It reports messages per second; the figures include NATS, which shares
// the process.
func BenchmarkIngest(b *testing.B) {
	ns := testsvc.NATS(b)
	nc := testsvc.Connect(b, ns)
	srv, err := New(Config{Topology: testsvc.Topology(b), Addr: "127.0.0.1:0"}, nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.ensure(ctx); err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	batch := []byte(strings.Repeat(string(benchBody)+"\n", 100))
	tests := []struct {
		name, path, contentType string
		body                    []byte
		messages                int
	}{
		{name: "message", path: "/ingest/message", contentType: "application/json", body: benchBody, messages: 1},
		{name: "batch100", path: "/ingest/batch", contentType: "application/x-ndjson", body: batch, messages: 100},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodPost, tt.path, bytes.NewReader(tt.body))
					r.Header.Set("Content-Type", tt.contentType)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusAccepted {
						b.Errorf("%d %s", w.Code, w.Body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*tt.messages)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
