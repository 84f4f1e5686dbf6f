// Package flood is per-sink flood control for alert events: it decides
// which [alert.Event] revisions a sink emits now, which it emits later as
// the latest revision of a group, and which it folds into a per-customer
// digest or an integrity summary.
//
// Flood control only shapes what one sink emits. The agent's store keeps
// every alert and every revision whatever the [Shaper] decides; a digest
// points the desk at the store ("customer epiq: 312 alerts", the list
// through `headsup alerts show`). Each sink has its own Shaper, fed with the
// events its filter allows.
//
// A Shaper is a pure state machine: time comes only from the now arguments
// (it never reads a clock), and it starts no goroutine. The caller offers
// each new revision with [Shaper.Offer], emits what it returns, and calls
// [Shaper.Due] from a ticker (at [Shaper.Next] at the latest) to emit what
// has become due. now should not go backwards; if it does, windows only
// last longer.
//
// # Rules
//
// Group window. An alert's group is its group_key (its alert_id when it has
// none). The first event of a group passes at once ([Pass]) and opens a
// window of Config.GroupWindow. Later revisions in the window are held;
// only the latest revision (highest revision number) of each alert is kept,
// and it is emitted when the window ends ([Coalesced]). Emitting it opens
// the next window of the group at once, so the events of one group are
// always at least one window apart; a window that ends with nothing held
// closes, and the group's next event passes at once. Nothing is lost: a
// withdrawal after a raise in the same window reaches the sink, as the
// latest revision. When several alerts share a group (several roots
// suspend one subject for one customer), each alert's latest held revision
// is emitted at the window end: holding back one alert's withdrawal behind
// another alert's update would leave the desk a stale case.
//
// Customer digest. For the alerts that name a customer, each customer has a
// window of Config.DigestWindow opened by its first alert. The first
// Config.DigestThreshold distinct alert_ids of the window go through the
// group rule as usual; their highest severity is the flood's level. Once
// the window holds more, each further alert at or below that level is not
// emitted individually: it is counted into one [Digest] emitted at the
// window end, listing every alert_id of the window (the ones already
// passed stay passed). All revisions of an alert follow the route its
// first revision in the window took, so the withdrawal of an alert that
// was passed still reaches the sink. Never delayed by a digest:
//
//   - alerts of other customers (each customer has its own window);
//   - an alert of a higher severity than the flood's level, and a digested
//     alert whose new revision rises above it: a critical alert for a
//     customer flooded with high ones reaches the sink at once (the group
//     rule still applies);
//   - an alert that has a revision held in its group, which the group
//     window emits.
//
// A window in which nothing was digested ends silently. The next alert of
// the customer opens a new window, so a flood that goes on yields at most
// DigestThreshold individual alerts (plus those of a higher severity) and
// one digest per window.
//
// Integrity. An integrity alert (Type [alert.TypeIntegrity]) is keyed by
// the (issuer, kid, error) of its Integrity field. The first of a key
// passes at once and opens a window of Config.IntegrityWindow; later ones
// are counted, and at the window end one [IntegritySummary] with the count,
// the first and last time and the latest event is emitted, which opens the
// next window of the key as the group rule does. Integrity alerts are
// subject to neither the group nor the digest rule.
//
// # Bounds
//
// Every open window, held revision and alert_id awaiting a digest or
// summary counts against Config.MaxPending. Past it, the oldest window is
// closed early: its held revisions are released as they are ([Pass]), its
// digest or summary is emitted now, and Stats.Overflowed counts the alerts
// released early. So memory is bounded and nothing offered is ever
// dropped; under overflow only the shaping weakens.
//
// # Determinism
//
// What one call returns is sorted by customer id, then group key, then
// alert_id and revision (Offer returns what came due first, then what the
// bound released, then the offered event's own emission). Digest and
// summary alert_id lists are sorted. The same offers at the same times
// give the same emissions.
package flood
