package envelope

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

// compact is a JWS compact serialisation split and decoded, not yet
// checked beyond syntax.
type compact struct {
	signingInput string // header "." claims, as received: what was signed
	header       map[string]json.RawMessage
	claims       map[string]json.RawMessage
	signature    []byte
}

// splitJWS decodes the three parts of a compact JWS. Every failure is
// ErrMalformed.
func splitJWS(jws string) (*compact, error) {
	if len(jws) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: JWS is %d bytes, the limit is %d", ErrTooLarge, len(jws), MaxEnvelopeBytes)
	}
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: JWS has %d parts, want 3 (header.claims.signature)", ErrMalformed, len(parts))
	}
	// WithStrictDecoding refuses non-zero unused bits; nothing else is set,
	// so padding is refused as well.
	p := jwt.NewParser(jwt.WithStrictDecoding())
	var dec [3][]byte
	for i, name := range []string{"header", "claims", "signature"} {
		if j := strings.IndexFunc(parts[i], notBase64URL); j >= 0 {
			// Go's decoder skips CR and LF even in strict mode; a JWS with
			// a line break would be a second spelling of the same token.
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
	return &compact{
		signingInput: jws[:len(parts[0])+1+len(parts[1])],
		header:       header,
		claims:       claims,
		signature:    dec[2],
	}, nil
}

func notBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// maxJSONDepth bounds nesting; headers and claims need two levels.
const maxJSONDepth = 8

// decodeObject parses one JSON object strictly: valid UTF-8 (RFC 8259 §8.1;
// encoding/json would replace bad bytes silently), no member name twice at
// any depth (RFC 7515 §4 and RFC 7519 §4 require unique names, and parsers
// disagree on which duplicate wins), nothing after the object. It returns
// the top-level members with their raw values.
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

// header is a checked protected header.
type header struct {
	alg, typ, kid string
}

// Header parameter values this package accepts.
const (
	algEdDSA   = "EdDSA"
	algEd25519 = "Ed25519" // RFC 9864
)

// checkHeader enforces the exact header {alg, typ, kid}. Every failure is
// ErrHeader.
func checkHeader(raw map[string]json.RawMessage) (*header, error) {
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
		return nil, fmt.Errorf("%w: parameter %q not allowed (the header is exactly alg, typ, kid)", ErrHeader, extra[0])
	}
	var h header
	for _, f := range []struct {
		name string
		out  *string
	}{{"alg", &h.alg}, {"typ", &h.typ}, {"kid", &h.kid}} {
		v, ok := raw[f.name]
		if !ok {
			return nil, fmt.Errorf("%w: %s: missing", ErrHeader, f.name)
		}
		s, err := rawString(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrHeader, f.name, err)
		}
		*f.out = s
	}
	if h.alg != algEdDSA && h.alg != algEd25519 {
		return nil, fmt.Errorf("%w: alg: %q, want %q or %q", ErrHeader, h.alg, algEdDSA, algEd25519)
	}
	// RFC 7515 §4.1.9: media type names are case-insensitive, and
	// "application/" may be omitted.
	if t := strings.TrimPrefix(strings.ToLower(h.typ), "application/"); t != Type {
		return nil, fmt.Errorf("%w: typ: %q, want %q", ErrHeader, h.typ, Type)
	}
	if h.kid == "" {
		return nil, fmt.Errorf("%w: kid: empty", ErrHeader)
	}
	return &h, nil
}

// rawString decodes a JSON string; null and other types are refused
// (encoding/json would turn null into "" silently).
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

// abbreviate keeps error messages short when a value is huge.
func abbreviate(v []byte) string {
	const max = 64
	if len(v) > max {
		return string(v[:max]) + "…"
	}
	return string(v)
}
