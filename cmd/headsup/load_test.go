package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/headsup-dev/headsup/internal/loadtest"
)

// TestLoad runs `headsup load` briefly against its own hub and checks the
// report's shape and its accounting, not its figures.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a hub under load for two seconds")
	}
	var stdout, stderr bytes.Buffer
	args := []string{"headsup", "load", "--publishers", "2", "--subscribers", "3", "--duration", "2s", "--fsync", "interval", "--json"}
	if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	var r loadtest.Report
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	switch {
	case r.Hub != loadtest.InProcess || r.Fsync != "interval" || r.Publishers != 2 || r.Subscribers != 3:
		t.Errorf("report describes %s (fsync %s) with %d/%d, want in-process (interval) with 2/3", r.Hub, r.Fsync, r.Publishers, r.Subscribers)
	case r.Acknowledged == 0 || r.Throughput <= 0 || r.Seconds <= 0:
		t.Errorf("nothing acknowledged: %+v", r)
	case r.Deliveries+r.Undelivered != r.Acknowledged*3:
		t.Errorf("deliveries %d + undelivered %d != acknowledged %d × 3", r.Deliveries, r.Undelivered, r.Acknowledged)
	case !(r.Latency.P50 <= r.Latency.P90 && r.Latency.P90 <= r.Latency.P99 && r.Latency.P99 <= r.Latency.Max):
		t.Errorf("latency percentiles out of order: %+v", r.Latency)
	case r.Deliveries > 0 && r.Latency.Max <= 0:
		t.Errorf("deliveries without a latency: %+v", r.Latency)
	case r.Memory == nil || r.Memory.HeapMax == 0:
		t.Errorf("no memory figures for the in-process hub: %+v", r.Memory)
	}
	if !strings.Contains(stderr.String(), "load: ") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}
}

func TestLoadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"load", "--publishers", "0"}, "headsup: load: --publishers: 0, want at least 1\n"},
		{[]string{"load", "--duration", "-1s"}, "headsup: load: --duration: -1s, want a positive duration\n"},
		{[]string{"load", "--fsync", "never"}, "headsup: load: --fsync: \"never\" is not one of always, interval\n"},
		{[]string{"--hub", "127.0.0.1:1", "load"}, "headsup: load: --hub: --member and --key (a notice key of a member with the publish role) are required\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"headsup"}, tc.args...), strings.NewReader(""), &stdout, &stderr); code != 2 || stderr.String() != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 2, %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
