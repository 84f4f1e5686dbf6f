package agent

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/sink"
)

// deliver feeds one sink from the persistent outbox, oldest event first.
// An event is marked delivered only after the sink accepted it, so an
// event raised while a webhook is down is delivered when it is back, and a
// crash between delivery and marking delivers it again: receivers drop
// what they have by (alert_id, revision).
func (a *agent) deliver(ctx context.Context, out Output, wake <-chan struct{}) error {
	backoff := sink.Backoff{Min: 500 * time.Millisecond, Max: time.Minute}
	attempt := 0
	for {
		items, err := a.store.pending(ctx, out.Sink.Name(), 100)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		failed := false
		for _, it := range items {
			var ev alert.Event
			if err := json.Unmarshal([]byte(it.Body), &ev); err != nil {
				return err
			}
			if out.Filter.Allows(&ev) {
				err := out.Sink.Deliver(ctx, &ev, []byte(it.Body))
				if err != nil && !errors.Is(err, sink.ErrPermanent) {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					wait := backoff.Next(attempt)
					var ra *sink.RetryAfterError
					if errors.As(err, &ra) && ra.D > wait {
						wait = ra.D
					}
					attempt++
					a.log.Warn("sink delivery failed; retrying", "sink", out.Sink.Name(), "alert_id", it.AlertID, "revision", it.Revision, "err", err, "retry_in", wait)
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(wait):
					}
					failed = true
					break
				}
				if err != nil {
					a.log.Error("sink refused the event for good; skipping it", "sink", out.Sink.Name(), "alert_id", it.AlertID, "revision", it.Revision, "err", err)
				}
			}
			attempt = 0
			if err := a.store.delivered(ctx, it.ID, out.Sink.Name(), a.cfg.Now()); err != nil {
				return err
			}
		}
		if failed || len(items) == 100 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}
