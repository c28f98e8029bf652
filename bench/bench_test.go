package bench

import (
	"net/http/httptest"
	"testing"
	"time"
)

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	var d time.Duration
	for b.Loop() {
		d = (d + 7919) % (10 * time.Second)
		h.Record(d)
	}
}

func BenchmarkHistogramPercentile(b *testing.B) {
	h := NewHistogram()
	for i := range 100_000 {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for b.Loop() {
		_ = h.Percentile(99.9)
	}
}

func BenchmarkAppendBody256(b *testing.B) {
	s := newBodySource(256, nil)
	buf := make([]byte, 0, 512)
	b.SetBytes(256)
	var seq int64
	for b.Loop() {
		buf = s.appendBody(buf[:0], seq)
		seq++
	}
}

func BenchmarkAppendBatch100x256(b *testing.B) {
	s := newBodySource(256, nil)
	buf := make([]byte, 0, 100*257)
	b.SetBytes(100 * 257)
	var seq int64
	for b.Loop() {
		buf = s.appendBatch(buf[:0], seq, 100)
		seq += 100
	}
}

// BenchmarkRunBaseline is the whole client loop against the in-process HTTP
// baseline: what one message costs the load generator itself.
func BenchmarkRunBaseline(b *testing.B) {
	srv := httptest.NewServer(BaselineHandler())
	defer srv.Close()
	b.ResetTimer()
	rep, err := Run(b.Context(), Config{URL: srv.URL, Concurrency: 8, Count: int64(b.N)})
	if err != nil || rep.Accepted != int64(b.N) {
		b.Fatalf("accepted %d of %d: %v", rep.Accepted, b.N, err)
	}
	b.ReportMetric(rep.MsgsPerSec, "msgs/s")
}
