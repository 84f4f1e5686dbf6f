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
	"github.com/headsup-dev/headsup/internal/directory"
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
	// rechecks are the live re-checks of a sighting link (verify.go).
	rechecks []alert.Recheck
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
	m         *model
	dir       *directory.Directory
	member    string
	customers *match.Index
	resellers *resellerIndex
	cfg       match.Config
	maxHops   int
	now       time.Time
	active    map[*record]bool
	out       map[string]*candidate
	// viaCustomer maps a customer to the resellers it matches strongly.
	viaCustomer map[string][]*record
	// verify, when set, applies live re-checks to sighting links and
	// collects what to re-check (verify_sightings).
	verify *verifier
}

// resellerIndex is the index of active resellers' subjects, built like the
// customer index, so that a sighting's host or an upstream joins a
// reseller notice by the same rules (strong ones only). It changes only
// when a reseller notice does, or with time.
type resellerIndex struct {
	ix      *match.Index
	byOwner map[string]*record
	list    []*record
}

const ownerReseller = "reseller:"

func newResellerIndex(resellers []*record, cfg match.Config) *resellerIndex {
	ri := &resellerIndex{byOwner: map[string]*record{}, list: resellers}
	var rows []match.Row
	for _, r := range resellers {
		owner := ownerReseller + strconv.FormatUint(r.seq, 10)
		ri.byOwner[owner] = r
		rows = append(rows, entityRows(owner, "notice:"+r.ref().String(), r.n.GetSubject(), false)...)
	}
	ri.ix, _ = match.Build(rows, cfg) // rows of verified notices are in normal form
	return ri
}

func newEvaluation(m *model, dir *directory.Directory, resellers *resellerIndex, customers *match.Index, cfg match.Config, member string, maxHops int, now time.Time) *evaluation {
	return &evaluation{m: m, dir: dir, member: member, customers: customers, resellers: resellers, cfg: cfg, maxHops: maxHops, now: now,
		active: map[*record]bool{}, out: map[string]*candidate{}}
}

// evaluate is one pass over every root: the alerts the current state
// implies. It is a pure function of its inputs, so order of arrival never
// matters.
func evaluate(m *model, dir *directory.Directory, customers *match.Index, cfg match.Config, member string, maxHops int, now time.Time) map[string]*candidate {
	roots, _, resellers := m.active(dir, now)
	e := newEvaluation(m, dir, newResellerIndex(resellers, cfg), customers, cfg, member, maxHops, now)
	for _, rr := range m.rootRefs(roots) {
		e.root(rr)
	}
	return e.finish()
}

func (e *evaluation) isActive(r *record) bool {
	a, ok := e.active[r]
	if !ok {
		a = e.m.inactiveReason(r, e.dir, e.now) == ""
		e.active[r] = a
	}
	return a
}

// root adds the candidates rooted in rr: its subject's customers, and the
// chains of every active sighting about it. A root this member cannot read
// (outside its audience, or not in the log yet) is followed through its
// sightings alone, and never shown as verified.
func (e *evaluation) root(rr ref) {
	s, known := e.m.byRef[rr]
	switch {
	case known && (s.n.GetKind() != headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED || !e.isActive(s)):
		return // not a suspension, or retracted, superseded, expired
	case !known && e.m.unverified[rr] != 0:
		return // the root is here but unverified: "directory stale" or "integrity" says so
	case known:
		e.fromEntity(s, rr, nil, s.n.GetSubject(), s, roleSubject, 0, nil)
	}
	var subject *match.Index
	for _, g := range e.m.sightingsAbout[rr] {
		if !e.isActive(g) {
			continue
		}
		if !known {
			e.fromEntity(nil, rr, nil, g.n.GetSighting().GetHost(), g, roleSighting, 0, nil)
			continue
		}
		// The sighting must be about the root's subject: its subject joins
		// the root's on a strong identifier, or it makes no claim to follow.
		if subject == nil {
			subject, _ = match.Build(entityRows("root", "notice:"+rr.String(), s.n.GetSubject(), false), e.cfg)
		}
		join, ok := strongest(subject.MatchEntity(g.n.GetSubject(), match.Query{Now: e.now}))
		if !ok {
			continue
		}
		first := link{rec: s, role: roleSubject, match: join, strength: join.Strength}
		e.fromEntity(s, rr, []link{first}, g.n.GetSighting().GetHost(), g, roleSighting, 0, nil)
	}
}

// finish drops what another candidate makes redundant and orders paths.
func (e *evaluation) finish() map[string]*candidate {
	// "Unknown customer in your own space" is for a root that reaches this
	// provider without reaching any of its customers: once a customer
	// matches, that alert says more, and a second one would be noise.
	// The same holds for a root not visible here.
	matched := map[ref]bool{}
	for _, c := range e.out {
		if c.customer.Owner != "" {
			matched[c.rootRef] = true
		}
	}
	for id, c := range e.out {
		if c.customer.Owner == "" && matched[c.rootRef] {
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
	step, customers := e.toCustomers(root, rootRef, links, entity, rec, role, hops)
	// On through resellers whose subject is this entity (strong joins
	// only). Chains through resellers start at a sighting's host: the
	// suspended subject itself is matched directly, not followed upstream.
	if role == roleSubject {
		return
	}
	type join struct {
		r *record
		m match.Match
	}
	var joins []join
	joined := map[*record]bool{}
	for _, jm := range bestPerOwner(e.resellers.ix.MatchEntity(entity, match.Query{Now: e.now})) {
		if r, ok := e.resellers.byOwner[jm.Owner]; ok && jm.Strength == match.Strong && !joined[r] {
			joined[r] = true
			joins = append(joins, join{r, jm})
		}
	}
	// Or through one customer record that matches both strongly: the
	// provider's own books say the two are the same customer.
	for _, cm := range customers {
		if cm.Strength != match.Strong {
			continue
		}
		for _, r := range e.resellersOfCustomer(cm.Owner) {
			if !joined[r] {
				joined[r] = true
				joins = append(joins, join{r, cm})
			}
		}
	}
	for _, j := range joins {
		r, jm := j.r, j.m
		if r == rec || slices.Contains(visited, r) {
			continue
		}
		next := append(slices.Clone(links), step(jm))
		// The reseller itself may be the customer ("or mitigatr", the
		// story says): the notice adds its ASN, domains and name to what
		// the sighting saw.
		_, _ = e.toCustomers(root, rootRef, next, r.n.GetSubject(), r, roleReseller, hops)
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
// match becomes this step's link, and each customer's best match.
func (e *evaluation) toCustomers(root *record, rootRef ref, links []link, entity *headsupv1.Entity, rec *record, role string, hops int) (func(match.Match) link, []match.Match) {
	weakObservation := role == roleSighting && dnsOnly(entity)
	step := func(m match.Match) link {
		l := link{rec: rec, role: role, match: m, strength: m.Strength}
		if weakObservation {
			l.strength = match.Weak
		}
		if role == roleSighting && e.verify != nil {
			e.verify.apply(&l, entity)
		}
		return l
	}
	matches := bestPerOwner(e.customers.MatchEntity(entity, match.Query{Issuer: rec.n.GetIssuer(), Now: e.now}))
	for _, best := range matches {
		e.addPath(root, rootRef, best, append(slices.Clone(links), step(best)), hops)
	}
	if len(matches) == 0 {
		for _, own := range bestPerOwner(e.cfg.IsOwn(entity)) {
			e.addPath(root, rootRef, own, append(slices.Clone(links), step(own)), hops)
		}
	}
	return step, matches
}

// resellersOfCustomer lists the active resellers whose subject a customer
// record matches strongly (built once per evaluation, on first need).
func (e *evaluation) resellersOfCustomer(owner string) []*record {
	if e.viaCustomer == nil {
		e.viaCustomer = map[string][]*record{}
		for _, r := range e.resellers.list {
			for _, m := range bestPerOwner(e.customers.MatchEntity(r.n.GetSubject(), match.Query{Issuer: r.n.GetIssuer(), Now: e.now})) {
				if m.Strength == match.Strong {
					e.viaCustomer[m.Owner] = append(e.viaCustomer[m.Owner], r)
				}
			}
		}
	}
	return e.viaCustomer[owner]
}

// strongest returns the first strong match, if any.
func strongest(ms []match.Match) (match.Match, bool) {
	for _, m := range ms {
		if m.Strength == match.Strong {
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
