// Package recheck re-checks, live, that a host named by a CUSTOMER_SIGHTED
// notice is still served from the addresses the notice gives: the agent's
// opt-in `verify_sightings` (issue 5, part 4).
//
// For a host H and an address A, one attempt resolves H (does H still point
// at A?) and makes a TLS handshake with SNI H to A on the configured port.
// The sighting is Confirmed when A presents a leaf certificate valid for H
// (x509 host-name rules) and valid now; Trusted when, in addition, its
// chain verifies against the configured roots. The leaf's SHA-256 is
// reported whenever a handshake completed, so the alert can compare it with
// the certificate hash the notice's evidence carries.
//
// The contract it keeps, because a notice is outside input that makes the
// agent touch the network:
//
//   - No error for a failed probe: every address gets a [Result], with
//     Confirmed false and a short Detail when it could not be confirmed.
//   - At most one attempt per (host, address) per Window. A call inside the
//     window gets the earlier Result with Cached set; concurrent calls for
//     the same pair share one attempt.
//   - At most Concurrency attempts at once across all callers; each bounded
//     by Timeout (resolve, dial and handshake together). A caller whose
//     context ends stops waiting; an attempt it ended is not remembered, so
//     a later caller tries again.
//   - Unless AllowPrivate, no packet goes to loopback, private, link-local,
//     shared (CGNAT), multicast or unspecified addresses: a notice must not
//     make an agent probe its own internal network.
//   - The host must be a host name in the notice normal form
//     (notice.Host); IP literals and single labels are refused without any
//     network traffic.
//   - Memory is bounded: at most MaxEntries remembered results (the oldest
//     is dropped when full) plus one record per attempt in flight.
package recheck
