// Package alert defines headsup.alert.v1, the event an agent emits when it
// raises, updates or withdraws an alert, and renders it for a person.
//
// An alert tells a provider's abuse desk, in terms it can act on in
// minutes, that one of its customers (or its own address space) is at the
// end of a chain of verified notices rooted in another provider's
// CUSTOMER_SUSPENDED notice: who the customer is, what was suspended by
// whom and why, the legal basis, every path with each link's notice
// (sequence, key, signer), the value matched, its source row, the rule,
// its strength and the observation's age, the evidence with what may be
// forwarded to the customer, how many issuers corroborate, and a
// severity.
//
// The contract:
//
//   - The wire format is [Event] marshalled with encoding/json, one object
//     per event, valid under the JSON Schema (draft 2020-12) in
//     schema/headsup.alert.v1.json ([SchemaJSON], checked by [Validate]).
//     The schema is closed (unknown properties are refused at every level),
//     so any change to it, additive or not, is a new version; receivers
//     branch on the "schema" property.
//   - Identity: [ID] is hex SHA-256 over (member, customer id, root issuer,
//     root id), length-prefixed and domain-separated, so one customer and
//     one suspension make one alert whatever paths support it. [GroupKey]
//     joins the alerts about one subject for one customer. (alert_id,
//     revision) is the idempotency key: revisions of an alert start at 1
//     and only grow, across withdrawal and a later raise too.
//   - Lifecycle: raised when the first path appears; updated when the set
//     of paths, its best strength or what the event shows changes;
//     withdrawn, with the reason the last path went, when the set is
//     empty. A withdrawal carries no paths. [Event.State] says active or
//     withdrawn after every event.
//   - Triage: the desk's acknowledgements and suppressions ([Desk]) are
//     events of their own (acked, suppressed, unsuppressed) with the next
//     revision and the alert's content unchanged, so the idempotency key
//     stays (alert_id, revision) and a receiver sees every change.
//   - Flood control and the agent's health: a digest ([TypeDigest],
//     [Digest]) stands for alerts one sink folded together (a customer's
//     alerts of one window, or the integrity alerts of one issuer, key and
//     error); it is raised once, with [DigestID] as its id, and the agent
//     lists its alerts under that id. An alarm ([TypeAlarm], [Alarm]) is
//     about the agent itself (hub disconnected, customer list stale,
//     outbox full): raised when it fires, withdrawn as "resolved".
//   - A sighting link may carry the agent's live re-checks ([Recheck]).
//   - [SeverityTable.Severity] is a documented, deterministic rule over the
//     alert type, a base level per RSIT reason (configurable), the best
//     strength, the legal basis and corroboration; a weak path is never
//     critical.
//   - TLP: every notice and piece of evidence keeps its marking;
//     [Forwardable] says what may go to the customer concerned (CLEAR,
//     GREEN, and AMBER on a need-to-know basis; never AMBER+STRICT or RED)
//     and [MaxTLP] gives the event's overall marking, which sinks use to
//     refuse what they may not receive.
//   - [Render] is deterministic and safe for a terminal: text from notices
//     and customer lists is stripped of control and bidi characters.
//
// The package holds types and pure functions only: it does no I/O and
// knows nothing of how alerts are found or delivered (the agent and the
// sink package do).
package alert
