package loadtest

import (
	"math"
	"sync"
	"time"
)

// growth is the ratio between consecutive histogram buckets: 1%
// resolution, about 1,900 buckets from a microsecond to 100 seconds.
const growth = 1.01

var logGrowth = math.Log(growth)

// maxBucket bounds the histogram: latencies above 100 s share the last
// bucket (Max stays exact).
var maxBucket = int(math.Log(1e8) / logGrowth)

// histogram counts latencies in log-linear buckets of microseconds. Safe
// for one writer and concurrent merges after it stopped; the mutex only
// guards against a merge racing the last add.
type histogram struct {
	mu     sync.Mutex
	counts []uint64
	n      uint64
	max    time.Duration
}

func newHistogram() *histogram { return &histogram{counts: make([]uint64, maxBucket+1)} }

func bucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return min(int(math.Log(us)/logGrowth), maxBucket)
}

func (h *histogram) add(d time.Duration) {
	h.mu.Lock()
	h.counts[bucket(d)]++
	h.n++
	h.max = max(h.max, d)
	h.mu.Unlock()
}

func (h *histogram) merge(o *histogram) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile is the upper bound, in milliseconds, of the bucket holding the
// q-quantile (never above the maximum), or 0 for an empty histogram.
func (h *histogram) quantile(q float64) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank && i < maxBucket {
			upper := math.Pow(growth, float64(i+1)) / 1000
			return math.Min(upper, float64(h.max)/float64(time.Millisecond))
		}
	}
	return float64(h.max) / float64(time.Millisecond)
}

func (h *histogram) maxMS() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return float64(h.max) / float64(time.Millisecond)
}
