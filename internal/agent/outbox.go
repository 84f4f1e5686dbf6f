package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/sink"
)

// deliver feeds one sink from the persistent outbox, oldest event first.
// An event is marked delivered only after the sink accepted it, so an
// event raised while a webhook is down is delivered when it is back, and a
// crash between delivery and marking delivers it again: receivers drop
// what they have by (alert_id, revision). A sink that can say what it
// holds last (a [sink.Resumer]) is caught up first instead, and gets each
// event exactly once.
func (a *agent) deliver(ctx context.Context, out Output, wake <-chan struct{}) error {
	if r, ok := out.Sink.(sink.Resumer); ok {
		if err := a.resume(ctx, out.Sink.Name(), r); err != nil {
			return err
		}
	}
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

// resume makes a sink that can say what it holds last (a JSON-lines file)
// exactly once across crashes. The outbox feeds each sink strictly in
// outbox order and marks an event only after the sink accepted it, so
// every event up to and including the sink's last one is in the sink
// already: whatever of them is still pending was cut off by a crash
// between the write and the mark, and is marked now rather than written
// twice. A last event the outbox does not hold (a file from another state)
// marks nothing.
func (a *agent) resume(ctx context.Context, name string, r sink.Resumer) error {
	alertID, revision, ok := r.LastDelivered()
	if !ok {
		return nil
	}
	res, err := a.store.db.ExecContext(ctx, `INSERT OR IGNORE INTO deliveries(outbox_id, sink, delivered_at)
		SELECT id, ?, ? FROM outbox
		WHERE id <= (SELECT id FROM outbox WHERE alert_id = ? AND revision = ?)`,
		name, a.cfg.Now().Unix(), alertID, revision)
	if err != nil {
		return fmt.Errorf("agent: state: resume sink %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		a.log.Info("events the sink already holds marked delivered", "sink", name, "events", n, "alert_id", alertID, "revision", revision)
	}
	return nil
}
