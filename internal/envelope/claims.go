package envelope

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/headsup-dev/headsup/internal/jws"
	"github.com/headsup-dev/headsup/internal/notice"
)

// Claims are the JWS claims of a notice envelope.
type Claims struct {
	// Issuer is "iss", the issuing member's id.
	Issuer string
	// ID is "jti", the notice id.
	ID string
	// IssuedAt is "iat", whole seconds, UTC.
	IssuedAt time.Time
	// ExpiresAt is "exp", whole seconds, UTC; zero when the notice does not
	// expire.
	ExpiresAt time.Time
	// NoticeSHA256 is "notice_sha256": the unpadded base64url SHA-256 of
	// the notice bytes.
	NoticeSHA256 string
	// Audience is "audience": the member ids that may read the notice;
	// empty means every member.
	Audience []string
	// Supersedes is "supersedes", the id of the notice this one replaces;
	// empty when none.
	Supersedes string

	// digest is NoticeSHA256 decoded, set by check.
	digest [sha256.Size]byte
}

// wireClaims fixes the emitted member order and spelling.
type wireClaims struct {
	Iss          string   `json:"iss"`
	Jti          string   `json:"jti"`
	Iat          int64    `json:"iat"`
	Exp          int64    `json:"exp,omitempty"`
	NoticeSHA256 string   `json:"notice_sha256"`
	Audience     []string `json:"audience"` // never nil: [] when empty
	Supersedes   string   `json:"supersedes,omitempty"`
}

// digestLen is the length of an unpadded base64url SHA-256.
const digestLen = 43

// strictBase64 decodes unpadded base64url with zero unused bits, so a
// digest has one spelling. Never modified.
var strictBase64 = base64.RawURLEncoding.Strict()

// maxUnixSeconds is 9999-12-31T23:59:59Z, the last instant RFC 3339 can
// write; later times are refused rather than mis-printed.
const maxUnixSeconds = 253402300799

// parseClaims turns raw claims into Claims. Every failure is ErrClaims.
func parseClaims(raw map[string]json.RawMessage) (*Claims, error) {
	var unknown []string
	for name := range raw {
		switch name {
		case "iss", "jti", "iat", "exp", "notice_sha256", "audience", "supersedes":
		default:
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("%w: claim %q not allowed", ErrClaims, unknown[0])
	}
	c := &Claims{}
	var err error
	for _, f := range []struct {
		name string
		out  *string
	}{{"iss", &c.Issuer}, {"jti", &c.ID}, {"notice_sha256", &c.NoticeSHA256}} {
		v, ok := raw[f.name]
		if !ok {
			return nil, fmt.Errorf("%w: %s: missing", ErrClaims, f.name)
		}
		if *f.out, err = jws.String(v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrClaims, f.name, err)
		}
	}
	v, ok := raw["iat"]
	if !ok {
		return nil, fmt.Errorf("%w: iat: missing", ErrClaims)
	}
	if c.IssuedAt, err = rawSeconds(v); err != nil {
		return nil, fmt.Errorf("%w: iat: %v", ErrClaims, err)
	}
	if v, ok := raw["exp"]; ok {
		if c.ExpiresAt, err = rawSeconds(v); err != nil {
			return nil, fmt.Errorf("%w: exp: %v", ErrClaims, err)
		}
	}
	v, ok = raw["audience"]
	if !ok {
		return nil, fmt.Errorf("%w: audience: missing ([] means every member)", ErrClaims)
	}
	if len(v) == 0 || v[0] != '[' {
		return nil, fmt.Errorf("%w: audience: %s is not a JSON array", ErrClaims, jws.Abbreviate(v))
	}
	aud, err := jws.Array(v)
	if err != nil {
		return nil, fmt.Errorf("%w: audience: %v", ErrClaims, err)
	}
	for i, a := range aud {
		s, err := jws.String(a)
		if err != nil {
			return nil, fmt.Errorf("%w: audience[%d]: %v", ErrClaims, i, err)
		}
		c.Audience = append(c.Audience, s)
	}
	if v, ok := raw["supersedes"]; ok {
		if c.Supersedes, err = jws.String(v); err != nil {
			return nil, fmt.Errorf("%w: supersedes: %v", ErrClaims, err)
		}
		if c.Supersedes == "" {
			return nil, fmt.Errorf("%w: supersedes: empty (omit the claim instead)", ErrClaims)
		}
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// rawSeconds decodes a NumericDate that must be a plain positive JSON
// integer: "1.0", "1e9" and "-1" are refused, so each instant has one
// spelling and no verifier rounds differently from another.
func rawSeconds(v json.RawMessage) (time.Time, error) {
	s := string(v)
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return time.Time{}, fmt.Errorf("%s is not a whole number of seconds", jws.Abbreviate(v))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > maxUnixSeconds {
		return time.Time{}, fmt.Errorf("%s is out of range", jws.Abbreviate(v))
	}
	return time.Unix(n, 0).UTC(), nil
}

// check validates the values of claims, whether parsed or about to be
// signed, so that Sign never emits what Verify refuses.
func (c *Claims) check() error {
	if !notice.ValidMemberID(c.Issuer) {
		return fmt.Errorf("%w: iss: %q is not a member id", ErrClaims, c.Issuer)
	}
	if !notice.ValidNoticeID(c.ID) {
		return fmt.Errorf("%w: jti: %q is not a canonical lower-case UUIDv7", ErrClaims, c.ID)
	}
	if err := checkSeconds(c.IssuedAt); err != nil {
		return fmt.Errorf("%w: iat: %v", ErrClaims, err)
	}
	if !c.ExpiresAt.IsZero() {
		if err := checkSeconds(c.ExpiresAt); err != nil {
			return fmt.Errorf("%w: exp: %v", ErrClaims, err)
		}
	}
	// Only 43 characters spell 32 bytes unpadded; checking that first
	// keeps the decoding inside the digest array.
	if len(c.NoticeSHA256) != digestLen || strings.IndexFunc(c.NoticeSHA256, jws.NotBase64URL) >= 0 {
		return fmt.Errorf("%w: notice_sha256: %q is not an unpadded base64url SHA-256", ErrClaims, c.NoticeSHA256)
	}
	if n, err := strictBase64.Decode(c.digest[:], []byte(c.NoticeSHA256)); err != nil || n != sha256.Size {
		return fmt.Errorf("%w: notice_sha256: %q is not an unpadded base64url SHA-256", ErrClaims, c.NoticeSHA256)
	}
	for i, a := range c.Audience {
		if !notice.ValidMemberID(a) {
			return fmt.Errorf("%w: audience[%d]: %q is not a member id", ErrClaims, i, a)
		}
		if slices.Contains(c.Audience[:i], a) {
			return fmt.Errorf("%w: audience[%d]: %q listed twice", ErrClaims, i, a)
		}
	}
	if c.Supersedes != "" && !notice.ValidNoticeID(c.Supersedes) {
		return fmt.Errorf("%w: supersedes: %q is not a canonical lower-case UUIDv7", ErrClaims, c.Supersedes)
	}
	return nil
}

func checkSeconds(t time.Time) error {
	if t.Nanosecond() != 0 {
		return fmt.Errorf("%s is not whole seconds", t.Format(time.RFC3339Nano))
	}
	if s := t.Unix(); s <= 0 || s > maxUnixSeconds {
		return fmt.Errorf("%s is out of range", t.Format(time.RFC3339))
	}
	return nil
}

// marshal encodes the claims in their one spelling.
func (c *Claims) marshal() ([]byte, error) {
	w := wireClaims{
		Iss:          c.Issuer,
		Jti:          c.ID,
		Iat:          c.IssuedAt.Unix(),
		NoticeSHA256: c.NoticeSHA256,
		Audience:     append([]string{}, c.Audience...),
		Supersedes:   c.Supersedes,
	}
	if !c.ExpiresAt.IsZero() {
		w.Exp = c.ExpiresAt.Unix()
	}
	return json.Marshal(&w)
}

// Digest returns the notice_sha256 value for notice bytes: the unpadded
// base64url SHA-256.
func Digest(noticeBytes []byte) string {
	sum := sha256.Sum256(noticeBytes)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
