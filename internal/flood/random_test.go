package flood_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/flood"
)

// op is one call: Due when ev is nil, else Offer, after advancing the
// clock.
type op struct {
	advance time.Duration
	ev      *alert.Event
}

// decode turns bytes into a configuration and a sequence of calls: five
// bytes of configuration, then three bytes per call. Every input is
// valid, so the fuzzer explores sequences, not encodings.
func decode(data []byte) (flood.Config, []op) {
	var c [5]byte
	copy(c[:], data)
	cfg := flood.Config{
		GroupWindow:     time.Duration(1+c[0]%20) * time.Minute,
		DigestThreshold: 1 + int(c[1]%5),
		DigestWindow:    time.Duration(1+c[2]%6) * time.Minute,
		IntegrityWindow: time.Duration(1+c[3]%20) * time.Minute,
		MaxPending:      flood.DefaultMaxPending,
	}
	if c[4]%2 == 1 {
		cfg.MaxPending = 3 + int(c[4]%40)
	}
	customers := []string{"", "epiq", "acme", "zeta"}
	severities := []string{alert.SeverityLow, alert.SeverityMedium, alert.SeverityHigh, alert.SeverityCritical}
	kinds := []string{alert.EventRaised, alert.EventUpdated, alert.EventWithdrawn}
	errs := []string{"signature invalid", "claims mismatch"}
	revs := map[string]uint64{}
	var ops []op
	for b := data[min(len(data), 5):]; len(b) >= 3; b = b[3:] {
		o := op{advance: time.Duration(b[0]%16) * 10 * time.Second}
		idx := int(b[1] % 48)
		switch kind := b[0] >> 4; {
		case kind < 2:
			// Due
		case kind < 4:
			id := fmt.Sprintf("i%d", idx)
			revs[id]++
			ev := integrity(id, "edgeshield", fmt.Sprintf("k%d", idx%3), errs[idx%6/3])
			ev.Revision = revs[id]
			o.ev = ev
		default:
			id := fmt.Sprintf("a%d", idx)
			revs[id]++
			// Alerts idx and idx+4 of one block of eight share a group,
			// and so a customer.
			cust := customers[idx%4]
			ev := match(cust, id, fmt.Sprintf("%s/g%d", cust, idx/8), revs[id], severities[b[2]%4])
			ev.Event = kinds[int(b[2]>>2)%3]
			o.ev = ev
		}
		ops = append(ops, o)
	}
	return cfg, ops
}

// emitted is one emission and the call that returned it.
type emitted struct {
	call int
	at   time.Time
	e    flood.Emission
}

// run replays ops and checks the Shaper's invariants after every call and
// at the end; it returns every emission rendered, for determinism checks.
func run(t *testing.T, cfg flood.Config, ops []op) []string {
	t.Helper()
	s := newShaper(t, cfg)
	type last struct {
		rev  uint64
		call int
	}
	offered := map[string]last{}
	var out []emitted
	now := t0
	record := func(call int, es []flood.Emission) {
		for _, e := range es {
			out = append(out, emitted{call, now, e})
		}
	}
	for i, o := range ops {
		now = now.Add(o.advance)
		if o.ev == nil {
			record(i, s.Due(now))
		} else {
			offered[o.ev.AlertID] = last{o.ev.Revision, i}
			record(i, s.Offer(o.ev, now))
		}
		if err := s.CheckTracked(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		st := s.Stats()
		if st.Tracked > cfg.MaxPending {
			t.Fatalf("call %d: tracked %d > max_pending %d", i, st.Tracked, cfg.MaxPending)
		}
		next := s.Next()
		if !next.IsZero() && !next.After(now) {
			t.Fatalf("call %d: Next() = %v, not after now %v", i, next, now)
		}
		if next.IsZero() != (st.Held == 0) {
			t.Fatalf("call %d: Next() = %v with %d held", i, next, st.Held)
		}
	}
	now = now.Add(1000 * time.Hour)
	record(len(ops), s.Due(now))
	if st := s.Stats(); st.Held != 0 || !s.Next().IsZero() {
		t.Fatalf("after Due(far future): %+v, Next() = %v", st, s.Next())
	}

	// Nothing is lost: the last revision offered of every alert reaches
	// the sink as itself, or a digest or summary emitted no earlier lists
	// the alert.
	for id, l := range offered {
		found := slices.ContainsFunc(out, func(r emitted) bool {
			if r.call < l.call {
				return false
			}
			switch {
			case r.e.Event != nil:
				return r.e.Event.AlertID == id && r.e.Event.Revision >= l.rev
			case r.e.Digest != nil:
				return slices.Contains(r.e.Digest.AlertIDs, id)
			case r.e.Integrity != nil:
				return slices.Contains(r.e.Integrity.AlertIDs, id)
			}
			return false
		})
		if !found {
			t.Fatalf("alert %s revision %d (call %d) never reached the sink", id, l.rev, l.call)
		}
	}

	// When the last revision went into a digest or summary, no older one
	// reaches the sink after it was offered: the sink's latest word on an
	// alert is never staler than what the digest points at.
	for id, l := range offered {
		final := slices.IndexFunc(out, func(r emitted) bool {
			return r.e.Event != nil && r.e.Event.AlertID == id && r.e.Event.Revision >= l.rev
		})
		if final >= 0 {
			continue
		}
		for _, r := range out {
			if r.call > l.call && r.e.Event != nil && r.e.Event.AlertID == id {
				t.Fatalf("%s#%d emitted at call %d after #%d was offered at call %d", id, r.e.Event.Revision, r.call, l.rev, l.call)
			}
		}
	}

	// An alert's revisions reach the sink in order, each once.
	sent := map[string]uint64{}
	for _, r := range out {
		if ev := r.e.Event; ev != nil {
			if ev.Revision <= sent[ev.AlertID] {
				t.Fatalf("%s#%d emitted after #%d", ev.AlertID, ev.Revision, sent[ev.AlertID])
			}
			sent[ev.AlertID] = ev.Revision
		}
	}

	// Unless the bound closed a window early, one key's emissions are at
	// least one window apart (several at the same instant count once).
	if st := s.Stats(); st.Overflowed == 0 && st.ClosedEarly == 0 {
		times := map[string][]time.Time{}
		windows := map[string]time.Duration{}
		for _, r := range out {
			var key string
			var window time.Duration
			switch {
			case r.e.Event != nil && r.e.Event.Type == alert.TypeIntegrity:
				in := r.e.Event.Integrity
				key, window = "integrity "+in.KID+" "+in.Error, cfg.IntegrityWindow
			case r.e.Event != nil:
				key, window = "group "+r.e.Event.GroupKey, cfg.GroupWindow
			case r.e.Digest != nil:
				key, window = "digest "+r.e.Digest.CustomerID, cfg.DigestWindow
			case r.e.Integrity != nil:
				key, window = "integrity "+r.e.Integrity.KID+" "+r.e.Integrity.Error, cfg.IntegrityWindow
			}
			windows[key] = window
			if ts := times[key]; len(ts) > 0 && ts[len(ts)-1].Equal(r.at) {
				continue
			}
			times[key] = append(times[key], r.at)
		}
		for key, ts := range times {
			for i := 1; i < len(ts); i++ {
				if gap := ts[i].Sub(ts[i-1]); gap < windows[key] {
					t.Fatalf("%s: emissions %v apart, window %v", key, gap, windows[key])
				}
			}
		}
	}

	rendered := make([]string, len(out))
	for i, r := range out {
		rendered[i] = fmt.Sprintf("%d %v %s", r.call, r.at.Sub(t0), render(r.e))
	}
	return rendered
}

func TestRandomSequences(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 0x666c6f6f64))
		data := make([]byte, 5+3*400)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		cfg, ops := decode(data)
		first := run(t, cfg, ops)
		if again := run(t, cfg, ops); !slices.Equal(first, again) {
			t.Fatalf("seed %d: two runs of the same calls differ", seed)
		}
	}
}

func FuzzShaper(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0x40, 1, 2, 0x41, 1, 3, 0x20, 5, 0, 0x00, 0, 0})
	f.Add([]byte{1, 2, 3, 4, 5, 0xf0, 4, 0xff, 0xf1, 8, 0x0f, 0x33, 12, 1, 0x5f, 4, 2, 0x0f, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ops := decode(data)
		run(t, cfg, ops)
	})
}
