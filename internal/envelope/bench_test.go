package envelope_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/envelope"
)

// BenchmarkVerify and BenchmarkEd25519Verify run over the same envelope,
// so their ratio is the cost of everything Verify does beyond the bare
// signature check (parsing, claims, digest, notice schema).
func BenchmarkVerify(b *testing.B) {
	dir := testDirectory(b)
	env := seal(b, testNotice(), keyEdge)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envelope.Verify(env, dir, logTime); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	env := seal(b, testNotice(), keyEdge)
	i := strings.LastIndexByte(env.Jws, '.')
	input := []byte(env.Jws[:i])
	sig, err := b64.DecodeString(env.Jws[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(keyEdge.pub, input, sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkVerifyAgainstEd25519 interleaves Verify with its unavoidable
// cost, a bare ed25519.Verify of the same signing input, in rounds of
// equal size, and reports their ratio (Verify's time over the bare
// verification's: 1 would be free parsing and checking). Interleaving keeps
// a noisy machine from favouring either side.
func BenchmarkVerifyAgainstEd25519(b *testing.B) {
	const perRound = 500
	dir := testDirectory(b)
	env := seal(b, testNotice(), keyEdge)
	i := strings.LastIndexByte(env.Jws, '.')
	input := []byte(env.Jws[:i])
	sig, err := b64.DecodeString(env.Jws[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	var full, bare time.Duration
	for b.Loop() {
		start := time.Now()
		for range perRound {
			if _, err := envelope.Verify(env, dir, logTime); err != nil {
				b.Fatal(err)
			}
		}
		full += time.Since(start)
		start = time.Now()
		for range perRound {
			if !ed25519.Verify(keyEdge.pub, input, sig) {
				b.Fatal("signature does not verify")
			}
		}
		bare += time.Since(start)
	}
	b.ReportMetric(float64(full)/float64(b.N*perRound), "verify-ns/op")
	b.ReportMetric(float64(bare)/float64(b.N*perRound), "ed25519-ns/op")
	b.ReportMetric(float64(full)/float64(bare), "ratio")
}
