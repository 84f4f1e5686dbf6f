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
	row      int32 // -1 for a summary
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
	var out []Match
	if m := e.GetMember(); m != "" {
		if cs := ix.memberCands(nil, m); len(cs) > 0 {
			out = ix.appendFinished(out, cs, "member:"+m, nil, q)
		}
	}
	for _, id := range e.GetIdentifiers() {
		out = ix.appendMatches(out, id, q)
	}
	// Corroboration: "origin: weak unless an address of the same notice
	// matches the same customer".
	var addressed map[string]string // owner -> the address that matched it strongly
	for _, m := range out {
		if m.Owner != "" && m.Strength == Strong && (m.Rule == RulePrefixCovers || m.Rule == RulePrefixWithin) {
			if addressed == nil {
				addressed = map[string]string{}
			}
			if _, ok := addressed[m.Owner]; !ok {
				addressed[m.Owner] = m.Identifier
			}
		}
	}
	for i := range out {
		m := &out[i]
		if a, ok := addressed[m.Owner]; ok && m.Rule == RuleASNOrigin && m.Weakened == "" {
			m.Strength = Strong
			m.Context = append(m.Context, "corroborated by "+a+" of the same entity")
		}
	}
	return out
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
	return ix.appendMatches(nil, id, q)
}

// appendMatches appends id's matches (MatchIdentifier) to out.
func (ix *Index) appendMatches(out []Match, id *headsupv1.Identifier, q Query) []Match {
	var (
		csBuf [4]cand // most identifiers match a few rows at most
		cs    = csBuf[:0]
		buf   [96]byte // keys that differ from the notice's value are built here
	)
	switch x := id.GetValue().(type) {
	case *headsupv1.Identifier_Host:
		cs = ix.hostCands(cs, x.Host)
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "host", x.Host)
		}
	case *headsupv1.Identifier_Address:
		p, ok := identPrefix(x.Address)
		if !ok {
			return out
		}
		cs = ix.prefixCands(cs, p)
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "address", notice.PrefixString(p))
		}
	case *headsupv1.Identifier_Asn:
		if x.Asn == nil {
			return out
		}
		cs = ix.asnCands(cs, x.Asn.Number, x.Asn.Role)
	case *headsupv1.Identifier_Email:
		cs = ix.emailCands(cs, x.Email)
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "email", x.Email)
		}
	case *headsupv1.Identifier_Organisation:
		for _, r := range getBytes(&ix.orgs, appendOrgKey(buf[:0], x.Organisation)) {
			cs = append(cs, cand{row: r, rule: RuleOrganisation, strength: Weak})
		}
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "organisation", x.Organisation)
		}
	case *headsupv1.Identifier_Registration:
		r := x.Registration
		k := appendRegistration(buf[:0], r.GetScheme(), r.GetValue(), r.GetCountry())
		if len(k) == 0 {
			return out
		}
		for _, row := range getBytes(&ix.regs, k) {
			cs = append(cs, cand{row: row, rule: RuleRegistration, strength: Strong})
		}
		if ix.rawHash {
			cs = ix.plainHashedCands(cs, "registration", string(k))
		}
	case *headsupv1.Identifier_Hashed:
		cs = ix.hashedCands(cs, x.Hashed)
	default:
		return out
	}
	if len(cs) == 0 {
		return out
	}
	return ix.appendFinished(out, cs, identName(id), id, q)
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

// identName is the identifier as a Match names it, in normal form with its
// type: "host:cdn.chanboard.example", "address:203.0.113.0/24",
// "asn:AS64500", …
func identName(id *headsupv1.Identifier) string {
	switch x := id.GetValue().(type) {
	case *headsupv1.Identifier_Host:
		return "host:" + x.Host
	case *headsupv1.Identifier_Address:
		p, _ := identPrefix(x.Address)
		return "address:" + notice.PrefixString(p)
	case *headsupv1.Identifier_Asn:
		return "asn:" + asnString(x.Asn.GetNumber())
	case *headsupv1.Identifier_Email:
		return "email:" + x.Email
	case *headsupv1.Identifier_Organisation:
		return "organisation:" + x.Organisation
	case *headsupv1.Identifier_Registration:
		r := x.Registration
		return "registration:" + registrationString(r.GetScheme(), r.GetValue(), r.GetCountry())
	case *headsupv1.Identifier_Hashed:
		return "hashed:" + x.Hashed
	}
	return ""
}

// appendFinished applies the observation rules and the issuer filter,
// keeps one match per owner (the best; the others become its context),
// orders the matches, caps them and appends them to out.
func (ix *Index) appendFinished(out []Match, cs []cand, ident string, id *headsupv1.Identifier, q Query) []Match {
	if len(cs) == 0 {
		return out
	}
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	var observed time.Time
	obs := id.GetObservation()
	if t := obs.GetObservedAt(); t != nil {
		observed = t.AsTime()
	}
	_, isAddress := id.GetValue().(*headsupv1.Identifier_Address)

	// Why every match of this identifier is weak, if it is.
	weakAll := ""
	if isAddress {
		a := id.GetAddress()
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
	ms := slices.Grow(out, len(cs))
	var (
		best  map[int32]int // owner -> index in ms; made when a second candidate comes
		extra map[int32][]string
	)
	for _, c := range cs {
		if c.row < 0 {
			ms = append(ms, Match{Identifier: ident, Rule: c.rule, Strength: Weak, Context: c.context, Customers: c.count, ObservedAt: observed})
			continue
		}
		r := ix.rows[c.row]
		o := ix.owner(r.owner)
		if q.Issuer != "" && o.Member == q.Issuer {
			continue
		}
		m := Match{
			Owner: o.Owner, Name: o.Name, Link: o.Link, Member: o.Member,
			Row: ix.row(c.row), Identifier: ident, Rule: c.rule, Strength: c.strength,
			Context: slices.Clip(c.context), ObservedAt: observed,
		}
		if vf, ok := ix.valid[c.row]; ok && !observed.IsZero() && observed.Before(vf) && m.Strength == Strong {
			m.Strength = Weak
			m.Weakened = "held by the customer only since " + vf.UTC().Format(time.RFC3339) + ", after the observation"
		}
		if weakAll != "" && m.Strength == Strong {
			m.Strength, m.Weakened = Weak, weakAll
		}
		if best == nil && len(cs) > 1 {
			best = make(map[int32]int, len(cs))
		}
		i, seen := best[r.owner]
		if !seen {
			if best != nil {
				best[r.owner] = len(ms)
			}
			ms = append(ms, m)
			continue
		}
		if better(m, ms[i]) {
			m, ms[i] = ms[i], m
		}
		if extra == nil {
			extra = map[int32][]string{}
		}
		extra[r.owner] = append(extra[r.owner], "also "+describe(m))
	}
	for o, more := range extra {
		i := best[o]
		ms[i].Context = appendBounded(slices.Clip(ms[i].Context), more)
	}
	slices.SortFunc(ms[start:], func(a, b Match) int {
		return cmp.Or(
			-cmp.Compare(a.Strength, b.Strength),
			compareBool(a.Owner == "", b.Owner == ""), // summaries last
			cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Name, b.Name),
			cmp.Compare(rank(a.Rule), rank(b.Rule)),
			cmp.Compare(a.Row.Source, b.Row.Source), cmp.Compare(a.Row.Line, b.Row.Line))
	})
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

// better reports whether a should stand for its owner rather than b.
func better(a, b Match) bool {
	return cmp.Or(
		-cmp.Compare(a.Strength, b.Strength),
		cmp.Compare(rank(a.Rule), rank(b.Rule)),
		cmp.Compare(a.Row.Source, b.Row.Source), cmp.Compare(a.Row.Line, b.Row.Line),
		cmp.Compare(a.Row.Value, b.Row.Value)) < 0
}

func describe(m Match) string {
	return fmt.Sprintf("%s %s (%s, %s:%d)", m.Row.Type, m.Row.Value, m.Rule, m.Row.Source, m.Row.Line)
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
	var exact map[int32]bool // reading a nil map is fine
	for _, r := range ix.hosts.get(h) {
		cs = append(cs, cand{row: r, rule: RuleSameHost, strength: Strong})
		if exact == nil {
			exact = map[int32]bool{}
		}
		exact[ix.rows[r].owner] = true
	}
	if ix.d.shared.covers(h) || !ix.domainUnder(h) {
		return cs
	}
	d, err := notice.RegistrableDomain(h)
	if err != nil {
		return cs
	}
	sp := ix.domains.span(d)
	if sp.n == 0 {
		return cs
	}
	if int(sp.owners)-len(exact) > ix.cfg.BroadPrefixMaxCustomers {
		return append(cs, cand{row: -1, rule: RuleBroadDomain, count: int(sp.owners),
			context: []string{fmt.Sprintf("broad domain %s: names under it held by %d customers", d, sp.owners)}})
	}
	// Parents of h down to D: a customer holding one of them holds h's
	// zone, or a platform h lives on.
	var parent map[int32]int32
	for a := h; a != d; {
		a = a[strings.IndexByte(a, '.')+1:]
		for _, r := range ix.hosts.get(a) {
			if parent == nil {
				parent = map[int32]int32{}
			}
			if _, ok := parent[ix.rows[r].owner]; !ok {
				parent[ix.rows[r].owner] = r
			}
		}
	}
	rows := ix.domains.rows[sp.off : sp.off+sp.n]
	for _, r := range rows {
		o := ix.rows[r].owner
		p, hasParent := parent[o]
		switch {
		case exact[o]:
			// already matched on the exact host
		case h == d:
			cs = append(cs, cand{row: r, rule: RuleUnderNoticeDomain, strength: Strong})
		case hasParent && p == r:
			cs = append(cs, cand{row: r, rule: RuleUnderCustomerDomain, strength: Weak})
		case !hasParent:
			cs = append(cs, cand{row: r, rule: RuleSibling, strength: Weak})
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
		if ix.domains.span(s).n > 0 {
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
		longest netip.Prefix
		lsp     span
		chain   []string
	)
	// Most addresses are nobody's: one longest-match probe decides that
	// before the walk over every covering prefix.
	if _, _, covered := ix.prefixes.LookupPrefixLPM(p); covered {
		for q, sp := range ix.prefixes.Supernets(p) {
			if !longest.IsValid() {
				longest, lsp = q, sp
				continue
			}
			if len(chain) < maxContext {
				chain = append(chain, ix.prefixContext(q, sp))
			}
		}
	}
	ents := ix.pfx6
	if p.Addr().Is4() {
		ents = ix.pfx4
	}
	if longest.IsValid() {
		if int(lsp.owners) > ix.cfg.BroadPrefixMaxCustomers {
			cs = append(cs, cand{row: -1, rule: RuleSharedPrefix, count: int(lsp.owners),
				context: append([]string{fmt.Sprintf("shared prefix %s, held by %d customers", longest, lsp.owners)}, chain...)})
		} else {
			for _, e := range ents[lsp.off : lsp.off+lsp.n] {
				cs = append(cs, cand{row: e.row, rule: RulePrefixCovers, strength: Strong, context: chain})
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
		return append(cs, cand{row: -1, rule: RuleBroadPrefix, count: len(inside),
			context: []string{fmt.Sprintf("broad prefix %s, %d customers (counted as customer prefixes: more than %d lie inside, each customer holds at least one)", p, len(inside), maxWithinScan)}})
	}
	limit := ix.cfg.BroadPrefixMaxCustomers
	owners := map[int32]struct{}{}
	for _, e := range inside {
		owners[ix.rows[e.row].owner] = struct{}{}
	}
	narrow := p.Addr().Is4() && p.Bits() >= 24 || !p.Addr().Is4() && p.Bits() >= 48
	if narrow && len(owners) <= limit {
		for _, e := range inside {
			cs = append(cs, cand{row: e.row, rule: RulePrefixWithin, strength: Strong})
		}
		return cs
	}
	c := cand{row: -1, rule: RuleBroadPrefix, count: len(owners),
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
func (ix *Index) prefixContext(q netip.Prefix, sp span) string {
	ents := ix.pfx6
	if q.Addr().Is4() {
		ents = ix.pfx4
	}
	var names []string
	last := int32(-1)
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
	switch role {
	case headsupv1.AsnRole_ASN_ROLE_HOLDER:
		for _, r := range ix.asns.get(n) {
			cs = append(cs, cand{row: r, rule: RuleASNHolder, strength: Strong})
		}
	case headsupv1.AsnRole_ASN_ROLE_ORIGIN:
		if _, never := ix.d.noOrigin[n]; never {
			return cs
		}
		for _, r := range ix.asns.get(n) {
			cs = append(cs, cand{row: r, rule: RuleASNOrigin, strength: Weak})
		}
	}
	return cs
}

// emailCands applies the e-mail rules: the same address is strong; the
// same domain weak, never a mailbox provider's or an own domain (Build
// leaves those out of the domain map).
func (ix *Index) emailCands(cs []cand, e string) []cand {
	var exact map[int32]bool
	for _, r := range ix.emails.get(e) {
		cs = append(cs, cand{row: r, rule: RuleEmailAddress, strength: Strong})
		if exact == nil {
			exact = map[int32]bool{}
		}
		exact[ix.rows[r].owner] = true
	}
	dom := e[strings.LastIndexByte(e, '@')+1:]
	if ix.d.noMailDom.covers(dom) {
		return cs
	}
	for _, r := range ix.mailDoms.get(dom) {
		if !exact[ix.rows[r].owner] {
			cs = append(cs, cand{row: r, rule: RuleEmailDomain, strength: Weak})
		}
	}
	return cs
}

// memberCands matches a member id.
func (ix *Index) memberCands(cs []cand, m string) []cand {
	for _, r := range ix.members.get(m) {
		cs = append(cs, cand{row: r, rule: RuleMember, strength: Strong})
	}
	return cs
}

// hashedCands matches a hashed identifier: equal under a configured key,
// strong, except phone numbers (weak: a shared or recycled number).
func (ix *Index) hashedCands(cs []cand, h string) []cand {
	k, ok := ix.parseHashed(h)
	if !ok {
		return cs
	}
	s := hashedStrength(strings.Split(h, ":")[2])
	for _, r := range ix.hashes.get(k) {
		cs = append(cs, cand{row: r, rule: RuleHashed, strength: s})
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
	if !ix.rawHash {
		return cs
	}
	in := notice.HashInput(typ, v)
	for k, id := range ix.d.keyIDs {
		for _, r := range ix.hashes.get(hashKey{key: uint16(k), sum: newHashFunc(ix.cfg.HashKeys[id])(in)}) {
			if ix.rows[r].typ.Type() == TypeHashed {
				cs = append(cs, cand{row: r, rule: RuleHashed, strength: hashedStrength(typ)})
			}
		}
	}
	return cs
}
