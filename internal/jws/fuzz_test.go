package jws_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/headsup-dev/headsup/internal/jws"
)

// FuzzDecodeObject: DecodeObject's fast path accepts only what the
// token-by-token reference accepts, with the same members byte for byte,
// and DecodeObject as a whole answers as the reference does. Seeds under
// testdata/fuzz/FuzzDecodeObject: real headers and claims, names spelt
// twice with escapes, lone surrogates, nesting at and past the bound,
// trailing data, invalid UTF-8.
func FuzzDecodeObject(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := jws.DecodeObjectSlowly(b)
		fast, ok := jws.DecodeObjectFast(b)
		if ok {
			if wantErr != nil {
				t.Fatalf("fast path accepts %q, the reference refuses it: %v", b, wantErr)
			}
			if !maps.EqualFunc(fast, want, sameBytes) {
				t.Fatalf("%q: fast path members %q, reference %q", b, fast, want)
			}
		}
		got, err := jws.DecodeObject(b)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("%q: DecodeObject error %v, reference %v", b, err, wantErr)
		}
		if !maps.EqualFunc(got, want, sameBytes) {
			t.Fatalf("%q: DecodeObject members %q, reference %q", b, got, want)
		}
	})
}

// FuzzValid: the walker under DecodeObject's and Array's fast paths
// accepts exactly what json.Valid accepts. Seeds under
// testdata/fuzz/FuzzValid: numbers at the edges of the grammar, every
// escape, control characters, literals cut short, nesting.
func FuzzValid(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := jws.Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid %v", b, got, want)
		}
	})
}

// FuzzHeader: Header's fast path accepts only what its reference accepts,
// with the same alg and kid. The header's members are given raw, with a
// flag for a fourth one and the typ and algs the caller asks for. Seeds
// under testdata/fuzz/FuzzHeader: both spellings of typ and of alg, case
// folding, escapes, an empty kid, an extra parameter.
func FuzzHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, alg, typ, kid []byte, extra bool, wantTyp, alg1, alg2 string) {
		raw := map[string]json.RawMessage{"alg": alg, "typ": typ, "kid": kid}
		if extra {
			raw["crit"] = json.RawMessage(`["b64"]`)
		}
		algs := []string{alg1, alg2}
		wantAlg, wantKid, wantErr := jws.HeaderSlowly(raw, wantTyp, algs)
		gotAlg, gotKid, ok := jws.HeaderFast(raw, wantTyp, algs)
		if ok && (wantErr != nil || gotAlg != wantAlg || gotKid != wantKid) {
			t.Fatalf("fast path: %q, %q; reference: %q, %q, %v", gotAlg, gotKid, wantAlg, wantKid, wantErr)
		}
	})
}

func sameBytes(x, y json.RawMessage) bool { return slices.Equal(x, y) }

// FuzzString: String answers as json.Unmarshal into a string does, for
// every value that starts with a quote (its fast path skips
// encoding/json only for strings with nothing to unescape).
func FuzzString(f *testing.F) {
	f.Fuzz(func(t *testing.T, v []byte) {
		got, err := jws.String(v)
		if len(v) == 0 || v[0] != '"' {
			if err == nil {
				t.Fatalf("String(%q) = %q, want an error", v, got)
			}
			return
		}
		var want string
		wantErr := json.Unmarshal(v, &want)
		if (err == nil) != (wantErr == nil) || got != want {
			t.Fatalf("String(%q) = %q, %v; json.Unmarshal: %q, %v", v, got, err, want, wantErr)
		}
	})
}

// FuzzSplit: Split answers as the straightforward reference below does
// (strings.Split and golang-jwt's strict segment decoder, as Split was
// first written), byte for byte and error for error.
func FuzzSplit(f *testing.F) {
	f.Fuzz(func(t *testing.T, token string) {
		want, wantErr := splitReference(token)
		got, err := jws.Split(token)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("Split(%q) error %v, reference %v", token, err, wantErr)
		}
		if err != nil {
			return
		}
		if got.SigningInput != want.SigningInput || !slices.Equal(got.Signature, want.Signature) ||
			!maps.EqualFunc(got.Header, want.Header, sameBytes) || !maps.EqualFunc(got.Claims, want.Claims, sameBytes) {
			t.Fatalf("Split(%q) = %+v, reference %+v", token, got, want)
		}
	})
}

func splitReference(token string) (*jws.Compact, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("JWS has %d parts, want 3 (header.claims.signature)", len(parts))
	}
	p := jwt.NewParser(jwt.WithStrictDecoding())
	var dec [3][]byte
	for i, name := range []string{"header", "claims", "signature"} {
		if j := strings.IndexFunc(parts[i], jws.NotBase64URL); j >= 0 {
			return nil, fmt.Errorf("%s: byte %d is not in the base64url alphabet", name, j)
		}
		b, err := p.DecodeSegment(parts[i])
		if err != nil {
			return nil, fmt.Errorf("%s: not strict unpadded base64url: %v", name, err)
		}
		dec[i] = b
	}
	header, err := jws.DecodeObject(dec[0])
	if err != nil {
		return nil, fmt.Errorf("header: %v", err)
	}
	claims, err := jws.DecodeObject(dec[1])
	if err != nil {
		return nil, fmt.Errorf("claims: %v", err)
	}
	return &jws.Compact{SigningInput: token[:len(parts[0])+1+len(parts[1])], Header: header, Claims: claims, Signature: dec[2]}, nil
}

// FuzzArray: Array answers as json.Unmarshal into []json.RawMessage does
// (its fast path skips reflection for valid arrays).
func FuzzArray(f *testing.F) {
	f.Fuzz(func(t *testing.T, v []byte) {
		var want []json.RawMessage
		wantErr := json.Unmarshal(v, &want)
		got, err := jws.Array(v)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("Array(%q) error %v, json.Unmarshal %v", v, err, wantErr)
		}
		if !slices.EqualFunc(got, want, sameBytes) || (err == nil && (got == nil) != (want == nil)) {
			t.Fatalf("Array(%q) = %q, json.Unmarshal %q", v, got, want)
		}
	})
}
