package bus_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/headsup-dev/headsup/internal/bus"
)

// TestFollowSlowReaderDropsNothing: a follower slower than the log makes
// the pulls wait. With nats.go's Messages iterator, whose channel drops
// what does not fit, such a follower lost a message now and then (a "slow
// consumer" error, then the ordered consumer recreated itself to fill the
// gap); it reproduced a few times per 3,000 entries.
func TestFollowSlowReaderDropsNothing(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	var asyncErrs atomic.Int64
	e.Conn().SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { asyncErrs.Add(1) })
	l := openLog(t, e.Conn(), bus.LogConfig{})
	const n = 3000
	for range n {
		mustAppend(t, l, "edgeshield", newID(t), body(t, 1500))
	}
	errEnough := errors.New("enough")
	got := 0
	err := l.Follow(testCtx(t), 0, func(m bus.Message) error {
		got++
		if m.Seq != uint64(got) {
			t.Fatalf("entry %d has sequence %d", got, m.Seq)
		}
		if got%50 == 0 {
			time.Sleep(2 * time.Millisecond) // a slow reader, not a wait for anything
		}
		if got == n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("Follow = %v after %d entries", err, got)
	}
	if k := asyncErrs.Load(); k != 0 {
		t.Fatalf("%d asynchronous errors (slow consumer) while following", k)
	}
}
