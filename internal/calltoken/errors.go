package calltoken

import "errors"

// Verification failures; doc.go lists the gRPC code each is meant to map to.
var (
	// ErrMissing: the call carries no credentials.
	ErrMissing = errors.New("no call credentials")
	// ErrTwoCredentials: the call carries more than one authorization
	// value, so which one speaks for the caller would be ambiguous.
	ErrTwoCredentials = errors.New("more than one call credential")
	// ErrMalformed: not "Bearer <JWS>", or the JWS is not three strict
	// base64url parts holding JSON objects without duplicate names.
	ErrMalformed = errors.New("malformed call token")
	// ErrHeader: the protected header is not exactly {alg, typ, kid} with
	// allowed values.
	ErrHeader = errors.New("call token header refused")
	// ErrUnknownKey: no key in the directory has the kid.
	ErrUnknownKey = errors.New("unknown call key")
	// ErrKeyNotIssuers: the kid is a key of another member than iss.
	ErrKeyNotIssuers = errors.New("call key belongs to another member than the issuer")
	// ErrKeyUse: the key's use is not "call".
	ErrKeyUse = errors.New("key is not a call key")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("call token signature invalid")
	// ErrClaims: a claim is missing, unknown or ill-formed.
	ErrClaims = errors.New("call token claims malformed")
	// ErrAudience: aud names another hub.
	ErrAudience = errors.New("call token for another hub")
	// ErrLifetime: exp is not after iat, or more than MaxLifetime after it.
	ErrLifetime = errors.New("call token lifetime too long")
	// ErrExpired: the verifier's clock is at or past exp + leeway.
	ErrExpired = errors.New("call token expired")
	// ErrNotYetValid: iat is more than the leeway ahead of the verifier's
	// clock.
	ErrNotYetValid = errors.New("call token issued in the future")
	// ErrMethod: the token was made for another method than the call's.
	ErrMethod = errors.New("call token for another method")
	// ErrKeyNotValid: the key is not valid at the verifier's clock; wraps
	// directory.ErrKeyNotYetValid, ErrKeyExpired or ErrKeyRevoked.
	ErrKeyNotValid = errors.New("call key not valid now")
	// ErrReplayed: the token's jti was already accepted.
	ErrReplayed = errors.New("call token replayed")
	// ErrRateLimited: the member holds too many live tokens.
	ErrRateLimited = errors.New("too many live call tokens")
	// ErrReplayStoreUnavailable: the replay store could not record the
	// jti, so the call is refused (fail closed); retry later.
	ErrReplayStoreUnavailable = errors.New("replay store unavailable")
	// ErrUnpinned: the call's TLS client key is pinned by no member of
	// the directory in force.
	ErrUnpinned = errors.New("TLS client key not pinned")
	// ErrIdentitiesDisagree: the call token and the TLS client key speak
	// for different members.
	ErrIdentitiesDisagree = errors.New("call token and TLS client key name different members")
	// ErrNoDirectory: the verifier has no directory of members yet.
	ErrNoDirectory = errors.New("no directory of members")
)
