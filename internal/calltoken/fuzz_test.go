package calltoken_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
)

var update = flag.Bool("update", false, "rewrite testdata/fuzz/FuzzVerify from the seeds")

// seeds are the fuzz seed corpus, kept as files under testdata so the
// vectors are data: a valid token at t0 and one of each attack.
func seeds(t testing.TB) map[string]string {
	t.Helper()
	signed := func(mod func(*token)) string {
		tk := goodToken("seed")
		mod(tk)
		return tk.sign(t)
	}
	valid := signed(func(*token) {})
	h, c := goodToken("seed").parts(t)
	// HS256 keyed with the public key: the classic algorithm confusion.
	hs := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + keyAlpha.kid + `","typ":"headsup-call+jwt"}`))
	mac := hmac.New(sha256.New, keyAlpha.pub)
	mac.Write([]byte(hs + "." + c))
	return map[string]string{
		"valid":      valid,
		"empty":      "",
		"two_parts":  h + "." + c,
		"alg_none":   signed(func(tk *token) { tk.header["alg"] = "none" }),
		"hs256":      hs + "." + c + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)),
		"typ_notice": signed(func(tk *token) { tk.header["typ"] = "headsup-notice+jwt" }),
		"crit":       signed(func(tk *token) { tk.header["crit"] = []string{"exp"} }),
		"padded":     valid + "==",
		"aud_array":  signed(func(tk *token) { tk.claims["aud"] = []string{hubA, hubB} }),
		"expired": signed(func(tk *token) {
			tk.claims["iat"], tk.claims["exp"] = t0.Add(-time.Hour).Unix(), t0.Add(-59*time.Minute).Unix()
		}),
		"lifetime":        signed(func(tk *token) { tk.claims["exp"] = t0.Add(time.Hour).Unix() }),
		"other_method":    signed(func(tk *token) { tk.claims["method"] = publish }),
		"notice_key":      signed(func(tk *token) { tk.by(keyAlphaNotice) }),
		"other_members":   signed(func(tk *token) { tk.by(keyBeta) }),
		"duplicate_claim": signed(func(tk *token) { tk.rawClaims = `{"iss":"alpha","iss":"beta"}` }),
		"deep_json":       base64.RawURLEncoding.EncodeToString([]byte(`{"alg":[[[[[[[[1]]]]]]]]}`)) + "." + c + ".AA",
	}
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzVerify equal to the seeds (run
// with -update to rewrite it), so the vectors never drift from the code.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	for name, tok := range seeds(t) {
		want := "go test fuzz v1\nstring(" + strconv.Quote(tok) + ")\n"
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFuzzCorpus -update)", err)
		}
		if string(got) != want {
			t.Errorf("%s differs from its seed (run go test -run TestFuzzCorpus -update)", path)
		}
	}
}

// FuzzVerify: whatever the input, Verify does not panic; a refusal wraps
// exactly one sentinel and stores nothing; an acceptance is consistent and
// spends the token.
func FuzzVerify(f *testing.F) {
	// The seeds are the files under testdata/fuzz/FuzzVerify.
	dir := testDirectory(f, true)
	f.Fuzz(func(t *testing.T, tok string) {
		v, store := newVerifier(t, dir, nil)
		ctx := context.Background()
		c, m, err := v.Verify(ctx, tok, subscribe)
		if err != nil {
			var n int
			for _, s := range sentinels {
				if errors.Is(err, s.err) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%v wraps %d sentinels, want 1", err, n)
			}
			if store.Len() != 0 {
				t.Fatalf("refused (%v) but stored", err)
			}
			return
		}
		if m.ID != c.Issuer || c.Audience != hubA || c.Method != subscribe ||
			!slices.ContainsFunc(m.Keys, func(k *directory.Key) bool { return k.ID == c.KeyID }) {
			t.Fatalf("accepted with inconsistent claims %+v for member %s", c, m.ID)
		}
		if d := c.ExpiresAt.Sub(c.IssuedAt); d <= 0 || d > calltoken.MaxLifetime {
			t.Fatalf("accepted a lifetime of %s", d)
		}
		if _, _, err := v.Verify(ctx, tok, subscribe); !errors.Is(err, calltoken.ErrReplayed) {
			t.Fatalf("second use: %v, want ErrReplayed", err)
		}
	})
}

// TestFlipEveryByte flips each bit of every byte of a valid token: every
// result is refused before the replay store, each with one sentinel.
func TestFlipEveryByte(t *testing.T) {
	dir := testDirectory(t, true)
	tok := goodToken("flip").sign(t)
	v, store := newVerifier(t, dir, nil)
	seen := map[error]int{}
	for i := range len(tok) {
		for bit := range 8 {
			b := []byte(tok)
			b[i] ^= 1 << bit
			_, _, err := v.Verify(t.Context(), string(b), subscribe)
			if err == nil {
				t.Fatalf("byte %d bit %d: %q accepted", i, bit, b)
			}
			var hit error
			for _, s := range sentinels {
				if errors.Is(err, s.err) {
					if hit != nil {
						t.Fatalf("byte %d bit %d: %v wraps two sentinels", i, bit, err)
					}
					hit = s.err
				}
			}
			switch hit {
			case calltoken.ErrMalformed, calltoken.ErrHeader, calltoken.ErrUnknownKey, calltoken.ErrKeyNotIssuers,
				calltoken.ErrSignature, calltoken.ErrClaims:
			default:
				t.Fatalf("byte %d bit %d: %v, want a syntax, header, key, signature or claims error", i, bit, err)
			}
			seen[hit]++
		}
	}
	if store.Len() != 0 {
		t.Fatalf("the store holds %d entries after refusals only", store.Len())
	}
	// The unmodified token was good all along.
	if _, _, err := v.Verify(t.Context(), tok, subscribe); err != nil {
		t.Fatalf("original token: %v", err)
	}
	t.Logf("outcomes: %v", seen)
}
