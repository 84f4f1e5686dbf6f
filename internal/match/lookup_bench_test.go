package match

import (
	"strings"
	"testing"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// BenchmarkMatchByType is MatchIdentifier over a 100k index, one sub-
// benchmark per identifier type of the bench mix, hits and misses
// alternating, so that a regression in one type's path shows alone.
func BenchmarkMatchByType(b *testing.B) {
	const n = 100_000
	raw := make([]Row, n)
	for i := range raw {
		raw[i] = benchRow(i)
	}
	ix, errs := Build(raw, Config{})
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	for _, typ := range []Type{TypeHost, TypePrefix, TypeASN, TypeEmail, TypeOrganisation, TypeRegistration} {
		var probes []*headsupv1.Identifier
		for i := 0; len(probes) < 1024 && i < n; i++ {
			if r := ix.row(int32(i)); r.Type == typ {
				probes = append(probes, probeOf(r, len(probes)%2 == 0))
			}
		}
		b.Run(string(typ), func(b *testing.B) {
			q := Query{Now: now}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ix.MatchIdentifier(probes[i%len(probes)], q)
				i++
			}
		})
	}
}

// BenchmarkMatchMiss is MatchIdentifier over a 100k index with misses
// only, one sub-benchmark per identifier type: most identifiers of most
// notices match no customer, and a miss should cost the probes and
// allocate nothing.
func BenchmarkMatchMiss(b *testing.B) {
	const n = 100_000
	raw := make([]Row, n)
	for i := range raw {
		raw[i] = benchRow(i)
	}
	ix, errs := Build(raw, Config{})
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	for _, typ := range []Type{TypeHost, TypePrefix, TypeASN, TypeEmail, TypeOrganisation, TypeRegistration} {
		var probes []*headsupv1.Identifier
		for i := 0; len(probes) < 1024 && i < n; i++ {
			r := ix.row(int32(i))
			if r.Type != typ {
				continue
			}
			if typ == TypeEmail {
				// probeOf's miss keeps the domain, which matches weakly.
				r.Value = strings.Replace(r.Value, "customer-", "nobody-", 1)
				probes = append(probes, probeOf(r, true))
				continue
			}
			probes = append(probes, probeOf(r, false))
		}
		b.Run(string(typ), func(b *testing.B) {
			q := Query{Now: now}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if ms := ix.MatchIdentifier(probes[i%len(probes)], q); len(ms) > 0 {
					b.Fatalf("a miss matched: %v", ms)
				}
				i++
			}
		})
	}
}
