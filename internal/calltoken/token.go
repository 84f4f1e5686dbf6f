package calltoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/headsup-dev/headsup/internal/directory"
)

// Type is the JWS "typ" of a call token. A token of another headsup type
// (a notice envelope, say) is never accepted as a call token.
const Type = "headsup-call+jwt"

// Alg is the only JWS "alg" a call token may carry.
const Alg = "EdDSA"

// Limits DESIGN.md sets.
const (
	// MaxLifetime bounds exp − iat. Leeway is never added to it.
	MaxLifetime = 5 * time.Minute
	// MaxLeeway bounds the clock skew a Verifier tolerates.
	MaxLeeway = 60 * time.Second
	// MaxTokenBytes bounds a token; a well-formed one is about 400 bytes.
	MaxTokenBytes = 4096
	// MaxIDBytes bounds jti.
	MaxIDBytes = 128
)

// DefaultLifetime is the lifetime Credentials gives its tokens: each is
// used at once, so it only has to cover transmission and clock skew, and a
// short life keeps the replay store small.
const DefaultLifetime = time.Minute

// Claims are the claims of a verified call token.
type Claims struct {
	// Issuer is iss, the calling member's id.
	Issuer string
	// Audience is aud, the hub's origin.
	Audience string
	// ID is jti.
	ID string
	// Method is the full gRPC method the token was made for.
	Method string
	// KeyID is the header's kid, the key that signed.
	KeyID string
	// IssuedAt is iat.
	IssuedAt time.Time
	// ExpiresAt is exp.
	ExpiresAt time.Time
}

// wireHeader and wireClaims fix the member order of what Mint emits.
type wireHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

type wireClaims struct {
	Iss    string `json:"iss"`
	Aud    string `json:"aud"`
	Iat    int64  `json:"iat"`
	Exp    int64  `json:"exp"`
	Jti    string `json:"jti"`
	Method string `json:"method"`
}

// Mint returns a call token for member, good at the hub whose origin is
// audience, for one call of method (the full gRPC method name,
// "/package.Service/Method"), issued at now and expiring lifetime later
// (whole seconds, 1 s to MaxLifetime). The kid is the key's RFC 7638
// thumbprint, and jti is 128 random bits.
func Mint(key ed25519.PrivateKey, member, audience, method string, now time.Time, lifetime time.Duration) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("call key: %d bytes, want an Ed25519 private key of %d", len(key), ed25519.PrivateKeySize)
	}
	if member == "" {
		return "", fmt.Errorf("iss: empty member id")
	}
	if audience == "" {
		return "", fmt.Errorf("aud: empty hub origin")
	}
	if !fullMethodShape(method) {
		return "", fmt.Errorf("method %q: want a full gRPC method name, /package.Service/Method", method)
	}
	if lifetime < time.Second || lifetime > MaxLifetime {
		return "", fmt.Errorf("lifetime %s: want 1s to %s", lifetime, MaxLifetime)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("jti: %w", err)
	}
	iat := now.Unix()
	h := wireHeader{Alg: Alg, Typ: Type, Kid: directory.Thumbprint(key.Public().(ed25519.PublicKey))}
	c := wireClaims{
		Iss:    member,
		Aud:    audience,
		Iat:    iat,
		Exp:    iat + int64(lifetime/time.Second),
		Jti:    base64.RawURLEncoding.EncodeToString(id[:]),
		Method: method,
	}
	return sign(key, h, c)
}

func sign(key ed25519.PrivateKey, h wireHeader, c wireClaims) (string, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sig := ed25519.Sign(key, []byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// fullMethodShape reports whether m looks like "/package.Service/Method".
func fullMethodShape(m string) bool {
	rest, ok := strings.CutPrefix(m, "/")
	if !ok {
		return false
	}
	svc, meth, ok := strings.Cut(rest, "/")
	return ok && svc != "" && meth != "" && !strings.Contains(meth, "/")
}
