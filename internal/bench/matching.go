package bench

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/gaissmai/bart"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/match"
)

// matchingTarget: at most twice the bare probes' time at every size.
const matchingTarget = 0.5

// memoryTargets: at most twice the bare map's bytes, and at most 150 B.
const (
	memoryRatioTarget = 0.5
	memoryBudget      = 150.0
)

// identifiersPerNotice is how many identifiers each probed notice's
// subject holds.
const identifiersPerNotice = 4

// Identifier i of a customer list of the fixed, stated mix (customer
// i/3, so about three identifiers per customer):
//
//	40%  host          s<i mod 3>.customer-<i/3, 7 digits>.example, every 8th
//	                   under .co.uk instead (up to 3 hosts per registrable
//	                   domain)
//	30%  prefix        of which 4 in 6 an IPv4 /32 in 45.0.0.0/8, 1 in 6 an
//	                   IPv4 /24 from 60.0.0.0/8 on, 1 in 6 an IPv6 /48 in
//	                   2a00::/12
//	10%  asn           AS 200000+i (holder)
//	10%  email         user<i>@customer-<i/3>.example
//	 5%  organisation  "Customer <i> Widgets Ltd"
//	 5%  registration  company:GB:<i, 8 digits>
//
// Each notice probed holds four identifiers; each identifier is a hit
// (the same host, an address inside the customer's prefix, the holder ASN,
// the same address, organisation and registration) or, every other one, a
// miss of the same shape.
type ident struct {
	typ    match.Type
	value  string // the row's value as a customer file holds it
	key    string // the normal form the bare map holds (organisation: its key)
	prefix netip.Prefix
	asn    uint32
}

func identAt(i int) ident {
	switch k := i % 20; {
	case k < 8:
		tld := "example"
		if i%8 == 0 {
			tld = "co.uk"
		}
		v := fmt.Sprintf("s%d.customer-%07d.%s", i%3, i/3, tld)
		return ident{typ: match.TypeHost, value: v, key: v}
	case k < 14:
		q := i / 20
		var p netip.Prefix
		switch k - 8 {
		case 0:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(60 + q>>16), byte(q >> 8), byte(q), 0}), 24)
		case 1:
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x2a, 0x00 | byte(q>>24&0x0f), byte(q >> 16), byte(q >> 8), byte(q)}), 48)
		default:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(45 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		}
		return ident{typ: match.TypePrefix, value: p.String(), key: p.String(), prefix: p}
	case k < 16:
		n := uint32(200000 + i)
		v := fmt.Sprintf("AS%d", n)
		return ident{typ: match.TypeASN, value: v, key: v, asn: n}
	case k < 18:
		v := fmt.Sprintf("user%d@customer-%07d.example", i, i/3)
		return ident{typ: match.TypeEmail, value: v, key: v}
	case k < 19:
		return ident{typ: match.TypeOrganisation, value: fmt.Sprintf("Customer %d Widgets Ltd", i), key: fmt.Sprintf("customer%dwidgets", i)}
	default:
		v := fmt.Sprintf("company:GB:%08d", i)
		return ident{typ: match.TypeRegistration, value: v, key: v}
	}
}

// probeAt returns the notice identifier that hits identifier i, or a miss
// of the same shape.
func probeAt(i int, hit bool) *headsupv1.Identifier {
	id := identAt(i)
	switch id.typ {
	case match.TypeHost:
		v := id.value
		if !hit {
			v = strings.Replace(v, "customer-", "nobody-", 1)
		}
		return &headsupv1.Identifier{Value: &headsupv1.Identifier_Host{Host: v}}
	case match.TypePrefix:
		a := id.prefix.Addr()
		if id.prefix.Bits() < a.BitLen() {
			a = a.Next() // an address inside the customer's prefix
		}
		if !hit {
			b := a.AsSlice()
			b[0] -= 1 // 45 → 44, 60+ → 59+ below every /24, 2a00 → 2900: nobody's
			if a.Is4() && b[0] >= 59 {
				b[0] = 59
			}
			a, _ = netip.AddrFromSlice(b)
		}
		return &headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: netip.PrefixFrom(a, a.BitLen()).String()}}}
	case match.TypeASN:
		n := id.asn
		if !hit {
			n += 30_000_000
		}
		return &headsupv1.Identifier{Value: &headsupv1.Identifier_Asn{Asn: &headsupv1.Asn{Number: n, Role: headsupv1.AsnRole_ASN_ROLE_HOLDER}}}
	case match.TypeEmail:
		v := id.value
		if !hit {
			v = "x" + v
		}
		return &headsupv1.Identifier{Value: &headsupv1.Identifier_Email{Email: v}}
	case match.TypeOrganisation:
		v := fmt.Sprintf("customer %d widgets", i)
		if !hit {
			v += " zz"
		}
		return &headsupv1.Identifier{Value: &headsupv1.Identifier_Organisation{Organisation: v}}
	default:
		v := fmt.Sprintf("%08d", i)
		if !hit {
			v = "X" + v
		}
		return &headsupv1.Identifier{Value: &headsupv1.Identifier_Registration{Registration: &headsupv1.Registration{
			Scheme: headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER, Value: v, Country: "GB"}}}
	}
}

// customerRows returns the first n identifiers as customer rows. Owner
// and name strings are shared by a customer's rows, as a parser that
// interns them would.
func customerRows(n int) []match.Row {
	rows := make([]match.Row, n)
	var owner, name string
	for i := range rows {
		if i%3 == 0 {
			owner, name = fmt.Sprintf("cust-%07d", i/3), fmt.Sprintf("Customer %d", i/3)
		}
		id := identAt(i)
		rows[i] = match.Row{Owner: owner, Name: name, Type: id.typ, Value: id.value, Source: "bench", Line: i + 1}
	}
	return rows
}

// probeNotices returns count notice subjects over n identifiers.
func probeNotices(n, count int) []*headsupv1.Entity {
	out := make([]*headsupv1.Entity, count)
	for j := range out {
		e := &headsupv1.Entity{}
		for t := range identifiersPerNotice {
			k := j*identifiersPerNotice + t
			e.Identifiers = append(e.Identifiers, probeAt((k*7919)%n, k%2 == 0))
		}
		out[j] = e
	}
	return out
}

// BareIndex is the matching floor: one Go map per key kind and a bart
// prefix table over the same normalised keys, answering only "present or
// not".
type BareIndex struct {
	strs     map[string]int32
	asns     map[uint32]int32
	prefixes *bart.Table[int32]
}

func newBareIndex(n int) *BareIndex {
	b := &BareIndex{strs: make(map[string]int32), asns: make(map[uint32]int32), prefixes: &bart.Table[int32]{}}
	for i := range n {
		switch id := identAt(i); id.typ {
		case match.TypePrefix:
			b.prefixes.Insert(id.prefix, int32(i))
		case match.TypeASN:
			b.asns[id.asn] = int32(i)
		default:
			b.strs[id.key] = int32(i)
		}
	}
	return b
}

// probe reports how many of e's identifiers are present: one map or
// prefix-table probe each, the keys derived from the notice's normal form.
func (b *BareIndex) probe(e *headsupv1.Entity) int {
	found := 0
	for _, id := range e.GetIdentifiers() {
		ok := false
		switch x := id.GetValue().(type) {
		case *headsupv1.Identifier_Host:
			_, ok = b.strs[x.Host]
		case *headsupv1.Identifier_Address:
			if p, err := netip.ParsePrefix(x.Address.GetPrefix()); err == nil {
				_, ok = b.prefixes.LookupPrefix(p)
			}
		case *headsupv1.Identifier_Asn:
			_, ok = b.asns[x.Asn.GetNumber()]
		case *headsupv1.Identifier_Email:
			_, ok = b.strs[x.Email]
		case *headsupv1.Identifier_Organisation:
			_, ok = b.strs[strings.ReplaceAll(x.Organisation, " ", "")]
		case *headsupv1.Identifier_Registration:
			r := x.Registration
			_, ok = b.strs["company:"+r.GetCountry()+":"+r.GetValue()]
		}
		if ok {
			found++
		}
	}
	return found
}

// heapAfterGC is the live heap after two collections (the second frees
// what finalizers of the first released).
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// memoryFigure is the memory scenario's measurement at one size.
type memoryFigure struct {
	n               int
	index, bareSize float64 // bytes per identifier
}

// buildIndex builds the agent's customer index and the bare index over n
// identifiers and, with measure, the heap each holds per identifier.
func buildIndex(n int, measure bool) (*match.Index, *BareIndex, *memoryFigure, error) {
	var before uint64
	if measure {
		before = heapAfterGC()
	}
	ix, errs := match.Build(customerRows(n), match.Config{})
	if len(errs) > 0 {
		return nil, nil, nil, fmt.Errorf("customer row refused: %w", errs[0])
	}
	if !measure {
		return ix, newBareIndex(n), nil, nil
	}
	// The rows are garbage now: what stays is what the index holds.
	after := heapAfterGC()
	bare := newBareIndex(n)
	after2 := heapAfterGC()
	return ix, bare, &memoryFigure{n: n, index: float64(after-before) / float64(n), bareSize: float64(after2-after) / float64(n)}, nil
}

// matching measures ns per notice of the agent's customer index
// (MatchEntity, as the agent calls it) against the bare probes at each
// size.
func (e *env) matching(ctx context.Context) ([]Row, error) {
	var rows []Row
	q := match.Query{Issuer: Publisher, Now: time.Now()}
	for _, n := range e.o.Sizes.Matching {
		if ctx.Err() != nil {
			return rows, ctx.Err()
		}
		e.logf("matching %s: building the index", sizeName(n))
		start := time.Now()
		ix, bare, mem, err := buildIndex(n, n == e.o.Sizes.Memory)
		if err != nil {
			return rows, err
		}
		if mem != nil {
			e.mem = mem
		}
		e.logf("matching %s: built in %s", sizeName(n), time.Since(start).Round(time.Millisecond))
		notices := probeNotices(n, e.o.Sizes.MatchingNotices)
		hits := 0
		rounds, err := interleave(func(int) (float64, error) {
			start := time.Now()
			for _, nt := range notices {
				ix.MatchEntity(nt, q)
			}
			return perNotice(time.Since(start), len(notices)), nil
		}, func(int) (float64, error) {
			start := time.Now()
			for _, nt := range notices {
				hits += bare.probe(nt)
			}
			return perNotice(time.Since(start), len(notices)), nil
		})
		if err != nil {
			return rows, err
		}
		if hits == 0 {
			return rows, fmt.Errorf("matching %s: the bare probes found nothing", sizeName(n))
		}
		r := row("matching", fmt.Sprintf("ns per notice, %s identifiers", sizeName(n)), "ns", lowerIsBetter, matchingTarget, rounds)
		e.logf("matching %s: index %.0f ns, bare %.0f ns per notice", sizeName(n), r.Value, r.Baseline)
		rows = append(rows, r)
		if n == 1_000_000 && e.o.Sizes.ScanNotices > 0 {
			rows = append(rows, linearScan(n, notices[:min(len(notices), e.o.Sizes.ScanNotices)], bare))
		}
		runtime.KeepAlive(ix)
	}
	return rows, nil
}

func perNotice(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }

// linearScan is the sanity figure: every identifier compared with each of
// a notice's, reported against the bare probes.
func linearScan(n int, notices []*headsupv1.Entity, bare *BareIndex) Row {
	ids := make([]ident, n)
	for i := range ids {
		ids[i] = identAt(i)
	}
	scan := func(e *headsupv1.Entity) int {
		found := 0
		for _, id := range e.GetIdentifiers() {
			var p netip.Prefix
			want := ""
			switch x := id.GetValue().(type) {
			case *headsupv1.Identifier_Address:
				p, _ = netip.ParsePrefix(x.Address.GetPrefix())
			case *headsupv1.Identifier_Host:
				want = x.Host
			case *headsupv1.Identifier_Email:
				want = x.Email
			case *headsupv1.Identifier_Organisation:
				want = strings.ReplaceAll(x.Organisation, " ", "")
			case *headsupv1.Identifier_Asn:
				want = fmt.Sprintf("AS%d", x.Asn.GetNumber())
			case *headsupv1.Identifier_Registration:
				want = "company:" + x.Registration.GetCountry() + ":" + x.Registration.GetValue()
			}
			for i := range ids {
				if p.IsValid() {
					if ids[i].typ == match.TypePrefix && ids[i].prefix.Overlaps(p) {
						found++
					}
				} else if ids[i].key == want {
					found++
				}
			}
		}
		return found
	}
	rounds, _ := interleave(func(int) (float64, error) {
		start := time.Now()
		for _, nt := range notices {
			scan(nt)
		}
		return perNotice(time.Since(start), len(notices)), nil
	}, func(int) (float64, error) {
		start := time.Now()
		for _, nt := range notices {
			bare.probe(nt)
		}
		return perNotice(time.Since(start), len(notices)), nil
	})
	return row("matching", "ns per notice, linear scan of 1M (sanity)", "ns", lowerIsBetter, 0, rounds)
}

// memory reports bytes per customer identifier in the agent's index at
// Sizes.Memory, measured while matching built that size (or now).
func (e *env) memory(ctx context.Context) ([]Row, error) {
	n := e.o.Sizes.Memory
	if e.mem == nil || e.mem.n != n {
		e.logf("memory %s: building the index", sizeName(n))
		ix, bare, mem, err := buildIndex(n, true)
		if err != nil {
			return nil, err
		}
		runtime.KeepAlive(ix)
		runtime.KeepAlive(bare)
		e.mem = mem
	}
	// One measurement: heap sizes after two GCs do not drift with load.
	rs := []round{{value: e.mem.index, baseline: e.mem.bareSize}}
	budget := []round{{value: e.mem.index, baseline: memoryBudget}}
	return []Row{
		row("memory", fmt.Sprintf("bytes per identifier in the index at %s, vs a bare map", sizeName(n)), "B", lowerIsBetter, memoryRatioTarget, rs),
		row("memory", fmt.Sprintf("bytes per identifier in the index at %s, vs 150 B", sizeName(n)), "B", lowerIsBetter, 1, budget),
	}, nil
}

// sizeName writes 10000 as 10k and 1000000 as 1M.
func sizeName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
