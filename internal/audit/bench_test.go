package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/audit/audittest"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// benchEntries is the history size the issue asks the benchmark for.
const benchEntries = 100_000

// BenchmarkAuditVerify measures Verify over a 100k-entry archive (one
// directory version, notices by three issuers, one in eight redacted, a
// checkpoint every 1000 entries) against the combined bound measured in
// the same run: reading the export, a bare ed25519.Verify of each JWS,
// SHA-256 of each notice, and the tree's hashing (each leaf's record hash
// and one interior node per leaf, as RFC 6962 trees amortise). It reports
// entries/s, the bound's entries/s and their ratio.
func BenchmarkAuditVerify(b *testing.B) {
	h := audittest.New(b)
	issuers := []string{"edgeshield", "voxhost", "researcher"}
	for i := 1; len(h.Entries) < benchEntries; i++ {
		iss := issuers[i%len(issuers)]
		n := audittest.Suspension(fmt.Sprintf("host-%d.example", i))
		if i%8 == 0 {
			h.PublishRedacted(iss, n)
		} else {
			h.Publish(iss, n)
		}
		if len(h.Entries)%1000 == 0 {
			h.Checkpoint()
		}
	}
	archive := h.Source().Archive(b)
	cfg := audit.Config{GovernanceVerifierKey: h.GovernanceKey, Now: h.Clock}
	ctx := context.Background()

	// The bound's inputs, prepared outside any measurement.
	type work struct {
		pub    ed25519.PublicKey
		input  []byte
		sig    []byte
		notice []byte
		record []byte
	}
	var ws []work
	for _, e := range h.Entries {
		if e.Directory != nil {
			continue
		}
		jws := e.RedactedJWS
		if e.Envelope != nil {
			jws = e.Envelope.Jws
		}
		claims, err := envelope.PeekClaims(jws)
		if err != nil {
			b.Fatal(err)
		}
		i := strings.LastIndexByte(jws, '.')
		sig, err := base64.RawURLEncoding.DecodeString(jws[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		w := work{pub: h.Key(claims.Issuer).Public, input: []byte(jws[:i]), sig: sig, record: []byte(jws)}
		if e.Envelope != nil {
			w.notice = e.Envelope.Notice
		}
		ws = append(ws, w)
	}

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
	start := time.Now()
	if _, _, entries, err := readAll(b, audit.NewArchiveSource(bytes.NewReader(archive))); err != nil || len(entries) != benchEntries {
		b.Fatalf("read: %d entries, %v", len(entries), err)
	}
	var node, digests tlog.Hash
	for _, w := range ws {
		if !ed25519.Verify(w.pub, w.input, w.sig) {
			b.Fatal("bare verify failed")
		}
		digest := sha256.Sum256(w.notice)
		leaf := tlog.RecordHash(w.record)
		node = tlog.NodeHash(node, leaf)
		digests[digest[0]%32] ^= digest[1]
	}
	bound := time.Since(start).Seconds()
	// Used, so that no hashing above is optimised away.
	runtime.KeepAlive(node)
	runtime.KeepAlive(digests)

	b.ReportMetric(benchEntries/perVerify, "entries/s")
	b.ReportMetric(benchEntries/bound, "bound-entries/s")
	b.ReportMetric(perVerify/bound, "x-bound")
}
