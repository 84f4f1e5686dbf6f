package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
)

// Triage: the desk's state of an alert, kept apart from its lifecycle.
//
// An acknowledgement is one row per alert. A suppression is a stored rule
// (alerts.Suppression) that, when made, holds every alert it selects, each
// with the severity, strength, group and root it had then. While an alert
// is held, its lifecycle revisions are stored (alerts, history) but not
// put in the outbox: the sinks stay silent. It comes back, with an
// "unsuppressed" event carrying its current content, when a person lifts
// the hold or the rule, when the rule's until passes, when it rises above
// what it was when held (a higher severity, a stronger path), or when an
// alert about another root notice joins its group (a new suspension of the
// same subject for the same customer: news the desk has not judged).
// A rule never holds an alert made after it: a new root notice is news.
//
// Triage events (acked, suppressed, unsuppressed) always reach the sinks,
// a suppressed alert's too: they are what people did, and a desk's other
// tools (tickets) must see them.

// Triage errors; triageStatus maps them to gRPC codes.
var (
	// ErrAlertNotFound: no alert has that id (or id prefix).
	ErrAlertNotFound = errors.New("no such alert")
	// ErrSuppressionNotFound: no suppression has that id.
	ErrSuppressionNotFound = errors.New("no such suppression")
	// ErrSelectsNothing: a suppression selects no alert the agent holds,
	// which is almost always a mistyped selector.
	ErrSelectsNothing = errors.New("the suppression selects no alert")
	// ErrNotSuppressed: the alert (or the suppression) holds nothing to
	// lift.
	ErrNotSuppressed = errors.New("not suppressed")
)

// FieldError is a request field with a bad value; the local API answers
// it with InvalidArgument.
type FieldError struct {
	Field  string
	Value  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %q %s", e.Field, e.Value, e.Reason)
}

func fieldErr(field, value, reason string) error {
	return &FieldError{Field: field, Value: value, Reason: reason}
}

// triageState is an alert's triage as stored.
type triageState struct {
	acked *alert.DeskAction
	holds []holdRow // the holds in force, by suppression id
}

// holdRow is one suppression holding one alert.
type holdRow struct {
	rule     alert.Suppression
	severity string // when held
	strength string
	group    string
	root     string
}

// desk is the triage an alert's events carry.
func (t *triageState) desk() *alert.Desk {
	if t == nil || (t.acked == nil && len(t.holds) == 0) {
		return nil
	}
	d := &alert.Desk{Acked: t.acked}
	if len(t.holds) > 0 {
		r := t.holds[0].rule
		d.Suppressed = &r
	}
	return d
}

func unixTime(s int64) time.Time { return time.Unix(s, 0).UTC() }

// loadTriage reads the triage of the given alerts (all when ids is nil).
func loadTriage(ctx context.Context, q queryer, ids []string) (map[string]*triageState, error) {
	out := map[string]*triageState{}
	get := func(id string) *triageState {
		if out[id] == nil {
			out[id] = &triageState{}
		}
		return out[id]
	}
	where, args := "", []any{}
	if ids != nil {
		list, err := json.Marshal(ids)
		if err != nil {
			return nil, err
		}
		where, args = " WHERE alert_id IN (SELECT value FROM json_each(?))", []any{string(list)}
	}
	rows, err := q.QueryContext(ctx, selectAcks+where, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var d alert.DeskAction
		var at int64
		if err := rows.Scan(&id, &d.By, &at, &d.Note); err != nil {
			rows.Close()
			return nil, err
		}
		d.At = unixTime(at)
		get(id).acked = &d
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	hwhere := strings.Replace(where, "alert_id", "h.alert_id", 1)
	if hwhere == "" {
		hwhere = allHeld
	}
	rows, err = q.QueryContext(ctx, selectHeld(hwhere), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var h holdRow
		r, err := scanRule(rows, &id, &h.severity, &h.strength, &h.group, &h.root)
		if err != nil {
			return nil, err
		}
		h.rule = r.Suppression
		get(id).holds = append(get(id).holds, h)
	}
	return out, rows.Err()
}

// triaged reports whether the desk ever acknowledged or suppressed
// anything (agent.triaged).
func (s *store) triaged(ctx context.Context) (bool, error) {
	var triaged bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM acks) OR EXISTS (SELECT 1 FROM suppressions)`).Scan(&triaged)
	return triaged, err
}

// selectAcks and selectHeld read the triage of alerts; once the desk has
// triaged anything, every commit runs them over all alerts (selectAcks,
// selectHeld(allHeld)), so those two are among the cached statements.
const selectAcks = `SELECT alert_id, actor, at, note FROM acks`

func selectHeld(where string) string {
	return `SELECT h.alert_id, h.severity, h.strength, h.group_key, h.root, ` + ruleColumns + `
		FROM held h JOIN suppressions s ON s.id = h.suppression_id` + where + ` AND h.released_at = 0 AND s.lifted_at = 0
		ORDER BY h.alert_id, s.id`
}

// allHeld is selectHeld's condition for every alert.
const allHeld = " WHERE 1"

// selectDueSuppressions finds suppressions whose until has passed; every
// commit runs it once the desk has triaged anything.
const selectDueSuppressions = `SELECT id, until_at FROM suppressions WHERE lifted_at = 0 AND until_at != 0 AND until_at <= ? ORDER BY id`

// ruleColumns reads a suppression row (alias s) with scanRule.
const ruleColumns = `s.id, s.alert_id, s.customer_id, s.subject, s.root, s.reason_prefix, s.until_at, s.actor, s.note, s.created_at, s.lifted_at, s.lifted_by, s.lifted_why`

// ruleRow is a stored suppression.
type ruleRow struct {
	alert.Suppression
	liftedAt            int64
	liftedBy, liftedWhy string
}

// scanRule scans ruleColumns, after the given leading destinations.
func scanRule(rows *sql.Rows, lead ...any) (ruleRow, error) {
	var r ruleRow
	var until, created int64
	dest := append(lead, &r.ID, &r.AlertID, &r.CustomerID, &r.Subject, &r.Root, &r.ReasonPrefix, &until, &r.By, &r.Note, &created,
		&r.liftedAt, &r.liftedBy, &r.liftedWhy)
	if err := rows.Scan(dest...); err != nil {
		return ruleRow{}, err
	}
	if until != 0 {
		t := unixTime(until)
		r.Until = &t
	}
	r.At = unixTime(created)
	return r, nil
}

// storedAlert reads one alert's latest row and event in q.
func storedAlert(ctx context.Context, q queryer, id string) (alertRow, *alert.Event, error) {
	rows, err := q.QueryContext(ctx, `SELECT alert_id, revision, state, type, customer_id, root, fingerprint, event FROM alerts WHERE alert_id = ?`, id)
	if err != nil {
		return alertRow{}, nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return alertRow{}, nil, err
		}
		return alertRow{}, nil, fmt.Errorf("alert %s: %w", id, ErrAlertNotFound)
	}
	var r alertRow
	if err := rows.Scan(&r.AlertID, &r.Revision, &r.State, &r.Type, &r.CustomerID, &r.Root, &r.Fingerprint, &r.Event); err != nil {
		return alertRow{}, nil, err
	}
	var ev alert.Event
	if err := json.Unmarshal([]byte(r.Event), &ev); err != nil {
		return alertRow{}, nil, fmt.Errorf("agent: state: alert %s: %w", id, err)
	}
	return r, &ev, nil
}

var alertPrefixRE = regexp.MustCompile(`^[0-9a-f]{8,64}$`)

// resolveAlert turns an alert id or an unambiguous prefix of at least 8
// hex digits into the alert id.
func resolveAlert(ctx context.Context, q queryer, field, id string) (string, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if id == "" {
		return "", fieldErr(field, id, "is empty: name an alert (its id, or at least its first 8 hex digits)")
	}
	if !alertPrefixRE.MatchString(id) {
		return "", fieldErr(field, id, "is not an alert id (8 to 64 lower-case hex digits)")
	}
	rows, err := q.QueryContext(ctx, `SELECT alert_id FROM alerts WHERE substr(alert_id, 1, ?) = ? ORDER BY alert_id LIMIT 2`, len(id), id)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return "", err
		}
		found = append(found, a)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%s %s: %w", field, id, ErrAlertNotFound)
	case 1:
		return found[0], nil
	}
	return "", fieldErr(field, id, "is the prefix of several alerts: give more digits")
}

// writeTriageEvent appends a triage revision (acked, suppressed,
// unsuppressed) to an alert: its stored content, unchanged, with the next
// revision and the desk state. Triage events always reach the sinks.
func writeTriageEvent(ctx context.Context, tx *sql.Tx, id, event string, desk *alert.Desk, now time.Time, n revisionNote) (*alert.Event, error) {
	row, ev, err := storedAlert(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	ev.Event, ev.Revision, ev.At, ev.State, ev.Desk = event, row.Revision+1, now, row.State, desk
	body, err := alert.Marshal(ev)
	if err != nil {
		return nil, err
	}
	row.Revision, row.Event = ev.Revision, string(body)
	if err := putAlert(ctx, tx, row, ev, now, n); err != nil {
		return nil, err
	}
	return ev, nil
}

// ack acknowledges an alert; changed is false when it already was.
func ack(ctx context.Context, tx *sql.Tx, id, by, note string, now time.Time) (changed bool, err error) {
	t, err := loadTriage(ctx, tx, []string{id})
	if err != nil {
		return false, err
	}
	if t[id] != nil && t[id].acked != nil {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO acks(alert_id, actor, at, note) VALUES (?, ?, ?, ?)`, id, by, now.Unix(), note); err != nil {
		return false, err
	}
	state := t[id]
	if state == nil {
		state = &triageState{}
	}
	state.acked = &alert.DeskAction{By: by, At: now, Note: note}
	_, err = writeTriageEvent(ctx, tx, id, alert.EventAcked, state.desk(), now, revisionNote{By: by, Note: note})
	return err == nil, err
}

var (
	reasonPrefixRE = regexp.MustCompile(`^[a-z-]+(:[a-z0-9-]+)?$`)
	rootRefRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// checkRule validates a suppression as a person wrote it, normalising
// what has one spelling, and naming the first bad field.
func checkRule(ctx context.Context, q queryer, r *alert.Suppression, now time.Time) error {
	r.CustomerID = strings.TrimSpace(r.CustomerID)
	r.Subject = strings.ToLower(strings.TrimSpace(r.Subject))
	r.Root = strings.ToLower(strings.TrimSpace(r.Root))
	r.ReasonPrefix = strings.TrimSpace(r.ReasonPrefix)
	r.By = strings.TrimSpace(r.By)
	if r.AlertID == "" && r.CustomerID == "" && r.Subject == "" && r.Root == "" {
		return fieldErr("suppression", "", "selects every alert: set at least one of alert_id, customer_id, subject, root")
	}
	if r.AlertID != "" {
		id, err := resolveAlert(ctx, q, "suppression.alert_id", r.AlertID)
		if err != nil {
			return err
		}
		r.AlertID = id
	}
	if r.Root != "" && !rootRefRE.MatchString(r.Root) {
		return fieldErr("suppression.root", r.Root, "is not issuer/notice-id (for example edgeshield/0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b)")
	}
	if r.ReasonPrefix != "" && !reasonPrefixRE.MatchString(r.ReasonPrefix) {
		return fieldErr("suppression.reason_prefix", r.ReasonPrefix, "is not an RSIT class or class:type (for example abusive-content or fraud:phishing)")
	}
	if r.Until != nil && !r.Until.After(now) {
		return fieldErr("suppression.until", r.Until.UTC().Format(time.RFC3339), "is not in the future")
	}
	if r.By == "" {
		return fieldErr("suppression.by", r.By, "is empty: say who suppresses")
	}
	return nil
}

// selects reports whether rule r selects the alert ev.
func selects(r *alert.Suppression, ev *alert.Event) bool {
	if r.AlertID != "" && ev.AlertID != r.AlertID {
		return false
	}
	if r.CustomerID != "" && (ev.Customer == nil || ev.Customer.ID != r.CustomerID) {
		return false
	}
	if r.Subject != "" && !subjectIs(ev.Subject, r.Subject) {
		return false
	}
	if r.Root != "" && (ev.Root == nil || ev.Root.Issuer.ID+"/"+ev.Root.ID != r.Root) {
		return false
	}
	if r.ReasonPrefix != "" {
		reason := ""
		if ev.Root != nil {
			reason = ev.Root.Reason
		}
		if reason != r.ReasonPrefix && !strings.HasPrefix(reason, r.ReasonPrefix+":") {
			return false
		}
	}
	return true
}

// subjectIs: the subject's label, one of its identifiers ("host:x"), or
// an identifier's value ("x").
func subjectIs(s *alert.Entity, want string) bool {
	if s == nil {
		return false
	}
	if strings.ToLower(s.Label) == want {
		return true
	}
	for _, id := range s.Identifiers {
		_, v, _ := strings.Cut(id, ":")
		if id == want || v == want {
			return true
		}
	}
	return false
}

// suppress stores rule r and holds every alert it selects, emitting a
// "suppressed" event for each alert not already held.
func suppress(ctx context.Context, tx *sql.Tx, r *alert.Suppression, now time.Time) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT alert_id, event FROM alerts ORDER BY alert_id`)
	if err != nil {
		return nil, err
	}
	type sel struct {
		id string
		ev alert.Event
	}
	var selected []sel
	for rows.Next() {
		var s sel
		var body string
		if err := rows.Scan(&s.id, &body); err != nil {
			rows.Close()
			return nil, err
		}
		if err := json.Unmarshal([]byte(body), &s.ev); err != nil {
			rows.Close()
			return nil, fmt.Errorf("agent: state: alert %s: %w", s.id, err)
		}
		if selects(r, &s.ev) {
			selected = append(selected, s)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("%s: %w", alert.SelectorString(r), ErrSelectsNothing)
	}
	var until int64
	if r.Until != nil {
		until = r.Until.Unix()
	}
	r.At = now
	res, err := tx.ExecContext(ctx, `INSERT INTO suppressions(alert_id, customer_id, subject, root, reason_prefix, until_at, actor, note, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.AlertID, r.CustomerID, r.Subject, r.Root, r.ReasonPrefix, until, r.By, r.Note, now.Unix())
	if err != nil {
		return nil, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	r.ID = uint64(id)
	ids := make([]string, 0, len(selected))
	for _, s := range selected {
		ids = append(ids, s.id)
	}
	before, err := loadTriage(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	for _, s := range selected {
		root := ""
		if s.ev.Root != nil {
			root = s.ev.Root.Issuer.ID + "/" + s.ev.Root.ID
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO held(suppression_id, alert_id, severity, strength, group_key, root) VALUES (?, ?, ?, ?, ?, ?)`,
			r.ID, s.id, s.ev.Severity, s.ev.Strength, s.ev.GroupKey, root); err != nil {
			return nil, err
		}
		t := before[s.id]
		if t != nil && len(t.holds) > 0 {
			continue // already silent: another suppression holds it
		}
		if t == nil {
			t = &triageState{}
		}
		t.holds = []holdRow{{rule: *r}}
		if _, err := writeTriageEvent(ctx, tx, s.id, alert.EventSuppressed, t.desk(), now, revisionNote{By: r.By, Note: r.Note}); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// release ends every hold on alert id and emits its "unsuppressed" event
// with un saying who and why. It reports false when nothing held it.
func release(ctx context.Context, tx *sql.Tx, id string, un alert.Unsuppression) (bool, error) {
	t, err := loadTriage(ctx, tx, []string{id})
	if err != nil {
		return false, err
	}
	state := t[id]
	if state == nil || len(state.holds) == 0 {
		return false, nil
	}
	if un.Suppression == 0 {
		un.Suppression = state.holds[0].rule.ID
	}
	if _, err := tx.ExecContext(ctx, `UPDATE held SET released_at = ? WHERE alert_id = ? AND released_at = 0`, un.At.Unix(), id); err != nil {
		return false, err
	}
	desk := &alert.Desk{Acked: state.acked, Unsuppressed: &un}
	note := un.Why
	if un.Note != "" {
		note += ": " + un.Note
	}
	_, err = writeTriageEvent(ctx, tx, id, alert.EventUnsuppressed, desk, un.At, revisionNote{By: un.By, Note: note})
	return err == nil, err
}

// lift ends suppression ruleID: every alert it holds that no other
// suppression holds comes back. It returns those alerts.
func lift(ctx context.Context, tx *sql.Tx, ruleID uint64, un alert.Unsuppression) ([]string, error) {
	var lifted int64
	err := tx.QueryRowContext(ctx, `SELECT lifted_at FROM suppressions WHERE id = ?`, ruleID).Scan(&lifted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("suppression %d: %w", ruleID, ErrSuppressionNotFound)
	}
	if err != nil {
		return nil, err
	}
	if lifted != 0 {
		return nil, fmt.Errorf("suppression %d was lifted already: %w", ruleID, ErrNotSuppressed)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE suppressions SET lifted_at = ?, lifted_by = ?, lifted_why = ? WHERE id = ?`,
		un.At.Unix(), un.By, un.Why, ruleID); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT alert_id FROM held WHERE suppression_id = ? AND released_at = 0 ORDER BY alert_id`, ruleID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE held SET released_at = ? WHERE suppression_id = ? AND released_at = 0`, un.At.Unix(), ruleID); err != nil {
		return nil, err
	}
	un.Suppression = ruleID
	var back []string
	for _, id := range ids {
		// loadTriage sees only holds of rules not lifted: an alert another
		// suppression still holds stays silent.
		t, err := loadTriage(ctx, tx, []string{id})
		if err != nil {
			return nil, err
		}
		if t[id] != nil && len(t[id].holds) > 0 {
			continue
		}
		var acked *alert.DeskAction
		if t[id] != nil {
			acked = t[id].acked
		}
		u := un
		note := u.Why
		if u.Note != "" {
			note += ": " + u.Note
		}
		if _, err := writeTriageEvent(ctx, tx, id, alert.EventUnsuppressed, &alert.Desk{Acked: acked, Unsuppressed: &u}, un.At, revisionNote{By: un.By, Note: note}); err != nil {
			return nil, err
		}
		back = append(back, id)
	}
	return back, nil
}

// expireSuppressions lifts every suppression whose until has passed.
func expireSuppressions(ctx context.Context, stx cachedTx, now time.Time) (int, error) {
	tx := stx.Tx
	rows, err := stx.QueryContext(ctx, selectDueSuppressions, now.Unix())
	if err != nil {
		return 0, err
	}
	type due struct {
		id    uint64
		until int64
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.until); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, d)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	n := 0
	for _, d := range list {
		why := fmt.Sprintf("suppression %d ended at %s", d.id, unixTime(d.until).Format(time.RFC3339))
		back, err := lift(ctx, tx, d.id, alert.Unsuppression{By: alert.AgentActor, At: now, Automatic: true, Why: why})
		if err != nil {
			return n, err
		}
		n += len(back)
	}
	return n, nil
}

// cameBack says why a held alert's new revision brings it back: a
// stronger best path, or a higher severity, than when it was held (the
// highest of its holds' baselines); "" when it stays silent.
func cameBack(holds []holdRow, ev *alert.Event) string {
	strong, weak, severity := false, false, ""
	for _, h := range holds {
		strong = strong || h.strength == alert.StrengthStrong
		weak = weak || h.strength == alert.StrengthWeak
		if alert.SeverityRank(h.severity) > alert.SeverityRank(severity) {
			severity = h.severity
		}
	}
	if ev.Strength == alert.StrengthStrong && weak && !strong {
		return "path strengthened from weak to strong"
	}
	if alert.SeverityRank(ev.Severity) > alert.SeverityRank(severity) {
		return fmt.Sprintf("severity rose from %s to %s", severity, ev.Severity)
	}
	return ""
}

// triageRevision decides what a lifecycle revision of a held alert
// becomes: silent (stored, not sent), or, when it rises above what it was
// when held, an "unsuppressed" event with its new content. It also sets
// the event's desk state. Unheld alerts pass unchanged.
func triageRevision(ctx context.Context, tx *sql.Tx, ev *alert.Event, t *triageState, now time.Time) (revisionNote, error) {
	ev.Desk = t.desk()
	if t == nil || len(t.holds) == 0 {
		return revisionNote{}, nil
	}
	why := cameBack(t.holds, ev)
	if why == "" {
		return revisionNote{Silenced: true}, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE held SET released_at = ? WHERE alert_id = ? AND released_at = 0`, now.Unix(), ev.AlertID); err != nil {
		return revisionNote{}, err
	}
	ev.Event = alert.EventUnsuppressed
	ev.Desk = &alert.Desk{Acked: t.acked, Unsuppressed: &alert.Unsuppression{By: alert.AgentActor, At: now, Automatic: true, Why: why, Suppression: t.holds[0].rule.ID}}
	return revisionNote{By: alert.AgentActor, Note: why}, nil
}

// newRootsBringBack releases the held alerts of the groups that fresh
// alerts joined with another root: a new suspension of the same subject
// for the same customer is news the desk has not judged.
func newRootsBringBack(ctx context.Context, tx *sql.Tx, fresh []*alert.Event, now time.Time) (int, error) {
	n := 0
	for _, ev := range fresh {
		if ev.Root == nil {
			continue
		}
		root := ev.Root.Issuer.ID + "/" + ev.Root.ID
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT h.alert_id FROM held h JOIN suppressions s ON s.id = h.suppression_id
			WHERE h.released_at = 0 AND s.lifted_at = 0 AND h.group_key = ? AND h.root != ? ORDER BY h.alert_id`, ev.GroupKey, root)
		if err != nil {
			return n, err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return n, err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return n, err
		}
		for _, id := range slices.Compact(ids) {
			ok, err := release(ctx, tx, id, alert.Unsuppression{By: alert.AgentActor, At: now, Automatic: true, Why: "new root notice " + root})
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
	}
	return n, nil
}
