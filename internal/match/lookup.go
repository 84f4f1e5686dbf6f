package match

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/notice"
)

// Match is one row that a notice identifier matched, or one summary that
// stands for many (Owner empty: broad-prefix, shared-prefix,
// too-many-matches, own-space).
type Match struct {
	// Owner, Name, Link and Member describe the matched row's owner.
	Owner, Name, Link, Member string
	// Row is the source row (Source, Line, Type, Value), normalised.
	Row Row
	// Identifier is the notice-side value that matched, in normal form
	// with its type: "host:cdn.chanboard.example", "address:203.0.113.0/24",
	// "asn:AS64500", "email:…", "organisation:…", "registration:lei:…",
	// "hashed:…", "member:epiq".
	Identifier string
	// Rule says why it matched; Strength how much that is worth.
	Rule     Rule
	Strength Strength
	// Weakened says why a match its rule makes strong is weak ("observed
	// 9 days ago", "observed by DNS only", "held by the customer only since
	// …"); empty otherwise.
	Weakened string
	// Context is what a person should see beside the match: shorter
	// customer prefixes that also cover the address, other rows of the
	// same owner that matched, the corroborating address of an origin ASN,
	// the customers inside a broad prefix.
	Context []string
	// Customers is, for the summaries, how many customers they stand for.
	Customers int
	// ObservedAt is the identifier's observation time, if it has one.
	ObservedAt time.Time
}

// Query says who asks and when.
type Query struct {
	// Issuer is the notice's issuer: matches whose row belongs to it (Row
	// Member == Issuer) are dropped, since a provider never needs telling
	// about its own notice.
	Issuer string
	// Now judges observation ages; zero means time.Now().
	Now time.Time
}

// Limits of the bounded work per identifier.
const (
	// maxWithinScan is how many customer prefixes inside a notice prefix
	// are walked to count distinct customers. Beyond it the count is of
	// customer prefixes (an upper bound on customers) and the match is
	// broad, so one notice prefix costs O(log n + maxWithinScan) whatever
	// the table holds.
	maxWithinScan = 4096
	// maxContext bounds the context lines of one match.
	maxContext = 8
)

// rank orders rules: for one owner the best-ranked match of an identifier
// is kept and the rest become its context. Strong rules first, then the
// weak ones from the most to the least specific.
func rank(r Rule) int {
	switch r {
	case RuleSameHost:
		return 1
	case RuleUnderNoticeDomain:
		return 2
	case RulePrefixCovers:
		return 3
	case RulePrefixWithin:
		return 4
	case RuleASNHolder:
		return 5
	case RuleEmailAddress:
		return 6
	case RuleRegistration:
		return 7
	case RuleMember:
		return 8
	case RuleHashed:
		return 9
	case RuleASNOrigin:
		return 10
	case RuleUnderCustomerDomain:
		return 11
	case RuleSibling:
		return 12
	case RuleEmailDomain:
		return 13
	case RuleOrganisation:
		return 14
	case RuleBroadPrefix:
		return 15
	case RuleSharedPrefix:
		return 16
	case RuleBroadDomain:
		return 17
	case RuleTooMany:
		return 18
	}
	return 19
}

// cand is a candidate match before the per-owner collapse.
type cand struct {
	row      int32  // -1 for a summary
	owner    uint32 // the row's owner (irow.owner); noOwner for a summary
	rule     Rule
	strength Strength
	context  []string
	count    int // summaries: customers
}

// MatchEntity matches every identifier of e, and e.member as a member id,
// and applies the rules that look across identifiers: an origin ASN is
// strong when an address of the same entity matches the same owner
// strongly. Matches come in the entity's order (member first), and within
// one identifier strong first, then by owner and rule; the same input gives
// the same output.
func (ix *Index) MatchEntity(e *headsupv1.Entity, q Query) []Match {
	// Every identifier's candidates first, so that the matches take one
	// allocation and the names of the identifiers that matched another:
	// appending them identifier by identifier copied the matches of a
	// notice of two hits twice.
	var (
		csBuf   [8]cand
		cs      = csBuf[:0]
		nameBuf [256]byte
		names   = nameBuf[:0]
		endBuf  [8]identEnd
		ends    = endBuf[:0] // the member's candidates and name, then each identifier's
	)
	member, ids := e.GetMember(), e.GetIdentifiers()
	if member != "" {
		if cs = ix.memberCands(cs, member); len(cs) > 0 {
			names = append(append(names, "member:"...), member...)
		}
	}
	ends = append(ends, identEnd{len(cs), len(names)})
	for _, id := range ids {
		cs, names = ix.appendCands(cs, names, id)
		ends = append(ends, identEnd{len(cs), len(names)})
	}
	if len(cs) == 0 {
		return nil
	}
	all := string(names)
	out := make([]Match, 0, ix.matchesAtMost(cs, ends))
	if ends[0].cands > 0 {
		out = ix.appendFinished(out, cs[:ends[0].cands], all[:ends[0].name], nil, q)
	}
	origin := false
	for i, id := range ids {
		if from, to := ends[i], ends[i+1]; to.cands > from.cands {
			out = ix.appendFinished(out, cs[from.cands:to.cands], all[from.name:to.name], id, q)
			origin = origin || id.GetAsn().GetRole() == headsupv1.AsnRole_ASN_ROLE_ORIGIN
		}
	}
	if origin {
		corroborate(out)
	}
	return out
}

// identEnd is where the candidates and the name of one identifier end.
type identEnd struct{ cands, name int }

// matchesAtMost bounds the matches of identifiers whose candidates cs end
// at ends: at most MaxMatchesPerIdentifier plus one summary each.
func (ix *Index) matchesAtMost(cs []cand, ends []identEnd) int {
	n, start := 0, 0
	for _, end := range ends {
		n += min(ownerRuns(cs[start:end.cands]), ix.cfg.MaxMatchesPerIdentifier+1)
		start = end.cands
	}
	return n
}

// ownerRuns bounds the matches of one identifier's candidates before the
// cap: one per summary and per run of candidates of one owner. The
// candidates come in a few runs sorted by owner, and a candidate of the
// owner of the one before it collapses into the same match (an e-mail
// domain two addresses of one customer share, say).
func ownerRuns(cs []cand) int {
	n := 0
	for i, c := range cs {
		if i == 0 || c.row < 0 || c.owner != cs[i-1].owner {
			n++
		}
	}
	return n
}

// corroborate applies "origin: weak unless an address of the same notice
// matches the same customer": an origin match is made strong by the first
// strong address match of its owner. Origin matches (of origin ASN
// identifiers) are rare, and the matches of a notice few, so a scan for
// each does.
func corroborate(out []Match) {
	for i := range out {
		m := &out[i]
		if m.Owner == "" || m.Rule != RuleASNOrigin || m.Weakened != "" {
			continue
		}
		for _, a := range out {
			if a.Owner == m.Owner && a.Strength == Strong && (a.Rule == RulePrefixCovers || a.Rule == RulePrefixWithin) {
				m.Strength = Strong
				m.Context = append(m.Context, "corroborated by "+a.Identifier+" of the same entity")
				break
			}
		}
	}
}

// MatchIdentifier matches one identifier, which must be in normal form (as
// notice.Validate guarantees; a value in another form matches nothing it
// would not match in normal form, or nothing at all). An origin ASN is weak
// here: only MatchEntity sees the addresses that corroborate it.
//
// A miss allocates nothing: the keys are probed as they are (or built in
// a buffer on the stack), and the identifier's "type:value" name is
// written only for a match.
func (ix *Index) MatchIdentifier(id *headsupv1.Identifier, q Query) []Match {
	var (
		csBuf   [4]cand // most identifiers match a few rows at most
		nameBuf [128]byte
	)
	cs, name := ix.appendCands(csBuf[:0], nameBuf[:0], id)
	if len(cs) == 0 {
		return nil
	}
	return ix.appendFinished(nil, cs, string(name), id, q)
}

// appendCands appends id's candidates to cs and, if it has any, its name
// as a Match names it to name: in normal form with its type,
// "host:cdn.chanboard.example", "address:203.0.113.0/24", "asn:AS64500", …
func (ix *Index) appendCands(cs []cand, name []byte, id *headsupv1.Identifier) ([]cand, []byte) {
	var (
		buf   [96]byte // keys that differ from the notice's value are built here
		one   [1]int32 // the row of a key of one row
		start = len(cs)
	)
	switch x := id.GetValue().(type) {
	case *headsupv1.Identifier_Host:
		cs = ix.hostCands(cs, x.Host)
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "host", x.Host)
		}
		if len(cs) > start {
			name = append(append(name, "host:"...), x.Host...)
		}
	case *headsupv1.Identifier_Address:
		p, ok := identPrefix(x.Address)
		if !ok {
			break
		}
		cs = ix.prefixCands(cs, p)
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "address", notice.PrefixString(p))
		}
		if len(cs) > start {
			name = p.AppendTo(append(name, "address:"...)) // as notice.PrefixString writes it
		}
	case *headsupv1.Identifier_Asn:
		if x.Asn == nil {
			break
		}
		if cs = ix.asnCands(cs, x.Asn.Number, x.Asn.Role); len(cs) > start {
			name = strconv.AppendUint(append(name, "asn:AS"...), uint64(x.Asn.Number), 10) // as asnString writes it
		}
	case *headsupv1.Identifier_Email:
		cs = ix.emailCands(cs, x.Email)
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "email", x.Email)
		}
		if len(cs) > start {
			name = append(append(name, "email:"...), x.Email...)
		}
	case *headsupv1.Identifier_Organisation:
		for _, r := range ix.orgs.rowsOf(ix.spanBytes(&ix.orgs, appendOrgKey(buf[:0], x.Organisation)), &one) {
			cs = append(cs, ix.cand(r, RuleOrganisation, Weak))
		}
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "organisation", x.Organisation)
		}
		if len(cs) > start {
			name = append(append(name, "organisation:"...), x.Organisation...)
		}
	case *headsupv1.Identifier_Registration:
		r := x.Registration
		k := appendRegistration(buf[:0], r.GetScheme(), r.GetValue(), r.GetCountry())
		if len(k) == 0 {
			break
		}
		for _, row := range ix.regs.rowsOf(ix.spanBytes(&ix.regs, k), &one) {
			cs = append(cs, ix.cand(row, RuleRegistration, Strong))
		}
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "registration", string(k))
		}
		if len(cs) > start {
			name = append(append(name, "registration:"...), k...)
		}
	case *headsupv1.Identifier_Hashed:
		if cs = ix.hashedCands(cs, x.Hashed); len(cs) > start {
			name = append(append(name, "hashed:"...), x.Hashed...)
		}
	}
	return cs, name
}

// cand is a candidate of row r.
func (ix *Index) cand(r int32, rule Rule, s Strength) cand {
	return cand{row: r, owner: ix.rows[r].owner, rule: rule, strength: s}
}

// identPrefix is an address identifier's prefix, masked, with an
// IPv4-mapped IPv6 prefix read as IPv4.
func identPrefix(a *headsupv1.Address) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(a.GetPrefix())
	if err != nil {
		return netip.Prefix{}, false
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
	}
	return p.Masked(), true
}

// appendFinished applies the observation rules and the issuer filter,
// keeps one match per owner (the best; the others become its context),
// orders the matches, caps them and appends them to out.
func (ix *Index) appendFinished(out []Match, cs []cand, ident string, id *headsupv1.Identifier, q Query) []Match {
	if len(cs) == 0 {
		return out
	}
	var observed time.Time
	obs := id.GetObservation()
	if t := obs.GetObservedAt(); t != nil {
		observed = t.AsTime()
	}

	// Why every match of this identifier is weak, if it is.
	weakAll := ""
	if a := id.GetAddress(); a != nil {
		now := q.Now
		if now.IsZero() {
			now = time.Now()
		}
		switch {
		case a.GetRole() == headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED && a.GetAssignedUntil() != nil && a.GetAssignedUntil().AsTime().Before(now):
			weakAll = "assigned to the subject only until " + a.GetAssignedUntil().AsTime().UTC().Format(time.RFC3339) + "; it may have been reassigned since"
		case !observed.IsZero() && now.Sub(observed) > ix.cfg.ObservationMaxAge:
			weakAll = fmt.Sprintf("observed %s ago, more than %s", age(now.Sub(observed)), age(ix.cfg.ObservationMaxAge))
		case obs.GetMethod() == headsupv1.ObservationMethod_OBSERVATION_METHOD_DNS:
			weakAll = "observed by DNS only: anyone who controls a zone can point it at an innocent customer"
		}
	}

	start := len(out)
	ms := slices.Grow(out, ownerRuns(cs)) // room for every match: appendMatch relies on it
	if len(cs) == 1 {
		// Most identifiers have one candidate: nothing to collapse or sort.
		return ix.appendMatch(ms, cs[0], ident, observed, weakAll, q)
	}
	var (
		seenBuf [4]ownerMatch
		seen    = ownerMatches{list: seenBuf[:0]}
	)
	for _, c := range cs {
		if c.row >= 0 {
			if k := seen.find(c.owner); k >= 0 {
				ix.collapse(ms, &seen.list[k], c, ident, observed, weakAll)
				continue
			}
		}
		n := len(ms)
		if ms = ix.appendMatch(ms, c, ident, observed, weakAll, q); len(ms) > n && c.row >= 0 {
			seen = seen.add(c.owner, n)
		}
	}
	for _, om := range seen.list {
		switch m := &ms[om.i]; {
		case len(om.extra) == 0:
		case len(m.Context) == 0 && len(om.extra) <= maxContext:
			// The usual case (two addresses of one customer at an e-mail
			// domain): the lines are the context as they stand, and
			// copying them would be one more allocation.
			m.Context = slices.Clip(om.extra)
		default:
			m.Context = appendBounded(slices.Clip(m.Context), om.extra)
		}
	}
	if len(ms)-start > 1 {
		slices.SortFunc(ms[start:], func(a, b Match) int {
			return cmp.Or(
				-cmp.Compare(a.Strength, b.Strength),
				compareBool(a.Owner == "", b.Owner == ""), // summaries last
				cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Name, b.Name),
				cmp.Compare(rank(a.Rule), rank(b.Rule)),
				cmp.Compare(a.Row.Source, b.Row.Source), cmp.Compare(a.Row.Line, b.Row.Line))
		})
	}
	if limit := ix.cfg.MaxMatchesPerIdentifier; len(ms)-start > limit {
		left := len(ms) - start - limit
		clear(ms[start+limit:])
		ms = ms[:start+limit]
		s := Match{Identifier: ident, Rule: RuleTooMany, Strength: Weak, ObservedAt: observed,
			Customers: left,
			Context:   []string{fmt.Sprintf("%d more matches left out (at most %d per identifier)", left, limit)}}
		ms = append(ms, s)
	}
	return ms
}

// appendMatch appends candidate c's match to ms, in ms's spare capacity,
// unless its row belongs to the issuer. The match is written where it
// stays: a Match is 320 bytes, and copying one into the heap costs more
// than writing its fields.
func (ix *Index) appendMatch(ms []Match, c cand, ident string, observed time.Time, weakAll string, q Query) []Match {
	if c.row < 0 {
		return append(ms, Match{Identifier: ident, Rule: c.rule, Strength: Weak, Context: c.context, Customers: c.count, ObservedAt: observed})
	}
	o := ix.owner(c.owner)
	if q.Issuer != "" && o.Member == q.Issuer {
		return ms
	}
	ms = ms[:len(ms)+1]
	ix.setMatch(&ms[len(ms)-1], c, o, ident, observed, weakAll)
	return ms
}

// collapse folds candidate c into its owner's match om, in ms: the better
// of the two stands for the owner, and the other becomes a context line.
// The candidate's match is written only if it stands.
func (ix *Index) collapse(ms []Match, om *ownerMatch, c cand, ident string, observed time.Time, weakAll string) {
	best, r := &ms[om.i], ix.rows[c.row]
	s, _ := ix.strength(c, observed, weakAll)
	cs := standing{s, c.rule, ix.sources[r.source], int(r.line), ix.value(c.row)}
	if !cs.better(standingOf(best)) {
		om.extra = append(om.extra, also(r.typ.Type(), cs.value, c.rule, cs.source, cs.line))
		return
	}
	om.extra = append(om.extra, also(best.Row.Type, best.Row.Value, best.Rule, best.Row.Source, best.Row.Line))
	ix.setMatch(best, c, ix.owner(c.owner), ident, observed, weakAll)
}

// setMatch writes candidate c's match to m: c's row, of owner o, matched
// identifier ident observed at observed (or zero), every strong match of
// which weakAll (if not empty) makes weak.
//
// It assigns every field of m and of m.Row one by one: assigning a whole
// Match (or Row) compiles to a copy that, while the collector runs, takes
// the slow path of a bulk write barrier, once the costliest part of a hit.
func (ix *Index) setMatch(m *Match, c cand, o ownerInfo, ident string, observed time.Time, weakAll string) {
	r := ix.rows[c.row]
	m.Owner, m.Name, m.Link, m.Member = o.Owner, o.Name, o.Link, o.Member
	m.Row.Owner, m.Row.Name, m.Row.Link, m.Row.Member = o.Owner, o.Name, o.Link, o.Member
	m.Row.Type, m.Row.Value, m.Row.ValidFrom = r.typ.Type(), ix.value(c.row), ix.validFrom(c.row)
	m.Row.Source, m.Row.Line = ix.sources[r.source], int(r.line)
	m.Strength, m.Weakened = ix.strength(c, observed, weakAll)
	m.Identifier, m.Rule = ident, c.rule
	m.Context, m.Customers, m.ObservedAt = slices.Clip(c.context), 0, observed
}

// strength is candidate c's strength, and why its rule's strong match was
// weakened, if it was: the row was held only since after the observation,
// or weakAll (an old or DNS-only observation, a lapsed assignment).
func (ix *Index) strength(c cand, observed time.Time, weakAll string) (Strength, string) {
	if c.strength != Strong {
		return c.strength, ""
	}
	if len(ix.valid) > 0 && !observed.IsZero() {
		if vf, ok := ix.valid[c.row]; ok && observed.Before(vf) {
			return Weak, "held by the customer only since " + vf.UTC().Format(time.RFC3339) + ", after the observation"
		}
	}
	if weakAll != "" {
		return Weak, weakAll
	}
	return Strong, ""
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// standing is what decides which of an owner's matches stands for it.
type standing struct {
	strength Strength
	rule     Rule
	source   string
	line     int
	value    string
}

func standingOf(m *Match) standing {
	return standing{m.Strength, m.Rule, m.Row.Source, m.Row.Line, m.Row.Value}
}

// better reports whether a should stand for its owner rather than b: the
// stronger, then by rule, source, line and value.
func (a standing) better(b standing) bool {
	return cmp.Or(
		-cmp.Compare(a.strength, b.strength),
		cmp.Compare(rank(a.rule), rank(b.rule)),
		cmp.Compare(a.source, b.source), cmp.Compare(a.line, b.line),
		cmp.Compare(a.value, b.value)) < 0
}

// also is the context line of a match beside its owner's better one:
// "also host a.example (sibling, customers.csv:3)". One concatenation, one
// allocation.
func also(t Type, value string, rule Rule, source string, line int) string {
	var num [20]byte
	return "also " + string(t) + " " + value + " (" + string(rule) + ", " + source + ":" +
		string(strconv.AppendInt(num[:0], int64(line), 10)) + ")"
}

// ownerMatches finds an owner's match among those of one identifier made
// so far. Most identifiers match a few owners, which a scan finds sooner
// than a map is made; past 16 a map keeps a domain held by thousands of
// customers linear. Its methods take and return it by value, so that the
// list may live on the caller's stack.
type ownerMatches struct {
	list []ownerMatch
	m    map[uint32]int // owner -> index in list, past 16 owners
}

// ownerMatch is an owner's match (at index i of the matches) and the
// context lines of its other candidates.
type ownerMatch struct {
	owner uint32
	i     int
	extra []string
}

// find returns the index in s.list of owner's match, or -1.
func (s ownerMatches) find(owner uint32) int {
	if s.m != nil {
		if k, ok := s.m[owner]; ok {
			return k
		}
		return -1
	}
	for k := range s.list {
		if s.list[k].owner == owner {
			return k
		}
	}
	return -1
}

// add records owner's match, at index i of the matches.
func (s ownerMatches) add(owner uint32, i int) ownerMatches {
	s.list = append(s.list, ownerMatch{owner: owner, i: i})
	switch n := len(s.list); {
	case n == 17:
		s.m = make(map[uint32]int, 32)
		for k, om := range s.list {
			s.m[om.owner] = k
		}
	case n > 17:
		s.m[owner] = n - 1
	}
	return s
}

func appendBounded(ctx, more []string) []string {
	for i, s := range more {
		if len(ctx) >= maxContext {
			return append(ctx, fmt.Sprintf("and %d more", len(more)-i))
		}
		ctx = append(ctx, s)
	}
	return ctx
}

// age writes a duration in days (or hours under a day) for people.
func age(d time.Duration) string {
	if d >= 24*time.Hour {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + " days"
	}
	return d.Round(time.Minute).String()
}

// hostCands applies the host rules. Only the exact host matches on or
// under a shared domain; otherwise, with D the registrable domain of h:
// rows under D match h == D strongly (under-notice-domain); a row that is
// a parent of h (D included) matches weakly (under-customer-domain); other
// rows under D are siblings (weak). When more than BroadPrefixMaxCustomers
// customers hold names under D, D is a platform in all but name: one weak
// broad summary replaces the per-customer domain matches.
func (ix *Index) hostCands(cs []cand, h string) []cand {
	var one [1]int32
	start, alone := len(cs), false
	for _, r := range ix.get(&ix.hosts, h, &one) {
		cs = append(cs, ix.cand(r, RuleSameHost, Strong))
		alone = alone || ix.rows[r].alone
	}
	// A host row that is alone under its registrable domain (most are)
	// settles the domain rules: every name under it is its owner's, and
	// its owner has matched exactly.
	if alone || !ix.domainUnder(h) || ix.d.shared.covers(h) {
		return cs
	}
	d, err := notice.RegistrableDomain(h)
	if err != nil {
		return cs
	}
	sp := ix.span(&ix.domains, d)
	if sp.n == 0 {
		return cs
	}
	var exact map[uint32]bool // reading a nil map is fine
	for _, c := range cs[start:] {
		if exact == nil {
			exact = map[uint32]bool{}
		}
		exact[c.owner] = true
	}
	if owners := ix.domains.owners(sp); owners-len(exact) > ix.cfg.BroadPrefixMaxCustomers {
		return append(cs, cand{row: -1, owner: noOwner, rule: RuleBroadDomain, count: owners,
			context: []string{fmt.Sprintf("broad domain %s: names under it held by %d customers", d, owners)}})
	}
	// Parents of h down to D: a customer holding one of them holds h's
	// zone, or a platform h lives on.
	var parent map[uint32]int32
	for a := h; a != d; {
		a = a[strings.IndexByte(a, '.')+1:]
		for _, r := range ix.get(&ix.hosts, a, &one) {
			if parent == nil {
				parent = map[uint32]int32{}
			}
			if _, ok := parent[ix.rows[r].owner]; !ok {
				parent[ix.rows[r].owner] = r
			}
		}
	}
	for _, r := range ix.domains.rowsOf(sp, &one) {
		o := ix.rows[r].owner
		p, hasParent := parent[o]
		switch {
		case exact[o]:
			// already matched on the exact host
		case h == d:
			cs = append(cs, ix.cand(r, RuleUnderNoticeDomain, Strong))
		case hasParent && p == r:
			cs = append(cs, ix.cand(r, RuleUnderCustomerDomain, Weak))
		case !hasParent:
			cs = append(cs, ix.cand(r, RuleSibling, Weak))
		}
	}
	return cs
}

// domainUnder reports whether some suffix of h of two labels or more (its
// registrable domain is one) holds customer names. Most hosts are
// nobody's: this answers them with a map probe or two, before the public
// suffix list is consulted.
func (ix *Index) domainUnder(h string) bool {
	for s := h; ; {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return false // a single label is never a registrable domain
		}
		if h := ix.domains.hash(s); ix.domains.mayHave(h) && ix.spanHashed(&ix.domains, h, s).n > 0 {
			return true
		}
		s = s[i+1:]
	}
}

// prefixCands applies the prefix rules.
func (ix *Index) prefixCands(cs []cand, p netip.Prefix) []cand {
	// The customer's prefix contains the notice's: the longest covering
	// prefix matches; shorter ones are context.
	var (
		lsp     pgroup
		covered bool
		chain   []string
		is4     = p.Addr().Is4()
	)
	// Most addresses are nobody's, and most covering prefixes are not
	// inside another: one longest-match probe decides both before the
	// walk over every covering prefix. Most notice prefixes are single
	// addresses, for which the address lookup is the cheaper probe; the
	// longest prefix itself is needed only for a shared prefix's summary
	// (pgroup.off names it among the prefixes of its family).
	if p.IsSingleIP() {
		lsp, covered = ix.prefixes.Lookup(p.Addr())
	} else {
		_, lsp, covered = ix.prefixes.LookupPrefixLPM(p)
	}
	if covered && lsp.nested {
		for q, sp := range ix.prefixes.Supernets(p) {
			if sp.off != lsp.off && len(chain) < maxContext {
				chain = append(chain, ix.prefixContext(q, sp))
			}
		}
	}
	ents := ix.pfx6
	if is4 {
		ents = ix.pfx4
	}
	if covered {
		if int(lsp.owners) > ix.cfg.BroadPrefixMaxCustomers {
			longest := pentPrefix(ents[lsp.off], is4)
			cs = append(cs, cand{row: -1, owner: noOwner, rule: RuleSharedPrefix, count: int(lsp.owners),
				context: append([]string{fmt.Sprintf("shared prefix %s, held by %d customers", longest, lsp.owners)}, chain...)})
		} else if lsp.n == 1 {
			c := ix.cand(lsp.first, RulePrefixCovers, Strong)
			c.context = chain
			cs = append(cs, c)
		} else {
			for _, e := range ents[lsp.off : lsp.off+lsp.n] {
				c := ix.cand(e.row, RulePrefixCovers, Strong)
				c.context = chain
				cs = append(cs, c)
			}
		}
	}

	// The notice's prefix contains the customers': entries strictly inside
	// p are contiguous in (address, length) order. A single address has
	// nothing inside it.
	if p.IsSingleIP() {
		return cs
	}
	phi, plo := addrBits(p.Addr())
	lhi, llo := lastBits(p)
	pb := uint8(p.Bits())
	lo, _ := slices.BinarySearchFunc(ents, struct{}{}, func(e pent, _ struct{}) int {
		if c := cmpAddr(e.hi, e.lo, phi, plo); c != 0 {
			return c
		}
		if e.bits <= pb {
			return -1
		}
		return 1
	})
	hi, _ := slices.BinarySearchFunc(ents, struct{}{}, func(e pent, _ struct{}) int {
		if cmpAddr(e.hi, e.lo, lhi, llo) <= 0 {
			return -1
		}
		return 1
	})
	inside := ents[lo:hi]
	if len(inside) == 0 {
		return cs
	}
	if len(inside) > maxWithinScan {
		return append(cs, cand{row: -1, owner: noOwner, rule: RuleBroadPrefix, count: len(inside),
			context: []string{fmt.Sprintf("broad prefix %s, %d customers (counted as customer prefixes: more than %d lie inside, each customer holds at least one)", p, len(inside), maxWithinScan)}})
	}
	limit := ix.cfg.BroadPrefixMaxCustomers
	owners := map[uint32]struct{}{}
	for _, e := range inside {
		owners[ix.rows[e.row].owner] = struct{}{}
	}
	narrow := p.Addr().Is4() && p.Bits() >= 24 || !p.Addr().Is4() && p.Bits() >= 48
	if narrow && len(owners) <= limit {
		for _, e := range inside {
			cs = append(cs, ix.cand(e.row, RulePrefixWithin, Strong))
		}
		return cs
	}
	c := cand{row: -1, owner: noOwner, rule: RuleBroadPrefix, count: len(owners),
		context: []string{fmt.Sprintf("broad prefix %s, %d customers", p, len(owners))}}
	if len(owners) <= limit {
		names := make([]string, 0, len(owners))
		for o := range owners {
			names = append(names, "customer "+ix.owner(o).Owner)
		}
		slices.Sort(names)
		c.context = append(c.context, names...)
	}
	return append(cs, c)
}

// prefixContext describes a shorter covering prefix for context.
func (ix *Index) prefixContext(q netip.Prefix, sp pgroup) string {
	ents := ix.pfx6
	if q.Addr().Is4() {
		ents = ix.pfx4
	}
	var names []string
	last := noOwner
	for _, e := range ents[sp.off : sp.off+sp.n] {
		if o := ix.rows[e.row].owner; o != last {
			last = o
			if len(names) == 3 {
				names = append(names, fmt.Sprintf("and %d more", int(sp.owners)-3))
				break
			}
			names = append(names, ix.owner(o).Owner)
		}
	}
	return fmt.Sprintf("also inside %s of customer %s", q, strings.Join(names, ", "))
}

// asnCands applies the ASN rules: holder equal is strong; origin is weak
// (MatchEntity makes it strong when an address corroborates it) and never
// on this provider's, a member's or a transit ASN.
func (ix *Index) asnCands(cs []cand, n uint32, role headsupv1.AsnRole) []cand {
	var one [1]int32 // the row of a key of one row
	switch role {
	case headsupv1.AsnRole_ASN_ROLE_HOLDER:
		for _, r := range ix.asns.get(n, &one) {
			cs = append(cs, ix.cand(r, RuleASNHolder, Strong))
		}
	case headsupv1.AsnRole_ASN_ROLE_ORIGIN:
		if _, never := ix.d.noOrigin[n]; never {
			return cs
		}
		for _, r := range ix.asns.get(n, &one) {
			cs = append(cs, ix.cand(r, RuleASNOrigin, Weak))
		}
	}
	return cs
}

// emailCands applies the e-mail rules: the same address is strong; the
// same domain weak, never a mailbox provider's or an own domain (Build
// leaves those out of the domain map, so they need no test here).
func (ix *Index) emailCands(cs []cand, e string) []cand {
	var one [1]int32
	start, alone := len(cs), false
	for _, r := range ix.get(&ix.emails, e, &one) {
		cs = append(cs, ix.cand(r, RuleEmailAddress, Strong))
		alone = alone || ix.rows[r].alone
	}
	if alone {
		// Every address at the domain is the owner's of an exact match.
		return cs
	}
	var exact map[uint32]bool // reading a nil map is fine
	for _, c := range cs[start:] {
		if exact == nil {
			exact = map[uint32]bool{}
		}
		exact[c.owner] = true
	}
	dom := e[strings.LastIndexByte(e, '@')+1:]
	for _, r := range ix.get(&ix.mailDoms, dom, &one) {
		if !exact[ix.rows[r].owner] {
			cs = append(cs, ix.cand(r, RuleEmailDomain, Weak))
		}
	}
	return cs
}

// memberCands matches a member id.
func (ix *Index) memberCands(cs []cand, m string) []cand {
	var one [1]int32 // the row of a key of one row
	for _, r := range ix.members.get(m, &one) {
		cs = append(cs, ix.cand(r, RuleMember, Strong))
	}
	return cs
}

// hashedCands matches a hashed identifier: equal under a configured key,
// strong, except phone numbers (weak: a shared or recycled number).
func (ix *Index) hashedCands(cs []cand, h string) []cand {
	var one [1]int32 // the row of a key of one row
	k, ok := ix.parseHashed(h)
	if !ok {
		return cs
	}
	s := hashedStrength(strings.Split(h, ":")[2])
	for _, r := range ix.hashes.get(k, &one) {
		cs = append(cs, ix.cand(r, RuleHashed, s))
	}
	return cs
}

// hashedStrength is the strength of an equal hash of type typ: strong,
// except phone numbers (shared and recycled) and organisation names (weak
// in the clear, so never stronger hashed).
func hashedStrength(typ string) Strength {
	if typ == string(TypePhone) || typ == string(TypeOrganisation) {
		return Weak
	}
	return Strong
}

// plainHashedCands hashes a plain notice value under every configured key
// to meet rows that hold only its hash.
func (ix *Index) plainHashedCands(cs []cand, typ, v string) []cand {
	var one [1]int32 // the row of a key of one row
	if !ix.rawHash {
		return cs
	}
	in := notice.HashInput(typ, v)
	for k, id := range ix.d.keyIDs {
		for _, r := range ix.hashes.get(hashKey{key: uint16(k), sum: newHashFunc(ix.cfg.HashKeys[id])(in)}, &one) {
			if ix.rows[r].typ.Type() == TypeHashed {
				cs = append(cs, ix.cand(r, RuleHashed, hashedStrength(typ)))
			}
		}
	}
	return cs
}
