package notice

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	maxEmailLen = 254 // RFC 5321 §4.5.3.1.3: a 256-octet path less the angle brackets
	maxLocalLen = 64  // RFC 5321 §4.5.3.1.1
)

// Email returns the normal form of an e-mail address: NFC, the whole address
// lower-cased, the domain normalised by the [Host] rule. Lower-casing the
// local part is not what RFC 5321 promises, but no mailbox provider an abuse
// desk meets distinguishes case, and one spelling per mailbox is what
// matching needs. It refuses anything but exactly one '@', an empty local
// part, white space, control characters or RFC 5322 specials in the local
// part (so no quoted local parts), and IP-literal domains.
func Email(s string) (string, error) {
	local, host, err := emailParts(s)
	if err != nil {
		return "", err
	}
	return local + "@" + host, nil
}

// emailParts is [Email] returning the normal local part and domain
// unjoined: Validate compares them with the notice's address in place.
func emailParts(s string) (local, host string, err error) {
	in := s
	bad := func(reason string) (string, string, error) { return "", "", fieldErr("", in, reason) }
	if !utf8.ValidString(s) {
		return bad("is not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	if len(s) > 4*maxEmailLen {
		return bad("is too long for an e-mail address")
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return bad("is not an e-mail address: it needs exactly one '@'")
	}
	folded := foldLocal(local)
	// When local was already folded (every notice verified), the fixed
	// point check below is the call just made.
	stable := folded == local
	local = folded
	if local == "" {
		return bad("has an empty local part")
	}
	if len(local) > maxLocalLen {
		return bad("has a local part longer than 64 octets")
	}
	for _, r := range local {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`()<>[]:;,\"`, r) || r == utf8.RuneError {
			return bad(fmt.Sprintf("has a character not allowed in the local part: %U", r))
		}
	}
	if !stable && foldLocal(local) != local {
		return bad("has no stable normal form")
	}
	domain = strings.TrimSpace(domain)
	if strings.HasPrefix(domain, "[") || isIPLiteral(domain) {
		return bad("has an IP-literal domain")
	}
	h, err := Host(domain)
	if err != nil {
		return bad("has an invalid domain: " + reasonOf(err))
	}
	if len(local)+len("@")+len(h) > maxEmailLen {
		return bad("is longer than 254 octets")
	}
	return local, h, nil
}

// isEmail reports whether s is local@host.
func isEmail(s, local, host string) bool {
	return len(s) == len(local)+1+len(host) && strings.HasPrefix(s, local) &&
		s[len(local)] == '@' && strings.HasSuffix(s, host)
}

// foldLocal is NFC, then lower case, then NFC again (lower-casing can
// decompose, e.g. U+0130 becomes i + U+0307).
func foldLocal(s string) string {
	return norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
}

// reasonOf returns the reason of a FieldError, or the error text.
func reasonOf(err error) string {
	if fe, ok := err.(*FieldError); ok {
		return fe.Reason
	}
	return err.Error()
}
