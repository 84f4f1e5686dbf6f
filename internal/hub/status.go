package hub

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/notice"
)

// Errors of the hub's own, each mapped to one code by Status.
var (
	// ErrNoDirectory: the hub has no member directory yet, so it cannot
	// verify anything.
	ErrNoDirectory = errors.New("the hub has no member directory yet")
	// ErrIssuedAtWindow: iat is too far from the hub's clock.
	ErrIssuedAtWindow = errors.New("issued_at outside the hub's time window")
	// ErrNotCaller: an envelope whose issuer is not the calling member:
	// a member publishes only as itself.
	ErrNotCaller = errors.New("envelope issuer is not the caller")
	// ErrMemberLimit: a member is over its publish rate or stream count.
	ErrMemberLimit = errors.New("member limit reached")
	// ErrNotYours: a notice supersedes or retracts another member's.
	ErrNotYours = errors.New("notice of another member")
	// ErrNoRole: the caller lacks the role the call needs.
	ErrNoRole = errors.New("caller lacks the role")
	// ErrNotPublisher: the issuer lacks the publish role.
	ErrNotPublisher = errors.New("issuer may not publish")
	// ErrBadRequest: a request field is missing or malformed.
	ErrBadRequest = errors.New("bad request")
	// ErrSlowSubscriber: the subscriber let its buffer fill up.
	ErrSlowSubscriber = errors.New("subscriber too slow")
	// ErrShuttingDown: the hub is stopping; resume from your cursor.
	ErrShuttingDown = errors.New("hub shutting down")
	// ErrSupersedesUnknown: a notice supersedes or retracts one the log does
	// not hold.
	ErrSupersedesUnknown = errors.New("superseded notice not in the log")
	// ErrAudienceNarrowed: a superseding notice or retraction would not
	// reach everyone who saw the notice it replaces.
	ErrAudienceNarrowed = errors.New("audience narrower than the superseded notice's")
	// ErrCorruptEntry: a stored message is not an envelope the hub wrote,
	// so the stream was written by someone other than a hub.
	ErrCorruptEntry = errors.New("corrupt log entry")

	// ErrNoSignedLog: LogService on a hub started without a log key.
	ErrNoSignedLog = errors.New("this hub keeps no signed log")
	// ErrNoCheckpoint: no checkpoint was signed at the size asked for (or
	// none at all yet).
	ErrNoCheckpoint = errors.New("no checkpoint signed at that size")
	// ErrNotSignedHere: a cosignature on a checkpoint this hub did not
	// sign (another size or root, another log, or no valid log signature).
	ErrNotSignedHere = errors.New("checkpoint not signed by this hub")
	// ErrNotWitness: a cosignature by no witness key of the caller valid
	// now (another member's, an unknown, expired or revoked key).
	ErrNotWitness = errors.New("not a witness key of the caller")
	// ErrBadCosignature: a cosignature line by a witness key that does not
	// verify, or is not in canonical base64.
	ErrBadCosignature = errors.New("cosignature does not verify")
	// ErrTooManyCosignatures: a new member's cosignature on a checkpoint
	// that already carries as many as a signed note holds.
	ErrTooManyCosignatures = errors.New("too many cosignatures")
	// ErrTreeMismatch: the stream disagrees with the hub's Merkle tree or
	// with a checkpoint it signed or a member cosigned (restored, rewritten
	// or forked); the hub stops signing.
	ErrTreeMismatch = errors.New("the stream disagrees with the log's signed history")
)

// codeOf is the single table from domain errors to gRPC codes. Order matters
// only where an error could match two rows; none does today.
var codeOf = []struct {
	err  error
	code codes.Code
}{
	{ErrBadRequest, codes.InvalidArgument},
	{bus.ErrInvalidSubject, codes.InvalidArgument},
	{envelope.ErrTooLarge, codes.InvalidArgument},
	{envelope.ErrClaims, codes.InvalidArgument},
	{envelope.ErrSchema, codes.InvalidArgument},
	{ErrIssuedAtWindow, codes.InvalidArgument},
	{notice.ErrInvalid, codes.InvalidArgument},
	{ErrAudienceNarrowed, codes.InvalidArgument},
	{auditlog.ErrInvalidRange, codes.InvalidArgument},
	{auditlog.ErrMalformedCheckpoint, codes.InvalidArgument},
	{ErrBadCosignature, codes.InvalidArgument},

	{envelope.ErrMalformed, codes.Unauthenticated},
	{envelope.ErrHeader, codes.Unauthenticated},
	{envelope.ErrUnknownKey, codes.Unauthenticated},
	{envelope.ErrSignature, codes.Unauthenticated},
	{envelope.ErrDigest, codes.Unauthenticated},
	{envelope.ErrClaimsMismatch, codes.Unauthenticated},

	{calltoken.ErrMissing, codes.Unauthenticated},
	{calltoken.ErrTwoCredentials, codes.Unauthenticated},
	{calltoken.ErrUnpinned, codes.Unauthenticated},
	{calltoken.ErrIdentitiesDisagree, codes.Unauthenticated},
	{calltoken.ErrMalformed, codes.Unauthenticated},
	{calltoken.ErrHeader, codes.Unauthenticated},
	{calltoken.ErrUnknownKey, codes.Unauthenticated},
	{calltoken.ErrKeyNotIssuers, codes.Unauthenticated},
	{calltoken.ErrKeyUse, codes.Unauthenticated},
	{calltoken.ErrSignature, codes.Unauthenticated},
	{calltoken.ErrClaims, codes.Unauthenticated},
	{calltoken.ErrAudience, codes.Unauthenticated},
	{calltoken.ErrLifetime, codes.Unauthenticated},
	{calltoken.ErrExpired, codes.Unauthenticated},
	{calltoken.ErrNotYetValid, codes.Unauthenticated},
	{calltoken.ErrMethod, codes.Unauthenticated},
	{calltoken.ErrKeyNotValid, codes.Unauthenticated},
	{calltoken.ErrReplayed, codes.Unauthenticated},
	{calltoken.ErrRateLimited, codes.ResourceExhausted},
	{calltoken.ErrReplayStoreUnavailable, codes.Unavailable},
	{calltoken.ErrNoDirectory, codes.Unavailable},
	{ErrNotCaller, codes.PermissionDenied},
	{ErrNoRole, codes.PermissionDenied},
	{ErrNotYours, codes.PermissionDenied},
	{ErrNotWitness, codes.PermissionDenied},

	{envelope.ErrKeyNotIssuers, codes.PermissionDenied},
	{envelope.ErrKeyUse, codes.PermissionDenied},
	{envelope.ErrKeyNotValid, codes.PermissionDenied},
	{ErrNotPublisher, codes.PermissionDenied},

	{bus.ErrConflict, codes.AlreadyExists},
	{ErrNoDirectory, codes.FailedPrecondition},
	{ErrSupersedesUnknown, codes.FailedPrecondition},
	{bus.ErrLogMismatch, codes.FailedPrecondition},
	{ErrNoSignedLog, codes.FailedPrecondition},
	{ErrNotSignedHere, codes.FailedPrecondition},
	{ErrNoCheckpoint, codes.NotFound},
	{bus.ErrOutOfRange, codes.OutOfRange},
	{auditlog.ErrBeyondTree, codes.OutOfRange},
	{ErrTooManyCosignatures, codes.ResourceExhausted},
	{ErrSlowSubscriber, codes.ResourceExhausted},
	{ErrMemberLimit, codes.ResourceExhausted},
	{bus.ErrLogFull, codes.ResourceExhausted},
	{bus.ErrUnavailable, codes.Unavailable},
	{ErrShuttingDown, codes.Unavailable},
	{bus.ErrGap, codes.DataLoss},
	{ErrCorruptEntry, codes.DataLoss},
	{ErrTreeMismatch, codes.DataLoss},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// Status maps a domain error to the gRPC status the client sees. The
// message is the error's own text, which names the field and value at
// fault. Errors nobody mapped are INTERNAL, and their text is not shown:
// it may carry details of the hub's own infrastructure.
func Status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	// The replay store's failure says only that: its text would describe
	// the hub's own NATS.
	if errors.Is(err, calltoken.ErrReplayStoreUnavailable) {
		return status.Error(codes.Unavailable, calltoken.ErrReplayStoreUnavailable.Error()+": retry")
	}
	for _, row := range codeOf {
		if errors.Is(err, row.err) {
			return status.Error(row.code, err.Error())
		}
	}
	return status.Error(codes.Internal, "internal error")
}

// Code is the gRPC code Status gives err.
func Code(err error) codes.Code { return status.Code(Status(err)) }
