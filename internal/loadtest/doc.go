// Package loadtest drives a hub with N publishers and M subscribers for a
// bounded time and reports what an operator sizes a deployment with:
// acknowledged notices per second, delivery latency (from the start of a
// Publish call to each subscriber's receipt of the entry) as percentiles,
// and the memory of the process hosting the hub.
//
// The contract:
//
//   - Publishers run a closed loop: each signs a fresh notice, publishes
//     it and waits for the acknowledgement before the next, until the
//     duration is over. Throughput counts acknowledgements only.
//   - Subscribers start from the log's end (new_only) before any
//     publisher starts, keep their own cursor, drop what is at or below
//     it, and resume after it when the hub cuts them off (counted in
//     Report.Cutoffs) or a stream ends with UNAVAILABLE.
//   - Latency is kept in a bounded log-linear histogram per subscriber
//     (1% resolution), never as a list, so the generator's own memory
//     does not grow with the run.
//   - After the duration, subscribers get up to DrainTimeout to receive
//     everything acknowledged; what they did not is Report.Undelivered.
//   - With no Hub address, Run starts its own hub on loopback with an
//     embedded NATS server in a temporary directory, anonymous access and
//     the hub's default limits, and reports the process's heap and RSS:
//     the hub's and the load generator's together, since they share the
//     process. Against a remote hub, memory is not measured.
package loadtest
