package calltoken_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
)

// callThrough runs one unary call of method through the interceptor with
// the given authorization values and returns the interceptor's error and
// the caller the handler saw.
func callThrough(t *testing.T, v *calltoken.Verifier, method string, auth ...string) (*calltoken.Caller, error) {
	t.Helper()
	ctx := t.Context()
	if len(auth) > 0 {
		md := metadata.MD{}
		for _, a := range auth {
			md.Append("authorization", a)
		}
		ctx = metadata.NewIncomingContext(ctx, md)
	}
	var caller *calltoken.Caller
	handler := func(ctx context.Context, req any) (any, error) {
		c, ok := calltoken.CallerFrom(ctx)
		if !ok {
			t.Error("handler ran without a caller in its context")
		}
		caller = c
		return "ok", nil
	}
	// The identity mapping lets the test see the domain error itself.
	icpt := calltoken.UnaryInterceptor(v, func(err error) error { return err })
	_, err := icpt(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, handler)
	return caller, err
}

func bearer(tok string) string { return "Bearer " + tok }

// TestThreats is issue 6's threat table for tokens: one row per attack,
// each refused with its own sentinel before anything is stored.
func TestThreats(t *testing.T) {
	dir := testDirectory(t, true)
	dirNoBeta := testDirectory(t, false)
	signed := func(mod func(*token)) func(*testing.T) []string {
		return func(t *testing.T) []string {
			tk := goodToken("jti-1")
			mod(tk)
			return []string{bearer(tk.sign(t))}
		}
	}
	raw := func(s ...string) func(*testing.T) []string {
		return func(*testing.T) []string { return s }
	}
	exp := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	valid := goodToken("jti-1")

	tests := []struct {
		name   string
		auth   func(*testing.T) []string
		method string
		dir    *directory.Directory
		want   error // nil: accepted
	}{
		{name: "valid", auth: signed(func(*token) {}), want: nil},
		{name: "valid lifetime exactly 5 min", auth: signed(func(tk *token) { tk.claims["exp"] = exp(5 * time.Minute) })},
		{name: "valid typ with application/ and other case", auth: signed(func(tk *token) { tk.header["typ"] = "application/HEADSUP-CALL+JWT" })},
		{name: "valid iat ahead within leeway", auth: signed(func(tk *token) {
			tk.claims["iat"] = exp(leeway)
			tk.claims["exp"] = exp(leeway + time.Minute)
		})},
		{name: "valid exp just within leeway", auth: signed(func(tk *token) {
			tk.claims["iat"] = exp(-time.Minute)
			tk.claims["exp"] = exp(-leeway + time.Second)
		})},
		{name: "valid second key of a rotation", auth: signed(func(tk *token) { tk.by(keyAlpha2) })},
		{name: "valid scheme in lower case", auth: func(t *testing.T) []string { return []string{"bearer " + goodToken("j").sign(t)} }},

		{name: "no credentials", auth: raw(), want: calltoken.ErrMissing},
		{name: "empty bearer", auth: raw("Bearer "), want: calltoken.ErrMalformed},
		{name: "basic scheme", auth: raw("Basic YWxwaGE6cHc="), want: calltoken.ErrMalformed},
		{name: "two authorization values", auth: func(t *testing.T) []string {
			return []string{bearer(goodToken("a").sign(t)), bearer(goodToken("b").sign(t))}
		}, want: calltoken.ErrTwoCredentials},

		{name: "signed by a key that is not the claimed member's", auth: signed(func(tk *token) { tk.by(keyBeta) }), want: calltoken.ErrKeyNotIssuers},
		{name: "kid of the member, signed by another key", auth: signed(func(tk *token) { tk.key = keyBeta.priv }), want: calltoken.ErrSignature},
		{name: "notice key used for a token", auth: signed(func(tk *token) { tk.by(keyAlphaNotice) }), want: calltoken.ErrKeyUse},
		{name: "unknown kid", auth: signed(func(tk *token) { tk.by(keyStranger) }), want: calltoken.ErrUnknownKey},
		{name: "member removed from the directory", auth: signed(func(tk *token) {
			tk.by(keyBeta)
			tk.claims["iss"] = "beta"
		}), dir: dirNoBeta, want: calltoken.ErrUnknownKey},
		{name: "key not yet valid", auth: signed(func(tk *token) { tk.by(keyNotYet) }), want: calltoken.ErrKeyNotValid},
		{name: "key past not_after", auth: signed(func(tk *token) { tk.by(keyPast) }), want: calltoken.ErrKeyNotValid},
		{name: "key revoked", auth: signed(func(tk *token) { tk.by(keyRevoked) }), want: calltoken.ErrKeyNotValid},

		{name: "aud of another hub", auth: signed(func(tk *token) { tk.claims["aud"] = hubB }), want: calltoken.ErrAudience},
		{name: "aud array naming two hubs", auth: signed(func(tk *token) { tk.claims["aud"] = []string{hubA, hubB} }), want: calltoken.ErrClaims},
		{name: "aud array of one hub", auth: signed(func(tk *token) { tk.claims["aud"] = []string{hubA} }), want: calltoken.ErrClaims},
		{name: "aud empty", auth: signed(func(tk *token) { tk.claims["aud"] = "" }), want: calltoken.ErrClaims},
		{name: "exp missing", auth: signed(func(tk *token) { delete(tk.claims, "exp") }), want: calltoken.ErrClaims},
		{name: "iat missing", auth: signed(func(tk *token) { delete(tk.claims, "iat") }), want: calltoken.ErrClaims},
		{name: "jti missing", auth: signed(func(tk *token) { delete(tk.claims, "jti") }), want: calltoken.ErrClaims},
		{name: "aud missing", auth: signed(func(tk *token) { delete(tk.claims, "aud") }), want: calltoken.ErrClaims},
		{name: "iss missing", auth: signed(func(tk *token) { delete(tk.claims, "iss") }), want: calltoken.ErrClaims},
		{name: "method missing", auth: signed(func(tk *token) { delete(tk.claims, "method") }), want: calltoken.ErrClaims},
		{name: "jti empty", auth: signed(func(tk *token) { tk.claims["jti"] = "" }), want: calltoken.ErrClaims},
		{name: "jti too long", auth: signed(func(tk *token) { tk.claims["jti"] = strings.Repeat("j", calltoken.MaxIDBytes+1) }), want: calltoken.ErrClaims},
		{name: "jti a number", auth: signed(func(tk *token) { tk.claims["jti"] = 7 }), want: calltoken.ErrClaims},
		{name: "iat fractional", auth: signed(func(tk *token) { tk.claims["iat"] = float64(t0.Unix()) + 0.5 }), want: calltoken.ErrClaims},
		{name: "iat a string", auth: signed(func(tk *token) { tk.claims["iat"] = "1772366400" }), want: calltoken.ErrClaims},
		{name: "unknown claim nbf", auth: signed(func(tk *token) { tk.claims["nbf"] = t0.Unix() }), want: calltoken.ErrClaims},
		{name: "lifetime over 5 min", auth: signed(func(tk *token) { tk.claims["exp"] = exp(5*time.Minute + time.Second) }), want: calltoken.ErrLifetime},
		{name: "exp before iat", auth: signed(func(tk *token) { tk.claims["exp"] = exp(-time.Second) }), want: calltoken.ErrLifetime},
		{name: "expired", auth: signed(func(tk *token) {
			tk.claims["iat"] = exp(-2 * time.Minute)
			tk.claims["exp"] = exp(-leeway)
		}), want: calltoken.ErrExpired},
		{name: "from the future beyond leeway", auth: signed(func(tk *token) {
			tk.claims["iat"] = exp(leeway + time.Second)
			tk.claims["exp"] = exp(leeway + time.Minute)
		}), want: calltoken.ErrNotYetValid},
		{name: "token for Subscribe used for Publish", auth: signed(func(*token) {}), method: publish, want: calltoken.ErrMethod},

		{name: "alg none", auth: func(t *testing.T) []string {
			tk := goodToken("j")
			tk.header["alg"] = "none"
			h, c := tk.parts(t)
			return []string{bearer(h + "." + c + ".")}
		}, want: calltoken.ErrHeader},
		{name: "HS256 with the public key as secret", auth: func(t *testing.T) []string {
			tk := goodToken("j")
			tk.header["alg"] = "HS256"
			h, c := tk.parts(t)
			mac := hmac.New(sha256.New, keyAlpha.pub)
			mac.Write([]byte(h + "." + c))
			return []string{bearer(h + "." + c + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))}
		}, want: calltoken.ErrHeader},
		{name: "alg Ed25519", auth: signed(func(tk *token) { tk.header["alg"] = "Ed25519" }), want: calltoken.ErrHeader},
		{name: "typ missing", auth: signed(func(tk *token) { delete(tk.header, "typ") }), want: calltoken.ErrHeader},
		{name: "typ JWT", auth: signed(func(tk *token) { tk.header["typ"] = "JWT" }), want: calltoken.ErrHeader},
		{name: "typ of a notice", auth: signed(func(tk *token) { tk.header["typ"] = "headsup-notice+jwt" }), want: calltoken.ErrHeader},
		{name: "kid missing", auth: signed(func(tk *token) { delete(tk.header, "kid") }), want: calltoken.ErrHeader},
		{name: "crit in header", auth: signed(func(tk *token) { tk.header["crit"] = []string{"exp"} }), want: calltoken.ErrHeader},
		{name: "jwk in header", auth: signed(func(tk *token) {
			tk.header["jwk"] = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(keyStranger.pub)}
		}), want: calltoken.ErrHeader},
		{name: "jku in header", auth: signed(func(tk *token) { tk.header["jku"] = "https://evil.example/jwks" }), want: calltoken.ErrHeader},
		{name: "x5c in header", auth: signed(func(tk *token) { tk.header["x5c"] = []string{"MIIB"} }), want: calltoken.ErrHeader},

		{name: "non-canonical base64 signature", auth: func(t *testing.T) []string {
			tok := valid.sign(t)
			// 64 bytes are 86 characters; the last carries 2 bits and 4
			// unused ones, which strict decoding requires to be zero.
			last := strings.IndexByte(base64URLAlphabet, tok[len(tok)-1])
			return []string{bearer(tok[:len(tok)-1] + string(base64URLAlphabet[last|1]))}
		}, want: calltoken.ErrMalformed},
		{name: "padded signature", auth: func(t *testing.T) []string { return []string{bearer(valid.sign(t) + "==")} }, want: calltoken.ErrMalformed},
		{name: "line break in token", auth: func(t *testing.T) []string {
			tok := valid.sign(t)
			return []string{bearer(tok[:10] + "\n" + tok[10:])}
		}, want: calltoken.ErrMalformed},
		{name: "duplicate claim iss", auth: func(t *testing.T) []string {
			tk := goodToken("j")
			tk.rawClaims = `{"iss":"beta","iss":"alpha","aud":"` + hubA + `","iat":1772366400,"exp":1772366460,"jti":"j","method":"` + subscribe + `"}`
			return []string{bearer(tk.sign(t))}
		}, want: calltoken.ErrMalformed},
		{name: "duplicate header kid", auth: func(t *testing.T) []string {
			tk := goodToken("j")
			tk.rawHeader = `{"alg":"EdDSA","typ":"headsup-call+jwt","kid":"` + keyStranger.kid + `","kid":"` + keyAlpha.kid + `"}`
			return []string{bearer(tk.sign(t))}
		}, want: calltoken.ErrMalformed},
		{name: "two parts", auth: func(t *testing.T) []string {
			h, c := goodToken("j").parts(t)
			return []string{bearer(h + "." + c)}
		}, want: calltoken.ErrMalformed},
		{name: "too large", auth: signed(func(tk *token) { tk.claims["method"] = "/" + strings.Repeat("x", calltoken.MaxTokenBytes) }), want: calltoken.ErrMalformed},
		{name: "no directory loaded", auth: signed(func(*token) {}), dir: (*directory.Directory)(nil), want: calltoken.ErrNoDirectory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dir
			if tt.dir != nil || tt.want == calltoken.ErrNoDirectory {
				d = tt.dir
			}
			v, store := newVerifier(t, d, nil)
			method := tt.method
			if method == "" {
				method = subscribe
			}
			caller, err := callThrough(t, v, method, tt.auth(t)...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if caller == nil || caller.Member.ID != "alpha" {
					t.Fatalf("caller %+v, want alpha", caller)
				}
				if store.Len() != 1 {
					t.Fatalf("replay store holds %d entries, want 1", store.Len())
				}
				return
			}
			checkOneSentinel(t, err, tt.want)
			if caller != nil {
				t.Fatal("handler ran")
			}
			if store.Len() != 0 {
				t.Fatalf("replay store holds %d entries after a refusal, want 0", store.Len())
			}
			if errors.Is(err, calltoken.ErrKeyNotValid) && !errors.Is(err, directory.ErrKeyNotYetValid) &&
				!errors.Is(err, directory.ErrKeyExpired) && !errors.Is(err, directory.ErrKeyRevoked) {
				t.Fatalf("%v does not say why the key is not valid", err)
			}
			t.Logf("%s → %s", status.Code(toStatus(err)), err)
		})
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// TestKeyNotValidSays checks that each key state wraps the directory's
// own reason, so the hub can log which.
func TestKeyNotValidSays(t *testing.T) {
	v, _ := newVerifier(t, testDirectory(t, true), nil)
	for k, want := range map[*testKey]error{
		&keyNotYet:  directory.ErrKeyNotYetValid,
		&keyPast:    directory.ErrKeyExpired,
		&keyRevoked: directory.ErrKeyRevoked,
	} {
		_, _, err := v.Verify(t.Context(), goodToken("j").by(*k).sign(t), subscribe)
		if !errors.Is(err, want) {
			t.Errorf("kid %s: %v, want %v", k.kid, err, want)
		}
	}
}

func TestReplaySameVerifier(t *testing.T) {
	v, _ := newVerifier(t, testDirectory(t, true), nil)
	tok := goodToken("once").sign(t)
	if _, _, err := v.Verify(t.Context(), tok, subscribe); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, _, err := v.Verify(t.Context(), tok, subscribe)
	checkOneSentinel(t, err, calltoken.ErrReplayed)
	// The same jti from another member is another token.
	other := goodToken("once").by(keyBeta)
	other.claims["iss"] = "beta"
	if _, _, err := v.Verify(t.Context(), other.sign(t), subscribe); err != nil {
		t.Fatalf("beta's token with alpha's jti: %v", err)
	}
}

func TestVerifyReturnsClaims(t *testing.T) {
	v, _ := newVerifier(t, testDirectory(t, true), nil)
	tok, err := calltoken.Mint(keyAlpha.priv, "alpha", hubA, subscribe, t0.Add(500*time.Millisecond), 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, m, err := v.Verify(t.Context(), tok, subscribe)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "alpha" || c.Issuer != "alpha" || c.Audience != hubA || c.Method != subscribe || c.KeyID != keyAlpha.kid ||
		!c.IssuedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(90*time.Second)) || len(c.ID) != 22 {
		t.Fatalf("claims %+v, member %s", c, m.ID)
	}
}

func TestMintRefuses(t *testing.T) {
	for name, f := range map[string]func() (string, error){
		"short key": func() (string, error) {
			return calltoken.Mint(keyAlpha.priv[:32], "alpha", hubA, subscribe, t0, time.Minute)
		},
		"no member":   func() (string, error) { return calltoken.Mint(keyAlpha.priv, "", hubA, subscribe, t0, time.Minute) },
		"no audience": func() (string, error) { return calltoken.Mint(keyAlpha.priv, "alpha", "", subscribe, t0, time.Minute) },
		"bad method": func() (string, error) {
			return calltoken.Mint(keyAlpha.priv, "alpha", hubA, "Subscribe", t0, time.Minute)
		},
		"lifetime too big": func() (string, error) {
			return calltoken.Mint(keyAlpha.priv, "alpha", hubA, subscribe, t0, 6*time.Minute)
		},
		"lifetime zero": func() (string, error) { return calltoken.Mint(keyAlpha.priv, "alpha", hubA, subscribe, t0, 0) },
	} {
		if tok, err := f(); err == nil {
			t.Errorf("%s: minted %s", name, tok)
		}
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	dir := func() *directory.Directory { return nil }
	good := calltoken.DefaultVerifierConfig(hubA, dir, calltoken.NewMemoryReplayStore())
	for name, mod := range map[string]func(*calltoken.VerifierConfig){
		"no audience":       func(c *calltoken.VerifierConfig) { c.Audience = "" },
		"leeway over max":   func(c *calltoken.VerifierConfig) { c.Leeway = calltoken.MaxLeeway + time.Second },
		"negative leeway":   func(c *calltoken.VerifierConfig) { c.Leeway = -time.Second },
		"no directory func": func(c *calltoken.VerifierConfig) { c.Directory = nil },
		"no replay store":   func(c *calltoken.VerifierConfig) { c.Replay = nil },
		"no cap":            func(c *calltoken.VerifierConfig) { c.MaxLiveTokensPerMember = 0 },
		"no replay timeout": func(c *calltoken.VerifierConfig) { c.ReplayTimeout = 0 },
	} {
		cfg := good
		mod(&cfg)
		if _, err := calltoken.NewVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := calltoken.NewVerifier(good); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

// TestLiveTokenCap: a member over its cap gets ErrRateLimited, nothing is
// stored for the refused token, and the cap frees up as tokens expire.
func TestLiveTokenCap(t *testing.T) {
	now := t0
	dir := testDirectory(t, true)
	store := calltoken.NewMemoryReplayStore()
	cfg := calltoken.DefaultVerifierConfig(hubA, func() *directory.Directory { return dir }, store)
	cfg.Leeway = leeway
	cfg.Now = func() time.Time { return now }
	cfg.MaxLiveTokensPerMember = 2
	v, err := calltoken.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(k testKey, member string) string {
		tok, err := calltoken.Mint(k.priv, member, hubA, subscribe, now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for i := range 2 {
		if _, _, err := v.Verify(t.Context(), mint(keyAlpha, "alpha"), subscribe); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	_, _, err = v.Verify(t.Context(), mint(keyAlpha, "alpha"), subscribe)
	checkOneSentinel(t, err, calltoken.ErrRateLimited)
	if store.Len() != 2 {
		t.Fatalf("store holds %d, want 2", store.Len())
	}
	// Another member has its own cap.
	if _, _, err := v.Verify(t.Context(), mint(keyBeta, "beta"), subscribe); err != nil {
		t.Fatalf("beta: %v", err)
	}
	// At exp + leeway the first two are no longer live.
	now = t0.Add(time.Minute + leeway)
	if _, _, err := v.Verify(t.Context(), mint(keyAlpha, "alpha"), subscribe); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// failingStore is a replay store that cannot be reached.
type failingStore struct{}

func (failingStore) Remember(context.Context, string, time.Duration) error {
	return context.DeadlineExceeded
}

func TestReplayStoreFailureFailsClosed(t *testing.T) {
	dir := testDirectory(t, true)
	cfg := calltoken.DefaultVerifierConfig(hubA, func() *directory.Directory { return dir }, failingStore{})
	cfg.Now = func() time.Time { return t0 }
	v, err := calltoken.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = v.Verify(t.Context(), goodToken("j").sign(t), subscribe)
	checkOneSentinel(t, err, calltoken.ErrReplayStoreUnavailable)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the store's error leaks into the chain; a mapper could take it for the call's deadline")
	}
}
