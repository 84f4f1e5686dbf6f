package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchCommand runs `headsup bench --quick --json` on one scenario
// and checks its rows; the whole quick run is internal/bench's test. No
// timing is asserted.
func TestBenchCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"headsup", "bench", "--quick", "--json", "--only", "publish", "--fsync", "always"}
	if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("bench: status %d: %s", code, stderr.String())
	}
	var rows []struct {
		Scenario, Figure, Unit string
		Value, Baseline, Ratio float64
		Target                 *float64
		Met                    *bool
	}
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}
	if len(rows) != 1 || rows[0].Scenario != "publish" || rows[0].Target == nil || rows[0].Met == nil || rows[0].Value <= 0 {
		t.Errorf("rows %+v, want one publish row with a target", rows)
	}
	if !strings.Contains(stderr.String(), "bench: publish: starting") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}
}

func TestBenchUsage(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"bench", "--fsync", "never"}, "headsup: bench: --fsync: \"never\" is not always or interval\n"},
		{[]string{"bench", "--only", "nap"}, "headsup: bench: --only: \"nap\" is not one of publish, end-to-end, catch-up, matching, memory, fan-out, audit\n"},
		{[]string{"bench", "extra"}, "headsup: bench: takes no arguments, got \"extra\"\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"headsup"}, tt.args...), strings.NewReader(""), &stdout, &stderr); code != 2 {
			t.Errorf("%v: status %d, want 2", tt.args, code)
		}
		if stderr.String() != tt.stderr {
			t.Errorf("%v: stderr %q, want %q", tt.args, stderr.String(), tt.stderr)
		}
	}
}
