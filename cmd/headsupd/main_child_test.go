package main

import (
	"os"
	"testing"
)

// childEnv, set to "1", makes this test binary run headsupd's main with
// its own arguments instead of the tests: the crash test starts the real
// daemon as a child process and kills it with SIGKILL.
const childEnv = "HEADSUPD_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
