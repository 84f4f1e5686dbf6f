package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// The test federation's clock: notices are issued at issuedAt and logged
// a minute later.
var (
	issuedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	logTime  = issuedAt.Add(time.Minute)
)

// testKey is a deterministic key; seeds name their role in the tests.
type testKey struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	kid  string
}

func seedKey(b byte) testKey {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	return testKey{priv: priv, pub: pub, kid: directory.Thumbprint(pub)}
}

var (
	keyEdge        = seedKey(1) // edgeshield, notice
	keyEdgeCall    = seedKey(2) // edgeshield, call
	keyMitigatr    = seedKey(3) // mitigatr, notice
	keyNotYet      = seedKey(4) // edgeshield, notice, not_before after log time
	keyPast        = seedKey(5) // edgeshield, notice, not_after before log time
	keyRevoked     = seedKey(6) // edgeshield, notice, revoked_at before log time
	keyRevokedLate = seedKey(7) // edgeshield, notice, revoked_at after log time
	keyStranger    = seedKey(8) // in no directory
)

// testDirectory is parsed from its own YAML, so it carries the index and
// passes the directory's validation.
func testDirectory(t testing.TB) *directory.Directory {
	t.Helper()
	k := func(tk testKey, use directory.Use) *directory.Key {
		return &directory.Key{ID: tk.kid, Use: use, Public: tk.pub}
	}
	notYet := k(keyNotYet, directory.UseNotice)
	notYet.NotBefore = logTime.Add(time.Hour)
	past := k(keyPast, directory.UseNotice)
	past.NotAfter = logTime.Add(-time.Hour)
	revoked := k(keyRevoked, directory.UseNotice)
	revoked.RevokedAt = logTime.Add(-time.Second)
	revokedLate := k(keyRevokedLate, directory.UseNotice)
	revokedLate.RevokedAt = logTime.Add(time.Second)
	d := &directory.Directory{Serial: 1, TestNetwork: true, Members: []*directory.Member{
		{
			ID: "edgeshield", Name: "EdgeShield CDN", AbuseContact: "abuse@edgeshield.example",
			Roles: []directory.Role{directory.RolePublish, directory.RoleSubscribe},
			Keys: []*directory.Key{k(keyEdge, directory.UseNotice), k(keyEdgeCall, directory.UseCall),
				notYet, past, revoked, revokedLate},
		},
		{
			ID: "mitigatr", Name: "Mitigatr", AbuseContact: "abuse@mitigatr.example",
			Roles: []directory.Role{directory.RolePublish},
			Keys:  []*directory.Key{k(keyMitigatr, directory.UseNotice)},
		},
	}}
	b, err := directory.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := directory.Parse(b)
	if err != nil {
		t.Fatalf("test directory: %v\n%s", err, b)
	}
	return parsed
}

// testNotice is a valid CUSTOMER_SUSPENDED notice of edgeshield.
func testNotice() *headsupv1.Notice {
	return &headsupv1.Notice{
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
		IssuedAt: timestamppb.New(issuedAt),
	}
}

func marshalNotice(t testing.TB, n *headsupv1.Notice) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seal signs n with k, failing the test on error.
func seal(t testing.TB, n *headsupv1.Notice, k testKey) *headsupv1.Envelope {
	t.Helper()
	env, err := envelope.Seal(n, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

var b64 = base64.RawURLEncoding

// forge signs arbitrary header and claims JSON with k, bypassing every
// check Sign makes, so tests can build what an attacker or a buggy
// implementation would send.
func forge(header, claims string, k testKey) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	return input + "." + b64.EncodeToString(ed25519.Sign(k.priv, []byte(input)))
}

func stdHeader(kid string) string {
	return `{"alg":"EdDSA","typ":"headsup-notice+jwt","kid":"` + kid + `"}`
}

// decodePart returns the decoded JSON of part i of a JWS.
func decodePart(t testing.TB, jws string, i int) string {
	t.Helper()
	parts := bytes.Split([]byte(jws), []byte("."))
	b, err := b64.DecodeString(string(parts[i]))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
