package calltoken

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/headsup-dev/headsup/internal/jws"
)

// compact is a token split and decoded, checked for syntax only.
type compact struct {
	header map[string]json.RawMessage
	claims map[string]json.RawMessage
}

// splitToken checks the syntax golang-jwt does not (package jws): it
// decodes the header into a map (losing duplicate names and admitting any
// parameter) and lets encoding/json pick the last of two equal claim
// names, which another language's parser may not. Every failure is
// ErrMalformed.
func splitToken(token string) (*compact, error) {
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrMalformed, len(token), MaxTokenBytes)
	}
	c, err := jws.Split(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &compact{header: c.Header, claims: c.Claims}, nil
}

// checkHeader enforces the exact header {alg, typ, kid} (jws.Header) and
// returns the kid. Every failure is ErrHeader.
func checkHeader(raw map[string]json.RawMessage) (string, error) {
	_, kid, err := jws.Header(raw, Type, Alg)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrHeader, err)
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
			s, err := jws.String(v)
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

// rawSeconds decodes a plain JSON integer of seconds since the epoch.
func rawSeconds(v json.RawMessage) (int64, error) {
	s := string(v)
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%s is not a non-negative JSON integer", jws.Abbreviate(v))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	// 2^53 keeps the value exact as a float64, which golang-jwt uses.
	if err != nil || n >= 1<<53 {
		return 0, fmt.Errorf("%s is out of range", jws.Abbreviate(v))
	}
	return n, nil
}
