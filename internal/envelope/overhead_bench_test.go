package envelope_test

import (
	"testing"

	"github.com/headsup-dev/headsup/internal/envelope"
)

// BenchmarkVerifyOverhead is Verify with the signature check stubbed out:
// everything Verify does beyond ed25519.Verify (BenchmarkEd25519Verify),
// measured without the signature's noise drowning it.
func BenchmarkVerifyOverhead(b *testing.B) {
	dir := testDirectory(b)
	env := seal(b, testNotice(), keyEdge)
	if _, err := envelope.Verify(env, dir, logTime); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envelope.VerifyAnySignature(env, dir, logTime); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJWSOverhead is the same for the redacted path.
func BenchmarkVerifyJWSOverhead(b *testing.B) {
	dir := testDirectory(b)
	env := seal(b, testNotice(), keyEdge)
	b.ReportAllocs()
	for b.Loop() {
		if err := envelope.VerifyJWSAnySignature(env.GetJws(), dir); err != nil {
			b.Fatal(err)
		}
	}
}
