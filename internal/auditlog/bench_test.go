package auditlog_test

import (
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/auditlog"
)

// BenchmarkAppend10k appends 10,000 JWS-sized records to an empty tree
// and reports the cost against bare SHA-256 of the same records measured
// in the same run (x-sha256: how many times slower than hashing each
// record once). The tree hashes each record once more with a prefix byte
// and adds about one node hash per record, so memory should stay near 2;
// the file store adds one write and one fsync per batch.
func BenchmarkAppend10k(b *testing.B) {
	const n = 10_000
	recs := records(n)
	for i, r := range recs {
		// A notice's JWS is far longer than the test records: about 1 KiB.
		for len(r) < 1024 {
			r = append(r, r...)
		}
		recs[i] = r[:1024]
	}
	bare := bareSHA256(recs)
	for _, c := range []struct {
		name  string
		batch int
		store func(b *testing.B) auditlog.Store
	}{
		{"memory", n, func(*testing.B) auditlog.Store { return auditlog.NewMemoryStore() }},
		{"file/batch=10000", n, fileStore},
		{"file/batch=100", 100, fileStore},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(n * len(recs[0])))
			for b.Loop() {
				b.StopTimer()
				tr, err := auditlog.OpenTree(c.store(b))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for i := 0; i < n; i += c.batch {
					if err := tr.Append(recs[i:min(i+c.batch, n)]); err != nil {
						b.Fatal(err)
					}
				}
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per)/float64(bare), "x-sha256")
			b.ReportMetric(float64(n)/per.Seconds(), "records/s")
		})
	}
}

// bareSHA256 is the time to SHA-256 each record once, the floor for any
// tree over them: the best of several rounds, so noise from the other
// work on the machine inflates the ratio rather than hiding cost.
func bareSHA256(recs [][]byte) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 10 {
		start := time.Now()
		for _, r := range recs {
			sha256.Sum256(r)
		}
		best = min(best, time.Since(start))
	}
	return best
}

func fileStore(b *testing.B) auditlog.Store {
	s, err := auditlog.OpenFileStore(filepath.Join(b.TempDir(), "hashes"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
