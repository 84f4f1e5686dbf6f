package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/headsup-dev/headsup/internal/bus"
)

// Rounds is the number of interleaved figure/baseline rounds per row.
const Rounds = 3

// Row is one line of the report.
type Row struct {
	// Scenario is the scenario's name (publish, end-to-end, catch-up,
	// matching, memory, fan-out, audit).
	Scenario string `json:"scenario"`
	// Figure says what Value measures, with the variant (fsync mode, size,
	// subscribers).
	Figure string `json:"figure"`
	// Unit is Value's and Baseline's unit.
	Unit string `json:"unit"`
	// Value is the median of the rounds' figures; Baseline the median of
	// the rounds' baselines.
	Value    float64 `json:"value"`
	Baseline float64 `json:"baseline"`
	// Ratio is the median of the rounds' ratios, higher is better.
	Ratio float64 `json:"ratio"`
	// Target is the ratio to reach, nil for a figure reported for context.
	Target *float64 `json:"target"`
	// Met is Ratio >= Target, nil when there is no target.
	Met *bool `json:"met"`
}

// Sizes are a run's scenario sizes.
type Sizes struct {
	// PublishPerRound is the number of envelopes each side of a publish
	// round sends, on PublishConcurrency goroutines.
	PublishPerRound    int
	PublishConcurrency int
	// EndToEndRate is the open-loop schedule in notices/s, kept for
	// EndToEndDuration per run.
	EndToEndRate     int
	EndToEndDuration time.Duration
	// CatchUp is the number of notices seeded straight into JetStream for
	// the agent to replay (a third per round), each round bounded by
	// CatchUpRoundLimit.
	CatchUp           int
	CatchUpRoundLimit time.Duration
	// Matching is the customer identifier counts matched against, and
	// MatchingNotices the notices probed per round at each size.
	Matching        []int
	MatchingNotices int
	// ScanNotices is how many notices the linear-scan sanity figure probes
	// at 1M (0: no scan row).
	ScanNotices int
	// Memory is the identifier count of the memory scenario (1M).
	Memory int
	// FanOutNotices are delivered to each of FanOutSubscribers.
	FanOutNotices     int
	FanOutSubscribers []int
	// Audit is the number of entries of the synthetic history whose
	// archive audit verify checks.
	Audit int
}

// Full returns the sizes of `headsup bench`.
func Full() Sizes {
	return Sizes{
		PublishPerRound: 2000, PublishConcurrency: 64,
		EndToEndRate: 1000, EndToEndDuration: 2 * time.Second,
		CatchUp: 200_000, CatchUpRoundLimit: 10 * time.Second,
		Matching: []int{10_000, 100_000, 1_000_000, 10_000_000}, MatchingNotices: 20_000, ScanNotices: 20,
		Memory:        1_000_000,
		FanOutNotices: 2000, FanOutSubscribers: []int{10, 100},
		Audit: 100_000,
	}
}

// Quick returns the sizes of `headsup bench --quick`: every scenario at a
// small size (no 10M matching), a smoke test for CI.
func Quick() Sizes {
	return Sizes{
		PublishPerRound: 200, PublishConcurrency: 64,
		EndToEndRate: 1000, EndToEndDuration: 300 * time.Millisecond,
		CatchUp: 6000, CatchUpRoundLimit: 10 * time.Second,
		Matching: []int{10_000, 100_000, 1_000_000}, MatchingNotices: 2000, ScanNotices: 3,
		Memory:        1_000_000,
		FanOutNotices: 100, FanOutSubscribers: []int{10, 100},
		Audit: 3000,
	}
}

// Options configure Run.
type Options struct {
	Sizes Sizes
	// Fsync lists the modes publish and end-to-end run under (every other
	// scenario uses the first); empty means always, then interval.
	Fsync []bus.FsyncMode
	// Only, when not empty, restricts the run to these scenario names.
	Only []string
	// TempDir is where the run's temporary directory is made ("" is the
	// system's).
	TempDir string
}

// Scenarios are the scenario names in report order.
var Scenarios = []string{"publish", "end-to-end", "catch-up", "matching", "memory", "fan-out", "audit"}

// Run measures every scenario and returns the rows in report order,
// writing progress to progress. A scenario that fails ends the run with
// its error and the rows measured so far.
func Run(ctx context.Context, o Options, progress io.Writer) ([]Row, error) {
	if len(o.Fsync) == 0 {
		o.Fsync = []bus.FsyncMode{bus.FsyncAlways, bus.FsyncInterval}
	}
	if progress == nil {
		progress = io.Discard
	}
	for _, s := range o.Only {
		if !slices.Contains(Scenarios, s) {
			return nil, fmt.Errorf("scenario %q: not one of %s", s, strings.Join(Scenarios, ", "))
		}
	}
	work, err := os.MkdirTemp(o.TempDir, "headsup-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	e := &env{o: o, work: work, progress: progress}
	steps := []struct {
		name string
		run  func(ctx context.Context) ([]Row, error)
	}{
		{"publish", e.publish},
		{"end-to-end", e.endToEnd},
		{"catch-up", e.catchUp},
		{"matching", e.matching},
		{"memory", e.memory},
		{"fan-out", e.fanOut},
		{"audit", e.auditVerify},
	}
	var rows []Row
	for _, s := range steps {
		if len(o.Only) > 0 && !slices.Contains(o.Only, s.name) {
			continue
		}
		start := time.Now()
		e.logf("%s: starting", s.name)
		got, err := s.run(ctx)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", s.name, err)
		}
		e.logf("%s: done in %s", s.name, time.Since(start).Round(time.Millisecond))
		rows = append(rows, got...)
	}
	return rows, nil
}

// env is one run's shared state.
type env struct {
	o        Options
	work     string
	progress io.Writer
	n        int // temporary directories made
	// mem is the memory scenario's figure, measured while matching
	// builds that size.
	mem *memoryFigure
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.progress, "bench: "+format+"\n", args...)
}

// dir returns a new directory under the run's temporary directory.
func (e *env) dir(name string) string {
	e.n++
	return fmt.Sprintf("%s/%02d-%s", e.work, e.n, name)
}

// orientation says how a figure compares with its baseline.
type orientation int

const (
	// higherIsBetter: a rate; ratio = value / baseline.
	higherIsBetter orientation = iota
	// lowerIsBetter: a cost; ratio = baseline / value.
	lowerIsBetter
)

// round is one round's figure and baseline.
type round struct{ value, baseline float64 }

// interleave runs figure and baseline alternately, Rounds times, and
// returns each round's pair.
func interleave(figure, baseline func(r int) (float64, error)) ([]round, error) {
	out := make([]round, Rounds)
	for r := range Rounds {
		v, err := figure(r)
		if err != nil {
			return nil, err
		}
		b, err := baseline(r)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		out[r] = round{v, b}
	}
	return out, nil
}

// row makes a row from rounds: medians of the values, baselines and
// per-round ratios. target <= 0 means none.
func row(scenario, figure, unit string, o orientation, target float64, rs []round) Row {
	var vs, bs, ratios []float64
	for _, r := range rs {
		vs, bs = append(vs, r.value), append(bs, r.baseline)
		ratios = append(ratios, ratioOf(o, r.value, r.baseline))
	}
	out := Row{Scenario: scenario, Figure: figure, Unit: unit, Value: median(vs), Baseline: median(bs), Ratio: median(ratios)}
	if target > 0 {
		met := out.Ratio >= target
		out.Target, out.Met = &target, &met
	}
	return out
}

func ratioOf(o orientation, value, baseline float64) float64 {
	if o == lowerIsBetter {
		value, baseline = baseline, value
	}
	if baseline == 0 {
		return 0
	}
	return value / baseline
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteTable writes rows as an aligned table: scenario, figure, value,
// baseline, ratio, target, met.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tfigure\tvalue\tbaseline\tunit\tratio\ttarget\tmet\t")
	for _, r := range rows {
		target, met := "-", "-"
		if r.Target != nil {
			target = fmt.Sprintf("≥ %.2f", *r.Target)
		}
		if r.Met != nil {
			met = "no"
			if *r.Met {
				met = "yes"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t\n", r.Scenario, r.Figure, num(r.Value), num(r.Baseline), r.Unit, r.Ratio, target, met)
	}
	return tw.Flush()
}

// num prints a figure with three significant digits, without exponents.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// WriteJSON writes rows as one JSON array.
func WriteJSON(w io.Writer, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	for _, r := range rows {
		if math.IsNaN(r.Value) || math.IsNaN(r.Baseline) || math.IsNaN(r.Ratio) ||
			math.IsInf(r.Value, 0) || math.IsInf(r.Baseline, 0) || math.IsInf(r.Ratio, 0) {
			return fmt.Errorf("row %s %q: not a finite number", r.Scenario, r.Figure)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

// ParseFsync reads an --fsync value: always, interval, or both separated
// by a comma.
func ParseFsync(s string) ([]bus.FsyncMode, error) {
	var out []bus.FsyncMode
	for f := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(f) {
		case "always":
			out = append(out, bus.FsyncAlways)
		case "interval":
			out = append(out, bus.FsyncInterval)
		default:
			return nil, fmt.Errorf("--fsync: %q is not always or interval", f)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--fsync: empty")
	}
	return out, nil
}

// Legend says, under the table, what each baseline is.
const Legend = `
baselines (measured in the same run, interleaved A/B three times, median ratio; ratio > 1 beats the baseline):
  publish     1/(1/V + 1/S + 1/G): V bare ed25519.Verify, S raw JetStream publish (same bodies, headers,
              stream settings, in-process connection), G gRPC call of the same request size; same concurrency
  end-to-end  publish -> durable alert, open loop at a steady rate, latency from the scheduled send time;
              baseline: gRPC -> verify -> JetStream -> gRPC stream -> verify -> append + fsync, no headsup code
  catch-up    notices/s the agent verifies, matches and commits while replaying; baseline 1/(1/V + 1/D),
              D Subscribe delivery of the same entries to a client that does nothing
  matching    ns per notice (4 identifiers of the stated mix); baseline bare map and prefix-table probes
              over the same normalised keys; the linear scan at 1M is a sanity figure
  memory      heap bytes per customer identifier in the agent's index after two GCs; baseline a bare map of
              the same keys, and the fixed budget of 150 B
  fan-out     process CPU per delivered notice replaying to N subscribers over gRPC; baseline one JetStream
              ordered consumer per subscriber
  audit       entries/s audit verify checks in an export of a synthetic history; baseline 1/(1/V + 1/H + 1/D),
              H SHA-256 of each notice, its leaf and one tree node, D reading the export
`
