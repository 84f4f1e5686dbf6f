// Package auditlog is the verifiable history of the headsup log: an
// RFC 6962 Merkle tree over the stream's entries and the signed
// checkpoints (C2SP tlog-checkpoint) that commit to it.
//
// Contract:
//
//   - The tree is built with golang.org/x/mod/sumdb/tlog and nothing else:
//     no hashing of tree nodes here. The record at leaf index i is the
//     stream entry at sequence i+1 (LeafOf): for a notice the JWS exactly
//     as the issuer produced it, for a directory version
//     (headsup.directory.<serial>) the signed directory note. The leaf hash
//     is tlog.RecordHash of that record, so anyone holding the JWSs,
//     redacted entries included, recomputes every root, and every replica
//     reading the same stream computes the same root at the same size: a
//     root is a pure function of the records.
//   - The tree persists the hashes tlog stores (tlog.StoredHashes) in a
//     Store. FileStore keeps them in one append-only file, each append
//     synced before it counts; a torn tail left by a crash is cut off on
//     open, and a record whose hashes were only partly written is not part
//     of the tree (its hashes are written again by the next Append).
//   - Proofs are tlog's: InclusionProof is checked with tlog.CheckRecord,
//     ConsistencyProof with tlog.CheckTree. A request outside [1, size] or
//     with old > new is ErrInvalidRange (InvalidArgument); one past the
//     tree is ErrBeyondTree (OutOfRange).
//   - A checkpoint is a signed note whose text is exactly
//     log.Checkpoint{Origin, Size, Hash}.Marshal(): three lines, no
//     extension lines. ParseCheckpoint verifies the log's signature and
//     refuses everything log.ParseCheckpoint lets through but this log never
//     writes: a root hash that is not 32 bytes, a size or a hash with
//     another spelling than the canonical one (leading zeros, '+',
//     non-canonical base64), extension lines, and a log signature line
//     in non-canonical base64 or repeated. One checkpoint has one text
//     and one log signature line.
//   - Checkpointer signs checkpoints under the hub's log key (never a
//     member key) and keeps the last one it signed in a file outside NATS,
//     replaced atomically and synced before the new checkpoint is returned.
//     It never signs a checkpoint inconsistent with that one: a smaller
//     size (ErrRollback), the same size with another root (ErrFork), or a
//     larger size whose consistency proof from it fails
//     (ErrBadConsistency). All three are ErrInconsistent.
package auditlog
