package flood_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/flood"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// match returns a match alert revision for customer (none when empty).
func match(customer, id, group string, rev uint64, severity string) *alert.Event {
	ev := &alert.Event{
		Schema:   alert.SchemaV1,
		Event:    alert.EventRaised,
		AlertID:  id,
		Revision: rev,
		GroupKey: group,
		Type:     alert.TypeMatch,
		Member:   "mitigatr",
		Severity: severity,
	}
	if rev > 1 {
		ev.Event = alert.EventUpdated
	}
	if customer != "" {
		ev.Customer = &alert.Customer{ID: customer, Name: "Customer " + customer}
	}
	return ev
}

func withdrawn(ev *alert.Event) *alert.Event {
	ev.Event = alert.EventWithdrawn
	ev.Withdrawn = &alert.Withdrawal{Reason: alert.WithdrawRetracted}
	return ev
}

func integrity(id, issuer, kid, msg string) *alert.Event {
	return &alert.Event{
		Schema:   alert.SchemaV1,
		Event:    alert.EventRaised,
		AlertID:  id,
		Revision: 1,
		GroupKey: "integrity-" + id,
		Type:     alert.TypeIntegrity,
		Member:   "mitigatr",
		Severity: alert.SeverityHigh,
		Integrity: &alert.Integrity{
			Issuer: issuer, KID: kid, Error: msg,
		},
	}
}

func newShaper(t *testing.T, cfg flood.Config) *flood.Shaper {
	t.Helper()
	s, err := flood.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// render writes an emission on one line, times as offsets from t0.
func render(e flood.Emission) string {
	switch e.Kind {
	case flood.KindPass, flood.KindCoalesced:
		return fmt.Sprintf("%s %s#%d %s", e.Kind, e.Event.AlertID, e.Event.Revision, e.Event.Event)
	case flood.KindDigest:
		d := e.Digest
		return fmt.Sprintf("digest %s count=%d withheld=%d max=%s window=%v..%v ids=%s",
			d.CustomerID, d.Count, d.Withheld, d.MaxSeverity, d.WindowStart.Sub(t0), d.WindowEnd.Sub(t0),
			strings.Join(d.AlertIDs, ","))
	case flood.KindIntegritySummary:
		in := e.Integrity
		return fmt.Sprintf("summary %s/%s/%s count=%d withheld=%d first=%v last=%v latest=%s ids=%s",
			in.Issuer, in.KID, in.Error, in.Count, in.Withheld, in.First.Sub(t0), in.Last.Sub(t0),
			in.Latest.AlertID, strings.Join(in.AlertIDs, ","))
	}
	return e.Kind.String()
}

func renderAll(es []flood.Emission) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, render(e))
	}
	return out
}

// step offers an event at t0+at, or calls Due when offer is nil, and
// expects want.
type step struct {
	at    time.Duration
	offer *alert.Event
	want  []string
}

func TestScripts(t *testing.T) {
	const (
		bad  = "signature invalid"
		high = alert.SeverityHigh
		crit = alert.SeverityCritical
	)
	small := flood.Config{DigestThreshold: 2}
	tests := []struct {
		name  string
		cfg   flood.Config
		steps []step
	}{
		{
			name: "coalescing keeps the latest revision",
			steps: []step{
				{0, match("epiq", "a", "g", 1, high), []string{"pass a#1 raised"}},
				{time.Minute, match("epiq", "a", "g", 2, high), nil},
				{2 * time.Minute, match("epiq", "a", "g", 3, high), nil},
				{10*time.Minute - 1, nil, nil},
				{10 * time.Minute, nil, []string{"coalesced a#3 updated"}},
				// Emitting a#3 opened the next window: a#4 waits for it.
				{11 * time.Minute, match("epiq", "a", "g", 4, high), nil},
				{20 * time.Minute, nil, []string{"coalesced a#4 updated"}},
				{30 * time.Minute, nil, nil},
				// That window ended empty: the next revision passes at once.
				{31 * time.Minute, match("epiq", "a", "g", 5, high), []string{"pass a#5 updated"}},
			},
		},
		{
			name: "withdrawal after raise reaches the sink",
			steps: []step{
				{0, match("epiq", "a", "g", 1, high), []string{"pass a#1 raised"}},
				{30 * time.Second, withdrawn(match("epiq", "a", "g", 2, high)), nil},
				{10 * time.Minute, nil, []string{"coalesced a#2 withdrawn"}},
			},
		},
		{
			name: "raise and withdrawal both held keep the withdrawal",
			steps: []step{
				{0, match("epiq", "a", "g", 1, high), []string{"pass a#1 raised"}},
				{time.Minute, withdrawn(match("epiq", "a", "g", 2, high)), nil},
				{2 * time.Minute, match("epiq", "a", "g", 3, high), nil},
				{3 * time.Minute, withdrawn(match("epiq", "a", "g", 4, high)), nil},
				{10 * time.Minute, nil, []string{"coalesced a#4 withdrawn"}},
			},
		},
		{
			name: "each alert of a shared group keeps its latest revision",
			steps: []step{
				{0, match("epiq", "a", "g", 1, high), []string{"pass a#1 raised"}},
				{time.Second, match("epiq", "b", "g", 1, high), nil},
				{2 * time.Second, withdrawn(match("epiq", "a", "g", 2, high)), nil},
				{10 * time.Minute, nil, []string{"coalesced a#2 withdrawn", "coalesced b#1 raised"}},
			},
		},
		{
			name: "groups are independent and an out-of-order revision does not replace a newer one",
			steps: []step{
				{0, match("epiq", "a", "g1", 1, high), []string{"pass a#1 raised"}},
				{0, match("epiq", "b", "g2", 1, high), []string{"pass b#1 raised"}},
				{time.Second, match("epiq", "a", "g1", 3, high), nil},
				{2 * time.Second, match("epiq", "a", "g1", 2, high), nil},
				{10 * time.Minute, nil, []string{"coalesced a#3 updated"}},
			},
		},
		{
			name: "an offer after a window's end emits what came due first",
			steps: []step{
				{0, match("epiq", "a", "g", 1, high), []string{"pass a#1 raised"}},
				{5 * time.Minute, match("epiq", "a", "g", 2, high), nil},
				{12 * time.Minute, match("epiq", "a", "g", 3, high), []string{"coalesced a#2 updated"}},
				{21 * time.Minute, nil, nil},
				{22 * time.Minute, nil, []string{"coalesced a#3 updated"}},
			},
		},
		{
			name: "alerts without a customer or group are only coalesced per alert",
			steps: []step{
				{0, match("", "own1", "", 1, high), []string{"pass own1#1 raised"}},
				{0, match("", "own2", "", 1, high), []string{"pass own2#1 raised"}},
				{time.Second, match("", "own1", "", 2, high), nil},
				{10 * time.Minute, nil, []string{"coalesced own1#2 updated"}},
			},
		},
		{
			name: "integrity alerts deduplicated per issuer, kid and error",
			steps: []step{
				{0, integrity("i1", "edgeshield", "k1", bad), []string{"pass i1#1 raised"}},
				{time.Minute, integrity("i2", "edgeshield", "k1", bad), nil},
				{2 * time.Minute, integrity("i3", "edgeshield", "k1", bad), nil},
				{3 * time.Minute, integrity("j1", "edgeshield", "k2", bad), []string{"pass j1#1 raised"}},
				{4 * time.Minute, integrity("j2", "edgeshield", "k2", "claims mismatch"), []string{"pass j2#1 raised"}},
				{time.Hour, nil, []string{
					"summary edgeshield/k1/signature invalid count=3 withheld=2 first=0s last=2m0s latest=i3 ids=i1,i2,i3",
				}},
				// The summary opened the key's next window.
				{time.Hour + 5*time.Minute, integrity("i4", "edgeshield", "k1", bad), nil},
				{2 * time.Hour, nil, []string{
					"summary edgeshield/k1/signature invalid count=1 withheld=1 first=1h5m0s last=1h5m0s latest=i4 ids=i4",
				}},
				{3 * time.Hour, nil, nil},
				{3*time.Hour + time.Minute, integrity("i5", "edgeshield", "k1", bad), []string{"pass i5#1 raised"}},
			},
		},
		{
			name: "digest in miniature",
			cfg:  small,
			steps: []step{
				{0, match("epiq", "c1", "g1", 1, high), []string{"pass c1#1 raised"}},
				{time.Second, match("epiq", "c2", "g2", 1, high), []string{"pass c2#1 raised"}},
				{2 * time.Second, match("epiq", "c3", "g3", 1, high), nil},
				{3 * time.Second, match("epiq", "c4", "g4", 1, alert.SeverityLow), nil},
				{4 * time.Second, match("epiq", "c5", "g5", 1, high), nil},
				// Another customer is not delayed by epiq's digest.
				{5 * time.Second, match("acme", "x1", "gx", 1, crit), []string{"pass x1#1 raised"}},
				{10*time.Minute - 1, nil, nil},
				{10 * time.Minute, nil, []string{
					"digest epiq count=5 withheld=3 max=high window=0s..10m0s ids=c1,c2,c3,c4,c5",
				}},
				// The next window starts with the next alert.
				{11 * time.Minute, match("epiq", "c6", "g6", 1, high), []string{"pass c6#1 raised"}},
			},
		},
		{
			name: "a higher severity than the flood's passes the digest",
			cfg:  small,
			steps: []step{
				{0, match("epiq", "c1", "g1", 1, high), []string{"pass c1#1 raised"}},
				{0, match("epiq", "c2", "g2", 1, alert.SeverityMedium), []string{"pass c2#1 raised"}},
				{0, match("epiq", "c3", "g3", 1, high), nil},
				{time.Second, match("epiq", "c4", "g4", 1, crit), []string{"pass c4#1 raised"}},
				{2 * time.Second, match("epiq", "c5", "g5", 1, crit), []string{"pass c5#1 raised"}},
				// A digested alert that turns critical is emitted.
				{3 * time.Second, match("epiq", "c3", "g3", 2, crit), []string{"pass c3#2 updated"}},
				{4 * time.Second, match("epiq", "c6", "g6", 1, high), nil},
				{10 * time.Minute, nil, []string{
					"digest epiq count=6 withheld=1 max=critical window=0s..10m0s ids=c1,c2,c3,c4,c5,c6",
				}},
			},
		},
		{
			name: "withdrawal of a passed alert still reaches the sink during a flood",
			cfg:  small,
			steps: []step{
				{0, match("epiq", "c1", "g1", 1, high), []string{"pass c1#1 raised"}},
				{0, match("epiq", "c2", "g2", 1, high), []string{"pass c2#1 raised"}},
				{0, match("epiq", "c3", "g3", 1, high), nil},
				{time.Minute, withdrawn(match("epiq", "c1", "g1", 2, high)), nil},
				{10 * time.Minute, nil, []string{
					"digest epiq count=3 withheld=1 max=high window=0s..10m0s ids=c1,c2,c3",
					"coalesced c1#2 withdrawn",
				}},
			},
		},
		{
			name: "an alert held in its group is not digested",
			cfg:  flood.Config{DigestThreshold: 1, GroupWindow: time.Hour},
			steps: []step{
				{0, match("epiq", "c1", "g1", 1, high), []string{"pass c1#1 raised"}},
				{time.Minute, match("epiq", "c1", "g1", 2, high), nil},
				{2 * time.Minute, match("epiq", "c2", "g2", 1, high), nil},
				{10 * time.Minute, nil, []string{
					"digest epiq count=2 withheld=1 max=high window=0s..10m0s ids=c1,c2",
				}},
				// New customer window: c3 passes, c1 is over the threshold but
				// its revision 2 is held in g1, so revision 3 replaces it there.
				{11 * time.Minute, match("epiq", "c3", "g3", 1, high), []string{"pass c3#1 raised"}},
				{12 * time.Minute, match("epiq", "c1", "g1", 3, high), nil},
				{time.Hour, nil, []string{"coalesced c1#3 updated"}},
			},
		},
		{
			name: "the bound releases the oldest window",
			cfg:  flood.Config{MaxPending: 5},
			steps: []step{
				{0, match("epiq", "a", "ga", 1, high), []string{"pass a#1 raised"}},
				{0, match("epiq", "a", "ga", 2, high), nil},
				// epiq's window tracks a; ga tracks itself and a#2: 3.
				{time.Second, match("epiq", "b", "gb", 1, high), []string{"pass b#1 raised"}},
				{time.Second, match("epiq", "b", "gb", 2, high), nil},
				// 6 > 5: epiq's customer window is the oldest; it digested
				// nothing, so closing it emits nothing. ga is next.
				{2 * time.Second, match("epiq", "c", "gc", 1, high), []string{"pass a#2 updated", "pass c#1 raised"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newShaper(t, tc.cfg)
			for i, st := range tc.steps {
				var got []flood.Emission
				if st.offer != nil {
					got = s.Offer(st.offer, t0.Add(st.at))
				} else {
					got = s.Due(t0.Add(st.at))
				}
				want := st.want
				if want == nil {
					want = []string{}
				}
				if g := renderAll(got); !slices.Equal(g, want) {
					t.Fatalf("step %d at %v: got\n  %s\nwant\n  %s", i, st.at, strings.Join(g, "\n  "), strings.Join(want, "\n  "))
				}
				if err := s.CheckTracked(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
		})
	}
}

// TestResellerFlood is the flood case: a RESELLER_IDENTIFIED
// notice joins many active suspensions to customer epiq within one
// minute, while one unrelated critical alert for another customer arrives
// in the same minute.
func TestResellerFlood(t *testing.T) {
	tests := []struct {
		name      string
		threshold int // 0: the default
		alerts    int
		windows   int // the flood goes on for this many digest windows
	}{
		{name: "miniature", threshold: 3, alerts: 12, windows: 1},
		{name: "full", alerts: 300, windows: 1},
		{name: "full, two windows", alerts: 300, windows: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := flood.Config{DigestThreshold: tc.threshold}
			s := newShaper(t, cfg)
			threshold := cmpOr(tc.threshold, flood.DefaultDigestThreshold)
			for w := range tc.windows {
				start := t0.Add(time.Duration(w) * 11 * time.Minute)
				step := time.Minute / time.Duration(tc.alerts)
				var ids []string
				passed := 0
				for i := range tc.alerts {
					now := start.Add(time.Duration(i) * step)
					id := fmt.Sprintf("w%d-root-%03d", w, i)
					ids = append(ids, id)
					for _, e := range s.Offer(match("epiq", id, "subject-"+id, 1, alert.SeverityHigh), now) {
						if e.Kind != flood.KindPass || e.Event.AlertID != id {
							t.Fatalf("offer %s: unexpected %s", id, render(e))
						}
						passed++
					}
					if i == tc.alerts/2 {
						crit := match("acme", fmt.Sprintf("w%d-acme-critical", w), "acme-subject", 1, alert.SeverityCritical)
						got := s.Offer(crit, now)
						if len(got) != 1 || got[0].Kind != flood.KindPass || got[0].Event != crit {
							t.Fatalf("the unrelated critical alert did not pass at once: %q", renderAll(got))
						}
					}
				}
				if passed > threshold {
					t.Errorf("%d alerts passed individually, want at most %d", passed, threshold)
				}
				end := start.Add(flood.DefaultDigestWindow)
				if got := s.Next(); !got.Equal(end) {
					t.Errorf("Next() = %v, want the digest window's end %v", got, end)
				}
				if got := s.Due(end.Add(-1)); len(got) != 0 {
					t.Fatalf("before the window's end: %q", renderAll(got))
				}
				got := s.Due(end)
				if len(got) != 1 || got[0].Kind != flood.KindDigest {
					t.Fatalf("at the window's end got %q, want one digest", renderAll(got))
				}
				d := got[0].Digest
				if d.CustomerID != "epiq" || d.GroupKey != "digest:epiq" || d.Count != tc.alerts ||
					d.Withheld != tc.alerts-passed || d.MaxSeverity != alert.SeverityHigh ||
					!d.WindowStart.Equal(start) || !d.WindowEnd.Equal(end) || d.CustomerName != "Customer epiq" {
					t.Errorf("digest = %+v", *d)
				}
				if !slices.Equal(d.AlertIDs, ids) {
					t.Errorf("digest lists %d ids, want the %d offered, sorted", len(d.AlertIDs), len(ids))
				}
			}
			if got := s.Due(t0.Add(100 * time.Hour)); len(got) != 0 {
				t.Errorf("after the flood: %q", renderAll(got))
			}
			st := s.Stats()
			if st.Digests != uint64(tc.windows) || st.Held != 0 || st.Overflowed != 0 || !s.Next().IsZero() {
				t.Errorf("Stats() = %+v, Next() = %v", st, s.Next())
			}
		})
	}
}

func cmpOr(v, d int) int {
	if v != 0 {
		return v
	}
	return d
}

func TestMaxPendingBoundsMemory(t *testing.T) {
	tests := []struct {
		name  string
		event func(i int) *alert.Event
	}{
		{"held revisions", func(i int) *alert.Event {
			// Each alert is offered twice in a row: a pass, then a held revision.
			a := i / 2 % 20
			return match(fmt.Sprintf("c%d", a), fmt.Sprintf("a%d", a), fmt.Sprintf("g%d", a), uint64(i/40*2+i%2+1), alert.SeverityHigh)
		}},
		{"digested alerts", func(i int) *alert.Event {
			return match("epiq", fmt.Sprintf("a%d", i), fmt.Sprintf("g%d", i), 1, alert.SeverityHigh)
		}},
		{"integrity alerts", func(i int) *alert.Event {
			return integrity(fmt.Sprintf("i%d", i), "edgeshield", fmt.Sprintf("k%d", i%3), "signature invalid")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const bound, n = 30, 1000
			s := newShaper(t, flood.Config{MaxPending: bound, DigestThreshold: 5})
			seen := map[string]bool{}
			record := func(es []flood.Emission) {
				for _, id := range emittedIDs(es) {
					seen[id] = true
				}
			}
			for i := range n {
				record(s.Offer(tc.event(i), t0.Add(time.Duration(i)*time.Second)))
				if st := s.Stats(); st.Tracked > bound {
					t.Fatalf("offer %d: tracked %d > %d", i, st.Tracked, bound)
				}
				if err := s.CheckTracked(); err != nil {
					t.Fatalf("offer %d: %v", i, err)
				}
			}
			if s.Stats().Overflowed == 0 {
				t.Errorf("Overflowed = 0 after %d offers with a bound of %d", n, bound)
			}
			record(s.Due(t0.Add(100 * time.Hour)))
			for i := range n {
				if id := tc.event(i).AlertID; !seen[id] {
					t.Fatalf("%s never reached the sink", id)
				}
			}
		})
	}
}

// emittedIDs lists the alert ids an emission stands for.
func emittedIDs(es []flood.Emission) []string {
	var ids []string
	for _, e := range es {
		switch {
		case e.Event != nil:
			ids = append(ids, e.Event.AlertID)
		case e.Digest != nil:
			ids = append(ids, e.Digest.AlertIDs...)
		case e.Integrity != nil:
			ids = append(ids, e.Integrity.AlertIDs...)
		}
	}
	return ids
}

func TestConfig(t *testing.T) {
	tests := []struct {
		cfg  flood.Config
		want string // error text; empty for valid
	}{
		{flood.Config{}, ""},
		{flood.DefaultConfig(), ""},
		{flood.Config{GroupWindow: -time.Second}, "group_window -1s: must not be negative"},
		{flood.Config{DigestWindow: -time.Minute}, "digest_window -1m0s: must not be negative"},
		{flood.Config{IntegrityWindow: -1}, "integrity_window -1ns: must not be negative"},
		{flood.Config{DigestThreshold: -3}, "digest_threshold -3: must not be negative"},
		{flood.Config{MaxPending: -1}, "max_pending -1: must not be negative"},
	}
	for _, tc := range tests {
		_, err := flood.New(tc.cfg)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("New(%+v): %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}
