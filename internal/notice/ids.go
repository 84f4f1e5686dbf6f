package notice

import "github.com/google/uuid"

// ValidMemberID reports whether s is a member id: ^[a-z0-9][a-z0-9-]{0,62}$.
// Member ids become NATS subject tokens, so nothing else may pass.
func ValidMemberID(s string) bool {
	if len(s) < 1 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidNoticeID reports whether s is a UUIDv7 in canonical lower-case text
// form (RFC 9562: 8-4-4-4-12 hex digits, version nibble 7, variant 10xx).
// Exactly one spelling is accepted so that one notice has one subject name.
func ValidNoticeID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		case 14:
			if c != '7' {
				return false
			}
		case 19:
			if c != '8' && c != '9' && c != 'a' && c != 'b' {
				return false
			}
		default:
			if !isLowerHex(c) {
				return false
			}
		}
	}
	return true
}

func isLowerHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
}

// NewID returns a fresh notice id: a UUIDv7, whose time-ordered prefix keeps
// an issuer's notices in issue order.
func NewID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return u.String(), nil
}
