package agent

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/alert"
)

// Bounds of ListAlerts.
const (
	defaultListPage = 100
	maxListPage     = 1000
)

// triageStatus is the one place triage errors become gRPC status codes.
func triageStatus(err error) error {
	var fe *FieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return status.Error(codes.InvalidArgument, fe.Error())
	case errors.Is(err, ErrAlertNotFound), errors.Is(err, ErrSuppressionNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrSelectsNothing), errors.Is(err, ErrNotSuppressed):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// inTx runs f in one transaction of the agent's state, and wakes the
// sinks after a commit that wrote events. The store has one connection,
// so this serialises with the loop's commits: a triage change and a
// lifecycle change never interleave within an alert's revisions.
func (a *agent) inTx(ctx context.Context, f func(tx *sql.Tx, now time.Time) error) error {
	tx, err := a.store.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := a.cfg.Now().UTC().Truncate(time.Second)
	if err := f(tx, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.wakeSinks()
	return nil
}

// wakeSinks tells every outlet that the store holds events it was not
// handed: it reads them from the store.
func (a *agent) wakeSinks() {
	for _, o := range a.outlets {
		o.hand(nil, true)
	}
}

func (l *localServer) ListAlerts(ctx context.Context, req *headsupv1.ListAlertsRequest) (*headsupv1.ListAlertsResponse, error) {
	f := req
	switch f.GetState() {
	case "", stateActive, stateWithdrawn:
	default:
		return nil, triageStatus(fieldErr("state", f.GetState(), "is not active or withdrawn"))
	}
	switch f.GetTriage() {
	case "", "open", "acked", "suppressed":
	default:
		return nil, triageStatus(fieldErr("triage", f.GetTriage(), "is not open, acked or suppressed"))
	}
	if s := f.GetMinSeverity(); s != "" && alert.SeverityRank(s) == 0 {
		return nil, triageStatus(fieldErr("min_severity", s, "is not low, medium, high or critical"))
	}
	switch f.GetType() {
	case "", alert.TypeMatch, alert.TypeOwnSpace, alert.TypeRootNotVisible, alert.TypeIntegrity, alert.TypeDirectoryStale, alert.TypeAlarm:
	default:
		return nil, triageStatus(fieldErr("type", f.GetType(), "is not match, own_space, root_not_visible, integrity, directory_stale or alarm"))
	}
	size := int(f.GetPageSize())
	switch {
	case size == 0:
		size = defaultListPage
	case size > maxListPage:
		return nil, triageStatus(fieldErr("page_size", strconv.Itoa(size), fmt.Sprintf("is more than %d", maxListPage)))
	}
	offset := 0
	if t := f.GetPageToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return nil, triageStatus(fieldErr("page_token", t, "is not a token this agent gave"))
		}
		offset = n
	}

	query, args := `SELECT alert_id, state, event, updated_at FROM alerts WHERE 1`, []any{}
	if f.GetState() != "" {
		query, args = query+` AND state = ?`, append(args, f.GetState())
	}
	if f.GetType() != "" {
		query, args = query+` AND type = ?`, append(args, f.GetType())
	}
	if f.GetCustomerId() != "" {
		query, args = query+` AND customer_id = ?`, append(args, f.GetCustomerId())
	}
	rows, err := l.a.store.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, triageStatus(err)
	}
	type item struct {
		sum     *headsupv1.AlertSummary
		updated int64
	}
	var items []item
	for rows.Next() {
		var id, state, body string
		var updated int64
		if err := rows.Scan(&id, &state, &body, &updated); err != nil {
			rows.Close()
			return nil, triageStatus(err)
		}
		var ev alert.Event
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			rows.Close()
			return nil, triageStatus(fmt.Errorf("agent: state: alert %s: %w", id, err))
		}
		if alert.SeverityRank(ev.Severity) < alert.SeverityRank(f.GetMinSeverity()) {
			continue
		}
		items = append(items, item{summaryOf(&ev, state, nil), updated})
	}
	if err := rows.Close(); err != nil {
		return nil, triageStatus(err)
	}
	triage, err := loadTriage(ctx, l.a.store.db, nil)
	if err != nil {
		return nil, triageStatus(err)
	}
	kept := items[:0]
	for _, it := range items {
		it.sum.Triage = triageOf(triage[it.sum.AlertId])
		tr := it.sum.Triage
		switch f.GetTriage() {
		case "open":
			if tr.Acked || tr.Suppressed {
				continue
			}
		case "acked":
			if !tr.Acked {
				continue
			}
		case "suppressed":
			if !tr.Suppressed {
				continue
			}
		}
		kept = append(kept, it)
	}
	// Active first, most severe first, newest change first.
	slices.SortFunc(kept, func(x, y item) int {
		return cmp.Or(
			cmp.Compare(boolRank(x.sum.State == stateWithdrawn), boolRank(y.sum.State == stateWithdrawn)),
			-cmp.Compare(alert.SeverityRank(x.sum.Severity), alert.SeverityRank(y.sum.Severity)),
			-cmp.Compare(x.updated, y.updated),
			strings.Compare(x.sum.AlertId, y.sum.AlertId))
	})
	resp := &headsupv1.ListAlertsResponse{Total: uint32(len(kept))}
	if offset > len(kept) {
		offset = len(kept)
	}
	end := min(offset+size, len(kept))
	for _, it := range kept[offset:end] {
		resp.Alerts = append(resp.Alerts, it.sum)
	}
	if end < len(kept) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func summaryOf(ev *alert.Event, state string, t *triageState) *headsupv1.AlertSummary {
	s := &headsupv1.AlertSummary{AlertId: ev.AlertID, Revision: ev.Revision, Event: ev.Event, State: state, Type: ev.Type,
		Severity: ev.Severity, Strength: ev.Strength, Headline: ev.Headline, GroupKey: ev.GroupKey,
		UpdatedAt: timestamppb.New(ev.At), Triage: triageOf(t)}
	if ev.Customer != nil {
		s.CustomerId, s.CustomerName = ev.Customer.ID, ev.Customer.Name
	}
	if ev.Subject != nil {
		s.Subject = ev.Subject.Label
	}
	if ev.Root != nil {
		s.Root, s.Reason = ev.Root.Issuer.ID+"/"+ev.Root.ID, ev.Root.Reason
	}
	return s
}

func triageOf(t *triageState) *headsupv1.AlertTriage {
	out := &headsupv1.AlertTriage{}
	if t == nil {
		return out
	}
	if t.acked != nil {
		out.Acked, out.AckedBy, out.AckedAt, out.AckNote = true, t.acked.By, timestamppb.New(t.acked.At), t.acked.Note
	}
	for _, h := range t.holds {
		out.Suppressed = true
		out.SuppressionIds = append(out.SuppressionIds, h.rule.ID)
	}
	return out
}

func (l *localServer) GetAlert(ctx context.Context, req *headsupv1.GetAlertRequest) (*headsupv1.GetAlertResponse, error) {
	db := l.a.store.db
	id, err := resolveAlert(ctx, db, "alert_id", req.GetAlertId())
	if errors.Is(err, ErrAlertNotFound) {
		// A digest is not an alert, but its id must lead somewhere: to
		// the alerts it stands for.
		resp, derr := getDigest(ctx, db, req.GetAlertId())
		if derr == nil {
			return resp, nil
		}
		if !errors.Is(derr, ErrAlertNotFound) {
			return nil, triageStatus(derr)
		}
	}
	if err != nil {
		return nil, triageStatus(err)
	}
	row, ev, err := storedAlert(ctx, db, id)
	if err != nil {
		return nil, triageStatus(err)
	}
	triage, err := loadTriage(ctx, db, []string{id})
	if err != nil {
		return nil, triageStatus(err)
	}
	resp := &headsupv1.GetAlertResponse{Alert: summaryOf(ev, row.State, triage[id]), EventJson: row.Event}
	rows, err := db.QueryContext(ctx, `SELECT revision, event, at, state, severity, strength, actor, note, silenced FROM history WHERE alert_id = ? ORDER BY revision`, id)
	if err != nil {
		return nil, triageStatus(err)
	}
	for rows.Next() {
		r := &headsupv1.AlertRevision{}
		var at int64
		if err := rows.Scan(&r.Revision, &r.Event, &at, &r.State, &r.Severity, &r.Strength, &r.By, &r.Note, &r.Silenced); err != nil {
			rows.Close()
			return nil, triageStatus(err)
		}
		r.At = timestamppb.New(unixTime(at))
		resp.History = append(resp.History, r)
	}
	if err := rows.Close(); err != nil {
		return nil, triageStatus(err)
	}
	rules, err := db.QueryContext(ctx, `SELECT `+ruleColumns+` FROM suppressions s
		WHERE s.id IN (SELECT suppression_id FROM held WHERE alert_id = ?) ORDER BY s.id`, id)
	if err != nil {
		return nil, triageStatus(err)
	}
	defer rules.Close()
	for rules.Next() {
		r, err := scanRule(rules)
		if err != nil {
			return nil, triageStatus(err)
		}
		resp.Suppressions = append(resp.Suppressions, suppressionProto(r))
	}
	return resp, triageStatus(rules.Err())
}

func suppressionProto(r ruleRow) *headsupv1.Suppression {
	p := &headsupv1.Suppression{Id: r.ID, AlertId: r.AlertID, CustomerId: r.CustomerID, Subject: r.Subject, Root: r.Root,
		ReasonPrefix: r.ReasonPrefix, By: r.By, Note: r.Note, CreatedAt: timestamppb.New(r.At),
		LiftedBy: r.liftedBy, LiftedWhy: r.liftedWhy}
	if r.Until != nil {
		p.Until = timestamppb.New(*r.Until)
	}
	if r.liftedAt != 0 {
		p.LiftedAt = timestamppb.New(unixTime(r.liftedAt))
	}
	return p
}

func (l *localServer) AckAlert(ctx context.Context, req *headsupv1.AckAlertRequest) (*headsupv1.AckAlertResponse, error) {
	by := strings.TrimSpace(req.GetBy())
	if by == "" {
		return nil, triageStatus(fieldErr("by", req.GetBy(), "is empty: say who acknowledges"))
	}
	resp := &headsupv1.AckAlertResponse{}
	l.a.triaged.Store(true) // before the transaction: see agent.triaged
	err := l.a.inTx(ctx, func(tx *sql.Tx, now time.Time) error {
		id, err := resolveAlert(ctx, tx, "alert_id", req.GetAlertId())
		if err != nil {
			return err
		}
		if resp.Changed, err = ack(ctx, tx, id, by, req.GetNote(), now); err != nil {
			return err
		}
		row, ev, err := storedAlert(ctx, tx, id)
		if err != nil {
			return err
		}
		t, err := loadTriage(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		resp.Alert = summaryOf(ev, row.State, t[id])
		return nil
	})
	if err != nil {
		return nil, triageStatus(err)
	}
	return resp, nil
}

func (l *localServer) SuppressAlert(ctx context.Context, req *headsupv1.SuppressAlertRequest) (*headsupv1.SuppressAlertResponse, error) {
	p := req.GetSuppression()
	if p == nil {
		return nil, triageStatus(fieldErr("suppression", "", "is missing"))
	}
	r := alert.Suppression{AlertID: p.GetAlertId(), CustomerID: p.GetCustomerId(), Subject: p.GetSubject(), Root: p.GetRoot(),
		ReasonPrefix: p.GetReasonPrefix(), By: p.GetBy(), Note: p.GetNote()}
	if p.Until != nil {
		if err := p.Until.CheckValid(); err != nil {
			return nil, triageStatus(fieldErr("suppression.until", p.Until.String(), "is not a valid time"))
		}
		u := p.Until.AsTime().UTC().Truncate(time.Second)
		r.Until = &u
	}
	resp := &headsupv1.SuppressAlertResponse{}
	l.a.triaged.Store(true) // before the transaction: see agent.triaged
	err := l.a.inTx(ctx, func(tx *sql.Tx, now time.Time) error {
		if err := checkRule(ctx, tx, &r, now); err != nil {
			return err
		}
		ids, err := suppress(ctx, tx, &r, now)
		if err != nil {
			return err
		}
		resp.AlertIds = ids
		resp.Suppression = suppressionProto(ruleRow{Suppression: r})
		return nil
	})
	if err != nil {
		return nil, triageStatus(err)
	}
	return resp, nil
}

func (l *localServer) UnsuppressAlert(ctx context.Context, req *headsupv1.UnsuppressAlertRequest) (*headsupv1.UnsuppressAlertResponse, error) {
	by := strings.TrimSpace(req.GetBy())
	if by == "" {
		return nil, triageStatus(fieldErr("by", req.GetBy(), "is empty: say who lifts the suppression"))
	}
	resp := &headsupv1.UnsuppressAlertResponse{}
	err := l.a.inTx(ctx, func(tx *sql.Tx, now time.Time) error {
		un := alert.Unsuppression{By: by, At: now, Why: "lifted by hand", Note: req.GetNote()}
		switch t := req.GetTarget().(type) {
		case *headsupv1.UnsuppressAlertRequest_AlertId:
			id, err := resolveAlert(ctx, tx, "alert_id", t.AlertId)
			if err != nil {
				return err
			}
			ok, err := release(ctx, tx, id, un)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("alert %s: %w", id, ErrNotSuppressed)
			}
			resp.AlertIds = []string{id}
		case *headsupv1.UnsuppressAlertRequest_SuppressionId:
			if t.SuppressionId == 0 {
				return fieldErr("suppression_id", "0", "is not a suppression id")
			}
			ids, err := lift(ctx, tx, t.SuppressionId, un)
			if err != nil {
				return err
			}
			resp.AlertIds = ids
		default:
			return fieldErr("target", "", "is missing: give alert_id or suppression_id")
		}
		return nil
	})
	if err != nil {
		return nil, triageStatus(err)
	}
	return resp, nil
}
