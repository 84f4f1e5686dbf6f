package envelope_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/notice"
)

var sentinels = []error{
	envelope.ErrTooLarge, envelope.ErrMalformed, envelope.ErrHeader, envelope.ErrUnknownKey,
	envelope.ErrKeyNotIssuers, envelope.ErrKeyUse, envelope.ErrSignature, envelope.ErrClaims,
	envelope.ErrDigest, envelope.ErrClaimsMismatch, envelope.ErrSchema, envelope.ErrKeyNotValid,
}

// assertOneSentinel checks that err wraps want and no other sentinel, so
// the hub's mapping to a gRPC code is unambiguous.
func assertOneSentinel(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("error %v wraps %v as well as %v", err, s, want)
		}
	}
}

func TestSealVerify(t *testing.T) {
	dir := testDirectory(t)
	n := testNotice()
	env := seal(t, n, keyEdge)

	v, err := envelope.Verify(env, dir, logTime)
	if err != nil {
		t.Fatal(err)
	}
	if v.Member.ID != "edgeshield" || v.Key.ID != keyEdge.kid || v.Notice.GetId() != n.Id {
		t.Errorf("Verified = member %s key %s notice %s", v.Member.ID, v.Key.ID, v.Notice.GetId())
	}
	want := envelope.Claims{
		Issuer: "edgeshield", ID: n.Id, IssuedAt: issuedAt,
		NoticeSHA256: envelope.Digest(env.Notice),
	}
	if v.Claims.Issuer != want.Issuer || v.Claims.ID != want.ID || !v.Claims.IssuedAt.Equal(want.IssuedAt) ||
		!v.Claims.ExpiresAt.IsZero() || v.Claims.NoticeSHA256 != want.NoticeSHA256 ||
		len(v.Claims.Audience) != 0 || v.Claims.Supersedes != "" {
		t.Errorf("Claims = %+v, want %+v", v.Claims, want)
	}
	if v.Expired(issuedAt.AddDate(100, 0, 0)) {
		t.Error("a notice without exp expired")
	}

	if got := decodePart(t, env.Jws, 0); got != stdHeader(keyEdge.kid) {
		t.Errorf("header %s, want %s", got, stdHeader(keyEdge.kid))
	}
	wantClaims := `{"iss":"edgeshield","jti":"` + n.Id + `","iat":1772366400,"notice_sha256":"` +
		envelope.Digest(env.Notice) + `","audience":[]}`
	if got := decodePart(t, env.Jws, 1); got != wantClaims {
		t.Errorf("claims %s, want %s", got, wantClaims)
	}

	c, m, k, err := envelope.VerifyJWS(env.Jws, dir, logTime)
	if err != nil || c.ID != n.Id || m.ID != "edgeshield" || k.ID != keyEdge.kid {
		t.Errorf("VerifyJWS = %+v, %v, %v, %v", c, m, k, err)
	}
	p, err := envelope.PeekClaims(env.Jws)
	if err != nil || p.ID != n.Id || p.Issuer != "edgeshield" {
		t.Errorf("PeekClaims = %+v, %v", p, err)
	}
}

func TestSealAllClaims(t *testing.T) {
	dir := testDirectory(t)
	n := testNotice()
	n.Audience = []string{"mitigatr", "edgeshield"}
	n.Supersedes = "019c8a2e-6c00-7000-8000-000000000000"
	n.ExpiresAt = timestamppb.New(issuedAt.Add(time.Hour))
	env := seal(t, n, keyEdge)
	wantClaims := `{"iss":"edgeshield","jti":"` + n.Id + `","iat":1772366400,"exp":1772370000,"notice_sha256":"` +
		envelope.Digest(env.Notice) + `","audience":["mitigatr","edgeshield"],"supersedes":"` + n.Supersedes + `"}`
	if got := decodePart(t, env.Jws, 1); got != wantClaims {
		t.Errorf("claims %s\nwant %s", got, wantClaims)
	}
	v, err := envelope.Verify(env, dir, logTime)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.Claims.Audience, ",") != "mitigatr,edgeshield" || v.Claims.Supersedes != n.Supersedes ||
		!v.Claims.ExpiresAt.Equal(issuedAt.Add(time.Hour)) {
		t.Errorf("Claims = %+v", v.Claims)
	}
}

// TestExpiredVerifies: expiry takes a notice out of matching; it never
// makes the envelope invalid, whatever the verifier's clock says.
func TestExpiredVerifies(t *testing.T) {
	dir := testDirectory(t)
	n := testNotice()
	n.ExpiresAt = timestamppb.New(issuedAt.Add(time.Second))
	env := seal(t, n, keyEdge)
	v, err := envelope.Verify(env, dir, logTime) // log time is after exp
	if err != nil {
		t.Fatalf("an expired notice failed verification: %v", err)
	}
	if !v.Expired(time.Now()) || !v.Expired(issuedAt.Add(time.Second)) {
		t.Error("Expired(now) false for an expired notice")
	}
	if v.Expired(issuedAt) {
		t.Error("Expired before exp")
	}
}

func TestAcceptedVariants(t *testing.T) {
	dir := testDirectory(t)
	n := testNotice()
	env := seal(t, n, keyEdge)
	claims := decodePart(t, env.Jws, 1)
	for _, tc := range []struct {
		name   string
		header string
		key    testKey
	}{
		{"typ upper case", `{"alg":"EdDSA","typ":"HEADSUP-NOTICE+JWT","kid":"` + keyEdge.kid + `"}`, keyEdge},
		{"typ application/ prefix", `{"alg":"EdDSA","typ":"application/headsup-notice+jwt","kid":"` + keyEdge.kid + `"}`, keyEdge},
		{"typ mixed case application/", `{"alg":"EdDSA","typ":"Application/Headsup-Notice+JWT","kid":"` + keyEdge.kid + `"}`, keyEdge},
		{"alg Ed25519", `{"alg":"Ed25519","typ":"headsup-notice+jwt","kid":"` + keyEdge.kid + `"}`, keyEdge},
		{"other member order", `{"kid":"` + keyEdge.kid + `","typ":"headsup-notice+jwt","alg":"EdDSA"}`, keyEdge},
		{"revoked after log time", stdHeader(keyRevokedLate.kid), keyRevokedLate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &headsupv1.Envelope{Notice: env.Notice, Jws: forge(tc.header, claims, tc.key)}
			if _, err := envelope.Verify(e, dir, logTime); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// flipLastChar changes the unused low bits of the last base64url character
// of s: a non-strict decoder reads the same bytes.
func flipLastChar(t *testing.T, s string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	unused := (6 - (len(s)*6)%8) % 6 // bits of the last char not in any byte
	if unused == 0 {
		t.Fatalf("test bug: %d characters leave no unused bits", len(s))
	}
	other := alphabet[last^1] // lowest bit is always unused here
	flipped := s[:len(s)-1] + string(other)
	a, errA := b64.DecodeString(s)
	b, errB := b64.DecodeString(flipped) // lenient: ignores unused bits
	if errA != nil || errB != nil || string(a) != string(b) {
		t.Fatalf("test bug: %q and %q do not decode to the same bytes leniently", s, flipped)
	}
	return flipped
}

func TestVerifyFailures(t *testing.T) {
	dir := testDirectory(t)
	n := testNotice()
	nb := marshalNotice(t, n)
	good, err := envelope.Sign(nb, n, keyEdge.kid, keyEdge.priv)
	if err != nil {
		t.Fatal(err)
	}
	goodClaims := decodePart(t, good, 1)
	edgeHdr := stdHeader(keyEdge.kid)
	// withClaims replaces old by new in the good claims, checking it is there.
	withClaims := func(old, new string) string {
		if !strings.Contains(goodClaims, old) {
			t.Fatalf("test bug: %q not in %s", old, goodClaims)
		}
		return strings.Replace(goodClaims, old, new, 1)
	}
	hdr := func(alg, typ, kid, extra string) string {
		return `{"alg":"` + alg + `","typ":"` + typ + `","kid":"` + kid + `"` + extra + `}`
	}
	parts := strings.Split(good, ".")
	sigBytes, _ := b64.DecodeString(parts[2])
	sigBytes[0] ^= 1
	badSig := parts[0] + "." + parts[1] + "." + b64.EncodeToString(sigBytes)
	hs256 := func() string {
		input := b64.EncodeToString([]byte(hdr("HS256", "headsup-notice+jwt", keyEdge.kid, ""))) + "." + parts[1]
		mac := hmac.New(sha256.New, keyEdge.pub)
		mac.Write([]byte(input))
		return input + "." + b64.EncodeToString(mac.Sum(nil))
	}()
	unknownField := protowire.AppendVarint(protowire.AppendTag(append([]byte{}, nb...), 99, protowire.VarintType), 1)
	otherNotice := testNotice()
	otherNotice.Summary = "Something else."
	otherNB := marshalNotice(t, otherNotice)
	big := make([]byte, notice.MaxNoticeBytes+1)

	type row struct {
		name   string
		notice []byte // nb when nil
		jws    string
		want   error
		also   error // a wrapped cause, when it matters
	}
	rows := []row{
		// Size, before anything else.
		{name: "notice too large", notice: big, jws: good, want: envelope.ErrTooLarge},
		{name: "envelope too large", jws: good + strings.Repeat("A", envelope.MaxEnvelopeBytes), want: envelope.ErrTooLarge},

		// Syntax.
		{name: "empty", jws: "", want: envelope.ErrMalformed},
		{name: "two parts", jws: parts[0] + "." + parts[1], want: envelope.ErrMalformed},
		{name: "four parts", jws: good + ".", want: envelope.ErrMalformed},
		{name: "padding", jws: parts[0] + "." + parts[1] + "." + parts[2] + "==", want: envelope.ErrMalformed},
		{name: "line break in signature", jws: parts[0] + "." + parts[1] + "." + parts[2][:10] + "\n" + parts[2][10:], want: envelope.ErrMalformed},
		{name: "standard base64 alphabet", jws: parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+", want: envelope.ErrMalformed},
		{name: "non-canonical signature spelling", jws: parts[0] + "." + parts[1] + "." + flipLastChar(t, parts[2]), want: envelope.ErrMalformed},
		{name: "header not JSON", jws: forge(`{"alg":`, goodClaims, keyEdge), want: envelope.ErrMalformed},
		{name: "header an array", jws: forge(`["EdDSA"]`, goodClaims, keyEdge), want: envelope.ErrMalformed},
		{name: "header invalid UTF-8", jws: forge("{\"alg\":\"EdDSA\",\"typ\":\"headsup-notice+jwt\",\"kid\":\""+keyEdge.kid+"\xff\"}", goodClaims, keyEdge), want: envelope.ErrMalformed},
		{name: "header trailing data", jws: forge(edgeHdr+"{}", goodClaims, keyEdge), want: envelope.ErrMalformed},
		{name: "duplicate header names", jws: forge(`{"alg":"none","alg":"EdDSA","typ":"headsup-notice+jwt","kid":"`+keyEdge.kid+`"}`, goodClaims, keyEdge), want: envelope.ErrMalformed},
		{name: "duplicate claim names", jws: forge(edgeHdr, withClaims(`"iss":"edgeshield"`, `"iss":"mitigatr","iss":"edgeshield"`), keyEdge), want: envelope.ErrMalformed},
		{name: "duplicate claim names via escape", jws: forge(edgeHdr, withClaims(`"iss":"edgeshield"`, `"iss":"edgeshield","\u0069ss":"edgeshield"`), keyEdge), want: envelope.ErrMalformed},
		{name: "claims not JSON", jws: forge(edgeHdr, "nope", keyEdge), want: envelope.ErrMalformed},

		// Header.
		{name: "alg none", jws: b64.EncodeToString([]byte(hdr("none", "headsup-notice+jwt", keyEdge.kid, ""))) + "." + parts[1] + ".", want: envelope.ErrHeader},
		{name: "alg HS256 keyed with the public key", jws: hs256, want: envelope.ErrHeader},
		{name: "alg eddsa lower case", jws: forge(hdr("eddsa", "headsup-notice+jwt", keyEdge.kid, ""), goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "typ missing", jws: forge(`{"alg":"EdDSA","kid":"`+keyEdge.kid+`"}`, goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "typ JWT", jws: forge(hdr("EdDSA", "JWT", keyEdge.kid, ""), goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "typ call token", jws: forge(hdr("EdDSA", "headsup-call+jwt", keyEdge.kid, ""), goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "typ not a string", jws: forge(`{"alg":"EdDSA","typ":1,"kid":"`+keyEdge.kid+`"}`, goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "kid missing", jws: forge(`{"alg":"EdDSA","typ":"headsup-notice+jwt"}`, goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "kid null", jws: forge(`{"alg":"EdDSA","typ":"headsup-notice+jwt","kid":null}`, goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "crit", jws: forge(hdr("EdDSA", Type, keyEdge.kid, `,"crit":["exp"]`), goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "jwk", jws: forge(hdr("EdDSA", Type, keyEdge.kid, `,"jwk":{"kty":"OKP","crv":"Ed25519","x":"`+b64.EncodeToString(keyEdge.pub)+`"}`), goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "jku", jws: forge(hdr("EdDSA", Type, keyEdge.kid, `,"jku":"https://evil.example/jwks"`), goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "x5u", jws: forge(hdr("EdDSA", Type, keyEdge.kid, `,"x5u":"https://evil.example/cert"`), goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "x5c", jws: forge(hdr("EdDSA", Type, keyEdge.kid, `,"x5c":["MIIB"]`), goodClaims, keyEdge), want: envelope.ErrHeader},
		{name: "b64", jws: forge(hdr("EdDSA", Type, keyEdge.kid, `,"b64":false`), goodClaims, keyEdge), want: envelope.ErrHeader},

		// Key.
		{name: "unknown kid", jws: forge(stdHeader(keyStranger.kid), goodClaims, keyStranger), want: envelope.ErrUnknownKey},
		{name: "kid of another member", jws: forge(stdHeader(keyMitigatr.kid), goodClaims, keyMitigatr), want: envelope.ErrKeyNotIssuers},
		{name: "key use call", jws: forge(stdHeader(keyEdgeCall.kid), goodClaims, keyEdgeCall), want: envelope.ErrKeyUse},

		// Signature.
		{name: "bad signature", jws: badSig, want: envelope.ErrSignature},
		{name: "signed by another key under edgeshield's kid", jws: forge(edgeHdr, goodClaims, keyStranger), want: envelope.ErrSignature},
		{name: "empty signature", jws: parts[0] + "." + parts[1] + ".", want: envelope.ErrSignature},

		// Claims well formed.
		{name: "fractional iat", jws: forge(edgeHdr, withClaims(`"iat":1772366400`, `"iat":1772366400.0`), keyEdge), want: envelope.ErrClaims},
		{name: "exponent iat", jws: forge(edgeHdr, withClaims(`"iat":1772366400`, `"iat":1.7723664e9`), keyEdge), want: envelope.ErrClaims},
		{name: "negative iat", jws: forge(edgeHdr, withClaims(`"iat":1772366400`, `"iat":-1`), keyEdge), want: envelope.ErrClaims},
		{name: "string iat", jws: forge(edgeHdr, withClaims(`"iat":1772366400`, `"iat":"1772366400"`), keyEdge), want: envelope.ErrClaims},
		{name: "iat missing", jws: forge(edgeHdr, withClaims(`"iat":1772366400,`, ``), keyEdge), want: envelope.ErrClaims},
		{name: "exp null", jws: forge(edgeHdr, withClaims(`"iat":1772366400`, `"iat":1772366400,"exp":null`), keyEdge), want: envelope.ErrClaims},
		{name: "iss missing", jws: forge(edgeHdr, withClaims(`"iss":"edgeshield",`, ``), keyEdge), want: envelope.ErrClaims},
		{name: "iss not a string", jws: forge(edgeHdr, withClaims(`"iss":"edgeshield"`, `"iss":["edgeshield"]`), keyEdge), want: envelope.ErrClaims},
		{name: "jti not a UUIDv7", jws: forge(edgeHdr, withClaims(n.Id, strings.ToUpper(n.Id)), keyEdge), want: envelope.ErrClaims},
		{name: "unknown claim", jws: forge(edgeHdr, withClaims(`"audience":[]`, `"audience":[],"sub":"x"`), keyEdge), want: envelope.ErrClaims},
		{name: "aud instead of audience", jws: forge(edgeHdr, withClaims(`"audience":[]`, `"aud":[]`), keyEdge), want: envelope.ErrClaims},
		{name: "audience missing", jws: forge(edgeHdr, withClaims(`,"audience":[]`, ``), keyEdge), want: envelope.ErrClaims},
		{name: "audience a string", jws: forge(edgeHdr, withClaims(`"audience":[]`, `"audience":"edgeshield"`), keyEdge), want: envelope.ErrClaims},
		{name: "audience bad member id", jws: forge(edgeHdr, withClaims(`"audience":[]`, `"audience":["Edge Shield"]`), keyEdge), want: envelope.ErrClaims},
		{name: "audience twice", jws: forge(edgeHdr, withClaims(`"audience":[]`, `"audience":["edgeshield","edgeshield"]`), keyEdge), want: envelope.ErrClaims},
		{name: "supersedes empty", jws: forge(edgeHdr, withClaims(`"audience":[]`, `"audience":[],"supersedes":""`), keyEdge), want: envelope.ErrClaims},
		{name: "notice_sha256 padded", jws: forge(edgeHdr, withClaims(envelope.Digest(nb), envelope.Digest(nb)+"="), keyEdge), want: envelope.ErrClaims},
		{name: "notice_sha256 hex", jws: forge(edgeHdr, withClaims(envelope.Digest(nb), strings.Repeat("ab", 32)), keyEdge), want: envelope.ErrClaims},

		// Digest.
		{name: "digest mismatch", notice: otherNB, jws: good, want: envelope.ErrDigest},
		{name: "empty notice", notice: []byte{}, jws: good, want: envelope.ErrDigest},

		// Claims agree with the notice.
		{name: "iss disagrees", jws: forge(stdHeader(keyMitigatr.kid), withClaims(`"iss":"edgeshield"`, `"iss":"mitigatr"`), keyMitigatr), want: envelope.ErrClaimsMismatch},
		{name: "jti disagrees", jws: forge(edgeHdr, withClaims(n.Id, "019c8a2e-6c00-7000-8000-0000000000ff"), keyEdge), want: envelope.ErrClaimsMismatch},
		{name: "iat disagrees", jws: forge(edgeHdr, withClaims(`"iat":1772366400`, `"iat":1772366401`), keyEdge), want: envelope.ErrClaimsMismatch},
		{name: "exp where the notice has none", jws: forge(edgeHdr, withClaims(`"iat":1772366400`, `"iat":1772366400,"exp":1772370000`), keyEdge), want: envelope.ErrClaimsMismatch},
		{name: "audience disagrees", jws: forge(edgeHdr, withClaims(`"audience":[]`, `"audience":["edgeshield"]`), keyEdge), want: envelope.ErrClaimsMismatch},
		{name: "supersedes disagrees", jws: forge(edgeHdr, withClaims(`"audience":[]`, `"audience":[],"supersedes":"019c8a2e-6c00-7000-8000-000000000000"`), keyEdge), want: envelope.ErrClaimsMismatch},

		// Schema: the only thing wrong is an unknown protobuf field, so
		// the envelope is re-signed over the changed bytes.
		{name: "unknown protobuf field", notice: unknownField, jws: forge(edgeHdr, withClaims(envelope.Digest(nb), envelope.Digest(unknownField)), keyEdge), want: envelope.ErrSchema, also: notice.ErrUnknownField},

		// Key validity at log time.
		{name: "key not yet valid", jws: forge(stdHeader(keyNotYet.kid), goodClaims, keyNotYet), want: envelope.ErrKeyNotValid, also: directory.ErrKeyNotYetValid},
		{name: "key past not_after", jws: forge(stdHeader(keyPast.kid), goodClaims, keyPast), want: envelope.ErrKeyNotValid, also: directory.ErrKeyExpired},
		{name: "key revoked before log time", jws: forge(stdHeader(keyRevoked.kid), goodClaims, keyRevoked), want: envelope.ErrKeyNotValid, also: directory.ErrKeyRevoked},
	}

	// exp disagreeing needs a notice with an expiry.
	nx := testNotice()
	nx.ExpiresAt = timestamppb.New(issuedAt.Add(time.Hour))
	nxb := marshalNotice(t, nx)
	gx, err := envelope.Sign(nxb, nx, keyEdge.kid, keyEdge.priv)
	if err != nil {
		t.Fatal(err)
	}
	cx := decodePart(t, gx, 1)
	rows = append(rows,
		row{name: "exp disagrees", notice: nxb, jws: forge(edgeHdr, strings.Replace(cx, `"exp":1772370000`, `"exp":1772370001`, 1), keyEdge), want: envelope.ErrClaimsMismatch},
		row{name: "exp missing", notice: nxb, jws: forge(edgeHdr, strings.Replace(cx, `"exp":1772370000,`, ``, 1), keyEdge), want: envelope.ErrClaimsMismatch},
	)

	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			nbytes := tc.notice
			if nbytes == nil {
				nbytes = nb
			}
			_, err := envelope.Verify(&headsupv1.Envelope{Notice: nbytes, Jws: tc.jws}, dir, logTime)
			assertOneSentinel(t, err, tc.want)
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Errorf("error %v does not wrap %v", err, tc.also)
			}
			// VerifyJWS agrees on every failure that needs no notice.
			switch tc.want {
			case envelope.ErrDigest, envelope.ErrClaimsMismatch, envelope.ErrSchema:
			default:
				if tc.notice != nil && tc.want == envelope.ErrTooLarge {
					return
				}
				_, _, _, err := envelope.VerifyJWS(tc.jws, dir, logTime)
				assertOneSentinel(t, err, tc.want)
			}
		})
	}
}

// Type is used in header literals above.
const Type = envelope.Type

// TestVerifyOrder: when several things are wrong, the first check in
// DESIGN's order names the failure.
func TestVerifyOrder(t *testing.T) {
	dir := testDirectory(t)
	n := testNotice()
	nb := marshalNotice(t, n)
	good, err := envelope.Sign(nb, n, keyEdge.kid, keyEdge.priv)
	if err != nil {
		t.Fatal(err)
	}
	claims := decodePart(t, good, 1)
	bad := testNotice()
	bad.Summary = "changed"
	for _, tc := range []struct {
		name   string
		notice []byte
		jws    string
		want   error
	}{
		{"revoked key and bad signature: signature", nb, forge(stdHeader(keyRevoked.kid), claims, keyEdge), envelope.ErrSignature},
		{"revoked key and digest: digest", marshalNotice(t, bad), forge(stdHeader(keyRevoked.kid), claims, keyRevoked), envelope.ErrDigest},
		{"another member's call key: issuer first", nb, forge(stdHeader(keyMitigatr.kid), claims, keyEdge), envelope.ErrKeyNotIssuers},
		{"bad claims and bad signature: signature", nb, forge(stdHeader(keyEdge.kid), strings.Replace(claims, `"iat":1772366400`, `"iat":1.5`, 1), keyStranger), envelope.ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := envelope.Verify(&headsupv1.Envelope{Notice: tc.notice, Jws: tc.jws}, dir, logTime)
			assertOneSentinel(t, err, tc.want)
		})
	}
}

// TestSchemaAfterMismatch: a notice that fails the schema and disagrees
// with the claims is reported as a mismatch (DESIGN's order).
func TestSchemaAfterMismatch(t *testing.T) {
	dir := testDirectory(t)
	n := testNotice()
	n.Reason = "" // schema: reason required
	nb := marshalNotice(t, n)
	c := `{"iss":"edgeshield","jti":"019c8a2e-6c00-7000-8000-0000000000ff","iat":1772366400,"notice_sha256":"` + envelope.Digest(nb) + `","audience":[]}`
	_, err := envelope.Verify(&headsupv1.Envelope{Notice: nb, Jws: forge(stdHeader(keyEdge.kid), c, keyEdge)}, dir, logTime)
	assertOneSentinel(t, err, envelope.ErrClaimsMismatch)

	env := seal(t, n, keyEdge)
	_, err = envelope.Verify(env, dir, logTime)
	assertOneSentinel(t, err, envelope.ErrSchema)
	if !errors.Is(err, notice.ErrInvalid) {
		t.Errorf("ErrSchema does not wrap the notice error: %v", err)
	}
}

func TestVerifyNilDirectory(t *testing.T) {
	env := seal(t, testNotice(), keyEdge)
	_, err := envelope.Verify(env, nil, logTime)
	assertOneSentinel(t, err, envelope.ErrUnknownKey)
}

// TestFlipEveryByte changes each byte of a valid envelope, one at a time,
// and checks that verification fails with one of the package's errors.
func TestFlipEveryByte(t *testing.T) {
	dir := testDirectory(t)
	n := testNotice()
	n.Audience = []string{"edgeshield", "mitigatr"}
	n.ExpiresAt = timestamppb.New(issuedAt.Add(time.Hour))
	env := seal(t, n, keyEdge)
	if _, err := envelope.Verify(env, dir, logTime); err != nil {
		t.Fatal(err)
	}
	classified := func(err error) bool {
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return true
			}
		}
		return false
	}
	jws := []byte(env.Jws)
	for i := range jws {
		for _, mask := range []byte{0x01, 0x20, 0x80} {
			mut := append([]byte{}, jws...)
			mut[i] ^= mask
			_, err := envelope.Verify(&headsupv1.Envelope{Notice: env.Notice, Jws: string(mut)}, dir, logTime)
			if err == nil {
				t.Fatalf("JWS byte %d ^ %#x: Verify succeeded", i, mask)
			}
			if !classified(err) {
				t.Fatalf("JWS byte %d ^ %#x: unclassified error %v", i, mask, err)
			}
		}
	}
	for i := range env.Notice {
		for _, mask := range []byte{0x01, 0x80} {
			mut := append([]byte{}, env.Notice...)
			mut[i] ^= mask
			_, err := envelope.Verify(&headsupv1.Envelope{Notice: mut, Jws: env.Jws}, dir, logTime)
			assertOneSentinel(t, err, envelope.ErrDigest)
		}
	}
}

func TestSignRefuses(t *testing.T) {
	n := testNotice()
	nb := marshalNotice(t, n)
	other := testNotice()
	other.Summary = "other"
	if _, err := envelope.Sign(nb, other, keyEdge.kid, keyEdge.priv); err == nil {
		t.Error("Sign accepted a notice that does not match the bytes")
	}
	if _, err := envelope.Sign(nb, n, keyMitigatr.kid, keyEdge.priv); err == nil {
		t.Error("Sign accepted a kid that is not the key's thumbprint")
	}
	if _, err := envelope.Sign(nb, n, keyEdge.kid, keyEdge.priv[:10]); err == nil {
		t.Error("Sign accepted a short key")
	}
	frac := testNotice()
	frac.IssuedAt = timestamppb.New(issuedAt.Add(time.Millisecond))
	if _, err := envelope.Seal(frac, keyEdge.priv); !errors.Is(err, envelope.ErrClaims) {
		t.Errorf("Seal of a notice with a fractional issued_at: %v, want ErrClaims", err)
	}
	noTime := testNotice()
	noTime.IssuedAt = nil
	if _, err := envelope.Seal(noTime, keyEdge.priv); !errors.Is(err, envelope.ErrClaims) {
		t.Errorf("Seal of a notice without issued_at: %v, want ErrClaims", err)
	}
	huge := testNotice()
	huge.Summary = strings.Repeat("x", notice.MaxNoticeBytes)
	if _, err := envelope.Seal(huge, keyEdge.priv); !errors.Is(err, envelope.ErrTooLarge) {
		t.Errorf("Seal of a huge notice: %v, want ErrTooLarge", err)
	}
}

func TestPeekClaims(t *testing.T) {
	n := testNotice()
	n.Audience = []string{"edgeshield", "mitigatr"}
	env := seal(t, n, keyEdge)
	c, err := envelope.PeekClaims(env.Jws)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Audience, ",") != "edgeshield,mitigatr" {
		t.Errorf("audience %v", c.Audience)
	}
	// Unverified: a signature by nobody still peeks.
	forged := forge(stdHeader("whatever"), decodePart(t, env.Jws, 1), keyStranger)
	if _, err := envelope.PeekClaims(forged); err != nil {
		t.Errorf("PeekClaims of a forged JWS: %v", err)
	}
	if _, err := envelope.PeekClaims("a.b"); !errors.Is(err, envelope.ErrMalformed) {
		t.Errorf("PeekClaims(a.b) = %v", err)
	}
}
