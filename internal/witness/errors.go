package witness

import "errors"

// Outcomes of Witness.Cosign: refusals to cosign a checkpoint that,
// together with the last one this witness cosigned, would show the log
// rolled back, forked or rewrote its history. The caller raises an
// integrity alert on each; none is retried with the same input.
var (
	// ErrRollback: a size smaller than the last cosigned one.
	ErrRollback = errors.New("checkpoint smaller than the last cosigned")
	// ErrFork: the last cosigned size with another root. The error is a
	// *ForkProof (errors.As) holding both log-signed checkpoints.
	ErrFork = errors.New("checkpoint forks the last cosigned")
	// ErrInconsistent: a larger size whose consistency proof from the
	// last cosigned checkpoint does not verify, or a size-0 checkpoint
	// whose root is not the empty tree's.
	ErrInconsistent = errors.New("checkpoint inconsistent with the last cosigned")
	// ErrWrongLog: the state holds a checkpoint of another log (another
	// origin, or not signed by the log key the witness is given). Only
	// an operator can decide that the log was replaced (see the package
	// documentation on resetting the state).
	ErrWrongLog = errors.New("witness state belongs to another log")
	// ErrNotCosigned: nothing cosigned yet (Latest before the first
	// Cosign).
	ErrNotCosigned = errors.New("no checkpoint cosigned yet")
)

// Outcomes of State.
var (
	// ErrStateChanged: CompareAndSwap's old is not what the state holds;
	// someone else moved it. Load again and decide afresh.
	ErrStateChanged = errors.New("witness state changed")
	// ErrStateMissing: the state directory has been used but its state
	// file is gone. Never treated as "never cosigned": that would let
	// whoever deleted it roll the witness back.
	ErrStateMissing = errors.New("witness state file missing")
	// ErrCorruptState: the state file does not parse.
	ErrCorruptState = errors.New("witness state file corrupt")
	// ErrLocked: another process (or another FileState) holds the state.
	ErrLocked = errors.New("witness state in use")
)

// Outcomes of quorum and fork checks.
var (
	// ErrNoLog: the directory names no log, so nothing can be checked
	// against it.
	ErrNoLog = errors.New("directory names no log")
	// ErrNotFork: a fork proof that proves nothing: a checkpoint not
	// signed by the log key, two sizes, or two equal roots.
	ErrNotFork = errors.New("not a fork proof")
	// ErrMalformedForkProof: bytes that are not a fork proof's encoding.
	ErrMalformedForkProof = errors.New("malformed fork proof")
)
