package calltoken

import (
	"container/heap"
	"sync"
	"time"
)

// sweepEvery is how often reserve drops the expired entries of every
// member, not only the caller's, so members that stopped calling do not
// hold memory.
const sweepEvery = time.Minute

// liveTokens counts, per member, the tokens a Verifier accepted that are
// still live. Its size is bounded by the members of the directory times
// the cap, and shrinks as tokens expire.
type liveTokens struct {
	mu        sync.Mutex
	byMember  map[string]*memberLive
	lastSweep time.Time
}

type memberLive struct {
	ends    expiryHeap // when each accepted token stops being live
	pending int        // reserved, waiting for the replay store
}

// reserve takes a slot for one more token of member, or reports false when
// the member is at max. Every true must be followed by one commit.
// Counting pending tokens keeps concurrent calls from overshooting.
func (l *liveTokens) reserve(member string, now time.Time, max int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery || now.Before(l.lastSweep) {
		l.lastSweep = now
		for id, ml := range l.byMember {
			ml.prune(now)
			if ml.empty() {
				delete(l.byMember, id)
			}
		}
	}
	ml := l.byMember[member]
	if ml == nil {
		ml = &memberLive{}
		l.byMember[member] = ml
	}
	ml.prune(now)
	if len(ml.ends)+ml.pending >= max {
		return false
	}
	ml.pending++
	return true
}

// commit ends a reservation: an accepted token counts until end.
func (l *liveTokens) commit(member string, end time.Time, accepted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ml := l.byMember[member]
	if ml == nil { // cannot happen: reserve created it and only empties go
		return
	}
	ml.pending--
	if accepted {
		heap.Push(&ml.ends, end.UnixNano())
	}
	if ml.empty() {
		delete(l.byMember, member)
	}
}

func (ml *memberLive) prune(now time.Time) {
	n := now.UnixNano()
	for len(ml.ends) > 0 && ml.ends[0] <= n {
		heap.Pop(&ml.ends)
	}
}

func (ml *memberLive) empty() bool { return len(ml.ends) == 0 && ml.pending == 0 }

// expiryHeap is a min-heap of instants in Unix nanoseconds.
type expiryHeap []int64

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
