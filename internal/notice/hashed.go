package notice

import "strings"

// hashedTypes are the identifier types a keyed hash may stand for. Phone
// numbers are hashed in E.164; the others in their normal form here.
func hashedType(t string) bool {
	switch t {
	case "host", "email", "organisation", "phone", "registration", "address":
		return true
	}
	return false
}

// Hashed returns the normal form of a keyed-hash identifier:
// "hmac-sha256:<key-id>:<type>:<64 lower-case hex digits>", where key-id is
// like a member id and type is one of host, email, organisation, phone,
// registration, address. The input is trimmed and lower-cased (hex digits
// are often copied in upper case); an unknown type is refused.
func Hashed(s string) (string, error) {
	in := s
	bad := func(reason string) (string, error) { return "", fieldErr("", in, reason) }
	s = strings.ToLower(strings.TrimSpace(s))
	parts := strings.Split(s, ":")
	if len(parts) != 4 || parts[0] != "hmac-sha256" {
		return bad("is not a keyed hash: want hmac-sha256:<key-id>:<type>:<hex>")
	}
	switch {
	case !ValidMemberID(parts[1]):
		return bad("has an invalid key id")
	case !hashedType(parts[2]):
		return bad("has an unknown type: want host, email, organisation, phone, registration or address")
	case !isSHA256Hex(parts[3]):
		return bad("has a digest that is not 64 lower-case hex digits")
	}
	return s, nil
}

// HashInput returns the bytes a keyed hash of type typ is computed over:
// "headsup-v1\x00<type>\x00<normal form>". The NUL separators keep a type
// and a value from being read as another type and value.
func HashInput(typ, normal string) []byte {
	b := make([]byte, 0, len("headsup-v1")+2+len(typ)+len(normal))
	b = append(b, "headsup-v1\x00"...)
	b = append(b, typ...)
	b = append(b, 0)
	return append(b, normal...)
}

// isSHA256Hex reports whether s is 64 lower-case hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}
