package match

import (
	"net/netip"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/notice"
)

// IsOwn reports whether e is in this provider's own space: its member id,
// a host on or under an own domain, an address inside an own prefix (or a
// prefix containing one, weakly), an own ASN as holder, or as origin (weak
// unless an address of e is inside an own prefix). The matches have Owner
// "" and Rule own-space; the agent raises "unknown customer in your own
// space" from them when no customer matches. An address observed by DNS
// only is weak, as in [Index.MatchEntity]; observation age is the caller's
// to judge (IsOwn has no clock).
func (c Config) IsOwn(e *headsupv1.Entity) []Match {
	var out []Match
	add := func(ident string, s Strength, ctx string, id *headsupv1.Identifier) {
		m := Match{Identifier: ident, Rule: RuleOwnSpace, Strength: s, Context: []string{ctx}}
		if t := id.GetObservation().GetObservedAt(); t != nil {
			m.ObservedAt = t.AsTime()
		}
		if s == Strong && id.GetObservation().GetMethod() == headsupv1.ObservationMethod_OBSERVATION_METHOD_DNS {
			if _, isAddr := id.GetValue().(*headsupv1.Identifier_Address); isAddr {
				m.Strength = Weak
				m.Weakened = "observed by DNS only: anyone who controls a zone can point it at an innocent customer"
			}
		}
		out = append(out, m)
	}
	if m := e.GetMember(); m != "" && m == c.OwnMember {
		add("member:"+m, Strong, "this provider's own member id", nil)
	}
	domains := newDomainSet(c.OwnDomains)
	asns := newASNSet(c.OwnASNs)
	addressInside := false
	var origins []int
	for _, id := range e.GetIdentifiers() {
		switch x := id.GetValue().(type) {
		case *headsupv1.Identifier_Host:
			if domains.covers(x.Host) {
				add("host:"+x.Host, Strong, "on or under an own domain", id)
			}
		case *headsupv1.Identifier_Address:
			p, err := netip.ParsePrefix(x.Address.GetPrefix())
			if err != nil {
				continue
			}
			p = p.Masked()
			// The most telling own prefix: one that contains the address
			// (strong), else one the address contains (weak).
			var inside, contains netip.Prefix
			for _, o := range c.OwnPrefixes {
				o = o.Masked()
				switch {
				case o.Bits() <= p.Bits() && o.Contains(p.Addr()):
					if !inside.IsValid() {
						inside = o
					}
				case p.Overlaps(o):
					if !contains.IsValid() {
						contains = o
					}
				}
			}
			ident := "address:" + notice.PrefixString(p)
			switch {
			case inside.IsValid():
				add(ident, Strong, "inside own prefix "+inside.String(), id)
				addressInside = addressInside || out[len(out)-1].Strength == Strong
			case contains.IsValid():
				add(ident, Weak, "contains own prefix "+contains.String(), id)
			}
		case *headsupv1.Identifier_Asn:
			if _, ok := asns[x.Asn.GetNumber()]; !ok {
				continue
			}
			ident := "asn:" + asnString(x.Asn.GetNumber())
			switch x.Asn.GetRole() {
			case headsupv1.AsnRole_ASN_ROLE_HOLDER:
				add(ident, Strong, "own ASN as holder", id)
			case headsupv1.AsnRole_ASN_ROLE_ORIGIN:
				add(ident, Weak, "own ASN as origin", id)
				origins = append(origins, len(out)-1)
			}
		}
	}
	if addressInside {
		for _, i := range origins {
			out[i].Strength = Strong
			out[i].Context = append(out[i].Context, "corroborated by an address of the same entity inside an own prefix")
		}
	}
	return out
}
