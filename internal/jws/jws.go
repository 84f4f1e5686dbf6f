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
// common case takes a fast path: one walk over the bytes checks the
// syntax as json.Valid does (FuzzValid compares them), checks names and
// depth and slices out the members. Whatever the fast path does not
// accept is decoded again by decodeObjectSlowly, the token-by-token
// reference, so every refusal and its message come from one place; the
// fast path only ever accepts what the reference accepts, with the same
// members (FuzzDecodeObject checks both).
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
// (as json.Valid), an object, with no name twice in any object (names
// compared decoded, as the reference does) and nesting within maxDepth;
// it returns the top-level members, each value the bytes of its JSON text
// (sliced from b, capacity capped so no append reaches into b). ok false
// says nothing about why: the reference finds that out.
func decodeObjectFast(b []byte) (m map[string]json.RawMessage, ok bool) {
	if !utf8.Valid(b) {
		return nil, false
	}
	w := walker{b: b, maxDepth: maxDepth}
	w.space()
	if w.i >= len(b) || b[w.i] != '{' {
		return nil, false
	}
	// Sized for a header or a notice's claims, so the map never grows.
	m = make(map[string]json.RawMessage, 8)
	if !w.object(1, m) || !w.end() {
		return nil, false
	}
	return m, true
}

// walker checks JSON syntax as it reads, accepting exactly what json.Valid
// accepts (up to maxDepth nested arrays and objects; json.Valid allows
// 10000), in one pass and without allocating: json.Valid's table-driven
// scanner cost as much again as the walk. UTF-8 is not its business
// (json.Valid lets invalid UTF-8 through inside strings): DecodeObject
// checks it first. Every method stops at the first fault and returns
// false; the index is then meaningless.
type walker struct {
	b        []byte
	i        int
	maxDepth int
	// anyNames lets a name repeat, as json.Valid does; DecodeObject and
	// Array never set it.
	anyNames bool
	// names holds b as a string once a member name needs one: names are
	// sliced from this one copy rather than allocated one by one.
	names string
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

// end reports whether nothing but white space is left.
func (w *walker) end() bool {
	w.space()
	return w.i == len(w.b)
}

// next skips white space and consumes c if it is next.
func (w *walker) next(c byte) bool {
	w.space()
	if w.i < len(w.b) && w.b[w.i] == c {
		w.i++
		return true
	}
	return false
}

// object reads the object at w.i ('{'), whose members are at depth
// (scanObject's numbering); with top set, it records them in top.
func (w *walker) object(depth int, top map[string]json.RawMessage) bool {
	w.i++ // '{'
	if w.next('}') {
		return true
	}
	var seen map[string]bool
	if top == nil && !w.anyNames {
		seen = map[string]bool{}
	}
	for {
		w.space()
		name, ok := w.name()
		if !ok || !w.next(':') {
			return false
		}
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
		} else if seen != nil {
			if seen[name] {
				return false
			}
			seen[name] = true
		}
		if w.next('}') {
			return true
		}
		if !w.next(',') {
			return false
		}
	}
}

// name reads a member name, decoded as the reference decodes it.
func (w *walker) name() (string, bool) {
	start := w.i
	escaped, ok := w.str()
	if !ok {
		return "", false
	}
	if !escaped {
		if w.names == "" {
			w.names = string(w.b)
		}
		return w.names[start+1 : w.i-1], true
	}
	var s string
	if err := json.Unmarshal(w.b[start:w.i], &s); err != nil {
		return "", false
	}
	return s, true
}

// str reads the string at w.i and says whether it holds an escape.
func (w *walker) str() (escaped, ok bool) {
	if w.i >= len(w.b) || w.b[w.i] != '"' {
		return false, false
	}
	w.i++
	for w.i < len(w.b) {
		c := w.b[w.i]
		switch {
		case c == '"':
			w.i++
			return escaped, true
		case c < 0x20:
			return false, false
		case c == '\\':
			escaped = true
			if w.i+1 >= len(w.b) {
				return false, false
			}
			switch w.b[w.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				w.i += 2
			case 'u':
				if w.i+6 > len(w.b) {
					return false, false
				}
				for _, h := range w.b[w.i+2 : w.i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false, false
					}
				}
				w.i += 6
			default:
				return false, false
			}
		default:
			w.i++
		}
	}
	return false, false
}

// value reads the value at w.i, as scanValue at depth would read it.
func (w *walker) value(depth int) bool {
	if w.i >= len(w.b) {
		return false
	}
	switch c := w.b[w.i]; {
	case c == '{':
		if depth >= w.maxDepth {
			return false
		}
		return w.object(depth+1, nil)
	case c == '[':
		if depth >= w.maxDepth {
			return false
		}
		_, ok := w.array(depth+1, false)
		return ok
	case c == '"':
		_, ok := w.str()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return w.number()
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	}
	return false
}

// array reads the array at w.i ('['), whose elements are at depth; with
// collect set, it returns them (sliced from b, capacity capped).
func (w *walker) array(depth int, collect bool) (elems []json.RawMessage, ok bool) {
	w.i++ // '['
	if collect {
		elems = []json.RawMessage{}
	}
	if w.next(']') {
		return elems, true
	}
	for {
		w.space()
		start := w.i
		if !w.value(depth) {
			return nil, false
		}
		if collect {
			elems = append(elems, json.RawMessage(w.b[start:w.i:w.i]))
		}
		if w.next(']') {
			return elems, true
		}
		if !w.next(',') {
			return nil, false
		}
	}
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// What follows it is the caller's to check, so "01" fails there.
func (w *walker) number() bool {
	if w.b[w.i] == '-' {
		w.i++
	}
	if w.i < len(w.b) && w.b[w.i] == '0' {
		w.i++
	} else if !w.digits() {
		return false
	}
	if w.i < len(w.b) && w.b[w.i] == '.' {
		w.i++
		if !w.digits() {
			return false
		}
	}
	if w.i < len(w.b) && (w.b[w.i] == 'e' || w.b[w.i] == 'E') {
		w.i++
		if w.i < len(w.b) && (w.b[w.i] == '+' || w.b[w.i] == '-') {
			w.i++
		}
		if !w.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more decimal digits.
func (w *walker) digits() bool {
	start := w.i
	for w.i < len(w.b) && w.b[w.i] >= '0' && w.b[w.i] <= '9' {
		w.i++
	}
	return w.i > start
}

func (w *walker) literal(lit string) bool {
	if !bytes.HasPrefix(w.b[w.i:], []byte(lit)) {
		return false
	}
	w.i += len(lit)
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

// arrayFast splits v when it is one valid JSON array (as json.Valid,
// nesting within maxDepth); ok false leaves v to json.Unmarshal.
// Elements are sliced from v, capacity capped.
func arrayFast(v []byte) (elems []json.RawMessage, ok bool) {
	w := walker{b: v, maxDepth: maxDepth}
	w.space()
	if w.i >= len(v) || v[w.i] != '[' {
		return nil, false
	}
	elems, ok = w.array(1, true)
	if !ok || !w.end() {
		return nil, false
	}
	return elems, true
}

// valid is json.Valid by the walker, with json.Valid's own nesting limit:
// FuzzValid compares the two.
func valid(b []byte) bool {
	w := walker{b: b, maxDepth: 10000, anyNames: true}
	w.space()
	return w.value(0) && w.end()
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
	if alg, kid, ok := headerFast(raw, typ, algs); ok {
		return alg, kid, nil
	}
	return headerSlowly(raw, typ, algs)
}

// headerFast accepts the header every well-formed token carries — alg
// and typ spelt plainly, exactly one of algs and typ or "application/"
// typ — without decoding alg and typ into strings of their own; ok false
// leaves raw to headerSlowly, which alone refuses (FuzzHeader compares
// them).
func headerFast(raw map[string]json.RawMessage, typ string, algs []string) (alg, kid string, ok bool) {
	if len(raw) != 3 || !plain(typ) || strings.ToLower(typ) != typ {
		return "", "", false
	}
	a, t, k := raw["alg"], raw["typ"], raw["kid"]
	for _, cand := range algs {
		if IsPlainString(a, cand) {
			alg = cand
			break
		}
	}
	// typ is lower case and needs no escape, so these two spellings
	// are what the reference's case folding and prefix trimming accept
	// without either doing anything.
	const app = "application/"
	prefixed := len(t) == len(app)+len(typ)+2 && t[0] == '"' && string(t[1:1+len(app)]) == app &&
		string(t[1+len(app):len(t)-1]) == typ && t[len(t)-1] == '"'
	if alg == "" || !IsPlainString(t, typ) && !prefixed {
		return "", "", false
	}
	kid, err := String(k)
	if err != nil || kid == "" {
		return "", "", false
	}
	return alg, kid, true
}

// IsPlainString reports whether v is the JSON string s written without
// escapes, s needing none (no quote, backslash or control character;
// valid UTF-8): the quotes around s and nothing else. True implies
// String(v) == s; it is that common case decided without allocating.
// False says only that v is not written so.
func IsPlainString(v json.RawMessage, s string) bool {
	return len(v) == len(s)+2 && v[0] == '"' && v[len(v)-1] == '"' && string(v[1:len(v)-1]) == s && plain(s)
}

// plain reports whether s needs no escape in JSON, so that its JSON text
// is s between quotes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// headerSlowly is Header's reference and the only place its errors come
// from.
func headerSlowly(raw map[string]json.RawMessage, typ string, algs []string) (alg, kid string, err error) {
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
		// A copy, so that algs does not escape and callers' variadic
		// lists stay on their stack.
		return "", "", fmt.Errorf("alg: %q, want one of %q", Abbreviate([]byte(alg)), slices.Clone(algs))
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
