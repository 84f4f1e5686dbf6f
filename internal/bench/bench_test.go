package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/match"
)

func checkRow(t *testing.T, r Row) {
	t.Helper()
	finite := func(what string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			t.Errorf("%s %q: %s %v is not a positive number", r.Scenario, r.Figure, what, v)
		}
	}
	finite("value", r.Value)
	finite("baseline", r.Baseline)
	finite("ratio", r.Ratio)
	if r.Unit == "" {
		t.Errorf("%s %q: no unit", r.Scenario, r.Figure)
	}
	switch {
	case (r.Target == nil) != (r.Met == nil):
		t.Errorf("%s %q: target %v but met %v", r.Scenario, r.Figure, r.Target, r.Met)
	case r.Target != nil && *r.Met != (r.Ratio >= *r.Target):
		t.Errorf("%s %q: met %v, but ratio %v against target %v", r.Scenario, r.Figure, *r.Met, r.Ratio, *r.Target)
	}
}

// checkJSON: --json is one array of objects with exactly the documented
// keys.
func checkJSON(t *testing.T, rows []Row) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rows); err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &objs); err != nil {
		t.Fatalf("--json output is not a JSON array: %v\n%s", err, buf.String())
	}
	if len(objs) != len(rows) {
		t.Fatalf("%d objects for %d rows", len(objs), len(rows))
	}
	keys := []string{"baseline", "figure", "met", "ratio", "scenario", "target", "unit", "value"}
	for _, o := range objs {
		var got []string
		for k := range o {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, keys) {
			t.Errorf("object keys %v, want %v", got, keys)
		}
	}
}

func TestRowOrientation(t *testing.T) {
	for _, tt := range []struct {
		name      string
		o         orientation
		target    float64
		rounds    []round
		wantRatio float64
		wantMet   *bool
	}{
		{"rate at its bound", higherIsBetter, 0.75, []round{{3, 4}, {30, 40}, {6, 8}}, 0.75, ptr(true)},
		{"rate below its bound", higherIsBetter, 0.75, []round{{1, 4}, {1, 2}, {1, 1}}, 0.5, ptr(false)},
		{"cost: median of per-round ratios", lowerIsBetter, 0.5, []round{{10, 1}, {4, 2}, {2, 2}}, 0.5, ptr(true)},
		{"reported only", lowerIsBetter, 0, []round{{2, 1}}, 0.5, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := row("s", "f", "u", tt.o, tt.target, tt.rounds)
			if r.Ratio != tt.wantRatio {
				t.Errorf("ratio %v, want %v", r.Ratio, tt.wantRatio)
			}
			if (r.Met == nil) != (tt.wantMet == nil) || r.Met != nil && *r.Met != *tt.wantMet {
				t.Errorf("met %v, want %v", r.Met, tt.wantMet)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestWriteJSONRefusesNonFinite(t *testing.T) {
	err := WriteJSON(&bytes.Buffer{}, []Row{{Scenario: "s", Figure: "f", Value: math.NaN()}})
	if err == nil {
		t.Fatal("a NaN value was written")
	}
}

func TestParseFsync(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []bus.FsyncMode
		bad  bool
	}{
		{in: "always", want: []bus.FsyncMode{bus.FsyncAlways}},
		{in: "interval", want: []bus.FsyncMode{bus.FsyncInterval}},
		{in: "always,interval", want: []bus.FsyncMode{bus.FsyncAlways, bus.FsyncInterval}},
		{in: "never", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseFsync(tt.in)
		if (err != nil) != tt.bad || !slices.Equal(got, tt.want) {
			t.Errorf("ParseFsync(%q) = %v, %v", tt.in, got, err)
		}
	}
}

// TestMatchingBaselineIsHonest: the bare index holds the very normal forms
// the agent's index holds (NormalizeRow of each row), and a probe meant
// to hit matches its customer strongly (organisations weakly, as always)
// while a miss matches nobody, in both indexes.
func TestMatchingBaselineIsHonest(t *testing.T) {
	const n = 2000
	rows := customerRows(n)
	for i, r := range rows {
		norm, err := match.NormalizeRow(r, match.Config{})
		if err != nil {
			t.Fatalf("row %d %s %q: %v", i, r.Type, r.Value, err)
		}
		want := identAt(i).key
		if r.Type == match.TypeOrganisation {
			norm.Value = strings.ReplaceAll(norm.Value, " ", "")
		}
		if norm.Value != want {
			t.Errorf("row %d %s: normal form %q, the bare index holds %q", i, r.Type, norm.Value, want)
		}
	}
	ix, bare, _, err := buildIndex(n, false)
	if err != nil {
		t.Fatal(err)
	}
	q := match.Query{Issuer: Publisher, Now: time.Now()}
	for k := range 400 {
		i, hit := (k*7919)%n, k%2 == 0
		id := probeAt(i, hit)
		owner := rows[i].Owner
		found := false
		for _, m := range ix.MatchIdentifier(id, q) {
			found = found || m.Owner == owner && (m.Strength == match.Strong || rows[i].Type == match.TypeOrganisation)
		}
		bareFound := bare.probe(&headsupv1.Entity{Identifiers: []*headsupv1.Identifier{id}}) == 1
		if found != hit || bareFound != hit {
			t.Errorf("identifier %d (%s %s) hit=%v: index found %v, bare found %v", i, rows[i].Type, rows[i].Value, hit, found, bareFound)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
