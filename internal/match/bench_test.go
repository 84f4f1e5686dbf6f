package match

import (
	"flag"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gaissmai/bart"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/notice"
)

// The benchmark's customer list: identifier i of n, with customer i/3 (so
// about three identifiers per customer), in this fixed mix:
//
//	40%  host          s<k>.customer-<7 digits>.example (≈27 bytes; 3 hosts
//	                   per registrable domain), every 8th under .co.uk
//	30%  prefix        8 in 10 an IPv4 /32 in 45.0.0.0/8, 1 in 10 an IPv4 /24
//	                   in 46.0.0.0/8, 1 in 10 an IPv6 /48 in 2a00::/12
//	10%  asn           AS200000 + i
//	10%  email         user<i>@customer-<7 digits>.example
//	 5%  organisation  "Customer <i> Widgets Ltd"
//	 5%  registration  company:GB:<8 digits>
//
// Probes are notice identifiers, half of them hits (the same host, an
// address inside the customer's prefix, the holder ASN, the same address,
// organisation and registration) and half misses of the same shapes.
func benchRow(i int) Row {
	r := Row{Owner: fmt.Sprintf("cust-%07d", i/3), Name: fmt.Sprintf("Customer %d", i/3), Source: "bench", Line: i + 1}
	switch k := i % 20; {
	case k < 8:
		tld := "example"
		if i%8 == 0 {
			tld = "co.uk"
		}
		r.Type, r.Value = TypeHost, fmt.Sprintf("s%d.customer-%07d.%s", i%3, i/3, tld)
	case k < 14:
		switch i % 10 {
		case 0:
			r.Type, r.Value = TypePrefix, fmt.Sprintf("46.%d.%d.0/24", i>>16&0xff, i>>8&0xff)
		case 1:
			r.Type, r.Value = TypePrefix, fmt.Sprintf("2a00:%x:%x::/48", i>>16&0xfff, i&0xffff)
		default:
			r.Type, r.Value = TypePrefix, fmt.Sprintf("45.%d.%d.%d/32", i>>16&0xff, i>>8&0xff, i&0xff)
		}
	case k < 16:
		r.Type, r.Value = TypeASN, fmt.Sprintf("AS%d", 200000+i)
	case k < 18:
		r.Type, r.Value = TypeEmail, fmt.Sprintf("user%d@customer-%07d.example", i, i/3)
	case k < 19:
		r.Type, r.Value = TypeOrganisation, fmt.Sprintf("Customer %d Widgets Ltd", i)
	default:
		r.Type, r.Value = TypeRegistration, fmt.Sprintf("company:GB:%08d", i)
	}
	return r
}

// probeOf returns a notice identifier that hits row r (normalised), or a
// miss of the same shape.
func probeOf(r Row, hit bool) *headsupv1.Identifier {
	v := r.Value
	switch r.Type {
	case TypeHost:
		if !hit {
			v = strings.Replace(v, "customer-", "nobody-", 1)
		}
		return host(v)
	case TypePrefix:
		p := netip.MustParsePrefix(v)
		a := p.Addr()
		if p.Bits() < a.BitLen() {
			a = a.Next() // an address inside the customer's prefix
		}
		if !hit {
			b := a.AsSlice()
			b[0] += 2 // 45 -> 47, 46 -> 48, 2a00 -> 2c00: no customer there
			a, _ = netip.AddrFromSlice(b)
		}
		return addr(netip.PrefixFrom(a, a.BitLen()).String())
	case TypeASN:
		n, _ := notice.ASN(v)
		if !hit {
			n += 3000000
		}
		return asn(n, holder)
	case TypeEmail:
		if !hit {
			v = "x" + v
		}
		return email(v)
	case TypeOrganisation:
		if !hit {
			v += " zz"
		}
		return &headsupv1.Identifier{Value: &headsupv1.Identifier_Organisation{Organisation: v}}
	case TypeRegistration:
		num := strings.TrimPrefix(v, "company:GB:")
		if !hit {
			num = "X" + num
		}
		return reg(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER, num, "GB")
	}
	panic("unreachable")
}

// bareIndex is the floor to compare with: one map per type and a bart
// table over the same keys, answering only "present or not".
type bareIndex struct {
	strs     map[string]int32
	asns     map[uint32]int32
	prefixes *bart.Table[int32]
}

func newBare(rows []Row) *bareIndex {
	b := &bareIndex{strs: map[string]int32{}, asns: map[uint32]int32{}, prefixes: &bart.Table[int32]{}}
	for i, r := range rows {
		switch r.Type {
		case TypePrefix:
			b.prefixes.Insert(netip.MustParsePrefix(r.Value), int32(i))
		case TypeASN:
			n, _ := notice.ASN(r.Value)
			b.asns[n] = int32(i)
		case TypeOrganisation:
			b.strs[orgKey(r.Value)] = int32(i)
		default:
			b.strs[r.Value] = int32(i)
		}
	}
	return b
}

func (b *bareIndex) probe(id *headsupv1.Identifier) bool {
	switch x := id.GetValue().(type) {
	case *headsupv1.Identifier_Host:
		_, ok := b.strs[x.Host]
		return ok
	case *headsupv1.Identifier_Address:
		_, ok := b.prefixes.LookupPrefix(netip.MustParsePrefix(x.Address.Prefix))
		return ok
	case *headsupv1.Identifier_Asn:
		_, ok := b.asns[x.Asn.Number]
		return ok
	case *headsupv1.Identifier_Email:
		_, ok := b.strs[x.Email]
		return ok
	case *headsupv1.Identifier_Organisation:
		_, ok := b.strs[orgKey(x.Organisation)]
		return ok
	case *headsupv1.Identifier_Registration:
		_, ok := b.strs[registrationString(x.Registration.Scheme, x.Registration.Value, x.Registration.Country)]
		return ok
	}
	return false
}

// linearScan is the sanity figure: every row compared with the probe.
func linearScan(rows []Row, id *headsupv1.Identifier) int {
	hits := 0
	var p netip.Prefix
	if a, ok := id.GetValue().(*headsupv1.Identifier_Address); ok {
		p = netip.MustParsePrefix(a.Address.Prefix)
	}
	want := ""
	switch x := id.GetValue().(type) {
	case *headsupv1.Identifier_Host:
		want = x.Host
	case *headsupv1.Identifier_Email:
		want = x.Email
	case *headsupv1.Identifier_Organisation:
		want = x.Organisation
	case *headsupv1.Identifier_Asn:
		want = asnString(x.Asn.Number)
	case *headsupv1.Identifier_Registration:
		want = registrationString(x.Registration.Scheme, x.Registration.Value, x.Registration.Country)
	}
	for i := range rows {
		if p.IsValid() {
			if rows[i].Type == TypePrefix {
				if q, err := netip.ParsePrefix(rows[i].Value); err == nil && q.Overlaps(p) {
					hits++
				}
			}
		} else if rows[i].Value == want {
			hits++
		}
	}
	return hits
}

type benchFixture struct {
	rows         []Row // normalised
	ix           *Index
	bare         *bareIndex
	probes       []*headsupv1.Identifier
	bytesPerID   float64
	bareBytesPer float64
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func newBenchFixture(b *testing.B, n int) *benchFixture {
	b.Helper()
	raw := make([]Row, n)
	for i := range raw {
		raw[i] = benchRow(i)
	}
	cfg := Config{}
	before := heapAfterGC()
	ix, errs := Build(raw, cfg)
	after := heapAfterGC()
	if len(errs) > 0 {
		b.Fatalf("bench rows refused: %v", errs[0])
	}
	f := &benchFixture{ix: ix, bytesPerID: float64(after-before) / float64(n)}
	f.rows = make([]Row, n)
	for i := range raw {
		f.rows[i] = ix.row(int32(i))
	}
	before = heapAfterGC()
	f.bare = newBare(f.rows)
	f.bareBytesPer = float64(heapAfterGC()-before) / float64(n)
	for k := range 4096 {
		r := f.rows[(k*7919)%n]
		f.probes = append(f.probes, probeOf(r, k%2 == 0))
	}
	runtime.KeepAlive(raw)
	return f
}

// explicitlySelected reports whether -test.bench names the size, so that
// the 1M fixture (seconds to build, hundreds of MB) runs only on request:
// go test -run x -bench 'Match/1M' ./internal/match/
func explicitlySelected(size string) bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), size)
}

// BenchmarkMatch measures MatchIdentifier per notice identifier at 10k,
// 100k and 1M customer identifiers, and in the same run the bare map and
// prefix-table probes over the same keys (x_bare = index time / bare time)
// and the index's heap bytes per customer identifier (B/identifier, and
// bare_B/identifier for the bare maps). At 1M, "scan" is a linear scan of
// every row per probe, as a sanity figure.
func BenchmarkMatch(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"10k", 10_000}, {"100k", 100_000}, {"1M", 1_000_000}} {
		var fx *benchFixture
		fixture := func(b *testing.B) *benchFixture {
			if size.n >= 1_000_000 && !explicitlySelected(size.name) {
				b.Skip("1M runs only when -bench names it, e.g. -bench 'Match/1M'")
			}
			if fx == nil {
				fx = newBenchFixture(b, size.n)
			}
			return fx
		}
		b.Run(size.name, func(b *testing.B) {
			f := fixture(b)
			q := Query{Now: now}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				f.ix.MatchIdentifier(f.probes[i%len(f.probes)], q)
			}
			b.StopTimer()
			perIndex := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			start := time.Now()
			found := 0
			for i := range b.N {
				if f.bare.probe(f.probes[i%len(f.probes)]) {
					found++
				}
			}
			perBare := float64(time.Since(start).Nanoseconds()) / float64(b.N)
			b.ReportMetric(perBare, "bare-ns/op")
			b.ReportMetric(perIndex/perBare, "x_bare")
			b.ReportMetric(f.bytesPerID, "B/identifier")
			b.ReportMetric(f.bareBytesPer, "bare_B/identifier")
			if found == 0 {
				b.Fatal("bare probes found nothing")
			}
		})
		if size.n >= 1_000_000 {
			b.Run(size.name+"/scan", func(b *testing.B) {
				f := fixture(b)
				b.ResetTimer()
				for i := range b.N {
					linearScan(f.rows, f.probes[i%len(f.probes)])
				}
			})
		}
	}
}

// TestBenchFixtureHits keeps the benchmark honest: its hits match and its
// misses do not.
func TestBenchFixtureHits(t *testing.T) {
	raw := make([]Row, 2000)
	for i := range raw {
		raw[i] = benchRow(i)
	}
	ix := build(t, raw, Config{})
	for k := range 200 {
		r := ix.row(int32((k * 7919) % len(raw)))
		hit := k%2 == 0
		ms := ix.MatchIdentifier(probeOf(r, hit), Query{Now: now})
		strong := false
		for _, m := range ms {
			strong = strong || m.Owner == r.Owner && (m.Strength == Strong || r.Type == TypeOrganisation)
		}
		if hit != strong {
			t.Errorf("row %s %s: hit=%v but matches %s", r.Type, r.Value, hit, dump(ms))
		}
	}
}
