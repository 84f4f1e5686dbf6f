package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/flood"
)

// digestEvent turns a flood control digest or integrity summary into a
// headsup.alert.v1 event of type digest: raised once, at revision 1, with
// an id of its own (alert.DigestID over the sink, what it is about and
// the window's start), so (alert_id, revision) stays the idempotency key.
func (a *agent) digestEvent(sinkName string, e flood.Emission) *alert.Event {
	ev := &alert.Event{Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive, Revision: 1,
		Type: alert.TypeDigest, Member: a.cfg.Member}
	if d := e.Digest; d != nil {
		subject := alert.DigestSubject(d.CustomerID, nil)
		ev.AlertID = alert.DigestID(a.cfg.Member, sinkName, subject, d.WindowStart)
		ev.GroupKey = alert.DigestGroupKey(a.cfg.Member, subject)
		ev.At = d.WindowEnd.UTC().Truncate(time.Second)
		ev.Customer = &alert.Customer{ID: d.CustomerID, Name: d.CustomerName}
		ev.Severity = orDefault(d.MaxSeverity, alert.SeverityHigh)
		ev.Headline = fmt.Sprintf("customer %s: %d alerts in %s, %d sent one by one; the list: headsup alerts show",
			orDefault(d.CustomerName, d.CustomerID), d.Count, d.WindowEnd.Sub(d.WindowStart).Round(time.Second), d.Count-d.Withheld)
		ev.Digest = &alert.Digest{Sink: sinkName, Count: d.Count, Withheld: d.Withheld, AlertIDs: d.AlertIDs,
			WindowStart: d.WindowStart.UTC(), WindowEnd: d.WindowEnd.UTC()}
	} else {
		in := e.Integrity
		sum := &alert.IntegritySummary{Issuer: in.Issuer, KID: in.KID, Error: orDefault(in.Error, "verification failed"), Count: in.Count,
			First: in.First.UTC(), Last: in.Last.UTC()}
		subject := alert.DigestSubject("", sum)
		ev.AlertID = alert.DigestID(a.cfg.Member, sinkName, subject, in.First)
		ev.GroupKey = alert.DigestGroupKey(a.cfg.Member, subject)
		ev.At = in.Last.UTC().Truncate(time.Second)
		ev.Severity = alert.SeverityHigh
		if in.Latest != nil {
			ev.Severity = orDefault(in.Latest.Severity, ev.Severity)
			ev.At = later(ev.At, in.Latest.At)
		}
		ev.Headline = fmt.Sprintf("%d entries from %s failed verification under one key (%s)", in.Count, orDefault(in.Issuer, "an unknown issuer"), sum.Error)
		ev.Digest = &alert.Digest{Sink: sinkName, Count: in.Count, Withheld: in.Withheld, AlertIDs: in.AlertIDs,
			WindowStart: in.First.UTC(), WindowEnd: in.Last.UTC(), Integrity: sum}
	}
	ev.PeakSeverity = ev.Severity
	return ev
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// storeDigest keeps a digest so that its id resolves in GetAlert. A digest
// emitted again after a failed delivery is the same event.
func (a *agent) storeDigest(ctx context.Context, sinkName string, ev *alert.Event, body []byte) error {
	customer := ""
	if ev.Customer != nil {
		customer = ev.Customer.ID
	}
	_, err := a.store.db.ExecContext(ctx, `INSERT OR IGNORE INTO digests(alert_id, sink, customer_id, event, created_at) VALUES (?, ?, ?, ?, ?)`,
		ev.AlertID, sinkName, customer, string(body), a.cfg.Now().Unix())
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("agent: state: digest %s: %w", ev.AlertID, err)
	}
	return err
}

// getDigest answers GetAlert for a digest's id (or an unambiguous prefix
// of it): its event, which lists every alert it stands for (rendered by
// `headsup alerts show`, each resolvable in turn), and its one revision.
func getDigest(ctx context.Context, db *sql.DB, id string) (*headsupv1.GetAlertResponse, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if !alertPrefixRE.MatchString(id) {
		return nil, fmt.Errorf("alert_id %s: %w", id, ErrAlertNotFound)
	}
	rows, err := db.QueryContext(ctx, `SELECT alert_id, event FROM digests WHERE substr(alert_id, 1, ?) = ? ORDER BY alert_id LIMIT 2`, len(id), id)
	if err != nil {
		return nil, err
	}
	var found, bodies []string
	for rows.Next() {
		var aid, body string
		if err := rows.Scan(&aid, &body); err != nil {
			rows.Close()
			return nil, err
		}
		found, bodies = append(found, aid), append(bodies, body)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("alert_id %s: %w", id, ErrAlertNotFound)
	case 2:
		return nil, fieldErr("alert_id", id, "is the prefix of several digests: give more digits")
	}
	var ev alert.Event
	if err := json.Unmarshal([]byte(bodies[0]), &ev); err != nil {
		return nil, fmt.Errorf("agent: state: digest %s: %w", found[0], err)
	}
	resp := &headsupv1.GetAlertResponse{Alert: summaryOf(&ev, stateActive, nil), EventJson: bodies[0]}
	resp.History = append(resp.History, &headsupv1.AlertRevision{Revision: 1, Event: ev.Event, At: timestamppb.New(ev.At),
		State: stateActive, Severity: ev.Severity, By: alert.AgentActor,
		Note: fmt.Sprintf("digest of %d alerts by sink %s", ev.Digest.Count, ev.Digest.Sink)})
	return resp, nil
}
