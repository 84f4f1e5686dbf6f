package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/flood"
	"github.com/headsup-dev/headsup/internal/sink"
)

// The outbox feeds each sink on its own (an outlet per sink), oldest event
// first: filter, then flood control (when configured), then the sink.
//
// An event is marked delivered for a sink only once what the sink emitted
// accounts for it: the event itself, a later revision of its alert
// (coalesced), or a digest listing its alert. Until then it stays pending
// in the outbox, so after a crash whatever flood control held is offered
// again (windows restart; receivers drop duplicates by (alert_id,
// revision)). A digest marks the events of every alert it lists, so an
// alert in a digest whose later revision a group window still held loses
// that revision for the sink if the agent crashes before the window ends;
// the store keeps it.
//
// Bound: each sink's backlog (outbox events not yet accounted for) is at
// most Config.OutboxMax. A sink that reaches it (a receiver down for
// days) has its oldest pending events skipped: marked, recorded in
// outbox_skipped and counted in headsup_agent_outbox_skipped_total, and the
// outbox_full alarm fires, until the backlog is under half the bound. The
// store keeps every alert and revision; `headsup alerts list` shows them.

// outlet is one sink's delivery state, owned by its deliverer.
type outlet struct {
	out    Output
	name   string
	shaper *flood.Shaper // nil: no flood control
	wake   chan struct{}
	// offered is the last outbox id taken out of the outbox: delivered,
	// filtered out, skipped, or handed to flood control.
	offered int64
	// held are the outbox items flood control holds, by alert id.
	held map[string][]outboxItem
	// ready are emissions waiting for the sink, in order.
	ready []emission
	// marks are outbox ids accounted for (delivered, filtered out) but
	// not yet marked in deliveries: marked a page at a time, before a
	// retry's wait, and markDelay after the deliverer goes idle
	// (flushMarks).
	marks []int64

	// handed are events the loop handed over as it committed them (hand),
	// so that the deliverer need not read back what it was just given: on
	// the path of every alert, that read cost a query and a JSON decode.
	// At most handMax wait; reread says the store may hold events the
	// outlet was not handed (a triage change, an alarm, a handover over
	// the bound), which the deliverer then reads from the store.
	handMu sync.Mutex
	handed []outboxItem
	reread bool
}

// handMax bounds the events waiting in an outlet's handover: beyond it
// they stay in the store, where the deliverer finds them.
const handMax = 4 * pageSize

// hand gives the outlet events just committed, in outbox id order, and
// wakes its deliverer; reread says the store also holds others.
func (o *outlet) hand(items []outboxItem, reread bool) {
	o.handMu.Lock()
	if len(o.handed)+len(items) > handMax {
		items, reread = nil, true
	}
	o.handed = append(o.handed, items...)
	o.reread = o.reread || reread
	o.handMu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// takeHanded returns the handed events that follow offered without a gap,
// and whether the store must be read as well (then the events not returned
// are read from it too).
func (o *outlet) takeHanded() ([]outboxItem, bool) {
	o.handMu.Lock()
	items, reread := o.handed, o.reread
	o.handed, o.reread = nil, false
	o.handMu.Unlock()
	for len(items) > 0 && items[0].ID <= o.offered {
		items = items[1:] // already read from the store
	}
	n := 0
	for n < len(items) && items[n].ID == o.offered+1+int64(n) {
		n++
	}
	if n < len(items) {
		reread = true // a gap: events were written that the outlet was not handed
	}
	return items[:n], reread
}

// emission is one event for the sink and the outbox items it accounts
// for.
type emission struct {
	ev    *alert.Event
	body  []byte
	items []int64
	// digest is set for a digest: stored before it is delivered, so its
	// id resolves in GetAlert.
	digest bool
}

func newOutlet(out Output) (*outlet, error) {
	o := &outlet{out: out, name: out.Sink.Name(), wake: make(chan struct{}, 1), held: map[string][]outboxItem{}}
	if out.Flood != nil {
		s, err := flood.New(*out.Flood)
		if err != nil {
			return nil, fmt.Errorf("agent: sink %s: %w", o.name, err)
		}
		o.shaper = s
	}
	return o, nil
}

// pageSize is how many outbox events a deliverer reads at once, and hands
// a sink.Batch at most.
const pageSize = 100

// markDelay is how long an idle deliverer keeps delivered events unmarked,
// waiting for more: marking takes the writer's connection, which the loop
// holds while it commits, and a mark that lags only means an event offered
// again after a crash.
const markDelay = 20 * time.Millisecond

// deliver feeds one sink until ctx ends. A retryable failure is retried
// with backoff (the receiver's Retry-After when longer); a permanent one
// is logged and skipped.
func (a *agent) deliver(ctx context.Context, o *outlet) error {
	// A sink that can say what it holds last (a JSON-lines file) is caught
	// up first, and gets each event exactly once. Not under flood control:
	// then the sink's last event says nothing of the held ones before it.
	if r, ok := o.out.Sink.(sink.Resumer); ok && o.shaper == nil {
		if err := a.resume(ctx, o.name, r); err != nil {
			return err
		}
	}
	if err := a.store.db.QueryRowContext(ctx, `SELECT COALESCE(
			(SELECT MIN(o.id) - 1 FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.outbox_id = o.id AND d.sink = ?)),
			(SELECT COALESCE(MAX(id), 0) FROM outbox))`, o.name).Scan(&o.offered); err != nil {
		return fmt.Errorf("agent: state: sink %s: %w", o.name, err)
	}
	backoff := sink.Backoff{Min: 500 * time.Millisecond, Max: time.Minute}
	attempt := 0
	// handedOnly: the store holds nothing for this sink beyond offered
	// that was not handed over; until then, each round reads the store.
	handedOnly := false
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if len(o.ready) > 0 {
			if attempt == 0 && a.emitRun(ctx, o) {
				if len(o.marks) >= pageSize {
					if err := a.flushMarks(ctx, o); err != nil {
						return err
					}
				}
				continue
			}
			e := o.ready[0]
			err := a.emit(ctx, o, e)
			switch {
			case err == nil:
			case errors.Is(err, sink.ErrPermanent):
				a.metrics.sinkErrors.WithLabelValues(o.name, "permanent").Inc()
				a.log.Error("sink refused the event for good; skipping it", "sink", o.name, "alert_id", e.ev.AlertID, "revision", e.ev.Revision, "err", err)
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				a.metrics.sinkErrors.WithLabelValues(o.name, "retry").Inc()
				attempt++
				wait := backoff.Next(attempt)
				if d, ok := sink.RetryAfter(err); ok && d > wait {
					wait = d
				}
				a.log.Warn("sink delivery failed; retrying", "sink", o.name, "alert_id", e.ev.AlertID, "revision", e.ev.Revision, "err", err, "retry_in", wait)
				// Keep what was delivered, and measure the backlog that
				// grows while the receiver is down.
				if err := a.flushMarks(ctx, o); err != nil {
					return err
				}
				if err := a.boundStoredOutbox(ctx, o); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
				continue
			}
			attempt = 0
			o.marks = append(o.marks, e.items...)
			o.ready = o.ready[1:]
			if len(o.marks) >= pageSize {
				if err := a.flushMarks(ctx, o); err != nil {
					return err
				}
			}
			continue
		}
		if o.shaper != nil {
			o.ready = append(o.ready, a.emissions(o, o.shaper.Due(a.cfg.Now()))...)
			if len(o.ready) > 0 {
				continue
			}
		}
		items, reread := o.takeHanded()
		if reread || len(items) == 0 && !handedOnly {
			// Only the store is sure to hold everything: read it (at
			// start, after a gap, and whenever woken by someone else).
			if err := a.boundStoredOutbox(ctx, o); err != nil {
				return err
			}
			var err error
			if items, err = a.store.pendingAfter(ctx, o.name, o.offered, pageSize); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("agent: state: sink %s: %w", o.name, err)
			}
			handedOnly = len(items) < pageSize
		} else {
			// Handed over without a gap: the outbox holds nothing after
			// them, so the backlog is known without asking the store.
			if err := a.boundOutbox(ctx, o, o.offered+int64(len(items))); err != nil {
				return err
			}
			for len(items) > 0 && items[0].ID <= o.offered {
				items = items[1:] // skipped by the bound
			}
		}
		for _, it := range items {
			if err := a.take(ctx, o, it); err != nil {
				return err
			}
		}
		if len(items) == pageSize || len(o.ready) > 0 {
			continue
		}
		// Idle: the marks wait a little for the next events' (one write
		// for many), but not for long (markDelay).
		var markDue <-chan time.Time
		if len(o.marks) > 0 {
			markDue = time.After(markDelay)
		}
		// Nothing to do: wait for new events, or for flood control's next
		// window end (Due is called no later than Next).
		var due <-chan time.Time
		if o.shaper != nil {
			if next := o.shaper.Next(); !next.IsZero() {
				d := max(next.Sub(a.cfg.Now()), 0)
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				due = timer.C
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-o.wake:
		case <-due:
		case <-markDue:
			if err := a.flushMarks(ctx, o); err != nil {
				return err
			}
		}
		if timer != nil && due != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// take moves one outbox event towards the sink: filtered out, emitted as
// it is, or handed to flood control.
func (a *agent) take(ctx context.Context, o *outlet, it outboxItem) error {
	o.offered = it.ID
	ev := it.event
	if ev == nil {
		ev = &alert.Event{}
		if err := json.Unmarshal([]byte(it.Body), ev); err != nil {
			return fmt.Errorf("agent: state: outbox %d: %w", it.ID, err)
		}
	}
	if !o.out.Filter.Allows(ev) {
		o.marks = append(o.marks, it.ID)
		return nil
	}
	// Alarms bypass flood control: they are rare, and say that the desk
	// may be blind.
	if o.shaper == nil || ev.Type == alert.TypeAlarm {
		o.ready = append(o.ready, emission{ev: ev, body: []byte(it.Body), items: []int64{it.ID}})
		return nil
	}
	o.held[ev.AlertID] = append(o.held[ev.AlertID], it)
	o.ready = append(o.ready, a.emissions(o, o.shaper.Offer(ev, a.cfg.Now()))...)
	return nil
}

// emissions turns what flood control returned into emissions, each with
// the held items it accounts for.
func (a *agent) emissions(o *outlet, es []flood.Emission) []emission {
	var out []emission
	for _, e := range es {
		switch e.Kind {
		case flood.KindPass, flood.KindCoalesced:
			em := emission{ev: e.Event}
			items := o.held[e.Event.AlertID]
			kept := items[:0]
			for _, it := range items {
				if it.Revision <= e.Event.Revision {
					em.items = append(em.items, it.ID)
					if it.Revision == e.Event.Revision {
						em.body = []byte(it.Body) // the stored bytes, as every sink sends
					}
				} else {
					kept = append(kept, it)
				}
			}
			o.setHeld(e.Event.AlertID, kept)
			out = append(out, em)
		case flood.KindDigest, flood.KindIntegritySummary:
			ev := a.digestEvent(o.name, e)
			em := emission{ev: ev, digest: true}
			for _, id := range ev.Digest.AlertIDs {
				for _, it := range o.held[id] {
					em.items = append(em.items, it.ID)
				}
				delete(o.held, id)
			}
			out = append(out, em)
		}
	}
	return out
}

func (o *outlet) setHeld(id string, items []outboxItem) {
	if len(items) == 0 {
		delete(o.held, id)
		return
	}
	o.held[id] = items
}

// emitRun hands a sink that takes batches (sink.Batch: one write and one
// sync for a file) the run of plain emissions at the head of ready, and
// reports whether it delivered them. When it did not, they go one by one,
// so that a failure is retried, or skipped as permanent, for its own
// event.
func (a *agent) emitRun(ctx context.Context, o *outlet) bool {
	b, ok := o.out.Sink.(sink.Batch)
	if !ok {
		return false
	}
	n := 0
	for n < len(o.ready) && n < pageSize && !o.ready[n].digest {
		n++
	}
	if n < 2 {
		return false
	}
	events := make([]sink.Event, n)
	for i, e := range o.ready[:n] {
		events[i] = sink.Event{Event: e.ev, Body: e.body}
	}
	if err := b.DeliverBatch(ctx, events); err != nil {
		a.log.Debug("sink batch failed; delivering one by one", "sink", o.name, "events", n, "err", err)
		return false
	}
	for _, e := range o.ready[:n] {
		o.marks = append(o.marks, e.items...)
	}
	o.ready = o.ready[n:]
	return true
}

// emit hands one emission to the sink; a digest is stored first.
func (a *agent) emit(ctx context.Context, o *outlet, e emission) error {
	if e.body == nil {
		b, err := alert.Marshal(e.ev)
		if err != nil {
			return fmt.Errorf("%w: %v", sink.ErrPermanent, err)
		}
		e.body = b
	}
	if e.digest {
		if err := a.storeDigest(ctx, o.name, e.ev, e.body); err != nil {
			return err
		}
	}
	return o.out.Sink.Deliver(ctx, e.ev, e.body)
}

// flushMarks marks the outlet's accounted-for events delivered, in one
// statement. Marks lag deliveries by at most a page or markDelay: a crash
// in between
// offers those events again (a Resumer sink skips them on restart; others
// see them twice, as the Sink contract allows).
func (a *agent) flushMarks(ctx context.Context, o *outlet) error {
	if err := a.markDelivered(ctx, o.name, o.marks); err != nil {
		return err
	}
	o.marks = o.marks[:0]
	return nil
}

func (a *agent) markDelivered(ctx context.Context, sinkName string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	_, err = a.store.db.ExecContext(ctx, `INSERT OR IGNORE INTO deliveries(outbox_id, sink, delivered_at)
		SELECT value, ?, ? FROM json_each(?)`, sinkName, a.cfg.Now().Unix(), string(list))
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("agent: state: sink %s: %w", sinkName, err)
	}
	return err
}

// boundStoredOutbox is boundOutbox with the newest event the store holds.
func (a *agent) boundStoredOutbox(ctx context.Context, o *outlet) error {
	var last int64
	if err := a.store.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM outbox`).Scan(&last); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("agent: state: sink %s: %w", o.name, err)
	}
	return a.boundOutbox(ctx, o, last)
}

// boundOutbox measures the sink's backlog, last being the newest outbox
// event, skips its oldest pending events beyond the bound, and fires or
// clears the outbox_full alarm.
func (a *agent) boundOutbox(ctx context.Context, o *outlet, last int64) error {
	inFlight := 0
	for _, items := range o.held {
		inFlight += len(items)
	}
	for _, e := range o.ready {
		inFlight += max(len(e.items), 1)
	}
	depth := int(last-o.offered) + inFlight
	bound := a.cfg.OutboxMax
	if depth >= bound {
		// Skip the oldest events still in the outbox, down to the bound
		// minus room for what comes next (a tenth), so the alarm does not
		// flap with every new event.
		skip := min(int64(depth-bound+bound/10+1), last-o.offered)
		if skip > 0 {
			first, upto := o.offered+1, o.offered+skip
			err := a.inTx(ctx, func(tx *sql.Tx, now time.Time) error {
				if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO deliveries(outbox_id, sink, delivered_at)
					SELECT id, ?, ? FROM outbox WHERE id BETWEEN ? AND ?`, o.name, now.Unix(), first, upto); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO outbox_skipped(sink, first_id, last_id, count, at) VALUES (?, ?, ?, ?, ?)`,
					o.name, first, upto, skip, now.Unix())
				return err
			})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("agent: state: sink %s: %w", o.name, err)
			}
			o.offered = upto
			depth -= int(skip)
			a.metrics.outboxSkipped.WithLabelValues(o.name).Add(float64(skip))
			a.log.Error("outbox full: oldest events skipped for this sink (the store keeps them)", "sink", o.name, "skipped", skip,
				"first_outbox_id", first, "last_outbox_id", upto, "outbox_max", bound)
		}
		a.setAlarm(ctx, alarmKey{alert.AlarmOutboxFull, o.name}, true, a.cfg.Now(),
			fmt.Sprintf("the backlog of sink %s reached %d events: its oldest events are skipped; every alert stays in the agent's store (headsup alerts list)", o.name, bound))
	} else if depth <= bound/2 {
		a.setAlarm(ctx, alarmKey{alert.AlarmOutboxFull, o.name}, false, time.Time{}, fmt.Sprintf("the backlog of sink %s is back under %d events", o.name, bound/2))
	}
	h := a.health
	h.mu.Lock()
	h.outboxDepth[o.name] = depth
	h.mu.Unlock()
	return nil
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
	// The sink's last event is near the outbox's end: it is looked for
	// from there (new outboxes have no index on it).
	res, err := a.store.db.ExecContext(ctx, `INSERT OR IGNORE INTO deliveries(outbox_id, sink, delivered_at)
		SELECT id, ?, ? FROM outbox
		WHERE id <= (SELECT id FROM outbox WHERE alert_id = ? AND revision = ? ORDER BY id DESC LIMIT 1)`,
		name, a.cfg.Now().Unix(), alertID, revision)
	if err != nil {
		return fmt.Errorf("agent: state: resume sink %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		a.log.Info("events the sink already holds marked delivered", "sink", name, "events", n, "alert_id", alertID, "revision", revision)
	}
	return nil
}

// pendingAfter returns up to limit events after outbox id after that the
// sink has not had, oldest first.
func (s *store) pendingAfter(ctx context.Context, sink string, after int64, limit int) ([]outboxItem, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT o.id, o.alert_id, o.revision, o.body FROM outbox o
		WHERE o.id > ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.outbox_id = o.id AND d.sink = ?)
		ORDER BY o.id LIMIT ?`, after, sink, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outboxItem
	for rows.Next() {
		var it outboxItem
		if err := rows.Scan(&it.ID, &it.AlertID, &it.Revision, &it.Body); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}
