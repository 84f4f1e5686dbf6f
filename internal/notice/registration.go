package notice

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

const maxRegistrationLen = 64

// Registration returns the normal form of a registry identifier and its
// country: upper case, white space removed. Per scheme:
//
//   - LEI: 20 letters and digits whose ISO 7064 MOD 97-10 check (ISO 17442)
//     holds; no country.
//   - COMPANY_NUMBER: letters, digits and . / - (1 to 64); country required,
//     an ISO 3166-1 alpha-2 code of a country ("UK" is read as "GB").
//   - VAT: a two-letter prefix and 2 to 13 letters and digits (dots and
//     hyphens in the input are dropped); no country, the prefix says it.
//   - RIR_ORG: an RIR organisation handle, RIPE/APNIC/AFRINIC style
//     ("ORG-EH1-RIPE") or ARIN style ("EPIQ-1"): letters and digits in
//     groups separated by single hyphens; no country.
func Registration(scheme headsupv1.RegistrationScheme, value, country string) (string, string, error) {
	in := value
	bad := func(reason string) (string, string, error) { return "", "", fieldErr("", in, reason) }
	if !utf8.ValidString(value) || !utf8.ValidString(country) {
		return bad("is not valid UTF-8")
	}
	if len(value) > 4*maxRegistrationLen {
		return bad("is too long for a registration")
	}
	v := strings.ToUpper(strings.Map(dropSpace, value))
	c := strings.ToUpper(strings.TrimSpace(country))
	if scheme != headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER && c != "" {
		return "", "", fieldErr("country", country, "is only given with a company number")
	}
	if v == "" {
		return bad("is empty")
	}
	switch scheme {
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_LEI:
		if len(v) != 20 || !allIn(v, isUpperAlnum) {
			return bad("is not an LEI: it needs 20 letters and digits")
		}
		if !mod97Valid(v) {
			return bad("is not an LEI: the check digits are wrong")
		}
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER:
		if len(v) > maxRegistrationLen || !isUpperAlnum(rune(v[0])) ||
			!allIn(v, func(r rune) bool { return isUpperAlnum(r) || r == '.' || r == '/' || r == '-' }) {
			return bad("is not a company number: letters, digits, '.', '/' and '-' only")
		}
		cc, ok := countryCode(c)
		if !ok {
			if c == "" {
				return "", "", fieldErr("country", "", "is required with a company number")
			}
			return "", "", fieldErr("country", country, "is not an ISO 3166-1 alpha-2 country code")
		}
		c = cc
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_VAT:
		v = strings.NewReplacer(".", "", "-", "").Replace(v)
		if len(v) < 4 || len(v) > 15 || !allIn(v[:2], isUpperLetter) || !allIn(v[2:], isUpperAlnum) {
			return bad("is not a VAT number: two letters, then 2 to 13 letters and digits")
		}
	case headsupv1.RegistrationScheme_REGISTRATION_SCHEME_RIR_ORG:
		if len(v) < 2 || len(v) > maxRegistrationLen || !isHandle(v) {
			return bad("is not an RIR organisation handle")
		}
	default:
		return "", "", fieldErrf("scheme", scheme.String(), "is not a known registration scheme")
	}
	return v, c, nil
}

func dropSpace(r rune) rune {
	if unicode.IsSpace(r) {
		return -1
	}
	return r
}

func isUpperLetter(r rune) bool { return r >= 'A' && r <= 'Z' }
func isUpperAlnum(r rune) bool  { return isUpperLetter(r) || r >= '0' && r <= '9' }

func allIn(s string, ok func(rune) bool) bool {
	for _, r := range s {
		if !ok(r) {
			return false
		}
	}
	return true
}

// isHandle reports whether s is groups of A-Z0-9 joined by single hyphens.
func isHandle(s string) bool {
	if s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	return allIn(s, func(r rune) bool { return isUpperAlnum(r) || r == '-' })
}

// mod97Valid checks ISO 7064 MOD 97-10 over s (letters A=10 ... Z=35), as
// ISO 17442 specifies for the LEI and ISO 13616 for the IBAN.
func mod97Valid(s string) bool {
	rem := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			rem = (rem*10 + int(r-'0')) % 97
		case r >= 'A' && r <= 'Z':
			rem = (rem*100 + int(r-'A') + 10) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// countryCode returns the normal ISO 3166-1 alpha-2 code for c, or false.
// "UK" (exceptionally reserved for the United Kingdom) is read as "GB".
func countryCode(c string) (string, bool) {
	if c == "UK" {
		c = "GB"
	}
	if len(c) != 2 || !allIn(c, isUpperLetter) {
		return "", false
	}
	r, err := language.ParseRegion(c)
	if err != nil || !r.IsCountry() || r.String() != c {
		return "", false
	}
	return c, true
}
