package calltoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// compact is a token split and decoded, checked for syntax only.
type compact struct {
	header map[string]json.RawMessage
	claims map[string]json.RawMessage
}

// splitToken checks the syntax golang-jwt does not: it decodes the header
// into a map (losing duplicate names and admitting any parameter) and lets
// encoding/json pick the last of two equal claim names, which another
// language's parser may not. Every failure is ErrMalformed.
func splitToken(token string) (*compact, error) {
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrMalformed, len(token), MaxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d parts, want 3 (header.claims.signature)", ErrMalformed, len(parts))
	}
	// The same decoder golang-jwt uses with WithStrictDecoding: unpadded,
	// zero unused bits, so one signature has one spelling.
	p := jwt.NewParser(jwt.WithStrictDecoding())
	var dec [3][]byte
	for i, name := range []string{"header", "claims", "signature"} {
		if j := strings.IndexFunc(parts[i], notBase64URL); j >= 0 {
			// Go's decoder skips CR and LF even in strict mode.
			return nil, fmt.Errorf("%w: %s: byte %d is not in the base64url alphabet", ErrMalformed, name, j)
		}
		b, err := p.DecodeSegment(parts[i])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: not strict unpadded base64url: %v", ErrMalformed, name, err)
		}
		dec[i] = b
	}
	header, err := decodeObject(dec[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	claims, err := decodeObject(dec[1])
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	return &compact{header: header, claims: claims}, nil
}

func notBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// maxJSONDepth bounds nesting; a valid token needs one level.
const maxJSONDepth = 4

// decodeObject parses one JSON object strictly: valid UTF-8, no member name
// twice at any depth (RFC 7515 §4, RFC 7519 §4), nothing after it. It
// returns the top-level members with their raw values.
func decodeObject(b []byte) (map[string]json.RawMessage, error) {
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
	if depth >= maxJSONDepth {
		return fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
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

// checkHeader enforces the exact header {alg, typ, kid} and returns the
// kid. Every failure is ErrHeader.
func checkHeader(raw map[string]json.RawMessage) (string, error) {
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
		return "", fmt.Errorf("%w: parameter %q not allowed (the header is exactly alg, typ, kid)", ErrHeader, extra[0])
	}
	var alg, typ, kid string
	for _, f := range []struct {
		name string
		out  *string
	}{{"alg", &alg}, {"typ", &typ}, {"kid", &kid}} {
		v, ok := raw[f.name]
		if !ok {
			return "", fmt.Errorf("%w: %s: missing", ErrHeader, f.name)
		}
		s, err := rawString(v)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrHeader, f.name, err)
		}
		*f.out = s
	}
	if alg != Alg {
		return "", fmt.Errorf("%w: alg: %q, want %q", ErrHeader, abbreviate([]byte(alg)), Alg)
	}
	// RFC 7515 §4.1.9: media type names are case-insensitive, and
	// "application/" may be omitted.
	if t := strings.TrimPrefix(strings.ToLower(typ), "application/"); t != Type {
		return "", fmt.Errorf("%w: typ: %q, want %q", ErrHeader, abbreviate([]byte(typ)), Type)
	}
	if kid == "" {
		return "", fmt.Errorf("%w: kid: empty", ErrHeader)
	}
	return kid, nil
}

// checkClaimSet checks that raw holds exactly the six claims, each of its
// JSON type: strings, and iat/exp as plain non-negative integers (no
// fraction or exponent, which golang-jwt would round). Every failure is
// ErrClaims.
func checkClaimSet(raw map[string]json.RawMessage) error {
	// The claims a call token has, no more, no less.
	claimNames := [...]string{"iss", "aud", "iat", "exp", "jti", "method"}
	var extra []string
	for name := range raw {
		if !slices.Contains(claimNames[:], name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return fmt.Errorf("%w: claim %q not allowed (the claims are exactly iss, aud, iat, exp, jti, method)", ErrClaims, extra[0])
	}
	for _, name := range claimNames {
		v, ok := raw[name]
		if !ok {
			return fmt.Errorf("%w: %s: missing", ErrClaims, name)
		}
		switch name {
		case "iat", "exp":
			if _, err := rawSeconds(v); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrClaims, name, err)
			}
		default:
			s, err := rawString(v)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrClaims, name, err)
			}
			if s == "" {
				return fmt.Errorf("%w: %s: empty", ErrClaims, name)
			}
			if name == "jti" && len(s) > MaxIDBytes {
				return fmt.Errorf("%w: jti: %d bytes, the limit is %d", ErrClaims, len(s), MaxIDBytes)
			}
		}
	}
	return nil
}

// rawString decodes a JSON string; null, arrays and other types are
// refused (encoding/json would turn null into "" silently, and golang-jwt
// would take an array for aud).
func rawString(v json.RawMessage) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		return "", fmt.Errorf("%s is not a JSON string", abbreviate(v))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", err
	}
	return s, nil
}

// rawSeconds decodes a plain JSON integer of seconds since the epoch.
func rawSeconds(v json.RawMessage) (int64, error) {
	s := string(v)
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%s is not a non-negative JSON integer", abbreviate(v))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	// 2^53 keeps the value exact as a float64, which golang-jwt uses.
	if err != nil || n >= 1<<53 {
		return 0, fmt.Errorf("%s is out of range", abbreviate(v))
	}
	return n, nil
}

// abbreviate keeps error messages short when a value is huge.
func abbreviate(v []byte) string {
	const max = 64
	if len(v) > max {
		return string(v[:max]) + "…"
	}
	return string(v)
}
