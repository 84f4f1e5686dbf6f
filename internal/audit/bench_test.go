package audit_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/audit/audittest"
)

// benchEntries is the history size the issue asks the benchmark for.
const benchEntries = 100_000

// BenchmarkAuditVerify measures Verify over a 100k-entry archive
// (audittest.Synthetic: one directory version, notices by three issuers,
// one in eight redacted, a checkpoint every 1000 entries) against the
// combined bound measured in the same run (audittest.Bound, shared with
// `headsup bench`): reading the export, a bare ed25519.Verify of each JWS
// on all cores, SHA-256 of each notice and the tree's hashing. It reports
// entries/s, the bound's entries/s and the time of Verify over the
// bound's.
func BenchmarkAuditVerify(b *testing.B) {
	h := audittest.Synthetic(b, benchEntries)
	archive := h.Source().Archive(b)
	bound := h.Bound(archive)
	cfg := audit.Config{GovernanceVerifierKey: h.GovernanceKey, Now: h.Clock}
	ctx := context.Background()

	for b.Loop() {
		rep, err := audit.Verify(ctx, cfg, audit.NewArchiveSource(bytes.NewReader(archive)))
		if err != nil {
			b.Fatal(err)
		}
		if rep.Entries != benchEntries {
			b.Fatalf("verified %d entries", rep.Entries)
		}
	}
	perVerify := b.Elapsed().Seconds() / float64(b.N)

	// The bound, measured once in the same run.
	t, err := bound.Measure(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(benchEntries/perVerify, "entries/s")
	b.ReportMetric(t.Rate(), "bound-entries/s")
	b.ReportMetric(perVerify*t.Rate()/benchEntries, "x-bound")
}
