// Package witness is how members witness the hub's log (C2SP tlog-witness
// semantics): each agent cosigns the log's checkpoints only as the log
// grows append-only from what it cosigned before, and clients and
// auditors trust a checkpoint only once enough members other than the
// hub's operator cosigned it.
//
// Contract:
//
//   - A member's witness name is its member id. Its cosignatures are C2SP
//     tlog-cosignature (cosignature/v1, github.com/transparency-dev/formats
//     note) made with its directory witness key (directory.UseWitness):
//     the verifier key is note.NewEd25519VerifierKey(memberID, pub)
//     converted with VKeyToCosignatureV1 (VerifierKey, NewVerifier,
//     NewSigner).
//   - State is the witness's durable last cosigned checkpoint (origin,
//     size, root, the cosigned note), moved only by compare-and-swap and
//     only forward. FileState keeps it in one file in the witness's own
//     directory, replaced atomically and synced before a cosignature
//     leaves, behind a lock file so two processes never share it. It is
//     never rebuilt, from the hub or from nothing: an empty or missing
//     directory is a first use, a used directory without its state file
//     is ErrStateMissing. An operator resets a witness deliberately (the
//     federation started a new log) by stopping the agent and moving the
//     whole state directory aside; the next start trusts the first
//     checkpoint it is shown.
//   - Witness.Cosign verifies the log's signature with the key from the
//     signed directory (auditlog.ParseCheckpoint), then refuses a smaller
//     size (ErrRollback), the same size with another root (ErrFork, a
//     *ForkProof the caller keeps and alerts on), or a larger size whose
//     consistency proof fails (ErrInconsistent). The same checkpoint is
//     cosigned again with a fresh timestamp. The state is swapped before
//     the cosigned note is returned. Witness.Handler serves the latest
//     cosigned note at the member's witness_url.
//   - Policy (CheckQuorum) counts distinct members other than
//     directory.Log.Operator with a valid cosignature by a witness key
//     valid at the given time and never revoked; a checkpoint is trusted
//     when the count reaches directory.Log.Quorum. A cosignature line
//     that does not verify, or verifies only through note's lenient
//     base64, is ignored and never spoils the others. Freshness raises
//     staleness when no checkpoint reached its quorum for longer than T,
//     timed by the witnesses' own timestamps.
//   - A ForkProof is two checkpoints signed by the log key with one size
//     and two roots; Verify checks it against the directory alone, and
//     Marshal/ParseForkProof give it one stable encoding.
//
// Counting is done here rather than with a witness-group library. The
// maintained one (github.com/transparency-dev/tessera's NewWitnessGroup
// and Satisfied) lives in tessera's root package, which brings the
// log's storage, OpenTelemetry and retry dependencies with it, and it
// answers only yes or no: it cannot say which members cosigned or when,
// excludes no operator, and knows nothing of key validity or
// revocation. What remains is counting over note.Open with one verifier
// at a time, while all the cryptography stays in x/mod's note and
// transparency-dev/formats.
package witness
