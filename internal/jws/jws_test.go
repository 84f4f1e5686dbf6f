package jws_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/headsup-dev/headsup/internal/jws"
)

func TestSplit(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	hdr, claims, sig := b64([]byte(`{"alg":"EdDSA","typ":"x","kid":"k"}`)), b64([]byte(`{"iss":"a","n":[1,{"b":2}]}`)), b64([]byte("signatur"))
	// "signatur" is 8 bytes: its last base64url character carries two
	// unused bits; setting one spells the same bytes a second way.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	respelt := sig[:len(sig)-1] + string(alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])^1])
	good := hdr + "." + claims + "." + sig
	c, err := jws.Split(good)
	if err != nil {
		t.Fatalf("Split(good): %v", err)
	}
	if c.SigningInput != hdr+"."+claims || string(c.Signature) != "signatur" || string(c.Claims["iss"]) != `"a"` {
		t.Fatalf("Split(good) = %+v", c)
	}
	for _, tt := range []struct{ name, token, want string }{
		{"two parts", hdr + "." + claims, "want 3"},
		{"padding", good + "=", "base64url alphabet"},
		{"line break", hdr + ".\n" + claims + "." + sig, "base64url alphabet"},
		{"unused bits set", hdr + "." + claims + "." + respelt, "not strict"},
		{"duplicate member", hdr + "." + b64([]byte(`{"iss":"a","iss":"b"}`)) + "." + sig, "appears twice"},
		{"nested duplicate", hdr + "." + b64([]byte(`{"x":{"y":1,"y":2}}`)) + "." + sig, "appears twice"},
		{"not UTF-8", b64([]byte("{\"a\":\"\xff\"}")) + "." + claims + "." + sig, "UTF-8"},
		{"trailing data", hdr + "." + b64([]byte(`{"a":1} {}`)) + "." + sig, "after the JSON object"},
		{"array", hdr + "." + b64([]byte(`[1]`)) + "." + sig, "not a JSON object"},
		{"too deep", hdr + "." + b64([]byte(`{"a":[[[[[[[[[1]]]]]]]]]}`)) + "." + sig, "nested deeper"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := jws.Split(tt.token); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Split: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
