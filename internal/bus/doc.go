// Package bus is the headsup log: one append-only NATS JetStream stream,
// HEADSUP, whose sequence numbers are every entry's position in history and
// every subscriber's cursor.
//
// Contract:
//
//   - A notice of issuer with id is stored under
//     headsup.notice.<issuer>.<id>. Subject refuses any issuer not matching
//     ^[a-z0-9][a-z0-9-]{0,62}$ and any id not a canonical lower-case
//     UUIDv7, so no id injects subject tokens and one notice has one
//     subject. A signed directory version is stored under
//     headsup.directory.<serial> (AppendDirectory), with the same
//     once-only rules as a notice, so two hub replicas appending the
//     version they both loaded store it once. Every entry a reader gets
//     carries its subject, which says which of the two it is.
//   - Sequences are dense from 1. Append stores a (issuer, id) once: the
//     stream keeps one message per subject and refuses a second
//     (MaxMsgsPerSubject 1, DiscardNewPerSubject), and every write expects
//     the subject to be empty (Nats-Expected-Last-Subject-Sequence: 0). A
//     retry of the same bytes returns the original sequence with
//     Duplicate set, whether JetStream's deduplication window (Nats-Msg-Id
//     = hex SHA-256 of the body) or a read-back answers; other bytes are a
//     *ConflictError naming the stored sequence. This holds forever, across
//     hub replicas, on R1 and R3 streams.
//   - Append reports each entry's log time: JetStream's store time (the
//     server's clock, never the hub's), learnt from a headers-only ordered
//     consumer that every appending Log runs, or by reading the entry back
//     when that consumer has not delivered it within stampWait.
//   - Open creates the stream only when it is missing and the hub has no
//     persisted log state, then reads its configuration back and refuses
//     (ErrStreamConfig, one line naming every differing field) anything
//     that would let an entry be deleted, replaced, expired, rewritten or
//     read from a lagging replica. A hub with persisted state refuses a
//     missing, recreated or shorter stream (ErrStreamLost): it never hands
//     out old numbers for new entries.
//   - The log id is the stream name and creation time; a recreated or
//     restored stream has another one (ErrLogMismatch for a client that
//     expects the old).
//   - Follow delivers entries in order and checks density; a missing
//     sequence ends it with ErrGap, a cursor beyond the end or before the
//     first retained entry with ErrOutOfRange. Its memory is bounded
//     (followBuffer messages and FollowMaxBytes per follower).
//   - While NATS is unreachable calls fail fast with ErrUnavailable; a
//     spent deadline is context.DeadlineExceeded (outcome unknown: retry the
//     same bytes).
//
// The embedded mode (StartEmbedded) runs nats-server inside the hub with no
// listener, an in-process connection, its log in slog, and an exclusive
// lock on the data directory, which nats-server itself does not take.
package bus
