package envelope_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/headsup-dev/headsup/internal/envelope"
)

// BenchmarkSeal is a publisher's cost per notice: marshal, digest, claims,
// sign. BenchmarkEd25519Sign is its unavoidable part, over a signing input
// of the same size.
func BenchmarkSeal(b *testing.B) {
	n := testNotice()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envelope.Seal(n, keyEdge.priv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	n := testNotice()
	body := marshalNotice(b, n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envelope.Sign(body, n, keyEdge.kid, keyEdge.priv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519Sign(b *testing.B) {
	env := seal(b, testNotice(), keyEdge)
	input := []byte(env.Jws[:len(env.Jws)-87]) // the signing input: all but ".<86 base64url characters>"
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(keyEdge.priv, input)
	}
}

// BenchmarkVerifyJWS is the redacted-entry path: the JWS alone.
func BenchmarkVerifyJWS(b *testing.B) {
	dir := testDirectory(b)
	env := seal(b, testNotice(), keyEdge)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := envelope.VerifyJWS(env.Jws, dir, logTime); err != nil {
			b.Fatal(err)
		}
	}
}
