package match

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/notice"
)

// ErrUnknownType is wrapped by the RowError of a row whose type is not in
// DESIGN.md's vocabulary.
var ErrUnknownType = errors.New("unknown identifier type")

// ErrUnknownKey is wrapped by the RowError of a hashed row whose key id is
// not in Config.HashKeys: it could never match, and a silent row that
// never matches is worse than a refused one.
var ErrUnknownKey = errors.New("hash key not configured")

// ErrInvalidValue is wrapped by the RowError of a row whose value (or
// owner, or member id) can never be an identifier.
var ErrInvalidValue = errors.New("invalid value")

const (
	maxOwnerLen = 1024 // a customer id or notice reference; more is a broken source
	maxValueLen = 4096 // no normal form is longer; bounds the work on hostile input
)

// RowError says which row of which source is bad, in which field, with
// which value, and why. It wraps ErrUnknownType or ErrInvalidValue.
type RowError struct {
	Source string // the source's name (a file path, "postgres:customers")
	Line   int    // the row's line or ordinal in its source
	Field  string // "owner", "type", "value" or "member"
	Value  string // the bad value, truncated
	Err    error  // why
}

// Error formats the error as `source:line: field "value": why`.
func (e *RowError) Error() string {
	return fmt.Sprintf("%s:%d: %s %q: %v", e.Source, e.Line, e.Field, e.Value, e.Err)
}

// Unwrap returns the reason, which wraps the sentinel.
func (e *RowError) Unwrap() error { return e.Err }

// reasonErr is a reason text that wraps a sentinel without repeating it in
// the message (the RowError already says which field is wrong).
type reasonErr struct {
	kind   error
	reason string
}

func (e *reasonErr) Error() string { return e.reason }
func (e *reasonErr) Unwrap() error { return e.kind }

func rowErr(r Row, field, value string, kind error, reason string) *RowError {
	if len(value) > 128 {
		cut := 128
		for cut > 0 && !utf8.RuneStart(value[cut]) {
			cut--
		}
		value = value[:cut] + "…"
	}
	return &RowError{Source: r.Source, Line: r.Line, Field: field, Value: value, Err: &reasonErr{kind, reason}}
}

// reasonOf returns the reason of a notice.FieldError (without its quoted
// value, which the RowError carries), or the error text.
func reasonOf(err error) string {
	var fe *notice.FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

// NormalizeRow returns r with its type in canonical spelling and its value,
// owner and member id in normal form, using the same normalisers as
// notices (package notice), so both sides of a match meet in one form:
//
//   - host: notice.Host; a bare public suffix is refused (a customer row
//     must name one customer, not everyone under "co.uk");
//   - prefix: notice.Prefix (IPv4-mapped unmapped, masked, special-purpose
//     ranges refused; documentation ranges only with Config.TestNetwork),
//     written by notice.PrefixString;
//   - asn: notice.ASN and notice.CheckASN, written "AS64500";
//   - email: notice.Email; organisation: notice.Organisation's name;
//   - registration: "lei:<LEI>", "company:<CC>:<number>", "vat:<id>" or
//     "rir:<handle>", the value by notice.Registration;
//   - phone: E.164, "+" and 7 to 15 digits (spaces, dots, dashes,
//     parentheses, a "tel:" prefix and a leading "00" accepted);
//   - hashed: notice.Hashed; member: a member id in lower case.
//
// The owner is trimmed and required; the name trimmed. A bad row yields a
// *RowError naming source, line, field and value. NormalizeRow is
// idempotent: its output normalises to itself.
func NormalizeRow(r Row, cfg Config) (Row, error) {
	in := r
	r.Owner = strings.TrimSpace(r.Owner)
	switch {
	case r.Owner == "":
		return Row{}, rowErr(in, "owner", in.Owner, ErrInvalidValue, "is empty: every row needs its customer id")
	case len(r.Owner) > maxOwnerLen || !utf8.ValidString(r.Owner):
		return Row{}, rowErr(in, "owner", in.Owner, ErrInvalidValue, "is not a usable customer id (too long or not UTF-8)")
	}
	r.Name = strings.TrimSpace(r.Name)
	if r.Member != "" {
		m := strings.ToLower(strings.TrimSpace(r.Member))
		if !notice.ValidMemberID(m) {
			return Row{}, rowErr(in, "member", in.Member, ErrInvalidValue, "is not a member id (^[a-z0-9][a-z0-9-]{0,62}$)")
		}
		r.Member = m
	}
	t, err := ParseType(string(r.Type))
	if err != nil {
		return Row{}, rowErr(in, "type", string(in.Type), ErrUnknownType, "is not one of host, prefix, asn, email, organisation, registration, phone, hashed, member")
	}
	r.Type = t
	if len(r.Value) > maxValueLen {
		return Row{}, rowErr(in, "value", in.Value, ErrInvalidValue, "is too long for any identifier")
	}
	v, err := normalValue(t, r.Value, cfg)
	if err != nil {
		return Row{}, rowErr(in, "value", in.Value, ErrInvalidValue, reasonOf(err))
	}
	r.Value = v
	return r, nil
}

// normalValue returns the normal form of one value of type t.
func normalValue(t Type, v string, cfg Config) (string, error) {
	switch t {
	case TypeHost:
		h, err := notice.Host(v)
		if err != nil {
			return "", err
		}
		if notice.IsPublicSuffix(h) {
			return "", errors.New("is a public suffix; a row must name one customer, not everyone under it")
		}
		return h, nil
	case TypePrefix:
		p, err := notice.Prefix(v, cfg.options())
		if err != nil {
			return "", err
		}
		return notice.PrefixString(p), nil
	case TypeASN:
		n, err := notice.ASN(v)
		if err != nil {
			return "", err
		}
		if err := notice.CheckASN(n, cfg.options()); err != nil {
			return "", err
		}
		return asnString(n), nil
	case TypeEmail:
		return notice.Email(v)
	case TypeOrganisation:
		name, _, err := notice.Organisation(v)
		return name, err
	case TypeRegistration:
		return normalRegistration(v)
	case TypePhone:
		return normalPhone(v)
	case TypeHashed:
		return notice.Hashed(v)
	case TypeMember:
		m := strings.ToLower(strings.TrimSpace(v))
		if !notice.ValidMemberID(m) {
			return "", errors.New("is not a member id (^[a-z0-9][a-z0-9-]{0,62}$)")
		}
		return m, nil
	}
	return "", fmt.Errorf("has unknown type %q", t)
}

func asnString(n uint32) string { return "AS" + strconv.FormatUint(uint64(n), 10) }

// registrationSchemes maps the row spelling of a scheme to the proto enum.
var registrationSchemes = map[string]headsupv1.RegistrationScheme{
	"lei":     headsupv1.RegistrationScheme_REGISTRATION_SCHEME_LEI,
	"company": headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER,
	"vat":     headsupv1.RegistrationScheme_REGISTRATION_SCHEME_VAT,
	"rir":     headsupv1.RegistrationScheme_REGISTRATION_SCHEME_RIR_ORG,
}

// normalRegistration reads "scheme:value" or "company:CC:number" and
// returns its normal form.
func normalRegistration(s string) (string, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	sc, known := registrationSchemes[strings.ToLower(strings.TrimSpace(scheme))]
	if !ok || !known {
		return "", errors.New(`is not a registration: want "lei:<LEI>", "company:<CC>:<number>", "vat:<id>" or "rir:<handle>"`)
	}
	country := ""
	if sc == headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER {
		if country, rest, ok = strings.Cut(rest, ":"); !ok {
			return "", errors.New(`is not a company number: want "company:<CC>:<number>"`)
		}
	}
	v, c, err := notice.Registration(sc, rest, country)
	if err != nil {
		return "", err
	}
	return registrationString(sc, v, c), nil
}

// registrationString writes a registration (in normal form) as rows and
// Match.Identifier spell it.
func registrationString(sc headsupv1.RegistrationScheme, value, country string) string {
	return string(appendRegistration(nil, sc, value, country))
}

// appendRegistration appends registrationString's form to b; nothing for
// an unknown scheme.
func appendRegistration(b []byte, sc headsupv1.RegistrationScheme, value, country string) []byte {
	switch sc {
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_LEI:
		return append(append(b, "lei:"...), value...)
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER:
		return append(append(append(append(b, "company:"...), country...), ':'), value...)
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_VAT:
		return append(append(b, "vat:"...), value...)
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_RIR_ORG:
		return append(append(b, "rir:"...), value...)
	}
	return b
}

const (
	minPhoneDigits = 7  // the shortest international numbers (e.g. +683 xxxx) have 7
	maxPhoneDigits = 15 // ITU-T E.164 §6.1
)

// normalPhone returns the E.164 form "+<digits>" of a phone number written
// in international form. A national number (no "+" or "00") is refused:
// its country cannot be known, and a guess would hash to someone else.
func normalPhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == '+' && b.Len() == 0 && i == strings.IndexByte(s, '+'):
			b.WriteByte('+')
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", errors.New("is not a phone number: digits, spaces, '.', '-', '(' and ')' after a leading '+'")
		}
	}
	d := b.String()
	switch {
	case strings.HasPrefix(d, "+"):
		d = d[1:]
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	default:
		return "", errors.New("is not in international form: it must start with '+' and the country code")
	}
	if strings.Contains(d, "+") {
		return "", errors.New("is not a phone number: '+' only at the start")
	}
	if len(d) < minPhoneDigits || len(d) > maxPhoneDigits || d[0] == '0' {
		return "", errors.New("is not an E.164 number: 7 to 15 digits after '+', not starting with 0")
	}
	return "+" + d, nil
}
