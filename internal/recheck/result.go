package recheck

import (
	"net/netip"
	"time"
)

// Result is the outcome of re-checking one host at one address.
type Result struct {
	// Host is the host name in normal form (as given when it is not a
	// valid host name).
	Host string
	// Address is the address checked (IPv4-mapped IPv6 unmapped).
	Address netip.Addr
	// CheckedAt is when the attempt started; for a Cached result, when
	// the remembered attempt started.
	CheckedAt time.Time
	// Confirmed: a TLS handshake with SNI Host to Address presented a leaf
	// certificate valid for Host (x509 host-name rules) and valid at
	// CheckedAt.
	Confirmed bool
	// Trusted: Confirmed, and the leaf's chain verifies against the
	// configured roots.
	Trusted bool
	// Resolves: Host resolved to Address during the attempt.
	Resolves bool
	// CertSHA256 is the hex SHA-256 of the leaf certificate's DER, when a
	// handshake completed.
	CertSHA256 string
	// Detail says, in one short phrase, why the sighting was not confirmed
	// ("host not valid: …", "address not allowed", "connection failed: …",
	// "handshake failed: …", "timeout", "certificate not valid for host",
	// "certificate expired", "canceled: …"), or, when Confirmed but not
	// Trusted, why the chain was not trusted. Empty when Trusted.
	Detail string
	// Cached: this call made no attempt; the result is that of an earlier
	// or concurrent attempt for the same host and address inside the
	// window.
	Cached bool
}

// Summary renders the result for an alert's text: "confirmed at
// 2026-11-25T10:00:00Z (certificate SHA-256 <hex>)", with ", not trusted"
// inside the parentheses when the chain did not verify, or "not confirmed
// at 2026-11-25T10:00:00Z: <detail>".
func (r Result) Summary() string {
	at := r.CheckedAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	if !r.Confirmed {
		return "not confirmed at " + at + ": " + r.Detail
	}
	s := "confirmed at " + at + " (certificate SHA-256 " + r.CertSHA256
	if !r.Trusted {
		s += ", not trusted"
	}
	return s + ")"
}
