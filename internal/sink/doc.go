// Package sink delivers headsup.alert.v1 events to an abuse desk: JSON
// lines to a file or a stream, text for a person, and a signed webhook.
//
// The agent owns the persistent outbox and calls a [Sink] for each event
// it holds; this package keeps no queue. The contract between them:
//
//   - Deliver returns nil only once the event is delivered: written and
//     fsynced (a file), flushed (a stream), or acknowledged with 2xx (a
//     webhook). Delivery is at least once: the outbox may deliver an event
//     again after a crash or a timeout, and every receiver drops
//     duplicates by (alert_id, revision), which the webhook also sends as
//     its Idempotency-Key.
//   - A sink that is a [Batch] (JSON lines, text) also takes a run of
//     events in one call, written in one write and synced once: the
//     outbox's way to keep up with a burst without an fsync per event.
//     It holds to the same contract for every event of the run.
//   - An error wrapping [ErrPermanent] means retrying the same event cannot
//     succeed (a 4xx other than 408/429, a misconfigured sink, a body that
//     is not one JSON object). Any other error is retried: after the delay
//     of a [*RetryAfterError] (the receiver's Retry-After, capped at
//     [MaxRetryAfter]) or of [Backoff.Next] (exponential, full jitter,
//     capped).
//   - The body a sink sends is the exact JSON the outbox stored (compacted
//     onto one line by the JSON-lines sink), so every sink and every retry
//     carries the same bytes.
//   - Webhook requests carry Headsup-Signature: t=<unix>,v1=<hex
//     HMAC-SHA256 of "<t>.<body>">. [VerifySignature] is the receiver's
//     check: a bad MAC, a malformed header, and a t outside the tolerance
//     (a replay of an old delivery) are each a named error. Redirects are
//     never followed, and plain http is refused outside loopback unless
//     configured.
//   - A [Filter] chooses what a sink receives, by reason, strength, severity, issuer,
//     TLP and type. TLP:RED reaches only a sink whose MaxTLP says RED.
//     Updates and withdrawals of an alert pass when its raise did, so a
//     desk never keeps an alert it should have seen withdrawn.
package sink
