package auditlog

import (
	"errors"
	"fmt"
)

// Outcomes of the tree's reads. The hub maps each to one gRPC code.
var (
	// ErrInvalidRange: a size of 0 (or below), an index outside the tree
	// of the size asked for, or an old size above the new one. The request
	// can never succeed: InvalidArgument.
	ErrInvalidRange = errors.New("invalid range")
	// ErrBeyondTree: a size past the tree as it stands. It may succeed
	// once the log has grown: OutOfRange.
	ErrBeyondTree = errors.New("beyond the tree")
)

// Outcomes of LeafOf.
var (
	// ErrUnknownSubject: a stream subject that is neither a notice nor a
	// directory version. The log holds nothing else, so such an entry is
	// not part of any history the hub may sign.
	ErrUnknownSubject = errors.New("not a log subject")
	// ErrMalformedEntry: a stream entry whose body yields no record (an
	// envelope that does not decode or has no JWS, an empty directory).
	ErrMalformedEntry = errors.New("malformed log entry")
)

// Outcomes of the FileStore.
var (
	// ErrLocked: another process (or another FileStore) holds the hash
	// file. Two writers would interleave their appends.
	ErrLocked = errors.New("hash store in use")
	// ErrCorruptStore: the store holds hashes that do not form a tree
	// (checked for the last record on open).
	ErrCorruptStore = errors.New("hash store corrupt")
)

// Outcomes of ParseCheckpoint.
var (
	// ErrCheckpointSignature: no valid signature by the log's key, or the
	// log's signature does not verify (text or signature altered).
	ErrCheckpointSignature = errors.New("checkpoint not signed by the log key")
	// ErrWrongOrigin: a checkpoint, validly signed, of another log.
	ErrWrongOrigin = errors.New("checkpoint of another log")
	// ErrMalformedCheckpoint: not a signed note, or a note whose text is
	// not exactly a checkpoint as this log writes one.
	ErrMalformedCheckpoint = errors.New("malformed checkpoint")
)

// Outcomes of Checkpointer.Sign: it refuses to sign a checkpoint that,
// together with the last one it signed, would prove the log rolled back or
// forked. Each wraps ErrInconsistent.
var (
	// ErrInconsistent is what every refusal below is.
	ErrInconsistent = errors.New("inconsistent with the last signed checkpoint")
	// ErrRollback: a size smaller than the last signed one.
	ErrRollback = fmt.Errorf("%w: smaller size", ErrInconsistent)
	// ErrFork: the last signed size with another root.
	ErrFork = fmt.Errorf("%w: same size, other root", ErrInconsistent)
	// ErrBadConsistency: a larger size whose consistency proof from the
	// last signed checkpoint does not verify.
	ErrBadConsistency = fmt.Errorf("%w: consistency proof does not verify", ErrInconsistent)
)
