// Package audit is the auditor's side of the headsup log: it replays a
// history (from a hub's LogService or from an archive written by Export)
// and proves, without trusting the hub or whoever runs NATS, that nothing
// was altered, dropped, reordered, rolled back or forked (DESIGN.md,
// "Audit").
//
// Contract of Verify:
//
//   - Trust comes from one pinned key, the federation's governance
//     verifier key (Config.GovernanceVerifierKey). The log's key and
//     origin are taken from the signed directory found IN the log: the
//     first directory entry must verify under the governance key, and so
//     must every later one, with strictly increasing serials. Nothing the
//     hub says about keys outside the log is used.
//   - Sequences must run 1, 2, 3, … without a gap or repeat up to the last
//     sequence the source announced. A log whose first held sequence is
//     above 1 (retention) is verified only together with an earlier export
//     (Config.PreviousExport) that holds the entries before it: the tree
//     cannot be recomputed, nor keys known, without them.
//   - Every notice envelope is verified again (envelope.Verify) with the
//     key state of the latest directory version logged before it. Key
//     validity is judged at the entry's log time (its stored_at). DESIGN.md
//     bounds log time by the earliest witnessed checkpoint containing the
//     entry; Verify enforces that bound whenever a checkpoint with a quorum
//     of cosignatures is available: an entry's stored_at may not be later
//     than the instant its earliest witnessed checkpoint reached quorum
//     (the quorum-th earliest cosignature time), or the hub moved its log
//     time. A redacted entry (JWS without the notice) is verified from its
//     signature and claims (envelope.VerifyJWS); it counts toward the tree
//     like any entry, its leaf being the JWS.
//   - The tree is recomputed (auditlog.Tree over a MemoryStore, records
//     from the entries as auditlog.LeafOf defines them). At every
//     checkpoint size the checkpoint's log signature is verified
//     (auditlog.ParseCheckpoint, under a log key of a directory logged
//     within that size), its root must equal the recomputed root, and it
//     must be consistent with the previous checkpoint verified. Checkpoints
//     come from the source, from the auditor's own state file (the largest
//     checkpoint it verified before) and from a previous export: a
//     checkpoint whose size the history no longer reaches is a rollback,
//     one whose root differs is a fork. With a previous export, the leaf
//     hashes of the common prefix must be identical, which names the exact
//     sequence a rewritten history changed.
//   - A notice that supersedes or retracts another must name an earlier
//     notice of the same issuer; an (issuer, id) appears at most once.
//   - Quorum is counted by an injected QuorumChecker (internal/witness
//     provides one). Without it Verify says "quorum not checked" in the
//     report's warnings and enforces no time bound: it never claims a
//     check it did not make.
//   - With Config.Peers, each member's witness URL is fetched; its latest
//     cosigned checkpoint must verify under the log key and agree with the
//     recomputed tree (same size, same root; a smaller size is a prefix of
//     it). A disagreement is a fork, reported with both notes.
//
// HubSource reads a hub's LogService. The hub's own alarms do not stop
// the audit: checkpoints it refuses with DATA_LOSS (its tree disagrees
// with its stream) are left out and the report says so, since its Replay
// still reads the stream; a replay it ends with DATA_LOSS is a *Failure
// (ErrGap) naming the first sequence not delivered; a replay of
// everything refused as OUT_OF_RANGE (the stream no longer starts at 1)
// is a *Failure naming sequence 1.
//
// Verify stops at the first failure and returns it as a *Failure naming
// the first offending sequence, or, when only checkpoints locate it (two
// entries swapped: every signature holds but a root differs), the range
// between the last good checkpoint and the first bad one, narrowed, when
// the auditor's state is at that size, to the first of its subtrees the
// history no longer matches. Each Failure wraps one of the sentinel
// errors below, so callers branch with errors.Is. Envelopes are verified
// on every core, each under the directory version logged before it, while
// a bounded window of entries is read ahead; every order-dependent check
// runs on one goroutine in log order, so the failure reported is the
// first in the log whatever was verified first. On success the state
// file, when configured, is replaced atomically by the largest checkpoint
// verified.
//
// The archive format (Export, ArchiveSource) is JSON lines, one object per
// line, readable as a stream:
//
//	{"format":"headsup.audit.export.v1","log_id":…,"origin":…,"first":1,"last":N,"exported_at":…}
//	{"checkpoint":"<base64 of the signed note>"}                       zero or more
//	{"seq":1,"stored_at":…,"directory":{"serial":1,"signed":"<base64>"}}
//	{"seq":2,"stored_at":…,"notice":"<base64 notice bytes>","jws":"…"}
//	{"seq":3,"stored_at":…,"jws":"…","redacted":true}
//	{"end":{"entries":N,"checkpoints":K}}
//
// Checkpoints precede the entries (unlike a log's natural order) so that
// one pass over the file checks each root when the tree reaches its size;
// the end line makes a truncated file detectable. Bytes that must stay
// exact (notices, signed notes) are base64, never re-encoded text; the
// origin in the header is informative only (the log's origin comes from
// the signed directory).
package audit
