package match

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gaissmai/bart"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// The notice mix of `headsup bench`'s matching scenario
// (internal/bench/matching.go), copied rather than imported (package
// bench imports this one), so that the figure the bench reports can be
// profiled here: customer identifier i of the stated mix, notices of four
// identifiers, every other one a hit.
type mixIdent struct {
	typ    Type
	value  string
	key    string
	prefix netip.Prefix
	asn    uint32
}

func mixIdentAt(i int) mixIdent {
	switch k := i % 20; {
	case k < 8:
		tld := "example"
		if i%8 == 0 {
			tld = "co.uk"
		}
		v := fmt.Sprintf("s%d.customer-%07d.%s", i%3, i/3, tld)
		return mixIdent{typ: TypeHost, value: v, key: v}
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
		return mixIdent{typ: TypePrefix, value: p.String(), key: p.String(), prefix: p}
	case k < 16:
		n := uint32(200000 + i)
		v := fmt.Sprintf("AS%d", n)
		return mixIdent{typ: TypeASN, value: v, key: v, asn: n}
	case k < 18:
		v := fmt.Sprintf("user%d@customer-%07d.example", i, i/3)
		return mixIdent{typ: TypeEmail, value: v, key: v}
	case k < 19:
		return mixIdent{typ: TypeOrganisation, value: fmt.Sprintf("Customer %d Widgets Ltd", i), key: fmt.Sprintf("customer%dwidgets", i)}
	default:
		v := fmt.Sprintf("company:GB:%08d", i)
		return mixIdent{typ: TypeRegistration, value: v, key: v}
	}
}

func mixProbeAt(i int, hit bool) *headsupv1.Identifier {
	id := mixIdentAt(i)
	switch id.typ {
	case TypeHost:
		v := id.value
		if !hit {
			v = strings.Replace(v, "customer-", "nobody-", 1)
		}
		return host(v)
	case TypePrefix:
		a := id.prefix.Addr()
		if id.prefix.Bits() < a.BitLen() {
			a = a.Next()
		}
		if !hit {
			b := a.AsSlice()
			b[0] -= 1
			if a.Is4() && b[0] >= 59 {
				b[0] = 59
			}
			a, _ = netip.AddrFromSlice(b)
		}
		return addr(netip.PrefixFrom(a, a.BitLen()).String())
	case TypeASN:
		n := id.asn
		if !hit {
			n += 30_000_000
		}
		return asn(n, holder)
	case TypeEmail:
		v := id.value
		if !hit {
			v = "x" + v
		}
		return email(v)
	case TypeOrganisation:
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
		return reg(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER, v, "GB")
	}
}

func mixRows(n int) []Row {
	rows := make([]Row, n)
	var owner, name string
	for i := range rows {
		if i%3 == 0 {
			owner, name = fmt.Sprintf("cust-%07d", i/3), fmt.Sprintf("Customer %d", i/3)
		}
		id := mixIdentAt(i)
		rows[i] = Row{Owner: owner, Name: name, Type: id.typ, Value: id.value, Source: "bench", Line: i + 1}
	}
	return rows
}

func mixNotices(n, count int) []*headsupv1.Entity {
	out := make([]*headsupv1.Entity, count)
	for j := range out {
		e := &headsupv1.Entity{}
		for t := range 4 {
			k := j*4 + t
			e.Identifiers = append(e.Identifiers, mixProbeAt((k*7919)%n, k%2 == 0))
		}
		out[j] = e
	}
	return out
}

// mixBare is the bench's floor: a map per key kind and a bart table.
type mixBare struct {
	strs     map[string]int32
	asns     map[uint32]int32
	prefixes *bart.Table[int32]
}

func newMixBare(n int) *mixBare {
	b := &mixBare{strs: map[string]int32{}, asns: map[uint32]int32{}, prefixes: &bart.Table[int32]{}}
	for i := range n {
		switch id := mixIdentAt(i); id.typ {
		case TypePrefix:
			b.prefixes.Insert(id.prefix, int32(i))
		case TypeASN:
			b.asns[id.asn] = int32(i)
		default:
			b.strs[id.key] = int32(i)
		}
	}
	return b
}

func (b *mixBare) probe(e *headsupv1.Entity) int {
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

// BenchmarkMatchEntityMix is MatchEntity per notice over the bench's mix
// at 10k and 100k identifiers (1M when -bench names it), interleaved with
// the bare probes of the same notices in chunks of 500 notices, so that
// the machine's load weighs on both alike. It reports ns per notice of
// each (index-ns/notice, bare-ns/notice) and x_bare, their ratio: the
// bench's ratio inverted, lower is better, at most 2 is its target. ns/op
// is the time of one chunk of both.
func BenchmarkMatchEntityMix(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"10k", 10_000}, {"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run(size.name, func(b *testing.B) {
			if size.n >= 1_000_000 && !explicitlySelected(size.name) {
				b.Skip("1M runs only when -bench names it, e.g. -bench 'MatchEntityMix/1M'")
			}
			ix, errs := Build(mixRows(size.n), Config{})
			if len(errs) > 0 {
				b.Fatal(errs[0])
			}
			bare := newMixBare(size.n)
			notices := mixNotices(size.n, 20_000)
			q := Query{Issuer: "publisher", Now: now}
			const chunk = 500
			var index, floor time.Duration
			found, i := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				part := notices[i%len(notices) : i%len(notices)+chunk]
				i += chunk
				// Whichever goes first reads the notices into the cache:
				// take turns.
				matchAll := func() time.Duration {
					start := time.Now()
					for _, e := range part {
						ix.MatchEntity(e, q)
					}
					return time.Since(start)
				}
				probeAll := func() time.Duration {
					start := time.Now()
					for _, e := range part {
						found += bare.probe(e)
					}
					return time.Since(start)
				}
				if i/chunk%2 == 0 {
					index += matchAll()
					floor += probeAll()
				} else {
					floor += probeAll()
					index += matchAll()
				}
			}
			if found == 0 {
				b.Fatal("bare probes found nothing")
			}
			b.ReportMetric(float64(index.Nanoseconds())/float64(i), "index-ns/notice")
			b.ReportMetric(float64(floor.Nanoseconds())/float64(i), "bare-ns/notice")
			b.ReportMetric(float64(index)/float64(floor), "x_bare")
		})
	}
}
