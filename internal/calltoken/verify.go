package calltoken

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/jws"
)

// Defaults of DefaultVerifierConfig.
const (
	// DefaultLeeway tolerates ordinary clock skew between members and hub.
	DefaultLeeway = 30 * time.Second
	// DefaultMaxLiveTokensPerMember lets a member make about 80 calls a
	// second for a minute-long token life, far above what an abuse desk or
	// agent needs, while keeping one member's share of the store bounded.
	DefaultMaxLiveTokensPerMember = 10_000
	// DefaultReplayTimeout bounds one replay-store write, so a store that
	// hangs fails calls (Unavailable) instead of holding them.
	DefaultReplayTimeout = 2 * time.Second
)

// ReplayMargin is added to the TTL of every replay-store entry. It covers
// clock skew between hub replicas and the store, which judges TTLs by its
// own clock: an entry must outlive the last instant any replica could still
// accept the token.
const ReplayMargin = 30 * time.Second

// MinReplayTTL is the longest TTL a Verifier asks of its store: a token is
// accepted from iat − leeway to exp + leeway, at most MaxLifetime +
// 2·MaxLeeway, plus ReplayMargin. A store must keep entries at least this
// long.
const MinReplayTTL = MaxLifetime + 2*MaxLeeway + ReplayMargin

// ReplayStore remembers which tokens were used. It is declared here because
// the Verifier is its only user; kvreplay.Store (shared by hub replicas)
// and MemoryReplayStore (one process, tests) implement it.
type ReplayStore interface {
	// Remember records key for at least ttl, atomically: it fails with an
	// error wrapping ErrReplayed when key is already recorded, and with any
	// other error when it cannot tell (the store is unreachable, full or
	// misconfigured), which the Verifier treats as a refusal.
	Remember(ctx context.Context, key string, ttl time.Duration) error
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Audience is the hub's origin; a token's aud must equal it.
	Audience string
	// Leeway is the clock skew tolerated on iat and exp, 0 to MaxLeeway.
	Leeway time.Duration
	// Directory returns the current directory of members; nil means none
	// is loaded yet (ErrNoDirectory). It is called once per Verify, so a
	// reloaded directory takes effect with the next call.
	Directory func() *directory.Directory
	// Replay remembers used tokens.
	Replay ReplayStore
	// Refresh, when set, rereads the directory at once and returns it; a
	// token or TLS pin the current directory does not know is looked up
	// once more in its result before it is refused, so a key added an
	// instant ago works at once. Nil means no second look.
	Refresh func() *directory.Directory
	// Now is the verifier's clock; nil means time.Now.
	Now func() time.Time
	// MaxLiveTokensPerMember caps the tokens of one member that this
	// Verifier accepted and that are still live (before exp + leeway);
	// beyond it calls fail with ErrRateLimited until some expire. Must be
	// positive.
	MaxLiveTokensPerMember int
	// ReplayTimeout bounds one Remember call; must be positive.
	ReplayTimeout time.Duration
}

// DefaultVerifierConfig returns a configuration with the default leeway,
// cap and replay timeout.
func DefaultVerifierConfig(audience string, dir func() *directory.Directory, replay ReplayStore) VerifierConfig {
	return VerifierConfig{
		Audience:               audience,
		Leeway:                 DefaultLeeway,
		Directory:              dir,
		Replay:                 replay,
		Now:                    time.Now,
		MaxLiveTokensPerMember: DefaultMaxLiveTokensPerMember,
		ReplayTimeout:          DefaultReplayTimeout,
	}
}

// Verifier checks call tokens. It is safe for concurrent use.
type Verifier struct {
	cfg  VerifierConfig
	live liveTokens
}

// NewVerifier returns a Verifier for cfg, refusing a configuration that
// would weaken a check.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	switch {
	case cfg.Audience == "":
		return nil, errors.New("verifier: Audience: empty")
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("verifier: Leeway %s: want 0 to %s", cfg.Leeway, MaxLeeway)
	case cfg.Directory == nil:
		return nil, errors.New("verifier: Directory: nil")
	case cfg.Replay == nil:
		return nil, errors.New("verifier: Replay: nil (a verifier without a replay store would accept a token many times)")
	case cfg.MaxLiveTokensPerMember <= 0:
		return nil, fmt.Errorf("verifier: MaxLiveTokensPerMember %d: want > 0", cfg.MaxLiveTokensPerMember)
	case cfg.ReplayTimeout <= 0:
		return nil, fmt.Errorf("verifier: ReplayTimeout %s: want > 0", cfg.ReplayTimeout)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg, live: liveTokens{byMember: map[string]*memberLive{}}}, nil
}

func knows(dir *directory.Directory, kid string) bool {
	_, _, ok := dir.Key(kid)
	return ok
}

// Verify checks token for a call of fullMethod ("/package.Service/Method")
// in the order doc.go gives, and spends it: a token that passes Verify once
// fails with ErrReplayed ever after. It returns the token's claims and the
// calling member. Every failure wraps exactly one of the package's
// sentinels.
func (v *Verifier) Verify(ctx context.Context, token, fullMethod string) (*Claims, *directory.Member, error) {
	if token == "" {
		return nil, nil, fmt.Errorf("%w: empty token", ErrMissing)
	}
	c, err := splitToken(token)
	if err != nil {
		return nil, nil, err
	}
	kid, err := checkHeader(c.header)
	if err != nil {
		return nil, nil, err
	}
	dir := v.cfg.Directory()
	if v.cfg.Refresh != nil && (dir == nil || !knows(dir, kid)) {
		dir = v.cfg.Refresh()
	}
	if dir == nil {
		return nil, nil, fmt.Errorf("%w: cannot look up kid %s", ErrNoDirectory, kid)
	}
	now := v.cfg.Now()
	leeway := v.cfg.Leeway

	p := jwt.NewParser(
		jwt.WithValidMethods([]string{Alg}),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithLeeway(leeway),
		// One instant for every comparison of this call.
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	claims := &tokenClaims{raw: c.claims, fullMethod: fullMethod}
	var (
		member *directory.Member
		key    *directory.Key
	)
	keyfunc := func(*jwt.Token) (any, error) {
		m, k, ok := dir.Key(kid)
		if !ok {
			return nil, fmt.Errorf("%w: kid %s is not in directory serial %d", ErrUnknownKey, kid, dir.Serial)
		}
		if claims.Issuer == "" {
			return nil, fmt.Errorf("%w: iss: missing or empty", ErrClaims)
		}
		if m.ID != claims.Issuer {
			return nil, fmt.Errorf("%w: kid %s is a key of %q, iss is %q", ErrKeyNotIssuers, kid, m.ID, jws.Abbreviate([]byte(claims.Issuer)))
		}
		if k.Use != directory.UseCall {
			return nil, fmt.Errorf("%w: kid %s has use %q, want %q", ErrKeyUse, kid, k.Use, directory.UseCall)
		}
		member, key = m, k
		return k.Public, nil
	}
	if _, err := p.ParseWithClaims(token, claims, keyfunc); err != nil {
		return nil, nil, classify(err, kid, claims, v.cfg.Audience, now, leeway)
	}

	// checkClaimSet (run by Validate) guarantees these parse.
	iat, _ := rawSeconds(c.claims["iat"])
	exp, _ := rawSeconds(c.claims["exp"])
	out := &Claims{
		Issuer:    claims.Issuer,
		Audience:  v.cfg.Audience,
		ID:        claims.ID,
		Method:    claims.Method,
		KeyID:     kid,
		IssuedAt:  time.Unix(iat, 0).UTC(),
		ExpiresAt: time.Unix(exp, 0).UTC(),
	}
	if err := key.ValidAt(now); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrKeyNotValid, err)
	}

	// The token is good; spend it. The last instant it could be accepted
	// is exp + leeway, so the store must remember it at least until then.
	live := out.ExpiresAt.Add(leeway)
	if !v.live.reserve(member.ID, now, v.cfg.MaxLiveTokensPerMember) {
		return nil, nil, fmt.Errorf("%w: member %q holds %d live tokens at this hub, the limit", ErrRateLimited, member.ID, v.cfg.MaxLiveTokensPerMember)
	}
	ttl := (live.Sub(now) + time.Second - 1).Truncate(time.Second) + ReplayMargin
	rctx, cancel := context.WithTimeout(ctx, v.cfg.ReplayTimeout)
	err = v.cfg.Replay.Remember(rctx, replayKey(out.Issuer, out.ID), ttl)
	cancel()
	v.live.commit(member.ID, live, err == nil)
	switch {
	case errors.Is(err, ErrReplayed):
		return nil, nil, fmt.Errorf("%w: iss %q jti %q was already used", ErrReplayed, out.Issuer, jws.Abbreviate([]byte(out.ID)))
	case err != nil:
		// %v, not %w: the store's error (a context deadline, say) must not
		// make the call look like anything but a store outage.
		return nil, nil, fmt.Errorf("%w: %v", ErrReplayStoreUnavailable, err)
	}
	return out, member, nil
}

// replayKey is the replay-store key of a token: the hex SHA-256 of iss, a
// NUL byte and jti. The NUL keeps ("a", "b\x00c") and ("a\x00b", "c")
// apart (member ids never hold one), and hex is valid in any store's keys.
func replayKey(iss, jti string) string {
	h := sha256.New()
	h.Write([]byte(iss))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	return hex.EncodeToString(h.Sum(nil))
}

// tokenClaims is what golang-jwt decodes the claims into. Its Validate has
// a value receiver on purpose: golang-jwt calls Validate through the
// jwt.ClaimsValidator interface, and a pointer-receiver method would be
// silently skipped whenever claims are passed by value.
type tokenClaims struct {
	jwt.RegisteredClaims
	Method string `json:"method"`

	raw        map[string]json.RawMessage // the strictly parsed claims
	fullMethod string                     // the call's method
}

var _ jwt.ClaimsValidator = tokenClaims{}

// Validate checks what golang-jwt does not: the exact claim set and types,
// the lifetime (without leeway: a token may never claim more than
// MaxLifetime, whatever the clocks), and the method. golang-jwt runs it
// after the signature verified, alongside its own exp, iat and aud checks.
func (c tokenClaims) Validate() error {
	if err := checkClaimSet(c.raw); err != nil {
		return err
	}
	iat, _ := rawSeconds(c.raw["iat"])
	exp, _ := rawSeconds(c.raw["exp"])
	if exp <= iat {
		return fmt.Errorf("%w: exp %d is not after iat %d", ErrLifetime, exp, iat)
	}
	if life := time.Duration(exp-iat) * time.Second; life > MaxLifetime {
		return fmt.Errorf("%w: exp − iat is %s, the limit is %s", ErrLifetime, life, MaxLifetime)
	}
	if c.Method != c.fullMethod {
		return fmt.Errorf("%w: token for %q used for %q", ErrMethod, jws.Abbreviate([]byte(c.Method)), c.fullMethod)
	}
	return nil
}

// classify turns what golang-jwt returns — possibly several errors joined,
// since its validator runs every check — into one error wrapping exactly
// one sentinel, choosing the first that applies in this order: claims that
// do not decode, key lookup, signature, claim set, audience, lifetime,
// expiry, issued in the future, method.
func classify(err error, kid string, c *tokenClaims, aud string, now time.Time, leeway time.Duration) error {
	nodes := flatten(err, nil)
	has := func(target error) bool {
		for _, n := range nodes {
			if n == target {
				return true
			}
		}
		return false
	}
	// own returns our error that directly wraps sentinel, if any.
	own := func(sentinel error) error {
		for _, n := range nodes {
			if errors.Unwrap(n) == sentinel {
				return n
			}
		}
		return nil
	}
	ts := func(d *jwt.NumericDate) string {
		if d == nil {
			return "(none)"
		}
		return d.UTC().Format(time.RFC3339)
	}
	nowS := now.UTC().Format(time.RFC3339)
	switch {
	case has(jwt.ErrTokenMalformed):
		// splitToken already accepted the syntax, so only the claims'
		// types can fail to decode (iat a string, iss a number, …).
		return fmt.Errorf("%w: %v", ErrClaims, err)
	}
	for _, s := range []error{ErrUnknownKey, ErrKeyNotIssuers, ErrKeyUse} {
		if e := own(s); e != nil {
			return e
		}
	}
	if has(jwt.ErrTokenSignatureInvalid) {
		return fmt.Errorf("%w: kid %s", ErrSignature, kid)
	}
	if e := own(ErrClaims); e != nil {
		return e
	}
	if has(jwt.ErrTokenRequiredClaimMissing) || has(jwt.ErrInvalidType) {
		return fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if has(jwt.ErrTokenInvalidAudience) {
		return fmt.Errorf("%w: aud %s, want %q", ErrAudience, jws.Abbreviate(c.raw["aud"]), aud)
	}
	if e := own(ErrLifetime); e != nil {
		return e
	}
	if has(jwt.ErrTokenExpired) {
		return fmt.Errorf("%w: exp %s + leeway %s is not after now %s", ErrExpired, ts(c.ExpiresAt), leeway, nowS)
	}
	if has(jwt.ErrTokenUsedBeforeIssued) {
		return fmt.Errorf("%w: iat %s is more than leeway %s after now %s", ErrNotYetValid, ts(c.IssuedAt), leeway, nowS)
	}
	if e := own(ErrMethod); e != nil {
		return e
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// flatten lists err and every error it wraps, depth first.
func flatten(err error, acc []error) []error {
	if err == nil {
		return acc
	}
	acc = append(acc, err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		acc = flatten(u.Unwrap(), acc)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			acc = flatten(e, acc)
		}
	}
	return acc
}
