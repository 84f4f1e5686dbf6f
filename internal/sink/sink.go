package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
)

// Sink delivers alert events to a desk.
type Sink interface {
	// Name identifies the sink in logs and in the agent's outbox.
	Name() string
	// Deliver hands over one event. body is the exact JSON of e, one
	// object (the bytes the outbox stored); when nil, the sink marshals e.
	// A nil error means the event is delivered (written and synced, or
	// acknowledged with 2xx). An error wrapping [ErrPermanent] means that
	// retrying the same event cannot succeed; any other error is worth
	// retrying later, after the delay a [*RetryAfterError] names or the
	// outbox's [Backoff]. Deliver may be called again with an event it has
	// already delivered (delivery is at least once); receivers drop
	// duplicates by (alert_id, revision). e may be shared with other
	// sinks: read it, never change it.
	Deliver(ctx context.Context, e *alert.Event, body []byte) error
}

// Batch is a sink that can take several events at once and make them
// durable together: the JSON-lines and text sinks write a run of events
// in one write and sync once, where Deliver syncs every event. The outbox
// hands a Batch runs of consecutive events, in its order.
type Batch interface {
	Sink
	// DeliverBatch hands over events in order, as Deliver would one by
	// one. A nil error means every event is delivered. On an error, none
	// of them may be (a file sink cuts a failed write off), or all of
	// them (a failed sync); the caller delivers them again, one by one,
	// so that a permanent failure names its event.
	DeliverBatch(ctx context.Context, events []Event) error
}

// Event is one event of a batch: the event and its stored JSON, as
// Deliver takes them.
type Event struct {
	Event *alert.Event
	Body  []byte
}

// ErrPermanent is wrapped by delivery errors that retrying cannot fix: a
// receiver that refuses the event (HTTP 4xx other than 408 and 429), a
// misconfigured sink, a body that is not one JSON object. The outbox
// should record the failure and move on rather than retry.
var ErrPermanent = errors.New("permanent delivery failure")

// RetryAfterError is a retryable failure for which the receiver said how
// long to wait (HTTP Retry-After on 429 or 503). Callers find it with
// errors.As or [RetryAfter].
type RetryAfterError struct {
	// D is how long to wait before the next attempt, at most
	// [MaxRetryAfter].
	D time.Duration
	// Err is the failure.
	Err error
}

// MaxRetryAfter caps what a receiver can ask for, so that a misconfigured
// endpoint cannot park the outbox for a day.
const MaxRetryAfter = time.Hour

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.D)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the delay a [*RetryAfterError] in err's chain asks
// for.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.D, true
	}
	return 0, false
}

// Backoff spaces the outbox's retries of one event. A zero Min or Max
// takes [DefaultBackoffMin] or [DefaultBackoffMax].
type Backoff struct {
	// Min is the shortest wait and the first attempt's ceiling.
	Min time.Duration
	// Max caps every wait.
	Max time.Duration
}

// The default bounds of [Backoff]: from 1 s up to 5 min.
const (
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 5 * time.Minute
)

// Next returns how long to wait after the attempt-th consecutive failure
// (1 for the first): a duration drawn uniformly from [Min, ceiling], where
// the ceiling doubles with each failure from Min and is capped at Max
// ("full jitter" above a floor, so that retries of many events spread out
// and never spin). attempt below 1 counts as 1.
func (b Backoff) Next(attempt int) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	hi = max(hi, lo)
	ceiling := lo
	for i := 1; i < attempt && ceiling < hi; i++ {
		ceiling *= 2 // lo ≤ hi < 2^62 here, so no overflow before the cap
	}
	ceiling = min(ceiling, hi)
	return lo + rand.N(ceiling-lo+1)
}
