package bus

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidSubject reports an issuer or notice id that Subject refuses.
	ErrInvalidSubject = errors.New("invalid notice subject")

	// ErrLocked reports that another process holds the data directory.
	ErrLocked = errors.New("data directory is in use by another hub")

	// ErrStreamConfig reports a stream whose settings differ from the ones
	// the log's guarantees rest on; the error names every differing field.
	ErrStreamConfig = errors.New("stream configuration differs from the required settings")

	// ErrStreamLost reports a stream that is missing, recreated or shorter
	// than the hub's persisted log state: history was lost or replaced, and
	// the hub must not hand out new numbers for old positions.
	ErrStreamLost = errors.New("stream missing or shorter than the hub's persisted log state")

	// ErrConflict reports that a notice with the same issuer and id but other
	// bytes is stored. The concrete error is a *ConflictError.
	ErrConflict = errors.New("another notice with this issuer and id is stored")

	// ErrUnavailable reports that the log could not be reached or could not
	// answer in time to decide; the caller retries the same envelope.
	ErrUnavailable = errors.New("log unavailable")

	// ErrLogFull reports that a configured limit (messages, bytes) is
	// reached; with Discard New nothing is stored until retention frees room.
	ErrLogFull = errors.New("log full")

	// ErrOutOfRange reports a cursor beyond the last sequence or before the
	// first retained one; the message names the bound.
	ErrOutOfRange = errors.New("sequence out of range")

	// ErrGap reports that the log delivered a sequence other than the next
	// one: an entry is missing, and the subscriber must not skip it silently.
	ErrGap = errors.New("gap in log sequence")

	// ErrLogMismatch reports a log id other than this log's, so a cursor of
	// a recreated or restored stream is never read under new numbers.
	ErrLogMismatch = errors.New("log id mismatch")

	// ErrNotFound reports a sequence that holds no entry.
	ErrNotFound = errors.New("no entry at sequence")
)

// ConflictError is returned by Append when another notice with the same
// issuer and id, but other bytes, is stored at Seq. errors.Is(err,
// ErrConflict) holds.
type ConflictError struct {
	Subject string
	Seq     uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %v at sequence %d", e.Subject, ErrConflict, e.Seq)
}

// Is makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
