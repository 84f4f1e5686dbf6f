package directory

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Use says what a key may sign. A key has exactly one use, so a key leaked
// from, say, an RPC client can never sign a notice.
type Use string

// The key uses.
const (
	// UseNotice keys sign notice envelopes.
	UseNotice Use = "notice"
	// UseCall keys sign the per-call tokens that authenticate RPCs.
	UseCall Use = "call"
	// UseWitness keys cosign log checkpoints.
	UseWitness Use = "witness"
)

func (u Use) valid() bool {
	switch u {
	case UseNotice, UseCall, UseWitness:
		return true
	}
	return false
}

// Outcomes of Key.ValidAt.
var (
	// ErrKeyNotYetValid: the instant is before the key's not_before.
	ErrKeyNotYetValid = errors.New("key not yet valid")
	// ErrKeyExpired: the instant is at or after the key's not_after.
	ErrKeyExpired = errors.New("key expired")
	// ErrKeyRevoked: the instant is at or after the key's revoked_at.
	ErrKeyRevoked = errors.New("key revoked")
)

// Key is one Ed25519 public key of a member. Zero times mean unset.
type Key struct {
	// ID is the RFC 7638 thumbprint of the key (see Thumbprint).
	ID string
	// Use is what the key may sign.
	Use Use
	// Public is the 32-byte Ed25519 public key.
	Public ed25519.PublicKey
	// NotBefore, when set, is the first instant at which the key is valid.
	NotBefore time.Time
	// NotAfter, when set, is the first instant at which the key is no
	// longer valid.
	NotAfter time.Time
	// RevokedAt, when set, is the first instant from which nothing is
	// valid under the key. It may lie in the past.
	RevokedAt time.Time
}

// ValidAt reports whether the key is valid at t, the log time of an entry.
// Every interval is half-open, [not_before, not_after) and
// [−∞, revoked_at): at exactly not_before the key is valid, at exactly
// not_after or revoked_at it is not. That matches JWT's exp ("on or after
// which … MUST NOT be accepted", RFC 7519 §4.1.4) and makes revoked_at mean
// "no entry logged from this instant on". Revocation is checked first: it
// is the outcome that asks a verifier to withdraw what the key signed.
func (k *Key) ValidAt(t time.Time) error {
	if !k.RevokedAt.IsZero() && !t.Before(k.RevokedAt) {
		return fmt.Errorf("key %s: log time %s is not before revoked_at %s: %w",
			k.ID, t.UTC().Format(time.RFC3339), k.RevokedAt.UTC().Format(time.RFC3339), ErrKeyRevoked)
	}
	if !k.NotBefore.IsZero() && t.Before(k.NotBefore) {
		return fmt.Errorf("key %s: log time %s is before not_before %s: %w",
			k.ID, t.UTC().Format(time.RFC3339), k.NotBefore.UTC().Format(time.RFC3339), ErrKeyNotYetValid)
	}
	if !k.NotAfter.IsZero() && !t.Before(k.NotAfter) {
		return fmt.Errorf("key %s: log time %s is not before not_after %s: %w",
			k.ID, t.UTC().Format(time.RFC3339), k.NotAfter.UTC().Format(time.RFC3339), ErrKeyExpired)
	}
	return nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of an Ed25519 public key,
// base64url without padding: the SHA-256 of the key's required JWK members
// in lexicographic order without white space (RFC 8037 §2 names them crv,
// kty and x), {"crv":"Ed25519","kty":"OKP","x":"<key>"}. It is the kid of
// the key everywhere in headsup, so a kid commits to exactly one key.
func Thumbprint(pub ed25519.PublicKey) string {
	// Building the JSON by hand is exact here: base64url output never needs
	// JSON escaping, and RFC 7638 §3.3 fixes the member order.
	jwk := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NewKey generates an Ed25519 key pair for the given use. The returned Key
// has its ID set and no validity limits.
func NewKey(use Use) (*Key, ed25519.PrivateKey, error) {
	if !use.valid() {
		return nil, nil, fmt.Errorf("key use %q: want %q, %q or %q", use, UseNotice, UseCall, UseWitness)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	return &Key{ID: Thumbprint(pub), Use: use, Public: pub}, priv, nil
}

const pemPrivateKey = "PRIVATE KEY"

// MarshalPrivateKey encodes an Ed25519 private key as a PEM "PRIVATE KEY"
// block (PKCS #8, RFC 8410), the form OpenSSL and most libraries read.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("Ed25519 private key: %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("marshal PKCS #8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// ParsePrivateKey decodes one PEM "PRIVATE KEY" block holding a PKCS #8
// Ed25519 key. Anything else (another key type, another block type, PEM
// headers, trailing data) is refused, so a file meant for something else
// is never half used.
func ParsePrivateKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("private key: no PEM block found")
	}
	if block.Type != pemPrivateKey {
		return nil, fmt.Errorf("private key: PEM block type %q, want %q (PKCS #8)", block.Type, pemPrivateKey)
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("private key: PEM headers are not allowed (encrypted keys are not supported)")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("private key: data after the PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key: a %s key, want Ed25519", keyTypeName(k))
	}
	return priv, nil
}

func keyTypeName(k any) string {
	name := fmt.Sprintf("%T", k)
	// "*rsa.PrivateKey" → "rsa", "*ecdsa.PrivateKey" → "ecdsa".
	name = strings.TrimPrefix(name, "*")
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	return strings.ToUpper(name)
}

// LoadPrivateKey reads a private key file written by MarshalPrivateKey.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
