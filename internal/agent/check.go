package agent

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gaissmai/bart"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/match"
	"github.com/headsup-dev/headsup/internal/notice"
)

// Bounds of one Check call.
const (
	// maxCheckValues bounds a request: a signup form has a handful of
	// values, a support tool a page of them.
	maxCheckValues = 256
	// maxCheckHits bounds the hits of one value; the rest are counted.
	maxCheckHits = 100
)

// checkSnapshot is what Check reads: the entities of the active notices as
// of one commit, with lookup tables that find every entity a value could
// match. It is built by the loop goroutine (the only reader of the model)
// and published whole through an atomic pointer, so a Check never sees a
// half-built state and never touches the model.
//
// The tables only find candidates; the answer comes from matching each
// candidate entity against an index of the one value (match.Build), with
// the value standing where a customer row stands when the agent raises
// alerts. So a hit has exactly the rule and strength an alert would show,
// and the tables need only be supersets: a host by its registrable
// domain, a prefix by every overlapping prefix, an e-mail by address and
// by domain.
type checkSnapshot struct {
	builtAt time.Time
	cursor  cursor
	dir     *directory.Directory
	cfg     match.Config
	// records and unverified are how many notices the model held, and how
	// many failed verification: with the directory and validUntil, they
	// say when the tables are still current.
	records    int
	unverified int
	validUntil time.Time

	entities []checkEntity
	hosts    map[string][]int32 // registrable domain (or the host itself)
	prefixes *bart.Table[[]int32]
	asns     map[uint32][]int32
	emails   map[string][]int32 // address, and domain
	orgs     map[string][]int32 // organisation key (normal form, spaces removed)
	regs     map[string][]int32
	hashed   map[string][]int32
}

// checkEntity is one entity of an active notice, in one role.
type checkEntity struct {
	rec    *record
	role   headsupv1.EntityRole
	entity *headsupv1.Entity
}

// refreshCheckSnapshot publishes a new snapshot when the state Check
// answers from may have changed: new notices, another directory version,
// or a time when a notice starts or stops taking part. It runs on the loop
// goroutine after each commit. A rebuild costs O(identifiers of active
// notices), paid only by commits that add notices (or reload the
// directory, or pass a notice's effective or expiry time), and spaced by
// checkPaceFactor (in a catch-up catchUpPaceFactor) times as long as it
// takes (checkPace): rebuilt after
// every commit of a catch-up, it made the catch-up quadratic. Until the
// rebuild, Check answers from the last snapshot, whose cursor says how
// far it reflects the log.
func (a *agent) refreshCheckSnapshot() {
	dir := a.directory()
	now := a.cfg.Now().UTC().Truncate(time.Second)
	cur := a.committedCursor()
	s := a.checkSnap.Load()
	switch {
	case s != nil && s.dir == dir && s.records == len(a.model.bySeq) && s.unverified == len(a.model.unverified) && now.Before(s.validUntil) && s.cursor == cur:
	case s != nil && s.dir == dir && s.records == len(a.model.bySeq) && s.unverified == len(a.model.unverified) && now.Before(s.validUntil):
		// Only entries that add no notice (redacted, parked): the same
		// tables, a newer cursor. The copy shares the tables, which
		// nobody modifies.
		c := *s
		c.cursor, c.builtAt = cur, now
		a.checkSnap.Store(&c)
	default:
		factor := checkPaceFactor
		if a.health.hubLastSequence() > cur.Seq+uint64(a.cfg.BatchSize) {
			factor = catchUpPaceFactor
		}
		if !a.checkPace.due(factor) {
			return
		}
		start := time.Now()
		a.checkSnap.Store(buildCheckSnapshot(a.model, dir, a.matchConfig(), cur, now))
		a.checkPace.built(start)
	}
}

// checkPaceFactor: a rebuild of the check snapshot waits for this many
// times its last duration since its last end, so that rebuilding takes
// at most about 2 % of the loop's time however often it commits (a
// snapshot of a million notices, rebuilt in about a tenth of a second,
// is then at most five seconds behind).
const checkPaceFactor = 50

// catchUpPaceFactor replaces checkPaceFactor while the agent replays a
// backlog (the hub holds more than a batch beyond its cursor): Check's
// answers are behind the log then anyway, by as long as the replay
// takes, and the replay's CPU goes to verifying rather than to snapshots
// nobody can call current (a million notices replay in about a minute,
// about this spacing for a snapshot of that size). Live again, the next
// rebuild is due at checkPaceFactor's spacing.
const catchUpPaceFactor = 500

// checkPace spaces the check snapshot's rebuilds. A rebuild that is not
// due yet arms timer, on which the loop rebuilds once it is, so the last
// commit of a burst is always reflected. Wall-clock time: it measures the
// agent's own work, not the agent's (configurable) notion of now.
type checkPace struct {
	timer *time.Timer   // nil until the loop starts: every rebuild is due
	end   time.Time     // when the last rebuild ended
	took  time.Duration // how long it took
	armed bool
}

// due reports whether a rebuild may run now, spaced by factor times the
// last one's duration, arming the timer if not.
func (p *checkPace) due(factor int) bool {
	wait := time.Until(p.end.Add(time.Duration(factor) * p.took))
	if wait <= 0 || p.timer == nil {
		return true
	}
	// Re-armed every time: the spacing shrinks when a catch-up ends.
	p.timer.Reset(wait)
	p.armed = true
	return false
}

// built records a rebuild that started at start.
func (p *checkPace) built(start time.Time) {
	p.end = time.Now()
	p.took = p.end.Sub(start)
	if p.armed {
		p.timer.Stop()
		p.armed = false
	}
}

// farFuture stands for "no notice changes state by time alone".
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func buildCheckSnapshot(m *model, dir *directory.Directory, cfg match.Config, cur cursor, now time.Time) *checkSnapshot {
	s := &checkSnapshot{builtAt: now, cursor: cur, dir: dir, cfg: cfg, records: len(m.bySeq), unverified: len(m.unverified), validUntil: farFuture,
		hosts: map[string][]int32{}, prefixes: &bart.Table[[]int32]{}, asns: map[uint32][]int32{},
		emails: map[string][]int32{}, orgs: map[string][]int32{}, regs: map[string][]int32{}, hashed: map[string][]int32{}}
	until := func(ts *timestamppb.Timestamp) {
		if ts != nil && ts.AsTime().After(now) && ts.AsTime().Before(s.validUntil) {
			s.validUntil = ts.AsTime()
		}
	}
	for _, r := range m.bySeq {
		if m.inactiveReason(r, dir, now) == "not_yet_effective" {
			until(r.n.GetEffectiveAt())
		}
	}
	roots, sightings, resellers := m.active(dir, now)
	activeRoot := map[ref]bool{}
	for _, r := range roots {
		activeRoot[r.ref()] = true
		until(r.n.GetExpiresAt())
		s.add(r, headsupv1.EntityRole_ENTITY_ROLE_SUBJECT, r.n.GetSubject())
	}
	for _, g := range sightings {
		if !m.sightingStands(g, activeRoot) {
			continue
		}
		until(g.n.GetExpiresAt())
		s.add(g, headsupv1.EntityRole_ENTITY_ROLE_SUBJECT, g.n.GetSubject())
		s.add(g, headsupv1.EntityRole_ENTITY_ROLE_SIGHTING_HOST, g.n.GetSighting().GetHost())
	}
	for _, r := range resellers {
		until(r.n.GetExpiresAt())
		s.add(r, headsupv1.EntityRole_ENTITY_ROLE_RESELLER, r.n.GetSubject())
		for _, rel := range r.n.GetRelations() {
			role := headsupv1.EntityRole_ENTITY_ROLE_UPSTREAM
			if rel.GetKind() == headsupv1.RelationKind_RELATION_KIND_OPERATED_BY {
				role = headsupv1.EntityRole_ENTITY_ROLE_OPERATOR
			}
			s.add(r, role, rel.GetEntity())
		}
	}
	return s
}

// sightingStands reports whether a sighting still says something: one of
// the suspensions it is about is active, or is not visible here (outside
// this member's audience), as the agent's chains judge it. A sighting of
// retracted suspensions alone is no reason to turn a signup away.
func (m *model) sightingStands(g *record, activeRoot map[ref]bool) bool {
	for _, about := range g.n.GetSighting().GetAbout() {
		rr := ref{about.GetIssuer(), about.GetId()}
		root, known := m.byRef[rr]
		switch {
		case known && root.n.GetKind() == headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED && activeRoot[rr]:
			return true
		case !known && m.unverified[rr] == 0:
			return true
		}
	}
	return false
}

// add indexes one entity under every key a value of any type could find
// it by.
func (s *checkSnapshot) add(r *record, role headsupv1.EntityRole, e *headsupv1.Entity) {
	if e == nil || (len(e.GetIdentifiers()) == 0 && e.GetMember() == "") {
		return
	}
	i := int32(len(s.entities))
	s.entities = append(s.entities, checkEntity{rec: r, role: role, entity: e})
	put := func(m map[string][]int32, k string) {
		if l := m[k]; len(l) == 0 || l[len(l)-1] != i {
			m[k] = append(l, i)
		}
	}
	for _, id := range e.GetIdentifiers() {
		switch v := id.GetValue().(type) {
		case *headsupv1.Identifier_Host:
			put(s.hosts, hostKey(v.Host))
		case *headsupv1.Identifier_Address:
			p, err := netip.ParsePrefix(v.Address.GetPrefix())
			if err != nil {
				continue // verified notices hold normal forms; nothing to find
			}
			s.prefixes.Modify(p.Masked(), func(l []int32, _ bool) ([]int32, bool) {
				if len(l) == 0 || l[len(l)-1] != i {
					l = append(l, i)
				}
				return l, false
			})
		case *headsupv1.Identifier_Asn:
			l := s.asns[v.Asn.GetNumber()]
			if len(l) == 0 || l[len(l)-1] != i {
				s.asns[v.Asn.GetNumber()] = append(l, i)
			}
		case *headsupv1.Identifier_Email:
			put(s.emails, v.Email)
			put(s.emails, emailDomain(v.Email))
		case *headsupv1.Identifier_Organisation:
			put(s.orgs, strings.ReplaceAll(v.Organisation, " ", ""))
		case *headsupv1.Identifier_Registration:
			put(s.regs, registrationValue(v.Registration))
		case *headsupv1.Identifier_Hashed:
			put(s.hashed, v.Hashed)
		}
	}
}

// hostKey is the key under which hosts that may match each other meet:
// every host rule (same host, under the notice's domain, under the
// customer's domain, siblings) needs both hosts under one registrable
// domain.
func hostKey(h string) string {
	if d, err := notice.RegistrableDomain(h); err == nil {
		return d
	}
	return h
}

func emailDomain(e string) string { return "@" + e[strings.LastIndexByte(e, '@')+1:] }

// checkValue is one requested value, read.
type checkValue struct {
	typ     headsupv1.IdentifierType
	guessed bool
	row     match.Row // normalised
}

// Check implements AgentService.Check.
func (l *localServer) Check(_ context.Context, req *headsupv1.CheckRequest) (*headsupv1.CheckResponse, error) {
	s := l.a.checkSnap.Load()
	if s == nil {
		return nil, status.Error(codes.Unavailable, "the agent has not loaded its notices yet: retry")
	}
	switch n := len(req.GetValues()); {
	case n == 0:
		return nil, status.Error(codes.InvalidArgument, "values: none given")
	case n > maxCheckValues:
		return nil, status.Errorf(codes.InvalidArgument, "values: %d given, at most %d per call", n, maxCheckValues)
	}
	return s.check(req.GetValues(), l.a.cfg.Now()), nil
}

// check answers values from the snapshot at time now: a notice that has
// expired since the snapshot was built is left out.
func (s *checkSnapshot) check(values []*headsupv1.CheckValue, now time.Time) *headsupv1.CheckResponse {
	resp := &headsupv1.CheckResponse{LogId: s.cursor.LogID, Cursor: s.cursor.Seq, AsOf: timestamppb.New(s.builtAt)}
	for _, v := range values {
		res := &headsupv1.CheckResult{Value: v.GetValue()}
		cv, err := readCheckValue(v, s.cfg)
		res.Type, res.Guessed = cv.typ, cv.guessed
		if err != nil {
			res.Error = err.Error()
			resp.Results = append(resp.Results, res)
			continue
		}
		res.Normal = cv.row.Value
		hits := s.lookup(cv.row, now)
		if len(hits) > maxCheckHits {
			res.OmittedHits = uint32(len(hits) - maxCheckHits)
			hits = hits[:maxCheckHits]
		}
		res.Hits = hits
		resp.Results = append(resp.Results, res)
	}
	return resp
}

// checkTypes maps the API's types to row types.
var checkTypes = map[headsupv1.IdentifierType]match.Type{
	headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST:         match.TypeHost,
	headsupv1.IdentifierType_IDENTIFIER_TYPE_PREFIX:       match.TypePrefix,
	headsupv1.IdentifierType_IDENTIFIER_TYPE_ASN:          match.TypeASN,
	headsupv1.IdentifierType_IDENTIFIER_TYPE_EMAIL:        match.TypeEmail,
	headsupv1.IdentifierType_IDENTIFIER_TYPE_ORGANISATION: match.TypeOrganisation,
	headsupv1.IdentifierType_IDENTIFIER_TYPE_REGISTRATION: match.TypeRegistration,
}

// readCheckValue guesses the type when it is not given and normalises the
// value exactly as a customer row is normalised. The error names the type
// and the value.
func readCheckValue(v *headsupv1.CheckValue, cfg match.Config) (checkValue, error) {
	cv := checkValue{typ: v.GetType()}
	if cv.typ == headsupv1.IdentifierType_IDENTIFIER_TYPE_UNSPECIFIED {
		cv.typ, cv.guessed = GuessType(v.GetValue()), true
	}
	t, ok := checkTypes[cv.typ]
	if !ok {
		return cv, fmt.Errorf("type %d %q: not one of host, prefix, asn, email, organisation, registration", cv.typ, v.GetValue())
	}
	row, err := match.NormalizeRow(match.Row{Owner: "check", Type: t, Value: v.GetValue(), Source: "check"}, cfg)
	if err != nil {
		var re *match.RowError
		if errors.As(err, &re) {
			return cv, fmt.Errorf("%s %q: %v", t, v.GetValue(), re.Err)
		}
		return cv, fmt.Errorf("%s %q: %v", t, v.GetValue(), err)
	}
	cv.row = row
	return cv, nil
}

// GuessType guesses the type of a value given without one: an IP address
// or CIDR prefix is a prefix; "AS" and a number, or digits alone, an asn;
// anything with "@" an email; "lei:", "company:", "vat:" or "rir:" and
// the rest a registration; something with a dot that normalises as a host
// a host; anything else an organisation name.
func GuessType(v string) headsupv1.IdentifierType {
	s := strings.TrimSpace(v)
	if _, err := netip.ParseAddr(s); err == nil {
		return headsupv1.IdentifierType_IDENTIFIER_TYPE_PREFIX
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return headsupv1.IdentifierType_IDENTIFIER_TYPE_PREFIX
	}
	if looksLikeASN(s) {
		return headsupv1.IdentifierType_IDENTIFIER_TYPE_ASN
	}
	if strings.Contains(s, "@") {
		return headsupv1.IdentifierType_IDENTIFIER_TYPE_EMAIL
	}
	if scheme, _, ok := strings.Cut(s, ":"); ok {
		switch strings.ToLower(strings.TrimSpace(scheme)) {
		case "lei", "company", "vat", "rir":
			return headsupv1.IdentifierType_IDENTIFIER_TYPE_REGISTRATION
		}
	}
	if strings.Contains(s, ".") {
		if _, err := notice.Host(s); err == nil {
			return headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST
		}
	}
	return headsupv1.IdentifierType_IDENTIFIER_TYPE_ORGANISATION
}

// looksLikeASN: "AS64500", "as 64500", "AS1.10" (asdot) or "64500".
func looksLikeASN(s string) bool {
	if len(s) >= 2 && strings.EqualFold(s[:2], "as") {
		s = strings.TrimSpace(s[2:])
	} else if strings.Contains(s, ".") {
		return false // "1.10" alone is more likely a version or a typo than asdot
	}
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return s[0] != '.' && strings.Count(s, ".") <= 1
}

// lookup finds the hits of one normalised value.
func (s *checkSnapshot) lookup(row match.Row, now time.Time) []*headsupv1.CheckHit {
	cands := s.candidates(row)
	if len(cands) == 0 {
		return nil
	}
	ix, bad := match.Build([]match.Row{row}, s.cfg)
	if len(bad) > 0 {
		return nil // NormalizeRow accepted it already; Build cannot refuse it
	}
	var hits []*headsupv1.CheckHit
	for _, i := range cands {
		ce := s.entities[i]
		if notice.Expired(ce.rec.n, now) {
			continue
		}
		best, ok := bestMatch(ix.MatchEntity(ce.entity, match.Query{Now: now}))
		if !ok {
			continue
		}
		hits = append(hits, s.hit(ce, best))
	}
	slices.SortStableFunc(hits, func(a, b *headsupv1.CheckHit) int {
		return cmp.Or(cmp.Compare(b.Strength, a.Strength), cmp.Compare(a.Notice.Sequence, b.Notice.Sequence), cmp.Compare(a.Role, b.Role))
	})
	return hits
}

// candidates lists, once each and in order, the entities the value could
// match.
func (s *checkSnapshot) candidates(row match.Row) []int32 {
	var out []int32
	addAll := func(l []int32) { out = append(out, l...) }
	switch row.Type {
	case match.TypeHost:
		addAll(s.hosts[hostKey(row.Value)])
	case match.TypePrefix:
		p := netip.MustParsePrefix(row.Value) // NormalizeRow wrote it
		for _, l := range s.prefixes.Supernets(p) {
			addAll(l)
		}
		for _, l := range s.prefixes.Subnets(p) {
			addAll(l)
		}
	case match.TypeASN:
		n, _ := notice.ASN(row.Value)
		addAll(s.asns[n])
	case match.TypeEmail:
		addAll(s.emails[row.Value])
		addAll(s.emails[emailDomain(row.Value)])
	case match.TypeOrganisation:
		addAll(s.orgs[strings.ReplaceAll(row.Value, " ", "")])
	case match.TypeRegistration:
		addAll(s.regs[row.Value])
	}
	if len(s.hashed) > 0 {
		for _, h := range hashedForms(row, s.cfg.HashKeys) {
			addAll(s.hashed[h])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hashedForms is the value hashed under every configured key, as a
// notice's hashed identifier would carry it.
func hashedForms(row match.Row, keys map[string][]byte) []string {
	typ := string(row.Type)
	switch row.Type {
	case match.TypeHost, match.TypeEmail, match.TypeOrganisation, match.TypeRegistration:
	case match.TypePrefix:
		typ = "address"
	default:
		return nil
	}
	var out []string
	for id, key := range keys {
		m := hmac.New(sha256.New, key)
		m.Write(notice.HashInput(typ, row.Value))
		out = append(out, "hmac-sha256:"+id+":"+typ+":"+hex.EncodeToString(m.Sum(nil)))
	}
	return out
}

// bestMatch keeps the strongest match, the first on ties (MatchEntity
// orders them by the entity's identifiers).
func bestMatch(ms []match.Match) (match.Match, bool) {
	var best match.Match
	found := false
	for _, m := range ms {
		if m.Rule == match.RuleOwnSpace || m.Rule == match.RuleTooMany {
			continue
		}
		if !found || m.Strength > best.Strength {
			best, found = m, true
		}
	}
	return best, found
}

// hit describes one entity the value matched, withholding what the
// notice's TLP keeps from tooling (see CheckNotice in agent.proto).
func (s *checkSnapshot) hit(ce checkEntity, m match.Match) *headsupv1.CheckHit {
	n := ce.rec.n
	withheld := tlpWithheld(n.GetTlp())
	cn := &headsupv1.CheckNotice{Issuer: n.GetIssuer(), Id: n.GetId(), Sequence: ce.rec.seq, Kind: n.GetKind(), Tlp: n.GetTlp(),
		Withheld: withheld, IssuedAt: n.GetIssuedAt(), EffectiveAt: n.GetEffectiveAt(), ExpiresAt: n.GetExpiresAt()}
	if mem, ok := s.dir.Member(n.GetIssuer()); ok {
		cn.IssuerName, cn.IssuerAbuseContact = mem.Name, mem.AbuseContact
	}
	h := &headsupv1.CheckHit{Notice: cn, Role: ce.role, Identifier: m.Identifier, Rule: string(m.Rule), Strength: strengthOf(m.Strength)}
	var notes []string
	if m.Weakened != "" {
		notes = append(notes, m.Weakened)
	}
	if ce.role == headsupv1.EntityRole_ENTITY_ROLE_SIGHTING_HOST && dnsOnly(ce.entity) && m.Strength == match.Strong {
		// As in the agent's chains: anyone who controls a zone can point
		// it at an innocent customer.
		h.Strength = headsupv1.MatchStrength_MATCH_STRENGTH_WEAK
		notes = append(notes, "the sighting was observed by DNS only")
	}
	switch {
	case m.Rule == match.RuleBroadPrefix:
		// The index's context counts customers, which here is the one value.
		notes = append(notes, "the notice's prefix is broader than /24 (IPv6 /48)")
	case len(m.Context) > 0:
		notes = append(notes, strings.Join(m.Context, ", "))
	}
	h.Note = strings.Join(notes, "; ")
	if !withheld {
		cn.Reason, cn.Summary = n.GetReason(), n.GetSummary()
		h.EntityLabel = ce.entity.GetLabel()
	}
	return h
}

// tlpWithheld: RED and AMBER+STRICT content stays out of Check's answers,
// and so does an unmarked notice (an unknown marking never widens who may
// see something).
func tlpWithheld(t headsupv1.Tlp) bool {
	switch t {
	case headsupv1.Tlp_TLP_CLEAR, headsupv1.Tlp_TLP_GREEN, headsupv1.Tlp_TLP_AMBER:
		return false
	}
	return true
}

func strengthOf(s match.Strength) headsupv1.MatchStrength {
	if s == match.Strong {
		return headsupv1.MatchStrength_MATCH_STRENGTH_STRONG
	}
	return headsupv1.MatchStrength_MATCH_STRENGTH_WEAK
}
