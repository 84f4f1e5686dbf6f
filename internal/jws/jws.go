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
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
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

// strictBase64 is unpadded base64url with zero unused bits: what
// golang-jwt's Parser.DecodeSegment uses under WithStrictDecoding
// (base64.RawURLEncoding.Strict()), made once rather than per segment.
// Never modified.
var strictBase64 = base64.RawURLEncoding.Strict()

// Split decodes the three parts of a compact JWS. Its errors describe the
// syntax at fault; callers wrap them in their own sentinel.
func Split(token string) (*Compact, error) {
	if n := strings.Count(token, ".") + 1; n != 3 {
		return nil, fmt.Errorf("JWS has %d parts, want 3 (header.claims.signature)", n)
	}
	i := strings.IndexByte(token, '.')
	j := i + 1 + strings.IndexByte(token[i+1:], '.')
	parts := [3]string{token[:i], token[i+1 : j], token[j+1:]}
	// One buffer holds the three decoded parts; each part's capacity is
	// capped so that no append reaches into the next.
	size := 0
	for _, part := range parts {
		size += strictBase64.DecodedLen(len(part))
	}
	buf := make([]byte, size)
	var dec [3][]byte
	for k, name := range [3]string{"header", "claims", "signature"} {
		// The decoder refuses every byte outside the alphabet but CR and
		// LF, which it skips; so a part that decodes and holds neither
		// is all alphabet, and only a failure needs the byte-wise scan
		// (whose finding is reported first, as a wrong byte).
		n, err := strictBase64.Decode(buf, []byte(parts[k]))
		if err != nil || strings.IndexByte(parts[k], '\r') >= 0 || strings.IndexByte(parts[k], '\n') >= 0 {
			if at := notBase64URLAt(parts[k]); at >= 0 {
				return nil, fmt.Errorf("%s: byte %d is not in the base64url alphabet", name, at)
			}
			return nil, fmt.Errorf("%s: not strict unpadded base64url: %v", name, err)
		}
		dec[k], buf = buf[:n:n], buf[strictBase64.DecodedLen(len(parts[k])):]
	}
	header, err := DecodeObject(dec[0])
	if err != nil {
		return nil, fmt.Errorf("header: %v", err)
	}
	claims, err := DecodeObject(dec[1])
	if err != nil {
		return nil, fmt.Errorf("claims: %v", err)
	}
	return &Compact{SigningInput: token[:j], Header: header, Claims: claims, Signature: dec[2]}, nil
}

// NotBase64URL reports a rune outside the base64url alphabet.
func NotBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// notBase64URLAt is strings.IndexFunc(s, NotBase64URL) byte by byte: the
// first byte of a rune outside the alphabet (every byte of one is) is
// where IndexFunc would stop.
func notBase64URLAt(s string) int {
	for i := 0; i < len(s); i++ {
		if NotBase64URL(rune(s[i])) {
			return i
		}
	}
	return -1
}

// DecodeObject parses one JSON object strictly and returns its top-level
// members with their raw values.
//
// It runs on every envelope a hub, an agent or an auditor verifies, so the
// common case takes a fast path: encoding/json's own scanner checks the
// syntax (json.Valid, no allocation), then one walk over the bytes, known
// valid, checks names and depth and slices out the members. Whatever the
// fast path does not accept is decoded again by decodeObjectSlowly, the
// token-by-token reference, so every refusal and its message come from
// one place; the fast path only ever accepts what the reference accepts,
// with the same members (FuzzDecodeObject checks both).
func DecodeObject(b []byte) (map[string]json.RawMessage, error) {
	if m, ok := decodeObjectFast(b); ok {
		return m, nil
	}
	return decodeObjectSlowly(b)
}

// decodeObjectSlowly is DecodeObject's reference: encoding/json's
// tokenizer, then json.Unmarshal once the object is known to have no
// duplicate names.
func decodeObjectSlowly(b []byte) (map[string]json.RawMessage, error) {
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

// decodeObjectFast accepts b only when it is valid UTF-8 and valid JSON
// (encoding/json's scanner), an object, with no name twice in any object
// (names compared decoded, as the reference does) and nesting within
// maxDepth; it returns the top-level members, each value the bytes of
// its JSON text (sliced from b, capacity capped so no append reaches into
// b). ok false says nothing about why: the reference finds that out.
func decodeObjectFast(b []byte) (m map[string]json.RawMessage, ok bool) {
	if !utf8.Valid(b) || !json.Valid(b) {
		return nil, false
	}
	w := walker{b: b}
	w.space()
	if w.i >= len(b) || b[w.i] != '{' {
		return nil, false
	}
	m = map[string]json.RawMessage{}
	if !w.object(1, m) {
		return nil, false
	}
	return m, true
}

// walker reads JSON already checked by json.Valid: it need not recheck
// the syntax, only find where each string and value ends.
type walker struct {
	b []byte
	i int
}

func (w *walker) space() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// object reads the object at w.i ('{'), whose members are at depth
// (scanObject's numbering); with top set, it records them in top.
func (w *walker) object(depth int, top map[string]json.RawMessage) bool {
	w.i++ // '{'
	var seen map[string]bool
	if top == nil {
		seen = map[string]bool{}
	}
	w.space()
	if w.b[w.i] == '}' {
		w.i++
		return true
	}
	for {
		w.space()
		name, ok := w.name()
		if !ok {
			return false
		}
		w.space()
		w.i++ // ':'
		w.space()
		start := w.i
		if !w.value(depth) {
			return false
		}
		if top != nil {
			if _, dup := top[name]; dup {
				return false
			}
			top[name] = json.RawMessage(w.b[start:w.i:w.i])
		} else {
			if seen[name] {
				return false
			}
			seen[name] = true
		}
		w.space()
		c := w.b[w.i]
		w.i++ // ',' or '}'
		if c == '}' {
			return true
		}
	}
}

// name reads a member name, decoded as the reference decodes it.
func (w *walker) name() (string, bool) {
	start := w.i
	escaped := w.str()
	raw := w.b[start:w.i]
	if !escaped {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// str skips the string at w.i and says whether it holds an escape.
func (w *walker) str() (escaped bool) {
	w.i++ // '"'
	for {
		switch w.b[w.i] {
		case '"':
			w.i++
			return escaped
		case '\\':
			escaped = true
			w.i += 2
		default:
			w.i++
		}
	}
}

// value skips the value at w.i, as scanValue at depth would read it.
func (w *walker) value(depth int) bool {
	switch w.b[w.i] {
	case '{':
		if depth >= maxDepth {
			return false
		}
		return w.object(depth+1, nil)
	case '[':
		if depth >= maxDepth {
			return false
		}
		w.i++
		w.space()
		if w.b[w.i] == ']' {
			w.i++
			return true
		}
		for {
			w.space()
			if !w.value(depth + 1) {
				return false
			}
			w.space()
			c := w.b[w.i]
			w.i++ // ',' or ']'
			if c == ']' {
				return true
			}
		}
	case '"':
		w.str()
		return true
	}
	// A number, true, false or null: up to the next delimiter.
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return true
		}
		w.i++
	}
	return true
}

// Array returns the elements of a JSON array, each the bytes of its JSON
// text, exactly as json.Unmarshal into a []json.RawMessage does (its
// errors too). Arrays of valid JSON are split without reflection: the
// claims of every envelope hold one.
func Array(v []byte) ([]json.RawMessage, error) {
	if elems, ok := arrayFast(v); ok {
		return elems, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(v, &elems); err != nil {
		return nil, err
	}
	return elems, nil
}

// arrayFast splits v when it is one valid JSON array; ok false leaves v
// to json.Unmarshal. Elements are sliced from v, capacity capped.
func arrayFast(v []byte) (elems []json.RawMessage, ok bool) {
	if !json.Valid(v) {
		return nil, false
	}
	w := walker{b: v}
	w.space()
	if w.b[w.i] != '[' {
		return nil, false
	}
	w.i++
	w.space()
	elems = []json.RawMessage{}
	if w.b[w.i] == ']' {
		return elems, true
	}
	for {
		w.space()
		start := w.i
		if !w.value(1) {
			return nil, false // nested past maxDepth: the reference decides
		}
		elems = append(elems, json.RawMessage(w.b[start:w.i:w.i]))
		w.space()
		c := w.b[w.i]
		w.i++ // ',' or ']'
		if c == ']' {
			return elems, true
		}
	}
}

// String decodes a JSON string; null, arrays and other types are refused
// (encoding/json would turn null into "" silently, and golang-jwt would
// take an array for aud).
func String(v json.RawMessage) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		return "", fmt.Errorf("%s is not a JSON string", Abbreviate(v))
	}
	if s, ok := plainString(v); ok {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", err
	}
	return s, nil
}

// plainString decodes, without encoding/json, a JSON string that has
// nothing to unescape or replace: quotes around valid UTF-8 with no
// backslash, quote or control character. ok false leaves the rest to
// json.Unmarshal (escapes, invalid UTF-8 it would replace, errors).
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	body := v[1 : len(v)-1]
	for _, c := range body {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(body) {
		return "", false
	}
	return string(body), true
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
	// Read in this order, so the first of them at fault is reported.
	if alg, err = member(raw, "alg"); err != nil {
		return "", "", err
	}
	gotTyp, err := member(raw, "typ")
	if err != nil {
		return "", "", err
	}
	if kid, err = member(raw, "kid"); err != nil {
		return "", "", err
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

// member decodes the string member name of raw; its errors name it.
func member(raw map[string]json.RawMessage, name string) (string, error) {
	v, ok := raw[name]
	if !ok {
		return "", fmt.Errorf("%s: missing", name)
	}
	s, err := String(v)
	if err != nil {
		return "", fmt.Errorf("%s: %v", name, err)
	}
	return s, nil
}
