// Package hub is headsupd: the gRPC service through which members publish
// signed notices to the log and subscribe to it.
//
// The hub verifies every envelope before it stores it (so a forged or
// malformed notice never enters history), appends it to the JetStream log
// with the conditional write of the bus package (so one (issuer, id) names
// one notice forever, and a retry of the same envelope is answered with the
// original sequence), and streams the log to subscribers in sequence order
// without gaps, each through a bounded buffer so that a slow subscriber is
// cut off instead of stalling the others.
//
// A compromised hub can delay or withhold, never forge: every agent verifies
// each envelope again with its own copy of the directory.
//
// With a log key (Config.LogKeyFile) the hub also keeps the log's
// verifiable history (DESIGN.md, Audit): an RFC 6962 tree over every entry,
// followed from the stream and kept in DataDir/log, rebuilt from the stream
// when missing; checkpoints signed under the log key every
// CheckpointEvery entries or CheckpointInterval, never one inconsistent
// with the last signed or the largest cosigned; every signed checkpoint
// kept with the members' cosignatures; LogService. Each directory version
// is appended to the log (headsup.directory.<serial>) before it is in
// force, and the log's highest serial is the floor below which a
// directory file is refused, across restarts. A tree that disagrees with
// the stream stops signing: LogService turns NOT_SERVING and DATA_LOSS.
//
// Every domain error is mapped to its gRPC status code in one place,
// [Status].
package hub
