package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
)

// An agent you can watch: "no alerts" must never look the same as "agent
// dead". The agent keeps what it knows of its own condition in health;
// the metrics endpoint, /healthz and the alarms read it.
//
// Alarms. Three conditions raise an alarm, each a log line at ERROR, the
// headsup_agent_alarm metric at 1, and an alert event of type alarm to
// every sink (raised when it fires, withdrawn as "resolved" when it
// clears), stored like any alert so `headsup alerts list` shows it:
//
//   - hub_disconnected: no subscription to the hub for AlarmAfter, or a
//     subscription silent (no entry, no heartbeat) for three heartbeat
//     intervals and then for AlarmAfter since its last message;
//   - customer_list_stale: a customer source that has not delivered its
//     first list, or reports itself failing or stale, for AlarmAfter;
//   - outbox_full: a sink's backlog reached OutboxMax (at once: events are
//     being skipped for it); it clears when the backlog is back under half
//     the bound.
//
// An alarm event bypasses flood control (it is rare and says the desk may
// be blind) but not the sink's filter.

// heartbeatInterval is how often the hub heartbeats an idle stream
// (DESIGN.md, Delivery); three missed ones make a connection stale.
const (
	heartbeatInterval = 15 * time.Second
	staleAfter        = 3 * heartbeatInterval
)

// alarmKey names one alarm: its kind, and the sink for outbox_full.
type alarmKey struct{ kind, sink string }

// health is the agent's condition. It has its own lock, so a scrape
// never waits for a transaction of the state.
type health struct {
	mu        sync.Mutex
	started   time.Time
	connected bool
	// since is when the connection state last changed (the start, while
	// never connected).
	since    time.Time
	lastErr  string
	hubLast  uint64 // the hub's last sequence, from the stream's start and heartbeats
	lastRecv time.Time
	lastBeat time.Time
	// lastEntry is when the last entry arrived (zero: none since start).
	lastEntry time.Time
	cursor    uint64
	// sources: per customer source, its rows and when it last delivered
	// or confirmed its list.
	sourceRows   map[int]int
	sourceFresh  map[int]time.Time
	sourceBadAt  map[int]time.Time // when the source was first seen failing, stale or missing
	customers    int               // distinct customers in the merged list
	alarms       map[alarmKey]bool
	alarmSince   map[alarmKey]time.Time
	outboxDepth  map[string]int
	outboxFull   map[string]bool
	recheckStats map[string]uint64
}

func newHealth(now time.Time) *health {
	return &health{started: now, since: now, sourceRows: map[int]int{}, sourceFresh: map[int]time.Time{}, sourceBadAt: map[int]time.Time{},
		alarms: map[alarmKey]bool{}, alarmSince: map[alarmKey]time.Time{}, outboxDepth: map[string]int{}, outboxFull: map[string]bool{},
		recheckStats: map[string]uint64{}}
}

func (h *health) streamStarted(now time.Time, last uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.connected {
		h.connected, h.since = true, now
	}
	h.lastErr = ""
	h.hubLast = max(h.hubLast, last)
	h.lastRecv = now
}

func (h *health) entry(now time.Time, seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hubLast = max(h.hubLast, seq)
	h.lastEntry, h.lastRecv = now, now
}

// hubLastSequence is the highest sequence the hub has said it holds (a
// stream's start, a heartbeat) or delivered.
func (h *health) hubLastSequence() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hubLast
}

func (h *health) heartbeat(now time.Time, last uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hubLast = max(h.hubLast, last)
	h.lastBeat, h.lastRecv = now, now
}

func (h *health) streamEnded(now time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.connected {
		h.connected, h.since = false, now
	}
	if err != nil {
		h.lastErr = err.Error()
	}
}

func (h *health) committed(seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cursor = seq
}

// hubState says whether the hub connection is good now, and since when it
// has been bad.
func (h *health) hubState(now time.Time) (good bool, badSince time.Time, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.connected {
		why = "not connected to the hub"
		if h.lastErr != "" {
			why += ": " + h.lastErr
		}
		return false, h.since, why
	}
	last := later(h.lastRecv, h.since)
	if quiet := now.Sub(last); quiet > staleAfter {
		return false, last, fmt.Sprintf("connected, but the hub has said nothing (no entry, no heartbeat) for %s", quiet.Round(time.Second))
	}
	return true, time.Time{}, ""
}

// healthz answers /healthz: ok when connected to the hub, the stream is
// fresh (something within three heartbeat intervals) and no alarm fires.
func (h *health) healthz(now time.Time) (bool, string) {
	h.mu.Lock()
	connected, last, lastErr := h.connected, later(h.lastRecv, h.since), h.lastErr
	var firing []string
	for k, on := range h.alarms {
		if on {
			s := k.kind
			if k.sink != "" {
				s += " (sink " + k.sink + ")"
			}
			firing = append(firing, s)
		}
	}
	h.mu.Unlock()
	slices.Sort(firing)
	switch {
	case !connected:
		why := "not connected to the hub"
		if lastErr != "" {
			why += ": " + lastErr
		}
		return false, why
	case now.Sub(last) > staleAfter:
		return false, fmt.Sprintf("the hub has said nothing for %s", now.Sub(last).Round(time.Second))
	case len(firing) > 0:
		return false, "alarm: " + strings.Join(firing, ", ")
	}
	return true, "ok"
}

// watch raises and clears the hub and customer-list alarms. It ticks
// often enough to fire within a quarter of AlarmAfter of the deadline.
func (a *agent) watch(ctx context.Context) error {
	period := min(max(a.cfg.AlarmAfter/4, 10*time.Millisecond), 15*time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		now := a.cfg.Now()
		good, since, why := a.health.hubState(now)
		switch {
		case good:
			a.setAlarm(ctx, alarmKey{kind: alert.AlarmHubDisconnected}, false, time.Time{}, "connected to the hub again")
		case now.Sub(since) >= a.cfg.AlarmAfter:
			a.setAlarm(ctx, alarmKey{kind: alert.AlarmHubDisconnected}, true, since,
				fmt.Sprintf("%s since %s: no new notice reaches this agent, so nothing new is matched", why, since.UTC().Format(time.RFC3339)))
		}
		good, since, why = a.sourcesState(now)
		switch {
		case good:
			a.setAlarm(ctx, alarmKey{kind: alert.AlarmCustomerListStale}, false, time.Time{}, "the customer list is current again")
		case now.Sub(since) >= a.cfg.AlarmAfter:
			a.setAlarm(ctx, alarmKey{kind: alert.AlarmCustomerListStale}, true, since,
				why+": matching runs on the last good list and misses customers added since")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// sourcesState says whether every customer source has a current list,
// and since when the first bad one has been bad.
func (a *agent) sourcesState(now time.Time) (good bool, badSince time.Time, why string) {
	a.mu.Lock()
	loaded := map[int]bool{}
	for i := range a.snapshots {
		loaded[i] = true
	}
	a.mu.Unlock()
	var reasons []string
	h := a.health
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, src := range a.cfg.Customers {
		bad, reason := false, ""
		if !loaded[i] {
			bad, reason = true, fmt.Sprintf("customer source %d has delivered no list yet", i)
		} else if hr, ok := src.(healthReporter); ok {
			st := hr.Health()
			if !st.OK || st.Stale {
				bad = true
				reason = fmt.Sprintf("customer source %d is failing or stale (last success %s)", i, st.LastSuccess.UTC().Format(time.RFC3339))
				if st.LastError != nil {
					reason += ": " + st.LastError.Error()
				}
			} else {
				h.sourceFresh[i] = st.LastSuccess
			}
		}
		if !bad {
			delete(h.sourceBadAt, i)
			continue
		}
		if _, ok := h.sourceBadAt[i]; !ok {
			h.sourceBadAt[i] = now
			if !loaded[i] {
				h.sourceBadAt[i] = h.started
			}
		}
		if badSince.IsZero() || h.sourceBadAt[i].Before(badSince) {
			badSince = h.sourceBadAt[i]
		}
		reasons = append(reasons, reason)
	}
	if len(reasons) == 0 {
		return true, time.Time{}, ""
	}
	return false, badSince, strings.Join(reasons, "; ")
}

// setAlarm fires or clears an alarm, once per change: a log line, the
// metric, and an alarm event to every sink.
func (a *agent) setAlarm(ctx context.Context, k alarmKey, firing bool, since time.Time, detail string) {
	h := a.health
	h.mu.Lock()
	if h.alarms[k] == firing {
		h.mu.Unlock()
		return
	}
	h.alarms[k] = firing
	if firing {
		h.alarmSince[k] = since
	} else {
		since = h.alarmSince[k]
		delete(h.alarmSince, k)
	}
	h.mu.Unlock()
	if firing {
		a.log.Error("ALARM "+strings.ReplaceAll(k.kind, "_", " ")+": "+detail, "alarm", k.kind, "sink", k.sink, "since", since)
	} else {
		a.log.Info("alarm cleared: "+detail, "alarm", k.kind, "sink", k.sink)
	}
	err := a.inTx(ctx, func(tx *sql.Tx, now time.Time) error {
		return a.writeAlarm(ctx, tx, k, firing, since, detail, now)
	})
	if err != nil && ctx.Err() == nil {
		// The metric and the log line carry the alarm; the event is
		// written again at the next change.
		a.log.Error("alarm event not stored", "alarm", k.kind, "err", err)
	}
}

// alarmID is the alert id of an alarm: like integrity alerts, a root pair
// of its own that never equals a (member, notice UUID) pair.
func alarmID(member string, k alarmKey) string {
	key := k.kind
	if k.sink != "" {
		key += "/" + k.sink
	}
	return alert.ID(member, "", alert.TypeAlarm, key)
}

// writeAlarm stores the alarm's next revision: raised when it fires (not
// again when the store already has it active, after a restart), withdrawn
// as resolved when it clears.
func (a *agent) writeAlarm(ctx context.Context, tx *sql.Tx, k alarmKey, firing bool, since time.Time, detail string, now time.Time) error {
	id := alarmID(a.cfg.Member, k)
	row, prev, err := storedAlert(ctx, tx, id)
	switch {
	case errors.Is(err, ErrAlertNotFound):
		if !firing {
			return nil
		}
	case err != nil:
		return err
	case firing == (row.State == stateActive):
		return nil
	}
	sev := a.cfg.Severity.Severity(alert.Rating{Type: alert.TypeAlarm})
	ev := &alert.Event{Schema: alert.SchemaV1, AlertID: id, Revision: row.Revision + 1, GroupKey: alert.GroupKey(a.cfg.Member, "", alert.TypeAlarm),
		Type: alert.TypeAlarm, At: now, Member: a.cfg.Member, Severity: sev, PeakSeverity: sev,
		Alarm: &alert.Alarm{Kind: k.kind, Since: since.UTC().Truncate(time.Second), Sink: k.sink, Detail: detail}}
	state := stateActive
	if firing {
		ev.Event, ev.State = alert.EventRaised, alert.StateActive
		ev.Headline = alarmHeadline(k, now.Sub(since))
	} else {
		state = stateWithdrawn
		ev.Event, ev.State = alert.EventWithdrawn, alert.StateWithdrawn
		ev.Headline = "resolved: " + prev.Headline
		ev.Alarm = prev.Alarm
		ev.Withdrawn = &alert.Withdrawal{Reason: alert.WithdrawResolved, Detail: detail}
	}
	body, err := alert.Marshal(ev)
	if err != nil {
		return err
	}
	return putAlert(ctx, tx, alertRow{AlertID: id, Revision: ev.Revision, State: state, Type: alert.TypeAlarm, Event: string(body)},
		ev, now, revisionNote{By: alert.AgentActor, Note: detail})
}

func alarmHeadline(k alarmKey, d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	switch k.kind {
	case alert.AlarmHubDisconnected:
		return fmt.Sprintf("the agent has been disconnected from the hub for %s: no new notice is matched", d)
	case alert.AlarmCustomerListStale:
		return fmt.Sprintf("the customer list has been stale for %s: new customers are not matched", d)
	case alert.AlarmOutboxFull:
		return fmt.Sprintf("the outbox of sink %s is full: its oldest events are skipped (the agent's store keeps every alert)", k.sink)
	}
	return "agent alarm: " + k.kind
}

// loadAlarms marks the alarms the store holds active as firing, so that
// one raised before a restart is withdrawn when its condition is gone.
func (a *agent) loadAlarms(ctx context.Context) error {
	rows, err := a.store.db.QueryContext(ctx, `SELECT event FROM alerts WHERE type = ? AND state = ?`, alert.TypeAlarm, stateActive)
	if err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	defer rows.Close()
	h := a.health
	h.mu.Lock()
	defer h.mu.Unlock()
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return err
		}
		var ev alert.Event
		if json.Unmarshal([]byte(body), &ev) != nil || ev.Alarm == nil {
			continue
		}
		k := alarmKey{ev.Alarm.Kind, ev.Alarm.Sink}
		h.alarms[k], h.alarmSince[k] = true, ev.Alarm.Since
	}
	return rows.Err()
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
