package envelope

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/jws"
	"github.com/headsup-dev/headsup/internal/notice"
)

// MaxEnvelopeBytes bounds an envelope: the notice bytes plus the JWS.
const MaxEnvelopeBytes = 64 << 10

// Type is the JWS "typ" of a notice envelope. A token of another headsup
// type (a call token, say) is never accepted as a notice.
const Type = "headsup-notice+jwt"

// Verification failures; doc.go lists the gRPC code each maps to.
var (
	// ErrTooLarge: the envelope or the notice is over its size limit.
	ErrTooLarge = errors.New("envelope too large")
	// ErrMalformed: the JWS is not three strict base64url parts holding a
	// JSON header and JSON claims.
	ErrMalformed = errors.New("malformed JWS")
	// ErrHeader: the protected header is not exactly {alg, typ, kid} with
	// allowed values.
	ErrHeader = errors.New("JWS header refused")
	// ErrUnknownKey: no key in the directory has the kid.
	ErrUnknownKey = errors.New("unknown key")
	// ErrKeyNotIssuers: the kid is a key of another member than iss.
	ErrKeyNotIssuers = errors.New("key belongs to another member than the issuer")
	// ErrKeyUse: the key may not sign notices.
	ErrKeyUse = errors.New("key is not a notice key")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("signature invalid")
	// ErrClaims: the claims are not well formed.
	ErrClaims = errors.New("JWS claims malformed")
	// ErrDigest: notice_sha256 is not the digest of the notice bytes.
	ErrDigest = errors.New("notice digest mismatch")
	// ErrClaimsMismatch: the claims and the notice disagree.
	ErrClaimsMismatch = errors.New("JWS claims disagree with the notice")
	// ErrSchema: the notice is not valid; wraps the notice package's error.
	ErrSchema = errors.New("notice invalid")
	// ErrKeyNotValid: the key was not valid at log time; wraps
	// directory.ErrKeyNotYetValid, ErrKeyExpired or ErrKeyRevoked.
	ErrKeyNotValid = errors.New("key not valid at log time")
)

// Verified is an envelope that passed every check.
type Verified struct {
	// Notice is the decoded notice; its bytes are the envelope's.
	Notice *headsupv1.Notice
	// Claims are the JWS claims.
	Claims Claims
	// Member is the issuer.
	Member *directory.Member
	// Key is the key that signed.
	Key *directory.Key
}

// Expired reports whether the notice has expired at now (now ≥ exp, as
// RFC 7519 §4.1.4). An expired notice is still valid: it only leaves
// matching.
func (v *Verified) Expired(now time.Time) bool {
	return !v.Claims.ExpiresAt.IsZero() && !now.Before(v.Claims.ExpiresAt)
}

// Sign returns the JWS for noticeBytes, with claims taken from n, which
// must be what noticeBytes decode to. kid must be the thumbprint of key's
// public key.
func Sign(noticeBytes []byte, n *headsupv1.Notice, kid string, key ed25519.PrivateKey) (string, error) {
	decoded := new(headsupv1.Notice)
	if err := proto.Unmarshal(noticeBytes, decoded); err != nil {
		return "", fmt.Errorf("sign: notice bytes do not decode: %w", err)
	}
	if !proto.Equal(decoded, n) {
		return "", errors.New("sign: the notice does not correspond to the notice bytes")
	}
	return sign(noticeBytes, n, kid, key)
}

func sign(noticeBytes []byte, n *headsupv1.Notice, kid string, key ed25519.PrivateKey) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("sign: Ed25519 private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if want := directory.Thumbprint(key.Public().(ed25519.PublicKey)); kid != want {
		return "", fmt.Errorf("sign: kid %q is not the thumbprint of the signing key (%q)", kid, want)
	}
	if len(noticeBytes) > notice.MaxNoticeBytes {
		return "", fmt.Errorf("%w: notice is %d bytes, the limit is %d", ErrTooLarge, len(noticeBytes), notice.MaxNoticeBytes)
	}
	if n.GetIssuedAt() == nil {
		return "", fmt.Errorf("%w: sign: notice has no issued_at", ErrClaims)
	}
	c := &Claims{
		Issuer:       n.GetIssuer(),
		ID:           n.GetId(),
		IssuedAt:     n.GetIssuedAt().AsTime(),
		NoticeSHA256: Digest(noticeBytes),
		Audience:     n.GetAudience(),
		Supersedes:   n.GetSupersedes(),
	}
	if n.GetExpiresAt() != nil {
		c.ExpiresAt = n.GetExpiresAt().AsTime()
	}
	if err := c.check(); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	claims, err := c.marshal()
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	// A struct keeps the members in the order the format fixes.
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{algEdDSA, Type, kid})
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sig, err := jwt.SigningMethodEdDSA.Sign(input, key)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Seal marshals n once (deterministically) and signs those bytes with key,
// under the key's thumbprint as kid. The notice bytes in the envelope are
// final: nobody re-marshals them.
func Seal(n *headsupv1.Notice, key ed25519.PrivateKey) (*headsupv1.Envelope, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("seal: Ed25519 private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("seal: marshal notice: %w", err)
	}
	jws, err := sign(b, n, directory.Thumbprint(key.Public().(ed25519.PublicKey)), key)
	if err != nil {
		return nil, err
	}
	if len(b)+len(jws) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: envelope is %d bytes, the limit is %d", ErrTooLarge, len(b)+len(jws), MaxEnvelopeBytes)
	}
	return &headsupv1.Envelope{Notice: b, Jws: jws}, nil
}

// Verify checks an envelope against the directory, with key validity
// judged at logTime. Expiry is not checked: see Verified.Expired.
func Verify(env *headsupv1.Envelope, dir *directory.Directory, logTime time.Time) (*Verified, error) {
	return verify(env, dir, logTime, verifyEd25519)
}

// sigFunc checks an Ed25519 signature over a signing input: verifyEd25519,
// except in the benchmark of everything else (BenchmarkVerifyOverhead).
type sigFunc func(pub ed25519.PublicKey, input string, sig []byte) bool

// verifyEd25519 is crypto/ed25519's Verify, as golang-jwt's
// SigningMethodEdDSA uses it: never ZIP-215, never batched, so that every
// verifier accepts the same signatures.
func verifyEd25519(pub ed25519.PublicKey, input string, sig []byte) bool {
	return ed25519.Verify(pub, []byte(input), sig)
}

func verify(env *headsupv1.Envelope, dir *directory.Directory, logTime time.Time, sigOK sigFunc) (*Verified, error) {
	nb, jws := env.GetNotice(), env.GetJws()
	// Sizes first, before any decoding work.
	if len(nb) > notice.MaxNoticeBytes {
		return nil, fmt.Errorf("%w: notice is %d bytes, the limit is %d", ErrTooLarge, len(nb), notice.MaxNoticeBytes)
	}
	if len(nb)+len(jws) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: envelope is %d bytes, the limit is %d", ErrTooLarge, len(nb)+len(jws), MaxEnvelopeBytes)
	}
	c, m, k, err := verifyJWS(jws, dir, sigOK)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(nb)
	if subtle.ConstantTimeCompare(sum[:], c.digest[:]) != 1 {
		return nil, fmt.Errorf("%w: notice_sha256 %s, the notice's digest is %s", ErrDigest, c.NoticeSHA256, Digest(nb))
	}
	n, schemaErr := notice.Unmarshal(nb, notice.Options{TestNetwork: dir.TestNetwork})
	// DESIGN orders "claims agree" before "schema". A notice that fails the
	// schema but still decodes is compared first, so that a disagreement
	// is reported as such whatever else is wrong with the notice.
	cmp := n
	if schemaErr != nil {
		loose := new(headsupv1.Notice)
		if proto.Unmarshal(nb, loose) == nil {
			cmp = loose
		}
	}
	if cmp != nil {
		if err := agree(c, cmp); err != nil {
			return nil, err
		}
	}
	if schemaErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrSchema, schemaErr)
	}
	if err := k.ValidAt(logTime); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyNotValid, err)
	}
	return &Verified{Notice: n, Claims: *c, Member: m, Key: k}, nil
}

// VerifyJWS does every check that needs no notice bytes — size, header,
// key, signature, claims, key validity at logTime — for a redacted entry,
// whose notice the caller may not see. It does not check the digest: the
// caller has nothing to check it against.
func VerifyJWS(token string, dir *directory.Directory, logTime time.Time) (*Claims, *directory.Member, *directory.Key, error) {
	c, m, k, err := verifyJWS(token, dir, verifyEd25519)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := k.ValidAt(logTime); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrKeyNotValid, err)
	}
	return c, m, k, nil
}

// verifyJWS runs the checks up to and including "claims well formed".
func verifyJWS(token string, dir *directory.Directory, sigOK sigFunc) (*Claims, *directory.Member, *directory.Key, error) {
	cs, err := splitJWS(token)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := checkHeader(cs.Header)
	if err != nil {
		return nil, nil, nil, err
	}
	if dir == nil {
		return nil, nil, nil, fmt.Errorf("%w: kid %q: no directory loaded", ErrUnknownKey, h.kid)
	}
	m, k, ok := dir.Key(h.kid)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: kid %q is not in directory serial %d", ErrUnknownKey, h.kid, dir.Serial)
	}
	// iss is read before the signature check so the key is bound to its
	// holder first; a missing or mistyped iss is left to the claims check,
	// which refuses it, so no path skips this comparison.
	if jws.IsPlainString(cs.Claims["iss"], m.ID) {
		// The common case, decided without decoding: iss is the holder.
	} else if iss, err := jws.String(cs.Claims["iss"]); err == nil && iss != m.ID {
		return nil, nil, nil, fmt.Errorf("%w: kid %q belongs to member %q, not to the issuer %q", ErrKeyNotIssuers, h.kid, m.ID, iss)
	}
	if k.Use != directory.UseNotice {
		return nil, nil, nil, fmt.Errorf("%w: kid %q of member %q has use %q", ErrKeyUse, h.kid, m.ID, k.Use)
	}
	// Both alg spellings name the same algorithm, so one verifier serves
	// both. These are jwt.SigningMethodEdDSA.Verify's checks and errors.
	if len(k.Public) != ed25519.PublicKeySize {
		return nil, nil, nil, fmt.Errorf("%w: kid %q: %v", ErrSignature, h.kid, jwt.ErrInvalidKey)
	}
	if !sigOK(k.Public, cs.SigningInput, cs.Signature) {
		return nil, nil, nil, fmt.Errorf("%w: kid %q: %v", ErrSignature, h.kid, jwt.ErrEd25519Verification)
	}
	c, err := parseClaims(cs.Claims)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, m, k, nil
}

// agree checks that the claims say what the notice says.
func agree(c *Claims, n *headsupv1.Notice) error {
	mismatch := func(claim, field string, cv, nv any) error {
		return fmt.Errorf("%w: %s %v, notice %s %v", ErrClaimsMismatch, claim, cv, field, nv)
	}
	if n.GetIssuer() != c.Issuer {
		return mismatch("iss", "issuer", fmt.Sprintf("%q", c.Issuer), fmt.Sprintf("%q", n.GetIssuer()))
	}
	if n.GetId() != c.ID {
		return mismatch("jti", "id", fmt.Sprintf("%q", c.ID), fmt.Sprintf("%q", n.GetId()))
	}
	if n.GetIssuedAt() == nil || !n.GetIssuedAt().AsTime().Equal(c.IssuedAt) || n.GetIssuedAt().GetNanos() != 0 {
		return mismatch("iat", "issued_at", c.IssuedAt.Unix(), fmtTimestamp(n.GetIssuedAt()))
	}
	switch e := n.GetExpiresAt(); {
	case e == nil && !c.ExpiresAt.IsZero():
		return mismatch("exp", "expires_at", c.ExpiresAt.Unix(), "absent")
	case e != nil && c.ExpiresAt.IsZero():
		return mismatch("exp", "expires_at", "absent", fmtTimestamp(e))
	case e != nil && (!e.AsTime().Equal(c.ExpiresAt) || e.GetNanos() != 0):
		return mismatch("exp", "expires_at", c.ExpiresAt.Unix(), fmtTimestamp(e))
	}
	if !slices.Equal(n.GetAudience(), c.Audience) {
		return mismatch("audience", "audience", fmt.Sprintf("%q", c.Audience), fmt.Sprintf("%q", n.GetAudience()))
	}
	if n.GetSupersedes() != c.Supersedes {
		return mismatch("supersedes", "supersedes", fmt.Sprintf("%q", c.Supersedes), fmt.Sprintf("%q", n.GetSupersedes()))
	}
	return nil
}

func fmtTimestamp(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "absent"
	}
	if ts.GetNanos() != 0 {
		return fmt.Sprintf("%d.%09d", ts.GetSeconds(), ts.GetNanos())
	}
	return fmt.Sprint(ts.GetSeconds())
}

// PeekClaims decodes the claims of a JWS WITHOUT verifying anything but
// their syntax: no signature, no key, no header check. Use it only to
// route or log (the audience filter, a log line), never to decide what is
// true; Verify or VerifyJWS do that.
func PeekClaims(token string) (*Claims, error) {
	cs, err := splitJWS(token)
	if err != nil {
		return nil, err
	}
	return parseClaims(cs.Claims)
}

// PeekKeyID returns the header's kid WITHOUT verifying anything: an agent
// uses it to park a notice signed by a key its directory does not know yet
// and to say which key in its "directory stale" alert.
func PeekKeyID(token string) (string, error) {
	cs, err := splitJWS(token)
	if err != nil {
		return "", err
	}
	h, err := checkHeader(cs.Header)
	if err != nil {
		return "", err
	}
	return h.kid, nil
}
