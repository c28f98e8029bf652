package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits linear sub-buckets, so a recorded value is known to within
// 1/2^subBits (under 0.8%) of itself, whatever its magnitude.
const (
	subBits  = 7
	subCount = 1 << subBits
	// numBuckets covers every non-negative int64 nanosecond value.
	numBuckets = (64 - subBits) * subCount
)

// Histogram records durations in log-linear buckets, the layout of
// HdrHistogram: constant relative error, fixed memory (about 58 KiB), O(1)
// recording with no allocation. It is not safe for concurrent use; give each
// goroutine its own and Merge them.
type Histogram struct {
	counts [numBuckets]uint64
	count  uint64
	sum    float64
	min    int64
	max    int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{min: math.MaxInt64}
}

// bucketOf returns the bucket of v (v >= 0): values below subCount have a
// bucket each, and above that each power of two has subCount buckets.
func bucketOf(v int64) int {
	u := uint64(v)
	if u < subCount {
		return int(u)
	}
	exp := bits.Len64(u) - 1 - subBits
	return (exp+1)*subCount + int(u>>exp) - subCount
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	exp := i/subCount - 1
	low := uint64(i%subCount+subCount) << exp
	return int64(low + (uint64(1) << exp) - 1)
}

// Record adds one duration; a negative one (clock skew between the two ends
// of a measurement) is recorded as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)]++
	h.count++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.count == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.count += o.count
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.count }

// Max returns the largest recorded value, exactly.
func (h *Histogram) Max() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Min returns the smallest recorded value, exactly.
func (h *Histogram) Min() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Mean returns the exact mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.count))
}

// Percentile returns the value below or at which q percent (0 < q <= 100) of
// the recorded values fall: the highest value of the bucket that holds that
// rank, never above the exact maximum — so it errs high, as a latency bound
// should, by less than 1%.
func (h *Histogram) Percentile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q / 100 * float64(h.count)))
	rank = min(max(rank, 1), h.count)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketHigh(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Summary returns the percentiles the report prints.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.count,
		Min:   h.Min(),
		Mean:  h.Mean(),
		P50:   h.Percentile(50),
		P90:   h.Percentile(90),
		P99:   h.Percentile(99),
		P999:  h.Percentile(99.9),
		Max:   h.Max(),
	}
}
