package envelope

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/headsup-dev/headsup/internal/jws"
)

// compact is a JWS compact serialisation split and decoded, not yet
// checked beyond syntax.
type compact struct {
	signingInput string // header "." claims, as received: what was signed
	header       map[string]json.RawMessage
	claims       map[string]json.RawMessage
	signature    []byte
}

// splitJWS decodes the three parts of a compact JWS (strictly: package
// jws). Every failure is ErrMalformed.
func splitJWS(token string) (*compact, error) {
	if len(token) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: JWS is %d bytes, the limit is %d", ErrTooLarge, len(token), MaxEnvelopeBytes)
	}
	c, err := jws.Split(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &compact{signingInput: c.SigningInput, header: c.Header, claims: c.Claims, signature: c.Signature}, nil
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
		s, err := jws.String(v)
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
