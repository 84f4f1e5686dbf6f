package notice

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// hostProfile is the IDNA profile DESIGN.md names for host identifiers:
// UTS #46 lookup mapping (case folding, full-width forms, ideographic full
// stops), STD3 rules, label validation, the Bidi rule, non-transitional
// processing (ß and ς stay themselves). A Profile is immutable, so sharing
// it is not mutable state.
var hostProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false))

const (
	maxHostInput = 1024 // messy input bound: more can never normalise to 253 octets of labels
	maxHostLen   = 253  // RFC 1035 §2.3.4, without the root dot
	maxLabelLen  = 63
)

// Host returns the normal form of a host or domain name: surrounding space
// trimmed, IDNA A-labels in lower case, one trailing dot dropped. It refuses
// empty labels, names over 253 octets or with labels over 63, single-label
// names, IP literals, labels IDNA refuses, and underscore labels such as
// "_dmarc.example.com" (see the package comment). Whether a host is a bare
// public suffix is a separate question ([IsPublicSuffix]): it is refused
// only as a notice subject.
func Host(s string) (string, error) {
	in := s
	bad := func(reason string) (string, error) { return "", fieldErr("", in, reason) }
	if !utf8.ValidString(s) {
		return bad("is not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return bad("is empty")
	case len(s) > maxHostInput:
		return bad("is too long for a host name")
	case strings.HasPrefix(s, "["), isIPLiteral(s):
		return bad("is an IP literal, not a host name")
	}
	if isPlainLDH(s) {
		// IDNA returns such a name unchanged and without error (FuzzHost
		// checks), so s is its own normal form if its shape is right; the
		// IDNA library costs more than the rest of Host together.
		if err := checkHostShape(s); err != "" {
			return bad(err)
		}
		return s, nil
	}
	mapped, err := hostProfile.ToASCII(s)
	if err != nil {
		return bad("is not a valid host name: " + err.Error())
	}
	a := strings.TrimSuffix(strings.ToLower(mapped), ".")
	if err := checkHostShape(a); err != "" {
		return bad(err)
	}
	// The normal form must be a fixed point, or a notice written from it
	// would fail validation elsewhere. When IDNA gave s back unchanged and
	// nothing else changed it, ToASCII(a) is that same call: known already.
	if mapped == s && a == s {
		return a, nil
	}
	if b, err := hostProfile.ToASCII(a); err != nil || b != a {
		return bad("has no stable normal form")
	}
	return a, nil
}

// isPlainLDH reports whether s is a host name that the IDNA lookup profile
// returns unchanged and accepts: labels of lower-case letters, digits and
// hyphens, none empty (so no trailing dot), none starting or ending with a
// hyphen, none with hyphens in its third and fourth places (the "xn--" of
// A-labels, which IDNA decodes and checks, and the reserved "ab--" form it
// refuses), with DNS lengths. Everything else goes through IDNA.
func isPlainLDH(s string) bool {
	if s == "" || len(s) > maxHostLen {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		l := s[start:i]
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' ||
			len(l) >= 4 && l[2] == '-' && l[3] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// checkHostShape checks the DNS-level rules IDNA's lookup profile leaves to
// the caller, on a lower-case A-label name without trailing dot. It returns
// the reason for refusal, or "".
func checkHostShape(a string) string {
	if a == "" {
		return "is empty"
	}
	if len(a) > maxHostLen {
		return "is longer than 253 octets"
	}
	// Label by label without strings.Split: this runs on every host of
	// every notice verified.
	labels, last := 0, ""
	for rest := a; ; {
		l, after, more := strings.Cut(rest, ".")
		labels, last, rest = labels+1, l, after
		switch {
		case l == "":
			return "has an empty label"
		case len(l) > maxLabelLen:
			return "has a label longer than 63 octets"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "is not a valid host name: label " + l + " has a character outside a-z, 0-9, -"
			}
		}
		if !more {
			break
		}
	}
	if labels < 2 {
		return "is a single label; a host name needs at least two"
	}
	if isIPLiteral(a) || isNumericLabel(last) {
		return "is an IP literal, not a host name"
	}
	return ""
}

// isIPLiteral reports whether s parses as an IP address (with or without a
// zone).
func isIPLiteral(s string) bool {
	// netip.ParseAddr reads s as IPv6 if a ':' comes before any '.' or
	// '%', else as IPv4, which allows only digits and dots. So without a
	// ':', any other byte means no address, decided here without the
	// error value ParseAddr allocates (every valid host name is such a
	// miss).
	if strings.IndexByte(s, ':') < 0 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c != '.' && (c < '0' || c > '9') {
				return false
			}
		}
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// isNumericLabel reports whether a final label reads as a number to a URL
// parser (WHATWG URL "ends in a number": decimal, or 0x hex), which would
// make the whole name an IPv4 address in a browser.
func isNumericLabel(l string) bool {
	if l == "" {
		return false
	}
	digits := l
	hex := false
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		digits, hex = l[2:], true
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if !(c >= '0' && c <= '9' || hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
			return false
		}
	}
	return true
}

// IsPublicSuffix reports whether host, in normal form, is itself a public
// suffix under the Public Suffix List: a suffix under which anyone can
// register names (com, co.uk, github.io). Such a name says nothing about one
// customer, so it is refused as a notice subject.
//
// A name under an unknown top-level domain is not a public suffix unless it
// is a single label (which [Host] already refuses).
func IsPublicSuffix(host string) bool {
	ps, _ := publicsuffix.PublicSuffix(host)
	return ps == host
}

// RegistrableDomain returns the registrable domain (eTLD+1) of host, which
// must be in normal form: "www.evil.co.uk" -> "evil.co.uk". It fails for a
// public suffix.
func RegistrableDomain(host string) (string, error) {
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return "", fieldErr("", host, "has no registrable domain (it is a public suffix)")
	}
	return d, nil
}
