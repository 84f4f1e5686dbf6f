package agent

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/match"
)

// Candidate types; they become the alert's type.
const (
	typeMatch          = alert.TypeMatch
	typeOwnSpace       = alert.TypeOwnSpace
	typeRootNotVisible = alert.TypeRootNotVisible
)

// Link roles: what the linked notice's entity is in the chain.
const (
	roleSubject  = alert.RoleSubject  // the suspended (or sighted) subject
	roleSighting = alert.RoleSighting // where a sighting says the subject now answers
	roleUpstream = alert.RoleUpstream // whose capacity a reseller resells
	roleOperator = alert.RoleOperator // who operates a reseller
	roleReseller = alert.RoleReseller // the reseller itself
)

// maxPathsPerAlert bounds an alert's paths: a reseller behind hundreds of
// sightings must not make one alert unbounded. The strongest paths are
// kept; the count of the rest is not lost (see candidate.dropped).
const maxPathsPerAlert = 32

// link is one step of a chain: a notice, the role of its entity, and the
// match that connects that entity to the next step (a customer, or the
// next notice).
type link struct {
	rec      *record
	role     string
	match    match.Match
	strength match.Strength
}

// path is a chain from a root to a customer (or to this provider's own
// space). It is as strong as its weakest link.
type path struct {
	links    []link
	strength match.Strength
	hops     int
}

func (p path) key() string {
	var b strings.Builder
	for _, l := range p.links {
		fmt.Fprintf(&b, "%d|%s|%s|%s|%s|%d;", l.rec.seq, l.role, l.match.Identifier, l.match.Rule, l.match.Row.Value, l.strength)
	}
	return b.String()
}

// candidate is an alert as evaluation sees it: who, about which root, and
// every path that supports it.
type candidate struct {
	typ      string
	root     *record // nil when the root is not visible to this member
	rootRef  ref
	customer match.Match // the owner fields of the customer row (zero for own space)
	paths    []path
	dropped  int
}

func (c *candidate) strength() match.Strength {
	best := match.Strength(0)
	for _, p := range c.paths {
		best = max(best, p.strength)
	}
	return best
}

// evaluation is one pass over the active notices against the customer
// index. It is a pure function of its inputs, so order of arrival never
// matters: the agent re-runs it after every batch, customer-list change,
// directory reload and clock tick.
type evaluation struct {
	member    string
	customers *match.Index
	notices   *match.Index
	cfg       match.Config
	maxHops   int
	now       time.Time
	resellers map[string]*record // notice-index owner -> reseller notice
	roots     map[string]*record // notice-index owner -> root notice
	out       map[string]*candidate
}

const (
	ownerRoot     = "root:"
	ownerReseller = "reseller:"
)

func evaluate(m *model, activeRoots, sightings, resellers []*record, customers *match.Index, cfg match.Config, member string, maxHops int, now time.Time) map[string]*candidate {
	e := &evaluation{
		member: member, customers: customers, cfg: cfg, maxHops: maxHops, now: now,
		resellers: map[string]*record{}, roots: map[string]*record{}, out: map[string]*candidate{},
	}
	// The notice index: the subjects of active roots and resellers, built
	// like the customer index, so notices join each other by the same rules.
	var rows []match.Row
	for _, r := range activeRoots {
		owner := ownerRoot + strconv.FormatUint(r.seq, 10)
		e.roots[owner] = r
		rows = append(rows, entityRows(owner, "notice:"+r.ref().String(), r.n.GetSubject(), false)...)
	}
	for _, r := range resellers {
		owner := ownerReseller + strconv.FormatUint(r.seq, 10)
		e.resellers[owner] = r
		rows = append(rows, entityRows(owner, "notice:"+r.ref().String(), r.n.GetSubject(), false)...)
	}
	e.notices, _ = match.Build(rows, cfg) // rows of verified notices are in normal form

	for _, s := range activeRoots {
		e.fromEntity(s, s.ref(), nil, s.n.GetSubject(), s, roleSubject, 0, nil)
	}
	for _, g := range sightings {
		for _, about := range g.n.GetSighting().GetAbout() {
			rr := ref{about.GetIssuer(), about.GetId()}
			root, known := m.byRef[rr]
			switch {
			case known && root.n.GetKind() != headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED:
				continue // about something that is not a suspension: nothing to root
			case known && !slices.Contains(activeRoots, root):
				continue // retracted, superseded, expired: the sighting no longer roots anything
			case m.unverified[rr] != 0:
				continue // the root is here but unverified: "directory stale" says so
			case known:
				join, ok := e.join(g.n.GetSubject(), ownerRoot+strconv.FormatUint(root.seq, 10))
				if !ok {
					continue // the sighting's subject is not the root's: no claim to follow
				}
				first := link{rec: root, role: roleSubject, match: join, strength: join.Strength}
				e.fromEntity(root, rr, []link{first}, g.n.GetSighting().GetHost(), g, roleSighting, 0, nil)
			default:
				// The root is not visible to this member (outside its
				// audience, or not in the log): follow the sighting
				// alone; its reason is never shown as verified.
				e.fromEntity(nil, rr, nil, g.n.GetSighting().GetHost(), g, roleSighting, 0, nil)
			}
		}
	}
	// "Unknown customer in your own space" is for a root that reaches this
	// provider without reaching any of its customers: once a customer
	// matches, that alert says more, and a second one would be noise.
	matched := map[ref]bool{}
	for _, c := range e.out {
		if c.typ == typeMatch {
			matched[c.rootRef] = true
		}
	}
	for id, c := range e.out {
		if c.typ == typeOwnSpace && matched[c.rootRef] {
			delete(e.out, id)
		}
	}
	for _, c := range e.out {
		slices.SortStableFunc(c.paths, func(a, b path) int {
			if a.strength != b.strength {
				return cmp.Compare(b.strength, a.strength)
			}
			if len(a.links) != len(b.links) {
				return cmp.Compare(len(a.links), len(b.links))
			}
			return strings.Compare(a.key(), b.key())
		})
		if len(c.paths) > maxPathsPerAlert {
			c.dropped = len(c.paths) - maxPathsPerAlert
			c.paths = c.paths[:maxPathsPerAlert]
		}
	}
	return e.out
}

// fromEntity follows the chain from entity (of notice rec, in role) to
// customers, to this provider's own space, and on through resellers.
func (e *evaluation) fromEntity(root *record, rootRef ref, links []link, entity *headsupv1.Entity, rec *record, role string, hops int, visited []*record) {
	if entity == nil {
		return
	}
	step := e.toCustomers(root, rootRef, links, entity, rec, role, hops)
	// On through resellers whose subject is this entity (strong joins
	// only). Chains through resellers start at a sighting's host: the
	// suspended subject itself is matched directly, not followed upstream.
	if role == roleSubject {
		return
	}
	for _, jm := range bestPerOwner(e.notices.MatchEntity(entity, match.Query{Now: e.now})) {
		r, ok := e.resellers[jm.Owner]
		if !ok || jm.Strength != match.Strong || r == rec || slices.Contains(visited, r) {
			continue
		}
		next := append(slices.Clone(links), step(jm))
		// The reseller itself may be the customer ("or mitigatr", the
		// story says): the notice adds its ASN, domains and name to what
		// the sighting saw.
		e.toCustomers(root, rootRef, next, r.n.GetSubject(), r, roleReseller, hops)
		for _, rel := range r.n.GetRelations() {
			cost, relRole := 1, roleUpstream
			if rel.GetKind() == headsupv1.RelationKind_RELATION_KIND_OPERATED_BY {
				cost, relRole = 0, roleOperator
			}
			if hops+cost > e.maxHops {
				continue
			}
			e.fromEntity(root, rootRef, next, rel.GetEntity(), r, relRole, hops+cost, append(slices.Clone(visited), rec, r))
		}
	}
}

// toCustomers adds a path for every customer the entity matches, or, when
// none does, for this provider's own space it reaches. It returns how a
// match becomes this step's link.
func (e *evaluation) toCustomers(root *record, rootRef ref, links []link, entity *headsupv1.Entity, rec *record, role string, hops int) func(match.Match) link {
	weakObservation := role == roleSighting && dnsOnly(entity)
	step := func(m match.Match) link {
		l := link{rec: rec, role: role, match: m, strength: m.Strength}
		if weakObservation {
			l.strength = match.Weak
		}
		return l
	}
	matches := e.customers.MatchEntity(entity, match.Query{Issuer: rec.n.GetIssuer(), Now: e.now})
	for _, best := range bestPerOwner(matches) {
		e.addPath(root, rootRef, best, append(slices.Clone(links), step(best)), hops)
	}
	if len(matches) == 0 {
		for _, own := range bestPerOwner(e.cfg.IsOwn(entity)) {
			e.addPath(root, rootRef, own, append(slices.Clone(links), step(own)), hops)
		}
	}
	return step
}

// join finds the strongest strong match of entity against one owner of
// the notice index.
func (e *evaluation) join(entity *headsupv1.Entity, owner string) (match.Match, bool) {
	for _, m := range bestPerOwner(e.notices.MatchEntity(entity, match.Query{Now: e.now})) {
		if m.Owner == owner && m.Strength == match.Strong {
			return m, true
		}
	}
	return match.Match{}, false
}

func (e *evaluation) addPath(root *record, rootRef ref, target match.Match, links []link, hops int) {
	p := path{links: links, hops: hops, strength: match.Strong}
	for _, l := range links {
		p.strength = min(p.strength, l.strength)
	}
	typ := typeMatch
	switch {
	case root == nil:
		typ = typeRootNotVisible
		p.strength = match.Weak
	case target.Owner == "":
		typ = typeOwnSpace
	}
	id := alert.ID(e.member, target.Owner, rootRef.issuer, rootRef.id)
	c, ok := e.out[id]
	if !ok {
		c = &candidate{typ: typ, root: root, rootRef: rootRef, customer: target}
		e.out[id] = c
	}
	key := p.key()
	for _, q := range c.paths {
		if q.key() == key {
			return
		}
	}
	c.paths = append(c.paths, p)
}

// bestPerOwner keeps each owner's strongest match (the first on ties), in
// a stable order.
func bestPerOwner(ms []match.Match) []match.Match {
	best := map[string]int{}
	var out []match.Match
	for _, m := range ms {
		if i, ok := best[m.Owner]; ok {
			if m.Strength > out[i].Strength {
				out[i] = m
			}
			continue
		}
		best[m.Owner] = len(out)
		out = append(out, m)
	}
	return out
}

// dnsOnly reports a sighting host whose observations are all DNS answers:
// anyone who controls a zone can point it at an innocent customer, so
// such a sighting is weak.
func dnsOnly(e *headsupv1.Entity) bool {
	seen := false
	for _, id := range e.GetIdentifiers() {
		switch id.GetObservation().GetMethod() {
		case headsupv1.ObservationMethod_OBSERVATION_METHOD_UNSPECIFIED:
		case headsupv1.ObservationMethod_OBSERVATION_METHOD_DNS:
			seen = true
		default:
			return false
		}
	}
	return seen
}

// entityRows turns a notice's entity into index rows of one owner. For the
// notice index (all false) only identifiers that may join notices are
// kept: origin ASNs and organisation names are weak and never join.
func entityRows(owner, source string, e *headsupv1.Entity, all bool) []match.Row {
	if e == nil {
		return nil
	}
	row := func(t match.Type, v string) match.Row {
		return match.Row{Owner: owner, Name: e.GetLabel(), Type: t, Value: v, Member: e.GetMember(), Source: source}
	}
	var rows []match.Row
	if e.GetMember() != "" {
		rows = append(rows, row(match.TypeMember, e.GetMember()))
	}
	for _, id := range e.GetIdentifiers() {
		switch v := id.GetValue().(type) {
		case *headsupv1.Identifier_Host:
			rows = append(rows, row(match.TypeHost, v.Host))
		case *headsupv1.Identifier_Address:
			rows = append(rows, row(match.TypePrefix, v.Address.GetPrefix()))
		case *headsupv1.Identifier_Asn:
			if all || v.Asn.GetRole() == headsupv1.AsnRole_ASN_ROLE_HOLDER {
				rows = append(rows, row(match.TypeASN, strconv.FormatUint(uint64(v.Asn.GetNumber()), 10)))
			}
		case *headsupv1.Identifier_Organisation:
			if all {
				rows = append(rows, row(match.TypeOrganisation, v.Organisation))
			}
		case *headsupv1.Identifier_Email:
			rows = append(rows, row(match.TypeEmail, v.Email))
		case *headsupv1.Identifier_Registration:
			rows = append(rows, row(match.TypeRegistration, registrationValue(v.Registration)))
		case *headsupv1.Identifier_Hashed:
			rows = append(rows, row(match.TypeHashed, v.Hashed))
		}
	}
	return rows
}

// registrationValue spells a registration as a customer row does.
func registrationValue(r *headsupv1.Registration) string {
	switch r.GetScheme() {
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_LEI:
		return "lei:" + r.GetValue()
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER:
		return "company:" + r.GetCountry() + ":" + r.GetValue()
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_VAT:
		return "vat:" + r.GetValue()
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_RIR_ORG:
		return "rir:" + r.GetValue()
	}
	return ""
}

// entityRowsAll lists every identifier of an entity, for display.
func entityRowsAll(e *headsupv1.Entity) []match.Row { return entityRows("", "", e, true) }
