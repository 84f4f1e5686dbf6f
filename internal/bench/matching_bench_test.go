package bench

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/match"
)

// BenchmarkMatchEntityMix is the matching scenario as a Go benchmark, for
// profiling the index (go test -bench MatchEntityMix -cpuprofile …):
// MatchEntity per notice over the stated mix at 10k and 100k identifiers
// (1M when -bench names it), interleaved with the bare probes of the same
// notices in chunks of 500, so that the machine's load weighs on both
// alike. It reports ns per notice of each (index-ns/notice,
// bare-ns/notice) and x_bare, their ratio: the scenario's ratio inverted,
// lower is better, at most 2 is its target. ns/op is one chunk of both.
func BenchmarkMatchEntityMix(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"10k", 10_000}, {"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run(size.name, func(b *testing.B) {
			if f := flag.Lookup("test.bench"); size.n >= 1_000_000 && (f == nil || !strings.Contains(f.Value.String(), size.name)) {
				b.Skip("1M runs only when -bench names it, e.g. -bench 'MatchEntityMix/1M'")
			}
			ix, bare, _, err := buildIndex(size.n, false)
			if err != nil {
				b.Fatal(err)
			}
			notices := probeNotices(size.n, 20_000)
			q := match.Query{Issuer: Publisher, Now: time.Now()}
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
