// Package envelope signs and verifies notice envelopes: the exact notice
// bytes (protobuf, never re-marshalled) plus a JWS compact serialisation
// over their SHA-256 digest (DESIGN.md, "Signed envelope").
//
// # Format
//
// The JWS protected header is exactly {"alg","typ","kid"}, emitted in that
// order without white space:
//
//	{"alg":"EdDSA","typ":"headsup-notice+jwt","kid":"<RFC 7638 thumbprint>"}
//
// Verification also accepts alg "Ed25519" (RFC 9864's fully specified name
// for the same algorithm) and a typ that differs in case or carries an
// "application/" prefix (RFC 7515 §4.1.9). Every other header parameter —
// crit, jwk, jku, x5u, x5c, b64, anything — is refused: each one is a way
// to make a verifier take its key or its rules from the token itself.
//
// The claims, emitted in this order:
//
//	iss            the issuer's member id (= notice.issuer)
//	jti            the notice id (= notice.id)
//	iat            integer seconds (= notice.issued_at)
//	exp            integer seconds (= notice.expires_at); absent when none
//	notice_sha256  base64url, unpadded, of SHA-256 over the notice bytes
//	audience       array of member ids (= notice.audience); always
//	               present, [] when the notice goes to every member
//	supersedes     a notice id (= notice.supersedes); absent when none
//
// No other claim is accepted. "audience" is not the registered "aud" claim
// on purpose: generic JWT libraries would otherwise try to match it against
// their own audience. The notice itself is not in the claims, so a JWS can
// be shown without the notice (redacted entries) and still be verified.
//
// # Strictness
//
// There is exactly one byte string that verifies for a given signature,
// because the Merkle leaf is the JWS itself: base64url is decoded strictly
// (no padding, no line breaks, zero unused bits — golang-jwt's
// WithStrictDecoding, plus an alphabet check because Go's decoder skips
// CR and LF even in strict mode); JSON must be valid UTF-8 and may not
// repeat a member name at any depth (encoding/json silently keeps the
// last one, so {"iss":"a","iss":"b"} would read differently in another
// language); iat and exp must be plain JSON integers (no fraction, no
// exponent).
//
// golang-jwt's Parser decodes the header into a map (losing duplicates and
// admitting any parameter) and knows no "Ed25519" alg without a global
// RegisterSigningMethod, so this package parses the compact form itself and
// uses golang-jwt for what it gets right: the strict segment decoder and
// jwt.SigningMethodEdDSA for signing; verification makes the same checks
// with the same errors as its Verify (crypto/ed25519, never ZIP-215).
// Expiry never enters verification: no exp check against the clock
// happens here at all.
//
// # Verification order and errors
//
// Verify checks, in DESIGN.md's order, and stops at the first failure:
// size; syntax; header; kid known, held by the issuer, with use notice;
// signature; claims well formed; digest; claims agree with the notice;
// notice schema; key valid at log time. Each failure wraps exactly one
// sentinel, which the hub maps to one gRPC code:
//
//	ErrTooLarge        InvalidArgument   envelope or notice over its size limit
//	ErrMalformed       Unauthenticated   not three strict base64url parts, not a
//	                                     JSON object, invalid UTF-8, duplicate names
//	ErrHeader          Unauthenticated   header parameters, alg or typ wrong
//	ErrUnknownKey      Unauthenticated   kid not in the directory (an agent parks
//	                                     the notice and retries after a reload)
//	ErrSignature       Unauthenticated   signature does not verify
//	ErrDigest          Unauthenticated   notice_sha256 is not the notice's digest
//	ErrClaimsMismatch  Unauthenticated   iss/jti/iat/exp/audience/supersedes differ
//	                                     from the notice
//	ErrKeyNotIssuers   PermissionDenied  kid belongs to another member than iss
//	ErrKeyUse          PermissionDenied  the key's use is not "notice"
//	ErrKeyNotValid     PermissionDenied  key not yet valid, expired or revoked at
//	                                     log time (wraps the directory's error)
//	ErrClaims          InvalidArgument   a claim missing, unknown, mistyped, or
//	                                     not in its normal form (fractional iat)
//	ErrSchema          InvalidArgument   the notice fails notice.Unmarshal (wraps
//	                                     the notice package's error)
//
// Key validity is judged at log time, not at the verifier's clock: the hub
// passes its receipt time, an agent its receipt time live and the earliest
// witnessed checkpoint containing the entry in catch-up and audit.
package envelope
