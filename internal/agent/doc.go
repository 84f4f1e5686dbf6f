// Package agent is headsup-agent: the subscriber a provider runs at its
// own premises. It reads the hub's log from its cursor, verifies every
// envelope itself with its own copy of the directory (never trusting the
// hub), matches every active notice against the provider's own customer
// list (which never leaves the premises), follows sightings and reseller
// chains as DESIGN.md's "Chains and alerts" says, and raises, updates and
// withdraws alerts through a persistent outbox.
//
// Contract:
//   - Evaluation is a pure function of the active notices, the customer
//     list, the directory and the clock, re-run after every batch, list
//     change, directory reload and clock tick: order of arrival never
//     matters.
//   - One SQLite transaction holds a batch of entries, the cursor after
//     them and the alert events they caused: a kill at any instant loses
//     and duplicates nothing. Sinks are fed from the outbox and may see an
//     event twice after a crash; (alert_id, revision) is the idempotency key.
//   - Entries are verified on every core ahead of the loop, which commits
//     them in log order, and again when the directory in force at an
//     entry's position is not the one it was verified under. A batch is
//     what has arrived; the loop waits for more only while catching up.
//     A sink that takes batches (sink.Batch) gets runs of events with one
//     sync; deliveries are marked a page at a time.
//   - The desk's triage (acknowledgements, suppression rules) is stored
//     apart from the lifecycle and changed only through the local API
//     (AgentService) or by the agent itself (a suppression's end, a held
//     alert that rises, a new root in its group); each change is an alert
//     event with the next revision. A held alert's lifecycle revisions are
//     stored but kept out of the outbox.
//   - A failure against a known key is an integrity alert and the notice is
//     never matched; an unknown kid parks the notice and raises "directory
//     stale" until a reload lets it verify.
//   - Each sink is fed on its own: its filter, then its flood control when
//     configured (package flood: group windows, per-customer digests,
//     integrity summaries), then the sink. Flood control shapes what a
//     sink emits, never what the store keeps. Each sink's backlog is
//     bounded (OutboxMax); past it the oldest events are skipped for that
//     sink and the outbox_full alarm fires (outbox.go).
//   - With VerifySightings, sightings on alerts' paths are re-checked live
//     (package recheck) off the ingest path; results are state, stored
//     with a commit, and change a link's strength by a documented rule
//     (verify.go).
//   - The agent can be watched: Prometheus metrics in a registry of its
//     own and /healthz on a loopback listener, and alarms (log line,
//     metric, alarm event) when it is cut off from the hub or its customer
//     list goes stale for AlarmAfter (health.go, metrics.go).
//   - Directory versions in the log are entries: they move the cursor,
//     are stored and verified with the pinned governance key; a valid one
//     newer than the agent's own copy becomes its directory, never below
//     the highest serial it had in force; an invalid one is an integrity
//     alert (dirlog.go).
//   - The log is checked, never trusted: every checkpoint against the log
//     key of the agent's own directory and against the last one it
//     verified; every notice of an alert's chain proved included
//     (included_in on the alert); no quorum checkpoint for longer than
//     QuorumFreshness, a failing proof or signature, and a fork are
//     integrity alerts. With WitnessKey the agent witnesses the log (C2SP
//     tlog-witness, package witness), keeps fork proofs durably, and never
//     rebuilds its witness state from the hub (log.go).
//   - Reconnection backs off with jitter from 200 ms to 15 s, and starts
//     again from 200 ms after a stream that delivered anything; it always
//     resumes from the committed cursor.
package agent
