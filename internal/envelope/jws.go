package envelope

import (
	"encoding/json"
	"fmt"

	"github.com/headsup-dev/headsup/internal/jws"
)

// splitJWS decodes the three parts of a compact JWS (strictly: package
// jws). Every failure is ErrMalformed.
func splitJWS(token string) (*jws.Compact, error) {
	if len(token) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: JWS is %d bytes, the limit is %d", ErrTooLarge, len(token), MaxEnvelopeBytes)
	}
	c, err := jws.Split(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return c, nil
}

// header is a checked protected header.
type header struct {
	alg, kid string
}

// Header parameter values this package accepts.
const (
	algEdDSA   = "EdDSA"
	algEd25519 = "Ed25519" // RFC 9864
)

// checkHeader enforces the exact header {alg, typ, kid} (jws.Header).
// Every failure is ErrHeader.
func checkHeader(raw map[string]json.RawMessage) (header, error) {
	alg, kid, err := jws.Header(raw, Type, algEdDSA, algEd25519)
	if err != nil {
		return header{}, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	return header{alg: alg, kid: kid}, nil
}
