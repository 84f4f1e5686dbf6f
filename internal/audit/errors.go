package audit

import (
	"errors"
	"fmt"
	"strings"
)

// What a Failure can be; every Failure wraps exactly one of these.
var (
	// ErrGap: sequences are missing (a message deleted, a range purged, a
	// replay that ended early) or a sequence repeats or goes backwards.
	ErrGap = errors.New("sequences not contiguous")
	// ErrNoDirectory: an entry or checkpoint comes before the first
	// directory version in the log, so no key can verify it.
	ErrNoDirectory = errors.New("no directory logged before it")
	// ErrDirectory: a directory entry does not verify under the pinned
	// governance key, or its serial is not above the previous one's.
	ErrDirectory = errors.New("directory entry invalid")
	// ErrEntry: a notice or redacted entry fails verification (wraps the
	// envelope package's error: signature, digest, key revoked at log time…).
	ErrEntry = errors.New("entry invalid")
	// ErrReference: a supersede or retraction names no earlier notice of
	// the same issuer, or an (issuer, id) is logged twice.
	ErrReference = errors.New("bad notice reference")
	// ErrLogTime: an entry's stored_at is later than the time its earliest
	// witnessed checkpoint reached quorum.
	ErrLogTime = errors.New("log time after witnessed checkpoint")
	// ErrCheckpoint: a checkpoint is malformed or not signed by the log key
	// named in the directory.
	ErrCheckpoint = errors.New("checkpoint invalid")
	// ErrRootMismatch: a checkpoint's root is not the root recomputed from
	// the entries at its size.
	ErrRootMismatch = errors.New("checkpoint root differs from recomputed root")
	// ErrRollback: a checkpoint (the hub's, the state's, an earlier
	// export's) covers more entries than the history now holds.
	ErrRollback = errors.New("history rolled back")
	// ErrFork: two log-signed views of one history disagree: the state's
	// or an earlier export's leaves or root, or a peer's checkpoint.
	ErrFork = errors.New("history forked")
	// ErrNoQuorum: Config.RequireQuorum is set and the latest checkpoint
	// lacks a quorum of cosignatures.
	ErrNoQuorum = errors.New("checkpoint without quorum")
)

// Failure is the first thing found wrong with a history.
type Failure struct {
	// Sequence is the first offending sequence, 0 when only a range is
	// known.
	Sequence uint64
	// Range is the inclusive span of sequences holding the first offence:
	// {Sequence, Sequence} when it is exact; for a root mismatch, the
	// entries after the last good checkpoint up to the bad one.
	Range [2]uint64
	// Reason says what is wrong.
	Reason string
	// Err is the sentinel (ErrGap, ErrEntry, …).
	Err error
	// Cause is the underlying error, if any (an envelope or directory
	// error).
	Cause error
	// Notes are the evidence for a fork or rollback: the signed
	// checkpoints that contradict each other or the history.
	Notes [][]byte
}

func (f *Failure) Error() string {
	var b strings.Builder
	switch {
	case f.Sequence != 0 && (f.Range[1] <= f.Sequence):
		fmt.Fprintf(&b, "sequence %d", f.Sequence)
	case f.Sequence != 0:
		fmt.Fprintf(&b, "sequence %d (sequences %d..%d)", f.Sequence, f.Range[0], f.Range[1])
	case f.Range[1] != 0:
		fmt.Fprintf(&b, "sequences %d..%d", f.Range[0], f.Range[1])
	default:
		b.WriteString("log")
	}
	fmt.Fprintf(&b, ": %v: %s", f.Err, f.Reason)
	if f.Cause != nil {
		fmt.Fprintf(&b, ": %v", f.Cause)
	}
	return b.String()
}

// Unwrap returns the sentinel and the cause.
func (f *Failure) Unwrap() []error {
	if f.Cause != nil {
		return []error{f.Err, f.Cause}
	}
	return []error{f.Err}
}

func failAt(seq uint64, sentinel error, cause error, format string, args ...any) *Failure {
	return &Failure{Sequence: seq, Range: [2]uint64{seq, seq}, Err: sentinel, Cause: cause, Reason: fmt.Sprintf(format, args...)}
}

func failRange(lo, hi uint64, sentinel error, format string, args ...any) *Failure {
	if lo == hi {
		return failAt(lo, sentinel, nil, format, args...)
	}
	return &Failure{Range: [2]uint64{lo, hi}, Err: sentinel, Reason: fmt.Sprintf(format, args...)}
}
