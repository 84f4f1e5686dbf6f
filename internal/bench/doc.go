// Package bench is `headsup bench`: it measures every hot path of headsup
// against its unavoidable cost, measured in the same run, and reports the
// ratio (issue 9). Absolute numbers on a shared machine vary by ±15 %
// from run to run; a ratio against a baseline interleaved with the figure
// does not drift with the machine's load.
//
// The contract:
//
//   - Everything runs in this process on loopback: an embedded NATS server
//     in a temporary directory, the real hub (internal/hub, started without
//     call tokens), the real agent (internal/agent) with a customer file
//     and a JSON-lines sink. Nothing is left behind.
//   - Each scenario runs its figure (A) and its baseline (B) interleaved,
//     A/B/A/B/A/B, and reports the median of the three per-round ratios;
//     Value and Baseline are the medians of the three rounds' figures.
//   - Baselines are honest: the same bodies and headers, the same stream
//     settings (created by internal/bus, fsync on every write unless
//     interval is asked for), the same kind of connection and the same
//     concurrency as the figure.
//   - Ratio is oriented so that higher is better (a throughput over its
//     bound, a bound's cost over the figure's cost) and Met is
//     Ratio >= Target. A row with no target (a figure reported for
//     context, like end-to-end p99) has Target and Met nil.
//   - Run never asserts a timing: it reports. Tests check only that every
//     row is there and well formed.
//
// The scenarios, their baselines and their targets are listed in
// [Scenarios]; [Quick] and [Full] give their sizes.
package bench
