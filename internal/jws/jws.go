// Package jws parses a JWS compact serialisation strictly, for the two
// kinds headsup uses (notice envelopes and call tokens), so that a token
// has exactly one spelling and every parser reads the same thing:
//
//   - three parts of unpadded base64url, decoded strictly (no unused bits
//     set, no line breaks: Go's decoder skips CR and LF even in strict
//     mode), as golang-jwt's WithStrictDecoding does;
//   - header and claims each one JSON object of valid UTF-8, no member name
//     twice at any depth (RFC 7515 §4, RFC 7519 §4: parsers disagree on
//     which duplicate wins), nothing after it, bounded nesting.
//
// What the header and claims must hold is the caller's business.
package jws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Compact is a JWS split and decoded, checked for syntax only.
type Compact struct {
	// SigningInput is header "." claims, as received: what was signed.
	SigningInput string
	Header       map[string]json.RawMessage
	Claims       map[string]json.RawMessage
	Signature    []byte
}

// maxDepth bounds JSON nesting; headers and claims need two levels.
const maxDepth = 8

// Split decodes the three parts of a compact JWS. Its errors describe the
// syntax at fault; callers wrap them in their own sentinel.
func Split(token string) (*Compact, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("JWS has %d parts, want 3 (header.claims.signature)", len(parts))
	}
	p := jwt.NewParser(jwt.WithStrictDecoding())
	var dec [3][]byte
	for i, name := range []string{"header", "claims", "signature"} {
		if j := strings.IndexFunc(parts[i], NotBase64URL); j >= 0 {
			return nil, fmt.Errorf("%s: byte %d is not in the base64url alphabet", name, j)
		}
		b, err := p.DecodeSegment(parts[i])
		if err != nil {
			return nil, fmt.Errorf("%s: not strict unpadded base64url: %v", name, err)
		}
		dec[i] = b
	}
	header, err := DecodeObject(dec[0])
	if err != nil {
		return nil, fmt.Errorf("header: %v", err)
	}
	claims, err := DecodeObject(dec[1])
	if err != nil {
		return nil, fmt.Errorf("claims: %v", err)
	}
	return &Compact{SigningInput: token[:len(parts[0])+1+len(parts[1])], Header: header, Claims: claims, Signature: dec[2]}, nil
}

// NotBase64URL reports a rune outside the base64url alphabet.
func NotBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// DecodeObject parses one JSON object strictly and returns its top-level
// members with their raw values.
func DecodeObject(b []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	if err := scanObject(dec, 1); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	// Safe now: no duplicates, so the map loses nothing.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	return m, nil
}

// scanObject reads the members of an object whose '{' has been read.
func scanObject(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("not JSON: member name %v", tok)
		}
		if seen[name] {
			return fmt.Errorf("member %q appears twice", name)
		}
		seen[name] = true
		if err := scanValue(dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("not JSON: %v", err)
	}
	return nil
}

func scanValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxDepth {
		return fmt.Errorf("JSON nested deeper than %d", maxDepth)
	}
	switch d {
	case '{':
		return scanObject(dec, depth+1)
	case '[':
		for dec.More() {
			if err := scanValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return fmt.Errorf("not JSON: %v", err)
		}
		return nil
	}
	return fmt.Errorf("not JSON: unexpected %v", d)
}

// String decodes a JSON string; null, arrays and other types are refused
// (encoding/json would turn null into "" silently, and golang-jwt would
// take an array for aud).
func String(v json.RawMessage) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		return "", fmt.Errorf("%s is not a JSON string", Abbreviate(v))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", err
	}
	return s, nil
}

// Abbreviate keeps error messages short when a value is huge.
func Abbreviate(v []byte) string {
	const max = 64
	if len(v) > max {
		return string(v[:max]) + "…"
	}
	return string(v)
}

// Header checks a protected header that is exactly {alg, typ, kid}: no
// other parameter (crit, jwk, jku, x5u, x5c, b64 … are refused, so nothing
// in the header can change how the token is read), alg one of algs, typ
// equal to typ compared case-insensitively with an optional
// "application/" prefix (RFC 7515 §4.1.9), a non-empty kid. It returns alg
// and kid; its errors name the parameter at fault.
func Header(raw map[string]json.RawMessage, typ string, algs ...string) (alg, kid string, err error) {
	var extra []string
	for name := range raw {
		switch name {
		case "alg", "typ", "kid":
		default:
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return "", "", fmt.Errorf("parameter %q not allowed (the header is exactly alg, typ, kid)", extra[0])
	}
	var gotTyp string
	for _, f := range []struct {
		name string
		out  *string
	}{{"alg", &alg}, {"typ", &gotTyp}, {"kid", &kid}} {
		v, ok := raw[f.name]
		if !ok {
			return "", "", fmt.Errorf("%s: missing", f.name)
		}
		s, err := String(v)
		if err != nil {
			return "", "", fmt.Errorf("%s: %v", f.name, err)
		}
		*f.out = s
	}
	if !slices.Contains(algs, alg) {
		return "", "", fmt.Errorf("alg: %q, want one of %q", Abbreviate([]byte(alg)), algs)
	}
	if t := strings.TrimPrefix(strings.ToLower(gotTyp), "application/"); t != typ {
		return "", "", fmt.Errorf("typ: %q, want %q", Abbreviate([]byte(gotTyp)), typ)
	}
	if kid == "" {
		return "", "", errors.New("kid: empty")
	}
	return alg, kid, nil
}
