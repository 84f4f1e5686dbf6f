package hub

import (
	"fmt"
	"sync"

	"golang.org/x/time/rate"
)

// memberLimits holds each identified member's publish bucket and open
// stream count. Its maps hold one entry per member that ever called,
// bounded by the directory's size.
type memberLimits struct {
	rate      rate.Limit
	burst     int
	maxStream int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	streams map[string]int
}

func newMemberLimits(cfg Config) *memberLimits {
	return &memberLimits{rate: rate.Limit(cfg.PublishRate), burst: cfg.PublishBurst, maxStream: cfg.MaxStreamsPerMember,
		buckets: map[string]*rate.Limiter{}, streams: map[string]int{}}
}

// publish takes one token from member's bucket.
func (l *memberLimits) publish(member string) error {
	l.mu.Lock()
	b, ok := l.buckets[member]
	if !ok {
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[member] = b
	}
	l.mu.Unlock()
	if !b.Allow() {
		return fmt.Errorf("%w: member %q publishes more than %g notices/s (burst %d): retry the same envelope later", ErrMemberLimit, member, float64(l.rate), l.burst)
	}
	return nil
}

// openStream counts a subscription of member; release ends it.
func (l *memberLimits) openStream(member string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams[member] >= l.maxStream {
		return nil, fmt.Errorf("%w: member %q has %d open subscriptions (limit %d)", ErrMemberLimit, member, l.streams[member], l.maxStream)
	}
	l.streams[member]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.streams[member]--
			l.mu.Unlock()
		})
	}, nil
}
