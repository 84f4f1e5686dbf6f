package notice

import (
	"strconv"
	"strings"
)

// ASN parses an autonomous system number written as "AS64500", "as64500",
// "64500" or in asdot form ("AS1.10" = 65546, RFC 5396). It only parses:
// [CheckASN] decides whether the number may appear in a notice.
func ASN(s string) (uint32, error) {
	in := s
	bad := func() (uint32, error) { return 0, fieldErr("", in, "is not an AS number") }
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's') {
		s = strings.TrimSpace(s[2:])
	}
	if hi, lo, ok := strings.Cut(s, "."); ok {
		h, ok1 := parseDigits(hi, 65535)
		l, ok2 := parseDigits(lo, 65535)
		if !ok1 || !ok2 {
			return bad()
		}
		return uint32(h<<16 | l), nil
	}
	n, ok := parseDigits(s, 1<<32-1)
	if !ok {
		return bad()
	}
	return uint32(n), nil
}

// parseDigits parses 1 to 10 ASCII decimal digits (no sign, no
// underscores) not above max.
func parseDigits(s string, max uint64) (uint64, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

// CheckASN refuses AS numbers that cannot name a network holder (IANA
// special-purpose AS numbers registry): 0 (RFC 7607), 23456 (AS_TRANS, RFC
// 6793), private use 64512-65534 and 4200000000-4294967294 (RFC 6996),
// 65535 and 4294967295 (RFC 7300), 65552-131071 (reserved), and the
// documentation ranges 64496-64511 and 65536-65551 (RFC 5398) unless
// opts.TestNetwork.
func CheckASN(n uint32, opts Options) error {
	bad := func(reason string) error { return fieldErr("", "AS"+strconv.FormatUint(uint64(n), 10), reason) }
	switch {
	case n == 0:
		return bad("is reserved (RFC 7607)")
	case n == 23456:
		return bad("is AS_TRANS (RFC 6793), never a network's own number")
	case n >= 64496 && n <= 64511, n >= 65536 && n <= 65551:
		if !opts.TestNetwork {
			return bad("is a documentation AS number (RFC 5398), allowed only on a test network")
		}
	case n >= 64512 && n <= 65534, n >= 4200000000 && n <= 4294967294:
		return bad("is a private-use AS number (RFC 6996)")
	case n == 65535, n == 4294967295:
		return bad("is reserved (RFC 7300)")
	case n >= 65552 && n <= 131071:
		return bad("is reserved by IANA")
	}
	return nil
}
