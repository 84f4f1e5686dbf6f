package calltoken_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
)

// The test federation's clock and hubs.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	hubA      = "https://hub-a.example"
	hubB      = "https://hub-b.example"
	subscribe = "/headsup.v1.Hub/Subscribe"
	publish   = "/headsup.v1.Hub/Publish"
	leeway    = 30 * time.Second
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
	keyAlpha       = seedKey(1) // alpha, call
	keyAlphaNotice = seedKey(2) // alpha, notice
	keyBeta        = seedKey(3) // beta, call
	keyNotYet      = seedKey(4) // alpha, call, not_before after t0
	keyPast        = seedKey(5) // alpha, call, not_after before t0
	keyRevoked     = seedKey(6) // alpha, call, revoked_at before t0
	keyStranger    = seedKey(7) // in no directory
	keyAlpha2      = seedKey(8) // alpha, call: the second key of a rotation
)

// testDirectory is parsed from its own YAML, so it carries the index and
// passes the directory's validation. withBeta false is the directory after
// beta was removed.
func testDirectory(t testing.TB, withBeta bool) *directory.Directory {
	t.Helper()
	k := func(tk testKey, use directory.Use) *directory.Key {
		return &directory.Key{ID: tk.kid, Use: use, Public: tk.pub}
	}
	notYet := k(keyNotYet, directory.UseCall)
	notYet.NotBefore = t0.Add(time.Hour)
	past := k(keyPast, directory.UseCall)
	past.NotAfter = t0.Add(-time.Hour)
	revoked := k(keyRevoked, directory.UseCall)
	revoked.RevokedAt = t0.Add(-time.Second)
	members := []*directory.Member{{
		ID: "alpha", Name: "Alpha", AbuseContact: "abuse@alpha.example",
		Roles: []directory.Role{directory.RolePublish, directory.RoleSubscribe},
		Keys: []*directory.Key{k(keyAlpha, directory.UseCall), k(keyAlphaNotice, directory.UseNotice),
			notYet, past, revoked, k(keyAlpha2, directory.UseCall)},
	}}
	if withBeta {
		members = append(members, &directory.Member{
			ID: "beta", Name: "Beta", AbuseContact: "abuse@beta.example",
			Roles: []directory.Role{directory.RoleSubscribe},
			Keys:  []*directory.Key{k(keyBeta, directory.UseCall)},
		})
	}
	b, err := directory.Marshal(&directory.Directory{Serial: 1, TestNetwork: true, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	d, err := directory.Parse(b)
	if err != nil {
		t.Fatalf("parse test directory: %v\n%s", err, b)
	}
	return d
}

// newVerifier returns a verifier at t0 with a fresh memory store.
func newVerifier(t testing.TB, dir *directory.Directory, now func() time.Time) (*calltoken.Verifier, *calltoken.MemoryReplayStore) {
	t.Helper()
	store := calltoken.NewMemoryReplayStore()
	if now == nil {
		now = func() time.Time { return t0 }
	}
	cfg := calltoken.DefaultVerifierConfig(hubA, func() *directory.Directory { return dir }, store)
	cfg.Leeway = leeway
	cfg.Now = now
	v, err := calltoken.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, store
}

// token is a call token spelled out, so a test can break any part.
type token struct {
	key    ed25519.PrivateKey
	header map[string]any
	claims map[string]any
	// rawHeader/rawClaims, when set, replace the JSON of header/claims.
	rawHeader, rawClaims string
}

// goodToken is a valid token of alpha for Subscribe at hub A, issued at t0
// for a minute. Each call has its own jti.
func goodToken(jti string) *token {
	return &token{
		key:    keyAlpha.priv,
		header: map[string]any{"alg": "EdDSA", "typ": calltoken.Type, "kid": keyAlpha.kid},
		claims: map[string]any{
			"iss": "alpha", "aud": hubA, "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix(),
			"jti": jti, "method": subscribe,
		},
	}
}

// by makes the token signed by k and names k's kid.
func (tk *token) by(k testKey) *token {
	tk.key = k.priv
	tk.header["kid"] = k.kid
	return tk
}

func (tk *token) parts(t testing.TB) (string, string) {
	t.Helper()
	enc := func(raw string, v map[string]any) string {
		if raw != "" {
			return base64.RawURLEncoding.EncodeToString([]byte(raw))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(tk.rawHeader, tk.header), enc(tk.rawClaims, tk.claims)
}

// String signs the token with its key.
func (tk *token) sign(t testing.TB) string {
	t.Helper()
	h, c := tk.parts(t)
	input := h + "." + c
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(tk.key, []byte(input)))
}

// sentinels lists every sentinel with the gRPC code doc.go intends for it:
// the rows the hub's one mapping table is to hold.
var sentinels = []struct {
	err  error
	code codes.Code
}{
	{calltoken.ErrMissing, codes.Unauthenticated},
	{calltoken.ErrTwoCredentials, codes.Unauthenticated},
	{calltoken.ErrMalformed, codes.Unauthenticated},
	{calltoken.ErrHeader, codes.Unauthenticated},
	{calltoken.ErrUnknownKey, codes.Unauthenticated},
	{calltoken.ErrKeyNotIssuers, codes.Unauthenticated},
	{calltoken.ErrKeyUse, codes.Unauthenticated},
	{calltoken.ErrSignature, codes.Unauthenticated},
	{calltoken.ErrClaims, codes.Unauthenticated},
	{calltoken.ErrAudience, codes.Unauthenticated},
	{calltoken.ErrLifetime, codes.Unauthenticated},
	{calltoken.ErrExpired, codes.Unauthenticated},
	{calltoken.ErrNotYetValid, codes.Unauthenticated},
	{calltoken.ErrMethod, codes.Unauthenticated},
	{calltoken.ErrKeyNotValid, codes.Unauthenticated},
	{calltoken.ErrReplayed, codes.Unauthenticated},
	{calltoken.ErrRateLimited, codes.ResourceExhausted},
	{calltoken.ErrReplayStoreUnavailable, codes.Unavailable},
	{calltoken.ErrNoDirectory, codes.Unavailable},
}

// toStatus is the mapping the hub's table is to make, for tests.
func toStatus(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return status.Error(s.code, err.Error())
		}
	}
	return status.Error(codes.Internal, "internal error")
}

// checkOneSentinel fails unless err wraps exactly one sentinel, want.
func checkOneSentinel(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	var n int
	var names []string
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			n++
			names = append(names, fmt.Sprint(s.err))
		}
	}
	if n != 1 {
		t.Fatalf("error %v wraps %d sentinels %q, want exactly one", err, n, names)
	}
}
