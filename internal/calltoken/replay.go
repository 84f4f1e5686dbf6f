package calltoken

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultMemoryReplayEntries bounds a MemoryReplayStore.
const DefaultMemoryReplayEntries = 1 << 20

// MemoryReplayStore is a ReplayStore in memory, for tests and a single
// process. Entries go when their TTL passes. When it holds
// DefaultMemoryReplayEntries live entries, Remember fails (not
// ErrReplayed), so the Verifier refuses calls until entries expire rather
// than forget one early. It is safe for concurrent use.
type MemoryReplayStore struct {
	mu      sync.Mutex
	now     func() time.Time
	max     int
	entries map[string]int64 // key → end, Unix nanoseconds
	ends    endHeap
}

// NewMemoryReplayStore returns an empty store.
func NewMemoryReplayStore() *MemoryReplayStore {
	return &MemoryReplayStore{now: time.Now, max: DefaultMemoryReplayEntries, entries: map[string]int64{}}
}

// Remember records key until ttl from now.
func (s *MemoryReplayStore) Remember(ctx context.Context, key string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixNano()
	for len(s.ends) > 0 && s.ends[0].end <= now {
		e := heap.Pop(&s.ends).(keyEnd)
		if s.entries[e.key] == e.end {
			delete(s.entries, e.key)
		}
	}
	if end, ok := s.entries[key]; ok && end > now {
		return fmt.Errorf("%w: key %s", ErrReplayed, key)
	}
	if len(s.entries) >= s.max {
		return fmt.Errorf("memory replay store full: %d live entries", len(s.entries))
	}
	end := now + int64(ttl)
	s.entries[key] = end
	heap.Push(&s.ends, keyEnd{end: end, key: key})
	return nil
}

// Len is the number of entries not yet pruned.
func (s *MemoryReplayStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

type keyEnd struct {
	end int64
	key string
}

// endHeap is a min-heap of entries by end.
type endHeap []keyEnd

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h endHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)        { *h = append(*h, x.(keyEnd)) }
func (h *endHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
