package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactPercentile is the nearest-rank percentile of sorted samples, the
// definition Histogram.Percentile approximates.
func exactPercentile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestHistogramPercentilesOfKnownDistributions(t *testing.T) {
	t.Parallel()
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
	tests := []struct {
		name   string
		sample func(r *rand.Rand, i int) time.Duration
	}{
		{"uniform 1µs..100ms", func(_ *rand.Rand, i int) time.Duration { return time.Duration(i+1) * time.Microsecond }},
		{"exponential mean 2ms", func(r *rand.Rand, _ int) time.Duration { return time.Duration(r.ExpFloat64() * 2e6) }},
		{"lognormal around 5ms", func(r *rand.Rand, _ int) time.Duration {
			return time.Duration(math.Exp(r.NormFloat64()*1.5) * 5e6)
		}},
		{"bimodal 1ms and 1% at 250ms", func(_ *rand.Rand, i int) time.Duration {
			if i%100 == 0 {
				return 250 * time.Millisecond
			}
			return time.Millisecond
		}},
		{"tiny exact values", func(_ *rand.Rand, i int) time.Duration { return time.Duration(i % 100) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := rng()
			h := NewHistogram()
			samples := make([]time.Duration, 100_000)
			var sum float64
			for i := range samples {
				samples[i] = tt.sample(r, i)
				h.Record(samples[i])
				sum += float64(samples[i])
			}
			slices.Sort(samples)
			for _, q := range []float64{1, 50, 90, 99, 99.9, 100} {
				want := exactPercentile(samples, q)
				got := h.Percentile(q)
				// The bucket's top errs high by less than one sub-bucket.
				if got < want || float64(got-want) > float64(want)/subCount {
					t.Errorf("p%v = %v, want %v within +%.2f%%", q, got, want, 100.0/subCount)
				}
			}
			if h.Max() != samples[len(samples)-1] || h.Min() != samples[0] {
				t.Errorf("min/max = %v/%v, want exact %v/%v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
			}
			if want := time.Duration(sum / float64(len(samples))); h.Mean() != want {
				t.Errorf("mean = %v, want %v", h.Mean(), want)
			}
			if h.Count() != uint64(len(samples)) {
				t.Errorf("count = %d, want %d", h.Count(), len(samples))
			}
		})
	}
}

func TestHistogramConstantIsExact(t *testing.T) {
	t.Parallel()
	h := NewHistogram()
	for range 1000 {
		h.Record(1234567 * time.Nanosecond)
	}
	s := h.Summary()
	for name, got := range map[string]time.Duration{"min": s.Min, "mean": s.Mean, "p50": s.P50, "p99": s.P99, "p99.9": s.P999, "max": s.Max} {
		if got != 1234567 {
			t.Errorf("%s = %d, want 1234567", name, got)
		}
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	t.Parallel()
	h := NewHistogram()
	if s := h.Summary(); s != (Latency{}) {
		t.Errorf("empty summary = %+v, want zero", s)
	}
	h.Record(-5 * time.Millisecond)
	if h.Count() != 1 || h.Max() != 0 || h.Percentile(50) != 0 {
		t.Errorf("negative value: count %d max %v p50 %v, want it recorded as 0", h.Count(), h.Max(), h.Percentile(50))
	}
}

func TestHistogramMergeEqualsOne(t *testing.T) {
	t.Parallel()
	all, a, b := NewHistogram(), NewHistogram(), NewHistogram()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 50_000 {
		d := time.Duration(r.Int64N(int64(time.Second)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(b)
	a.Merge(NewHistogram())
	if a.Summary() != all.Summary() {
		t.Errorf("merged %+v, want %+v", a.Summary(), all.Summary())
	}
}

func TestBucketBounds(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	values := []int64{0, 1, subCount - 1, subCount, subCount + 1, 2*subCount - 1, 2 * subCount, math.MaxInt64}
	for range 10_000 {
		values = append(values, r.Int64N(1<<uint(r.IntN(62)+1)))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0,%d)", v, i, numBuckets)
		}
		if high := bucketHigh(i); high < v || float64(high-v) > float64(v)/subCount {
			t.Errorf("bucketHigh(bucketOf(%d)) = %d: not within +1/%d of it", v, high, subCount)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Errorf("bucket %d below %d's bucket already reaches %d", i-1, v, bucketHigh(i-1))
		}
	}
}
