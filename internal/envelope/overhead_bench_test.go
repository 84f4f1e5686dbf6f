package envelope

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
)

// BenchmarkVerifyOverhead is Verify with the signature check stubbed out:
// everything Verify does beyond ed25519.Verify (BenchmarkEd25519Verify),
// measured without the signature's noise drowning it.
func BenchmarkVerifyOverhead(b *testing.B) {
	env, dir, logTime := overheadFixture(b)
	always := func(ed25519.PublicKey, string, []byte) bool { return true }
	if _, err := verify(env, dir, logTime, verifyEd25519); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verify(env, dir, logTime, always); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJWSOverhead is the same for the redacted path.
func BenchmarkVerifyJWSOverhead(b *testing.B) {
	env, dir, _ := overheadFixture(b)
	always := func(ed25519.PublicKey, string, []byte) bool { return true }
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := verifyJWS(env.GetJws(), dir, always); err != nil {
			b.Fatal(err)
		}
	}
}

// overheadFixture is the external benchmarks' envelope: a one-host
// CUSTOMER_SUSPENDED notice of edgeshield, logged a minute after issue.
func overheadFixture(b *testing.B) (*headsupv1.Envelope, *directory.Directory, time.Time) {
	b.Helper()
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	n := &headsupv1.Notice{
		Id:     "019c8a2e-6c00-7000-8000-000000000001",
		Issuer: "edgeshield",
		Kind:   headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Salt:   bytes.Repeat([]byte{0x5a}, 32),
		Subject: &headsupv1.Entity{
			Label: "chanboard",
			Identifiers: []*headsupv1.Identifier{
				{Value: &headsupv1.Identifier_Host{Host: "chanboard.example"}},
			},
		},
		Reason:  "abusive-content:violence",
		Summary: "Terminated for inciting violence.",
		LegalBasis: &headsupv1.LegalBasis{
			Kind:      headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE,
			Reference: "AUP 4.2",
		},
		Tlp:      headsupv1.Tlp_TLP_GREEN,
		IssuedAt: timestamppb.New(issued),
	}
	env, err := Seal(n, priv)
	if err != nil {
		b.Fatal(err)
	}
	d := &directory.Directory{Serial: 1, TestNetwork: true, Members: []*directory.Member{{
		ID: "edgeshield", Name: "EdgeShield CDN", AbuseContact: "abuse@edgeshield.example",
		Roles: []directory.Role{directory.RolePublish, directory.RoleSubscribe},
		Keys:  []*directory.Key{{ID: directory.Thumbprint(pub), Use: directory.UseNotice, Public: pub}},
	}}}
	raw, err := directory.Marshal(d)
	if err != nil {
		b.Fatal(err)
	}
	dir, err := directory.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	return env, dir, issued.Add(time.Minute)
}
