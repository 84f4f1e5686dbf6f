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
// Every domain error is mapped to its gRPC status code in one place,
// [Status].
package hub
