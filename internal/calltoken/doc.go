// Package calltoken makes and checks the per-call credentials that prove
// who makes each RPC to the hub (DESIGN.md, "Access"; issue 6, part 1).
//
// # Format
//
// A call token is a JWS compact serialisation signed with one of the
// caller's keys whose use is "call" (never a notice or witness key). The
// protected header is exactly {alg, typ, kid}, emitted in that order:
//
//	{"alg":"EdDSA","typ":"headsup-call+jwt","kid":"<RFC 7638 thumbprint>"}
//
// typ is compared case-insensitively with an optional "application/"
// prefix (RFC 7515 §4.1.9), so a notice envelope ("headsup-notice+jwt") or
// a generic "JWT" is never taken for a call token. Only alg "EdDSA" is
// accepted: headsup mints these tokens itself, and golang-jwt knows no
// other name for Ed25519 without a global registration. Any other header
// parameter (crit, jwk, jku, x5u, x5c, b64, …) is refused: each would let
// the token choose its own key or rules.
//
// The claims are exactly these six, emitted in this order:
//
//	iss     the caller's member id; the kid must be one of its keys
//	aud     one JSON string, the hub's origin (an array is refused, even of
//	        one element, so a token can never be good at two hubs)
//	iat     integer seconds
//	exp     integer seconds, after iat and at most MaxLifetime after it
//	jti     a unique id (Mint: 128 random bits, base64url)
//	method  the full gRPC method name, "/package.Service/Method"
//
// # Verification
//
// Verifier.Verify checks, in this order, and stops at the first failure:
// syntax (strict unpadded base64url, JSON objects without duplicate names,
// valid UTF-8); header; the kid is in the directory, belongs to the member
// named by iss and has use "call" (checked in golang-jwt's keyfunc, not
// with WithIssuer, which could only compare against one fixed value);
// signature; claims (golang-jwt's WithAudience, WithExpirationRequired,
// WithIssuedAt, WithLeeway and WithTimeFunc, then a Validate method on a
// value receiver that checks the claim set, exp − iat ≤ MaxLifetime with no
// leeway added, and method = the call's full method); the key is valid at
// the verifier's clock; the member's cap on live tokens; and last the replay
// store, so that a token is spent only when everything else passed. The
// key lookup needs iss, so claims that do not even decode into their types,
// or lack iss, are refused (ErrClaims) before the signature is checked;
// every other claim check runs on signed claims only.
//
// Leeway (at most MaxLeeway) widens only the clock comparisons: a token is
// accepted while iat − leeway ≤ now < exp + leeway. It never lengthens the
// lifetime a token may claim.
//
// # Replay
//
// A jti is accepted once across all hub replicas. The replay store key is
// the hex SHA-256 of iss, a NUL byte and jti (so two members cannot collide
// and a jti cannot inject store syntax); it is created atomically with a
// TTL that outlives the last instant the token could be accepted (exp +
// leeway − now, plus ReplayMargin for clock skew between replicas and the
// store). A refused create is ErrReplayed. Any other store failure is
// ErrReplayStoreUnavailable: the call fails closed, it is never let
// through. Package kvreplay holds the JetStream key-value implementation
// shared by replicas (apart, so that the CLI and agent, which import this
// package to mint tokens, link no NATS client); MemoryReplayStore serves
// one process and tests.
//
// A per-member cap on tokens that are still live (accepted and not yet past
// exp + leeway) bounds how fast one member, or a thief of its key, can fill
// the store. The count is kept per Verifier, that is per hub replica.
//
// # mTLS
//
// A member may authenticate with an mTLS client certificate instead of
// tokens: the directory pins the SHA-256 of the key's SubjectPublicKeyInfo
// (tls_spki_sha256). The hub's TLS layer refuses a certificate whose key
// no member pins (VerifyPinnedClient, run as tls.Config.VerifyConnection,
// which also runs on resumed sessions), and the interceptors look the pin
// up again in the directory in force at every call, so removing a pin
// stops a connection opened before. A call with both a token and a client
// certificate must name one member in both. An mTLS caller has no method
// binding and no replay check to pass: the TLS session itself is the
// proof of possession.
//
// # Errors and gRPC codes
//
// Every failure wraps exactly one sentinel. This package maps none of them
// to a gRPC status itself: the interceptors take the hub's single mapping
// function. The intended codes:
//
//	ErrMissing                 Unauthenticated     no authorization metadata
//	ErrTwoCredentials          Unauthenticated     more than one authorization value
//	ErrUnpinned                Unauthenticated     the TLS client key is pinned by no member
//	ErrIdentitiesDisagree      Unauthenticated     token and TLS client key name two members
//	ErrMalformed               Unauthenticated     not "Bearer <JWS>", not strict base64url
//	                                               or JSON, duplicate names, too large
//	ErrHeader                  Unauthenticated     header not exactly {alg, typ, kid}, wrong
//	                                               alg or typ
//	ErrUnknownKey              Unauthenticated     kid not in the directory (also: the
//	                                               member was removed)
//	ErrKeyNotIssuers           Unauthenticated     kid belongs to another member than iss
//	ErrKeyUse                  Unauthenticated     the key's use is not "call"
//	ErrSignature               Unauthenticated     signature does not verify
//	ErrClaims                  Unauthenticated     a claim missing, unknown, mistyped, aud
//	                                               an array, iat/exp not integers
//	ErrAudience                Unauthenticated     aud is another hub
//	ErrLifetime                Unauthenticated     exp − iat over MaxLifetime, or exp ≤ iat
//	ErrExpired                 Unauthenticated     now ≥ exp + leeway
//	ErrNotYetValid             Unauthenticated     iat more than leeway in the future
//	ErrMethod                  Unauthenticated     token made for another method
//	ErrKeyNotValid             Unauthenticated     key not yet valid, past not_after or
//	                                               revoked (wraps the directory's error)
//	ErrReplayed                Unauthenticated     jti already used
//	ErrRateLimited             ResourceExhausted   member over its cap on live tokens
//	ErrReplayStoreUnavailable  Unavailable         replay store unreachable: retry later
//	ErrNoDirectory             Unavailable         the verifier has no directory yet
//
// Everything about the token itself is Unauthenticated: the token does not
// prove who calls for this call, and the remedy is the same (mint a good
// one). PermissionDenied is left to authorization, which the hub decides
// from the directory's roles once the caller is known. ResourceExhausted
// and Unavailable tell a well-behaved client to back off and retry.
//
// # Client side
//
// Credentials is a grpc PerRPCCredentials that mints a fresh token for
// every call, bound to the call's full method. It requires transport
// security unless built with AllowInsecureLoopback, and even then it sends
// a token over a plaintext connection only to a loopback address.
package calltoken
