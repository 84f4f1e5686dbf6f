package calltoken_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/calltoken"
)

func TestMemoryReplayStore(t *testing.T) {
	now := t0
	s := calltoken.NewMemoryReplayStore()
	calltoken.SetMemoryClock(s, func() time.Time { return now })
	calltoken.SetMemoryMax(s, 2)
	ctx := t.Context()

	if err := s.Remember(ctx, "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Remember(ctx, "a", time.Minute); !errors.Is(err, calltoken.ErrReplayed) {
		t.Fatalf("second a: %v, want ErrReplayed", err)
	}
	if err := s.Remember(ctx, "b", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Full: refused, but not as a replay, so the Verifier fails closed
	// with Unavailable instead of forgetting an entry early.
	if err := s.Remember(ctx, "c", time.Minute); err == nil || errors.Is(err, calltoken.ErrReplayed) {
		t.Fatalf("full store: %v, want a non-replay error", err)
	}
	// Just before its TTL, a is still remembered.
	now = t0.Add(time.Minute - time.Nanosecond)
	if err := s.Remember(ctx, "a", time.Minute); !errors.Is(err, calltoken.ErrReplayed) {
		t.Fatalf("a before its TTL: %v, want ErrReplayed", err)
	}
	// At its TTL, a is pruned, which frees room.
	now = t0.Add(time.Minute)
	if err := s.Remember(ctx, "c", time.Minute); err != nil {
		t.Fatalf("c after a expired: %v", err)
	}
	if s.Len() != 2 {
		t.Fatalf("Len %d, want 2 (b, c)", s.Len())
	}
	if err := s.Remember(ctx, "b", time.Minute); !errors.Is(err, calltoken.ErrReplayed) {
		t.Fatalf("b: %v, want ErrReplayed", err)
	}
}

func TestMemoryReplayStoreConcurrent(t *testing.T) {
	s := calltoken.NewMemoryReplayStore()
	const goroutines, keys = 8, 100
	var wg sync.WaitGroup
	wins := make([]int, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for k := range keys {
				switch err := s.Remember(t.Context(), fmt.Sprint(k), time.Minute); {
				case err == nil:
					wins[g]++
				case !errors.Is(err, calltoken.ErrReplayed):
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var total int
	for _, w := range wins {
		total += w
	}
	if total != keys {
		t.Fatalf("%d keys accepted, want each of %d exactly once", total, keys)
	}
}
