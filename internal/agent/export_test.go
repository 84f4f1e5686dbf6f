package agent

// Jitter is the reconnect backoff's jitter, for its test.
var Jitter = jitter
