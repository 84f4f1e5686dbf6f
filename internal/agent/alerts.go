package agent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/match"
)

// reconcile evaluates the current state and writes, in tx, one event for
// every alert whose content changed: raised, updated or withdrawn. It
// returns how many events it wrote.
//
// With full set (a new customer list, a directory reload, a clock tick, the
// start) every root is evaluated again; otherwise only the roots that the
// touched notices may affect, so a batch costs what it changes, not what
// the agent holds.
func (a *agent) reconcile(ctx context.Context, tx *sql.Tx, dir *directory.Directory, now time.Time, touched []*record, full bool) (int, error) {
	now = now.UTC().Truncate(time.Second)
	cfg := a.matchConfig()
	var refs []ref
	var scope []string // the roots whose stored alerts are compared; nil: all
	if full || a.resellerIx == nil {
		a.changedRows = nil // everything is evaluated anyway
		roots, _, resellers := a.model.active(dir, now)
		a.resellerIx = newResellerIndex(resellers, cfg)
		refs = a.model.rootRefs(roots)
	} else {
		set := map[ref]bool{}
		resellersChanged := false
		for _, r := range touched {
			roots, res := a.model.affected(r)
			for _, rr := range roots {
				set[rr] = true
			}
			resellersChanged = resellersChanged || res
		}
		if len(a.changedRows) > 0 {
			more, res, err := a.affectedByCustomers(ctx, tx, dir, now, cfg)
			if err != nil {
				return 0, err
			}
			for _, rr := range more {
				set[rr] = true
			}
			resellersChanged = resellersChanged || res
		}
		if resellersChanged {
			_, _, resellers := a.model.active(dir, now)
			a.resellerIx = newResellerIndex(resellers, cfg)
			for rr := range a.model.sightingsAbout {
				set[rr] = true
			}
		}
		for rr := range set {
			refs = append(refs, rr)
		}
		// Any fixed order will do (evaluation does not depend on it);
		// comparing the fields allocates nothing, where String did twice
		// per comparison.
		slices.SortFunc(refs, func(x, y ref) int { return cmp.Or(strings.Compare(x.issuer, y.issuer), strings.Compare(x.id, y.id)) })
		scope = []string{}
		for _, rr := range refs {
			scope = append(scope, rr.String())
		}
	}
	e := newEvaluation(a.model, dir, a.resellerIx, a.customerIndex(), cfg, a.cfg.Member, a.cfg.MaxHops, now)
	e.verify = a.verifier
	for _, rr := range refs {
		e.root(rr)
	}
	next := map[string]*alert.Event{}
	roots := map[string]string{} // alert id -> root
	for id, c := range e.finish() {
		next[id] = a.matchEvent(id, c, dir, now)
		roots[id] = c.rootRef.String()
	}
	// Integrity and directory-stale alerts come from the entries table, so
	// they too are a function of the state, whatever the order.
	stx := a.store.cached(tx)
	var (
		invalid, parked []entryRow
		err             error
	)
	if a.unsettled {
		if invalid, err = entriesIn(ctx, stx, statusInvalid); err != nil {
			return 0, err
		}
		if parked, err = entriesIn(ctx, stx, statusParked); err != nil {
			return 0, err
		}
	}
	for _, e := range invalid {
		id := alert.ID(a.cfg.Member, "", "integrity", strconv.FormatUint(e.Seq, 10))
		if e.Kind == kindDirectory {
			ev := a.integrityEvent(id, alert.TypeIntegrity, entryRow{Seq: e.Seq, Error: e.Error}, now,
				fmt.Sprintf("the directory version at sequence %d of the log does not verify under your pinned governance key: the hub's log holds a forged or altered directory", e.Seq))
			ev.Integrity.Log = &alert.LogIntegrity{Kind: alert.LogDirectory}
			next[id] = ev
			continue
		}
		next[id] = a.integrityEvent(id, alert.TypeIntegrity, e, now,
			fmt.Sprintf("notice %d from %s failed verification against a known key: do not trust it", e.Seq, e.Issuer))
	}
	for _, e := range parked {
		id := alert.ID(a.cfg.Member, "", "directory-stale", e.Kid)
		if _, ok := next[id]; !ok {
			next[id] = a.integrityEvent(id, alert.TypeDirectoryStale, e, now,
				fmt.Sprintf("directory stale: key %s of %s is unknown here; its notices are parked until the directory is reloaded", e.Kid, e.Issuer))
		}
	}

	prev, err := alertsIn(ctx, stx, scope)
	if err != nil {
		return 0, err
	}
	triaged := a.triaged.Load() // read inside the transaction: see agent.triaged
	var triage map[string]*triageState
	if triaged {
		if triage, err = loadTriage(ctx, stx, nil); err != nil {
			return 0, err
		}
	}
	written := 0
	var fresh []*alert.Event // alerts raised for the first time
	// write stores a lifecycle revision; a held alert's is kept from the
	// sinks unless it rises above what it was when held (triageRevision).
	write := func(ev *alert.Event, state, customer, root, fp string) error {
		ev.State = state
		n, err := triageRevision(ctx, tx, ev, triage[ev.AlertID], now)
		if err != nil {
			return err
		}
		body, err := alert.Marshal(ev)
		if err != nil {
			return err
		}
		if !n.Silenced {
			written++
		}
		it, queued, err := queueAlert(ctx, stx, alertRow{AlertID: ev.AlertID, Revision: ev.Revision, State: state, Type: ev.Type,
			CustomerID: customer, Root: root, Fingerprint: fp, Event: string(body)}, ev, now, n)
		if queued {
			a.queued = append(a.queued, it)
		}
		return err
	}
	ids := sortedKeys(next)
	for _, id := range ids {
		ev := next[id]
		fp := fingerprint(ev)
		p, seen := prev[id]
		switch {
		case seen && p.State == stateActive && p.Fingerprint == fp:
			continue
		case seen && p.State == stateActive:
			ev.Event = alert.EventUpdated
		case seen && ev.Type == alert.TypeIntegrity:
			continue // raised once, never withdrawn
		default:
			ev.Event = alert.EventRaised
		}
		ev.Revision = p.Revision + 1
		ev.PeakStrength = peak(p.Event, ev.Strength)
		ev.PeakSeverity = peakSeverity(p.Event, ev.Severity)
		if !seen {
			fresh = append(fresh, ev)
		}
		customer := ""
		if ev.Customer != nil {
			customer = ev.Customer.ID
		}
		if err := write(ev, stateActive, customer, roots[id], fp); err != nil {
			return written, err
		}
	}
	for _, id := range sortedKeys(prev) {
		p := prev[id]
		if p.State != stateActive || p.Type == alert.TypeIntegrity || p.Type == alert.TypeAlarm {
			continue // integrity alerts stay; alarms are the watcher's (health.go)
		}
		if _, ok := next[id]; ok {
			continue
		}
		var ev alert.Event
		if err := json.Unmarshal([]byte(p.Event), &ev); err != nil {
			return written, fmt.Errorf("agent: state: alert %s: %w", id, err)
		}
		ev.Withdrawn = a.whyWithdrawn(&ev, dir, now)
		ev.Event, ev.Revision, ev.At = alert.EventWithdrawn, p.Revision+1, now
		ev.PeakStrength = peak(p.Event, "")
		ev.PeakSeverity = peakSeverity(p.Event, ev.Severity)
		ev.Paths, ev.Strength = nil, ""
		if err := write(&ev, stateWithdrawn, p.CustomerID, p.Root, ""); err != nil {
			return written, err
		}
	}
	back := 0
	if anyHeld(triage) {
		// Without a hold (most of the time) there is nothing to bring
		// back, and no query per new alert to find that out.
		if back, err = newRootsBringBack(ctx, tx, fresh, now); err != nil {
			return written, err
		}
	}
	expired := 0
	if triaged {
		if expired, err = expireSuppressions(ctx, stx, now); err != nil {
			return written, err
		}
	}
	return written + back + expired, nil
}

// affectedByCustomers lists the roots whose alerts the changed customers
// may change: those with an alert about one of them, and those with a
// notice whose entity meets one of their rows (before or after the change).
func (a *agent) affectedByCustomers(ctx context.Context, tx *sql.Tx, dir *directory.Directory, now time.Time, cfg match.Config) ([]ref, bool, error) {
	rows := a.changedRows
	a.changedRows = nil
	owners := map[string]bool{}
	for _, r := range rows {
		owners[r.Owner] = true
	}
	var roots []ref
	alerted, err := rootsOfCustomers(ctx, tx, sortedKeys(owners))
	if err != nil {
		return nil, false, err
	}
	for _, root := range alerted {
		if issuer, id, ok := strings.Cut(root, "/"); ok {
			roots = append(roots, ref{issuer, id})
		}
	}
	changed, _ := match.Build(rows, cfg)
	meets := func(e *headsupv1.Entity) bool {
		return e != nil && len(changed.MatchEntity(e, match.Query{Now: now})) > 0
	}
	resellers := false
	for _, r := range a.model.bySeq {
		if a.model.inactiveReason(r, dir, now) != "" {
			continue
		}
		hit := meets(r.n.GetSubject()) || meets(r.n.GetSighting().GetHost())
		for _, rel := range r.n.GetRelations() {
			hit = hit || meets(rel.GetEntity())
		}
		if hit {
			more, res := a.model.affected(r)
			roots, resellers = append(roots, more...), resellers || res
		}
	}
	return roots, resellers, nil
}

// anyHeld reports whether a suppression holds any alert.
func anyHeld(triage map[string]*triageState) bool {
	for _, t := range triage {
		if len(t.holds) > 0 {
			return true
		}
	}
	return false
}

const (
	stateActive    = "active"
	stateWithdrawn = "withdrawn"
)

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// fingerprint is what decides "updated": the event without the fields
// that change with every revision.
func fingerprint(ev *alert.Event) string {
	c := *ev
	c.Event, c.Revision, c.At, c.PeakStrength, c.PeakSeverity, c.State, c.Desk = "", 0, time.Time{}, "", "", "", nil
	c.Paths = slices.Clone(c.Paths) // c shares ev's array: clear ages in a copy
	for i := range c.Paths {
		c.Paths[i] = clearAges(c.Paths[i])
	}
	b, _ := alert.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// clearAges drops observation ages, which grow with the clock, and the
// time and wording of live re-checks: an alert is not "updated" because
// time passed, or because a re-check found what the last one found.
func clearAges(p alert.Path) alert.Path {
	links := slices.Clone(p.Links)
	for i := range links {
		if links[i].Matched != nil {
			m := *links[i].Matched
			m.AgeSeconds = nil
			links[i].Matched = &m
		}
		if rcs := links[i].Rechecks; rcs != nil {
			rcs = slices.Clone(rcs)
			for j := range rcs {
				rcs[j].At, rcs[j].Summary = time.Time{}, ""
			}
			links[i].Rechecks = rcs
		}
	}
	p.Links = links
	return p
}

func peak(prevEvent, strength string) string {
	best := strength
	if prevEvent != "" {
		var p alert.Event
		if json.Unmarshal([]byte(prevEvent), &p) == nil && (p.PeakStrength == alert.StrengthStrong || p.Strength == alert.StrengthStrong) {
			best = alert.StrengthStrong
		} else if best == "" && (p.PeakStrength != "" || p.Strength != "") {
			best = alert.StrengthWeak
		}
	}
	return best
}

// peakSeverity is the higher of the previous event's peak (or severity)
// and severity.
func peakSeverity(prevEvent, severity string) string {
	best := severity
	if prevEvent != "" {
		var p alert.Event
		if json.Unmarshal([]byte(prevEvent), &p) == nil {
			for _, s := range []string{p.PeakSeverity, p.Severity} {
				if alert.SeverityRank(s) > alert.SeverityRank(best) {
					best = s
				}
			}
		}
	}
	return best
}

func strengthName(s match.Strength) string {
	if s == match.Strong {
		return alert.StrengthStrong
	}
	return alert.StrengthWeak
}

// matchEvent builds the alert a candidate stands for, with everything a
// person needs to act in minutes.
func (a *agent) matchEvent(id string, c *candidate, dir *directory.Directory, now time.Time) *alert.Event {
	ev := &alert.Event{Schema: alert.SchemaV1, AlertID: id, Type: c.typ, At: now, Member: a.cfg.Member,
		Strength: strengthName(c.strength())}
	if c.customer.Owner != "" {
		ev.Customer = &alert.Customer{ID: c.customer.Owner, Name: c.customer.Name, Link: c.customer.Link, Member: c.customer.Member}
	}
	issuers := map[string]bool{}
	var evidence []alert.Evidence
	seenEvidence := map[string]bool{}
	addEvidence := func(r *record) {
		for _, e := range r.n.GetEvidence() {
			k := r.ref().String() + e.GetUrl() + e.GetSha256() + e.GetDescription()
			if seenEvidence[k] {
				continue
			}
			seenEvidence[k] = true
			tlp := alert.TLPFromProto(e.GetTlp())
			evidence = append(evidence, alert.Evidence{URL: e.GetUrl(), SHA256: e.GetSha256(), Description: e.GetDescription(),
				TLP: tlp, Forwardable: alert.Forwardable(tlp), Issuer: r.n.GetIssuer(), NoticeID: r.n.GetId()})
		}
	}
	for _, p := range c.paths {
		ap := alert.Path{Strength: strengthName(p.strength), Hops: p.hops}
		for _, l := range p.links {
			a.logw.want(l.rec)
			issuers[l.rec.n.GetIssuer()] = true
			addEvidence(l.rec)
			ap.Links = append(ap.Links, alert.Link{Notice: linkNotice(l.rec), Role: l.role, Matched: a.matched(l, now), Rechecks: l.rechecks})
		}
		ev.Paths = append(ev.Paths, ap)
	}
	ev.Corroboration = len(issuers)
	ev.Evidence = evidence

	issuer := alert.Issuer{ID: c.rootRef.issuer}
	if m, ok := dir.Member(c.rootRef.issuer); ok {
		issuer.Name, issuer.AbuseContact = m.Name, m.AbuseContact
	}
	var subject *headsupv1.Entity
	reason := ""
	if c.root != nil {
		n := c.root.n
		subject, reason = n.GetSubject(), n.GetReason()
		a.logw.want(c.root)
		root := &alert.NoticeRef{Issuer: issuer, ID: n.GetId(), Sequence: c.root.seq, IncludedIn: uint64(c.root.included), KID: c.root.kid, SignedBy: n.GetIssuer(),
			Verified: true, Action: alert.ActionSuspended, Reason: reason, ReasonVerified: true, Summary: n.GetSummary(),
			TLP: alert.TLPFromProto(n.GetTlp()), IssuedAt: timeOf(n.GetIssuedAt()), EffectiveAt: timeOf(n.GetEffectiveAt()), ExpiresAt: timeOf(n.GetExpiresAt())}
		if lb := n.GetLegalBasis(); lb != nil {
			root.LegalBasis = &alert.LegalBasis{Kind: alert.LegalBasisKindFromProto(lb.GetKind()), Reference: lb.GetReference(), URL: lb.GetUrl()}
		}
		ev.Root = root
	} else {
		// The suspension is not visible here: what is known of it comes
		// from the sighting, and is never shown as verified.
		sighting := c.paths[0].links[0].rec.n
		subject, reason = sighting.GetSubject(), sighting.GetReason()
		ev.Root = &alert.NoticeRef{Issuer: issuer, ID: c.rootRef.id, Sequence: a.model.redacted[c.rootRef],
			Action: alert.ActionSuspended, Reason: reason, ReasonVerified: false}
	}
	ev.Subject = entityOf(subject)
	ev.GroupKey = alert.GroupKey(a.cfg.Member, c.customer.Owner, ev.Subject.Label)
	rating := alert.Rating{Type: ev.Type, Strength: ev.Strength, Reason: reason, Corroboration: ev.Corroboration}
	if c.root != nil && ev.Root.LegalBasis != nil {
		// Only a verified root's legal basis counts: a sighting cannot
		// claim a court order for a suspension nobody here can read.
		rating.LegalBasis = ev.Root.LegalBasis.Kind
	}
	ev.Severity = a.cfg.Severity.Severity(rating)
	ev.Headline = headline(c, ev, issuer, reason)
	ev.TLP = alert.MaxTLP(ev)
	return ev
}

func (a *agent) matched(l link, now time.Time) *alert.Match {
	m := l.match
	out := &alert.Match{Identifier: m.Identifier, Rule: string(m.Rule), Strength: strengthName(l.strength),
		Row: alert.Row{Source: m.Row.Source, Line: m.Row.Line, Type: string(m.Row.Type), Value: m.Row.Value, Owner: m.Row.Owner}}
	if !m.ObservedAt.IsZero() {
		t := m.ObservedAt.UTC()
		age := int64(now.Sub(t) / time.Second)
		out.ObservedAt, out.AgeSeconds = &t, &age
	}
	var notes []string
	if m.Customers > 0 {
		notes = append(notes, fmt.Sprintf("broad prefix, %d customers", m.Customers))
	}
	if len(m.Context) > 0 {
		notes = append(notes, "also within "+strings.Join(m.Context, ", "))
	}
	switch {
	case l.strength < m.Strength && len(l.rechecks) > 0:
		notes = append(notes, "weak: a live re-check did not confirm the sighting")
	case l.strength < m.Strength:
		notes = append(notes, "weak: the sighting was observed by DNS only")
	case l.strength > m.Strength:
		notes = append(notes, "strong: a live re-check confirmed the sighting")
	}
	out.Note = strings.Join(notes, "; ")
	return out
}

func linkNotice(r *record) alert.LinkNotice {
	return alert.LinkNotice{Issuer: r.n.GetIssuer(), ID: r.n.GetId(), Kind: alert.KindFromProto(r.n.GetKind()),
		Sequence: r.seq, IncludedIn: uint64(r.included), KID: r.kid, SignedBy: r.n.GetIssuer(), Verified: true, TLP: alert.TLPFromProto(r.n.GetTlp())}
}

func timeOf(ts interface{ AsTime() time.Time }) *time.Time {
	if ts == nil {
		return nil
	}
	if v, ok := ts.(interface{ IsValid() bool }); ok && !v.IsValid() {
		return nil
	}
	t := ts.AsTime().UTC()
	if t.Unix() == 0 {
		return nil
	}
	return &t
}

// entityOf renders an entity for people: a label and "type:value"
// identifiers.
func entityOf(e *headsupv1.Entity) *alert.Entity {
	out := &alert.Entity{Member: e.GetMember(), Identifiers: []string{}}
	for _, r := range entityRowsAll(e) {
		out.Identifiers = append(out.Identifiers, string(r.Type)+":"+r.Value)
	}
	out.Label = e.GetLabel()
	if out.Label == "" && len(out.Identifiers) > 0 {
		_, out.Label, _ = strings.Cut(out.Identifiers[0], ":")
	}
	if out.Label == "" {
		out.Label = e.GetMember()
	}
	return out
}

// headline is the one sentence a desk reads first.
func headline(c *candidate, ev *alert.Event, issuer alert.Issuer, reason string) string {
	subject := ev.Subject.Label
	who := "your customer " + c.customer.Name
	if c.customer.Owner == "" {
		who = "an unknown customer in your own space"
	}
	if last := lastLink(c); last != nil && len(c.paths[0].links) > 1 {
		switch last.role {
		case roleOperator, roleUpstream:
			var via string
			if len(c.paths[0].links) >= 2 {
				prev := c.paths[0].links[len(c.paths[0].links)-1].rec.n.GetSubject()
				via = entityOf(prev).Label
			}
			if via != "" {
				if last.role == roleOperator {
					who += " (operator of " + via + ")"
				} else {
					who += " (upstream of " + via + ")"
				}
			}
		}
	}
	by := issuer.ID
	if c.root == nil {
		return fmt.Sprintf("%s serves %s, reported suspended by %s for %s (not visible to you: unverified; ask %s)",
			who, subject, by, orUnknown(reason), orUnknown(issuer.AbuseContact))
	}
	return fmt.Sprintf("%s serves %s, suspended by %s for %s", who, subject, by, orUnknown(reason))
}

func lastLink(c *candidate) *link {
	if len(c.paths) == 0 || len(c.paths[0].links) == 0 {
		return nil
	}
	return &c.paths[0].links[len(c.paths[0].links)-1]
}

func orUnknown(s string) string {
	if s == "" {
		return "an unstated reason"
	}
	return s
}

func (a *agent) integrityEvent(id, typ string, e entryRow, now time.Time, headline string) *alert.Event {
	return &alert.Event{Schema: alert.SchemaV1, AlertID: id, Type: typ, At: now, Member: a.cfg.Member,
		GroupKey: alert.GroupKey(a.cfg.Member, "", typ), Headline: headline, Severity: a.cfg.Severity.Severity(alert.Rating{Type: typ}),
		Integrity: &alert.Integrity{Sequence: e.Seq, Issuer: e.Issuer, KID: e.Kid, NoticeID: e.ID, Error: e.Error}}
}

// whyWithdrawn finds why an alert's last path went: the first notice on
// its former paths that is no longer active, or the customer gone.
func (a *agent) whyWithdrawn(ev *alert.Event, dir *directory.Directory, now time.Time) *alert.Withdrawal {
	if ev.Type == alert.TypeDirectoryStale {
		return &alert.Withdrawal{Reason: alert.WithdrawSuperseded, Detail: "the directory now knows the key; the parked notices were verified"}
	}
	if ev.Type == alert.TypeOwnSpace && ev.Root != nil {
		if rec, ok := a.model.byRef[ref{ev.Root.Issuer.ID, ev.Root.ID}]; ok && a.model.inactiveReason(rec, dir, now) == "" {
			return &alert.Withdrawal{Reason: alert.WithdrawSuperseded, Detail: "a customer of yours now matches this suspension: see that alert"}
		}
	}
	var refs []ref
	if ev.Root != nil {
		refs = append(refs, ref{ev.Root.Issuer.ID, ev.Root.ID})
	}
	for _, p := range ev.Paths {
		for _, l := range p.Links {
			refs = append(refs, ref{l.Notice.Issuer, l.Notice.ID})
		}
	}
	for _, r := range refs {
		rec, ok := a.model.byRef[r]
		if !ok {
			continue
		}
		reason := a.model.inactiveReason(rec, dir, now)
		if reason == "" {
			continue
		}
		w := &alert.Withdrawal{Reason: reason, Detail: fmt.Sprintf("notice %s (sequence %d) is %s", r, rec.seq, strings.ReplaceAll(reason, "_", " "))}
		for _, by := range a.model.replacedBy[r] {
			ln := linkNotice(by)
			w.By = &ln
		}
		return w
	}
	return &alert.Withdrawal{Reason: alert.WithdrawCustomerRemoved, Detail: "no customer row matches any more"}
}
