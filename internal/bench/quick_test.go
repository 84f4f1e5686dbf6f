//go:build !race

package bench

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// wantRows are the figures quick mode must print, by scenario, in order.
var wantRows = []struct{ scenario, figure string }{
	{"publish", "notices/s, 64 publishers, fsync=always"},
	{"publish", "notices/s, 64 publishers, fsync=interval"},
	{"end-to-end", "p50 publish→durable alert, 1000 notices/s, fsync=always"},
	{"end-to-end", "p99 publish→durable alert, 1000 notices/s, fsync=always"},
	{"end-to-end", "p50 publish→durable alert, 1000 notices/s, fsync=interval"},
	{"end-to-end", "p99 publish→durable alert, 1000 notices/s, fsync=interval"},
	{"catch-up", "notices/s verified, matched, committed; 6k replayed"},
	{"matching", "ns per notice, 10k identifiers"},
	{"matching", "ns per notice, 100k identifiers"},
	{"matching", "ns per notice, 1M identifiers"},
	{"matching", "ns per notice, linear scan of 1M (sanity)"},
	{"memory", "bytes per identifier in the index at 1M, vs a bare map"},
	{"memory", "bytes per identifier in the index at 1M, vs 150 B"},
	{"fan-out", "CPU per delivered notice, 10 subscribers"},
	{"fan-out", "CPU per delivered notice, 100 subscribers"},
	{"audit", "entries/s of audit verify over 3k entries"},
}

// TestQuickPrintsEveryRow runs `headsup bench --quick` in process and
// checks that every row is there and well formed. It asserts no timing:
// the benchmark reports, tests do not time. It is built without the race
// detector only, under which the 1M-identifier index alone takes minutes
// and gigabytes; .ci/run runs it on its own, without -race.
func TestQuickPrintsEveryRow(t *testing.T) {
	if testing.Short() {
		t.Skip("the quick bench takes about 20 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var progress syncBuffer
	rows, err := Run(ctx, Options{Sizes: Quick(), TempDir: t.TempDir()}, &progress)
	if err != nil {
		t.Fatalf("bench: %v\nprogress:\n%s", err, progress.String())
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Scenario+" | "+r.Figure)
		checkRow(t, r)
	}
	var want []string
	for _, w := range wantRows {
		want = append(want, w.scenario+" | "+w.figure)
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	var table bytes.Buffer
	if err := WriteTable(&table, rows); err != nil {
		t.Fatal(err)
	}
	for _, w := range wantRows {
		if !strings.Contains(table.String(), w.figure) {
			t.Errorf("table lacks %q:\n%s", w.figure, table.String())
		}
	}
	checkJSON(t, rows)
	t.Logf("bench --quick (figures from a busy test machine, not a measurement):\n%s", table.String())
}
