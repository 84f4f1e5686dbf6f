package hub_test

import (
	"os"
	"testing"
)

// TestMain lets this test binary also be a nats-server: the cluster test
// re-executes it with natsNodeEnv set to run one node in a child process,
// so that the node can be killed with SIGKILL (an in-process Shutdown steps
// raft leaders down gracefully and proves nothing about a crash).
func TestMain(m *testing.M) {
	if spec := os.Getenv(natsNodeEnv); spec != "" {
		os.Exit(runNATSNode(spec))
	}
	os.Exit(m.Run())
}
