package loadtest

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want float64 // ms
	}{
		{0.50, 500}, {0.90, 900}, {0.99, 990}, {1, 1000},
	} {
		// One bucket is 1% wide: the answer is its upper bound.
		if got := h.quantile(tc.q); got < tc.want || got > tc.want*growth*growth {
			t.Errorf("quantile(%v) = %v ms, want %v within 2%%", tc.q, got, tc.want)
		}
	}
	if h.maxMS() != 1000 {
		t.Errorf("max = %v, want 1000", h.maxMS())
	}
	empty := newHistogram()
	if empty.quantile(0.5) != 0 || empty.maxMS() != 0 {
		t.Error("empty histogram reports a latency")
	}
	huge := newHistogram()
	huge.add(time.Hour) // beyond the last bucket: counted there, max exact
	huge.add(0)
	if got := huge.quantile(1); got != float64(time.Hour/time.Millisecond) {
		t.Errorf("quantile(1) = %v, want the exact max", got)
	}
	merged := newHistogram()
	merged.merge(h)
	merged.merge(huge)
	if merged.n != 1002 || merged.maxMS() != float64(time.Hour/time.Millisecond) {
		t.Errorf("merge: n %d, max %v", merged.n, merged.maxMS())
	}
	if q := merged.quantile(0.5); math.Abs(q-500) > 10 {
		t.Errorf("merged median %v, want about 500", q)
	}
}
