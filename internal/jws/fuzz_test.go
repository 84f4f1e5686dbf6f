package jws_test

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

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
