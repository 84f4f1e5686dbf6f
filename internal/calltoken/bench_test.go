package calltoken_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
)

// BenchmarkVerify measures a whole Verify — syntax, header, directory
// lookup, signature, claims, key validity, cap and the in-memory replay
// store — and reports it as a multiple of a bare ed25519.Verify of the
// same signing input ("x-ed25519"), the floor any signed token pays.
func BenchmarkVerify(b *testing.B) {
	dir := testDirectory(b, true)
	cfg := calltoken.DefaultVerifierConfig(hubA, func() *directory.Directory { return dir }, calltoken.NewMemoryReplayStore())
	cfg.Now = func() time.Time { return t0 }
	cfg.MaxLiveTokensPerMember = b.N + 1
	v, err := calltoken.NewVerifier(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Every token may be spent once, so each iteration has its own.
	toks := make([]string, b.N)
	for i := range toks {
		if toks[i], err = calltoken.Mint(keyAlpha.priv, "alpha", hubA, subscribe, t0, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := v.Verify(b.Context(), toks[i], subscribe); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perVerify := float64(b.Elapsed()) / float64(b.N)

	tok := toks[0]
	msg := []byte(tok[:len(tok)-87]) // header.claims
	sig := ed25519.Sign(keyAlpha.priv, msg)
	start := time.Now()
	for range b.N {
		if !ed25519.Verify(keyAlpha.pub, msg, sig) {
			b.Fatal("bare verify failed")
		}
	}
	perBare := float64(time.Since(start)) / float64(b.N)
	b.ReportMetric(perVerify/perBare, "x-ed25519")
}
