package sink_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/sink"
)

func TestBackoffBounds(t *testing.T) {
	for _, b := range []sink.Backoff{
		{Min: 100 * time.Millisecond, Max: 3 * time.Second},
		{Min: time.Second, Max: time.Second},
		{Min: 5 * time.Second, Max: time.Second}, // Max below Min: Min wins
		{},                                       // defaults
		{Min: time.Nanosecond, Max: 1 << 62},
	} {
		lo, hi := b.Min, b.Max
		if lo <= 0 {
			lo = sink.DefaultBackoffMin
		}
		if hi <= 0 {
			hi = sink.DefaultBackoffMax
		}
		hi = max(hi, lo)
		for attempt := -1; attempt <= 70; attempt++ {
			ceiling := lo
			for i := 1; i < attempt && ceiling < hi; i++ {
				ceiling *= 2
			}
			ceiling = min(ceiling, hi)
			for range 20 {
				d := b.Next(attempt)
				if d < lo || d > ceiling {
					t.Fatalf("%+v.Next(%d) = %s, want within [%s, %s]", b, attempt, d, lo, ceiling)
				}
			}
		}
	}
}

// TestBackoffJitters: above the first attempt the waits are spread, not a
// fixed value (many events retrying at once do not stampede).
func TestBackoffJitters(t *testing.T) {
	b := sink.Backoff{Min: time.Millisecond, Max: time.Hour}
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[b.Next(20)] = true
	}
	if len(seen) < 50 {
		t.Fatalf("only %d distinct waits in 100 draws", len(seen))
	}
	if d := b.Next(1); d != time.Millisecond {
		t.Fatalf("first wait %s, want Min", d)
	}
}

func TestRetryAfter(t *testing.T) {
	base := errors.New("HTTP 429")
	err := fmt.Errorf("outbox: %w", &sink.RetryAfterError{D: 7 * time.Second, Err: base})
	d, ok := sink.RetryAfter(err)
	if !ok || d != 7*time.Second {
		t.Fatalf("RetryAfter = %s, %v", d, ok)
	}
	if !errors.Is(err, base) || errors.Is(err, sink.ErrPermanent) {
		t.Fatal("RetryAfterError must unwrap to its cause and not be permanent")
	}
	if _, ok := sink.RetryAfter(base); ok {
		t.Fatal("RetryAfter found a delay in a plain error")
	}
}
