package envelope_test

import (
	"crypto/ed25519"
	"strings"
	"testing"

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
