package flood

import (
	"cmp"
	"container/heap"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
)

// Kind says what an [Emission] carries.
type Kind int

const (
	// KindPass: emit Event now, as it is (also an event released early by
	// the MaxPending bound).
	KindPass Kind = iota + 1
	// KindCoalesced: Event is the latest held revision of an alert of a
	// group, emitted at the end of the group's window.
	KindCoalesced
	// KindDigest: Digest stands for a customer's alerts of one window.
	KindDigest
	// KindIntegritySummary: Integrity counts the integrity alerts of one
	// (issuer, kid, error) in one window.
	KindIntegritySummary
)

func (k Kind) String() string {
	switch k {
	case KindPass:
		return "pass"
	case KindCoalesced:
		return "coalesced"
	case KindDigest:
		return "digest"
	case KindIntegritySummary:
		return "integrity_summary"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Emission is one thing the sink emits.
type Emission struct {
	Kind Kind
	// Event is set for KindPass and KindCoalesced.
	Event *alert.Event
	// Digest is set for KindDigest.
	Digest *Digest
	// Integrity is set for KindIntegritySummary.
	Integrity *IntegritySummary
}

// Digest stands for the alerts of one customer in one digest window, some
// of which the sink did not emit individually.
type Digest struct {
	// Member is the receiving member, CustomerID and CustomerName the
	// customer (from its latest alert of the window).
	Member       string
	CustomerID   string
	CustomerName string
	// GroupKey is "digest:" + CustomerID: stable across windows, so a
	// ticketing receiver keeps one case per flooded customer.
	GroupKey string
	// Count is how many distinct alerts the customer had in the window,
	// Withheld how many of them the sink did not emit individually.
	Count    int
	Withheld int
	// AlertIDs lists every alert of the window, passed or not, sorted.
	AlertIDs []string
	// MaxSeverity is the highest severity among them.
	MaxSeverity string
	// WindowStart and WindowEnd bound the window (WindowEnd is earlier than
	// scheduled when the MaxPending bound closed it).
	WindowStart, WindowEnd time.Time
}

// IntegritySummary counts the integrity alerts of one (issuer, kid, error)
// in one integrity window.
type IntegritySummary struct {
	Issuer, KID, Error string
	// Count is how many distinct integrity alerts the window had, Withheld
	// how many events the sink did not emit individually.
	Count    int
	Withheld int
	// AlertIDs lists them, sorted.
	AlertIDs []string
	// First and Last are when the first and the last of them were offered.
	First, Last time.Time
	// Latest is the last one offered.
	Latest *alert.Event
}

// Stats describes a Shaper.
type Stats struct {
	// Held is how many revisions wait for a group window's end plus how
	// many alerts wait for a digest or an integrity summary, now.
	Held int
	// Tracked is what counts against Config.MaxPending, now.
	Tracked int
	// Passed, Coalesced, Digests and IntegritySummaries count emissions of
	// each kind since New.
	Passed             uint64
	Coalesced          uint64
	Digests            uint64
	IntegritySummaries uint64
	// Overflowed counts the alerts released before their window's end
	// because the MaxPending bound was reached.
	Overflowed uint64
	// ClosedEarly counts the windows the MaxPending bound closed before
	// their end, whether or not they held anything: after one, the next
	// event of its key passes at once, closer than a window to the last.
	ClosedEarly uint64
}

// Shaper is one sink's flood control; see the package comment for its
// rules. It is safe for concurrent use.
type Shaper struct {
	mu  sync.Mutex
	cfg Config

	groups    map[string]*groupWindow
	customers map[string]*customerWindow
	integrity map[string]*integrityWindow

	// seq numbers windows in the order they open; a window reopened at
	// its end takes a new number, which makes the entries naming the old
	// one stale.
	seq uint64
	// ends orders windows by end, for Due; order by opening, for the
	// bound. Both drop stale entries lazily and are compacted when stale
	// ones dominate.
	ends  endHeap
	order []ref
	head  int

	tracked int
	stats   Stats
}

type class uint8

const (
	classGroup class = iota
	classCustomer
	classIntegrity
)

// ref names a window in ends and order.
type ref struct {
	class class
	key   string
	seq   uint64
	end   time.Time
}

type groupWindow struct {
	seq  uint64
	held map[string]*alert.Event // alert_id → latest held revision
}

type route uint8

const (
	routeIndividual route = iota + 1
	routeDigest
)

type customerWindow struct {
	seq          uint64
	member, name string
	start, end   time.Time
	routes       map[string]route // every alert_id of the window
	level        int              // the flood's level: highest severity rank of the first DigestThreshold alerts
	maxRank      int
	withheld     int
}

type integrityWindow struct {
	seq              uint64
	issuer, kid, err string
	ids              map[string]struct{}
	first, last      time.Time
	latest           *alert.Event
	withheld         int
}

// New returns a Shaper for cfg, zero fields taking their defaults.
func New(cfg Config) (*Shaper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("flood: %w", err)
	}
	return &Shaper{
		cfg:       cfg.withDefaults(),
		groups:    map[string]*groupWindow{},
		customers: map[string]*customerWindow{},
		integrity: map[string]*integrityWindow{},
	}, nil
}

// Offer takes one new revision of an alert at time now and returns what
// the sink emits at once: what came due by now (as [Shaper.Due] would
// return it), what the MaxPending bound released, and ev itself when it
// passes. The Shaper keeps ev and never modifies it; the caller must not
// either. Revisions of one alert are expected in order.
func (s *Shaper) Offer(ev *alert.Event, now time.Time) []Emission {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.due(now)
	if ev == nil {
		return out
	}
	var own []Emission
	switch {
	case ev.Type == alert.TypeIntegrity:
		own = s.offerIntegrity(ev, now)
	case s.digested(ev, now):
	default:
		own = s.offerGroup(ev, now)
	}
	out = append(out, s.enforceBound(now)...)
	return append(out, own...)
}

// Due returns what has become due by now: the latest held revisions of
// groups whose window ended, digests and integrity summaries of windows
// that ended. The caller calls it from a ticker.
func (s *Shaper) Due(now time.Time) []Emission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.due(now)
}

// Next returns when Due will next have something to emit; zero when
// nothing is held.
func (s *Shaper) Next() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, r := range s.ends {
		if !s.live(r) || !s.holds(r) {
			continue
		}
		if next.IsZero() || r.end.Before(next) {
			next = r.end
		}
	}
	return next
}

// Stats returns counters and the current load.
func (s *Shaper) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Tracked = s.tracked
	for _, w := range s.groups {
		st.Held += len(w.held)
	}
	for _, w := range s.customers {
		st.Held += w.withheld
	}
	for _, w := range s.integrity {
		st.Held += w.withheld
	}
	return st
}

// digested applies the digest rule to ev and reports whether ev went into
// its customer's digest (and so is not emitted now).
func (s *Shaper) digested(ev *alert.Event, now time.Time) bool {
	if ev.Customer == nil || ev.Customer.ID == "" {
		return false
	}
	id := ev.Customer.ID
	w := s.customers[id]
	if w == nil {
		w = &customerWindow{
			member: ev.Member,
			start:  now,
			end:    now.Add(s.cfg.DigestWindow),
			routes: map[string]route{},
		}
		s.customers[id] = w
		s.schedule(classCustomer, id, &w.seq, w.end)
	}
	if ev.Customer.Name != "" {
		w.name = ev.Customer.Name
	}
	r := rank(ev.Severity)
	w.maxRank = max(w.maxRank, r)
	rt, seen := w.routes[ev.AlertID]
	if !seen {
		s.tracked++
		switch {
		case len(w.routes) < s.cfg.DigestThreshold:
			rt = routeIndividual
			w.level = max(w.level, r)
		case r > w.level || s.heldInGroup(ev):
			// Above the flood's level: a critical alert among high ones
			// must reach the desk now. Held in its group: the group
			// window emits it, and must not emit it after a newer
			// revision went into the digest.
			rt = routeIndividual
		default:
			rt = routeDigest
			w.withheld++
		}
		w.routes[ev.AlertID] = rt
		return rt == routeDigest
	}
	if rt == routeDigest && r > w.level {
		// A digested alert that rises above the flood's level is
		// emitted from now on; it stays listed in the digest.
		w.routes[ev.AlertID] = routeIndividual
		w.withheld--
		return false
	}
	return rt == routeDigest
}

func (s *Shaper) heldInGroup(ev *alert.Event) bool {
	w := s.groups[groupKey(ev)]
	return w != nil && w.held[ev.AlertID] != nil
}

// offerGroup applies the group rule to ev.
func (s *Shaper) offerGroup(ev *alert.Event, now time.Time) []Emission {
	key := groupKey(ev)
	w := s.groups[key]
	if w == nil {
		w = &groupWindow{held: map[string]*alert.Event{}}
		s.groups[key] = w
		s.tracked++
		s.schedule(classGroup, key, &w.seq, now.Add(s.cfg.GroupWindow))
		s.stats.Passed++
		return []Emission{{Kind: KindPass, Event: ev}}
	}
	prev := w.held[ev.AlertID]
	switch {
	case prev == nil:
		w.held[ev.AlertID] = ev
		s.tracked++
	case ev.Revision >= prev.Revision:
		w.held[ev.AlertID] = ev
	}
	return nil
}

// offerIntegrity applies the integrity rule to ev.
func (s *Shaper) offerIntegrity(ev *alert.Event, now time.Time) []Emission {
	var issuer, kid, msg string
	if in := ev.Integrity; in != nil {
		issuer, kid, msg = in.Issuer, in.KID, in.Error
	}
	key := integrityKey(issuer, kid, msg)
	w := s.integrity[key]
	if w == nil {
		w = &integrityWindow{
			issuer: issuer, kid: kid, err: msg,
			ids:   map[string]struct{}{ev.AlertID: {}},
			first: now, last: now, latest: ev,
		}
		s.integrity[key] = w
		s.tracked += 2 // the window and its alert
		s.schedule(classIntegrity, key, &w.seq, now.Add(s.cfg.IntegrityWindow))
		s.stats.Passed++
		return []Emission{{Kind: KindPass, Event: ev}}
	}
	if len(w.ids) == 0 {
		w.first = now // a window reopened after a summary
	}
	if _, ok := w.ids[ev.AlertID]; !ok {
		w.ids[ev.AlertID] = struct{}{}
		s.tracked++
	}
	w.last, w.latest = now, ev
	w.withheld++
	return nil
}

// due closes the windows that ended by now.
func (s *Shaper) due(now time.Time) []Emission {
	var out []Emission
	for len(s.ends) > 0 && !s.ends[0].end.After(now) {
		r := heap.Pop(&s.ends).(ref)
		if s.live(r) {
			out = append(out, s.close(r, now, false)...)
		}
	}
	sortEmissions(out)
	return out
}

// enforceBound closes the oldest windows early while more than MaxPending
// is tracked.
func (s *Shaper) enforceBound(now time.Time) []Emission {
	var out []Emission
	for s.tracked > s.cfg.MaxPending && s.head < len(s.order) {
		r := s.order[s.head]
		s.order[s.head] = ref{}
		s.head++
		if s.live(r) {
			s.stats.ClosedEarly++
			out = append(out, s.close(r, now, true)...)
		}
	}
	sortEmissions(out)
	return out
}

// close ends the window r names at now: at its scheduled end, or early
// because of the bound. A group or integrity window that emits something
// at its scheduled end is reopened at once, so that the key's emissions
// stay one window apart.
func (s *Shaper) close(r ref, now time.Time, early bool) []Emission {
	var out []Emission
	switch r.class {
	case classGroup:
		w := s.groups[r.key]
		kind := KindCoalesced
		if early {
			kind = KindPass
		}
		for _, id := range slices.Sorted(maps.Keys(w.held)) {
			out = append(out, Emission{Kind: kind, Event: w.held[id]})
		}
		s.count(kind, len(out), early)
		s.tracked -= len(w.held)
		if len(out) == 0 || early {
			delete(s.groups, r.key)
			s.tracked--
			break
		}
		w.held = map[string]*alert.Event{}
		s.schedule(classGroup, r.key, &w.seq, now.Add(s.cfg.GroupWindow))

	case classCustomer:
		w := s.customers[r.key]
		delete(s.customers, r.key)
		s.tracked -= len(w.routes)
		if w.withheld == 0 {
			break
		}
		end := w.end
		if early {
			end = now
		}
		out = append(out, Emission{Kind: KindDigest, Digest: &Digest{
			Member:       w.member,
			CustomerID:   r.key,
			CustomerName: w.name,
			GroupKey:     "digest:" + r.key,
			Count:        len(w.routes),
			Withheld:     w.withheld,
			AlertIDs:     slices.Sorted(maps.Keys(w.routes)),
			MaxSeverity:  severityName(w.maxRank),
			WindowStart:  w.start,
			WindowEnd:    end,
		}})
		s.count(KindDigest, w.withheld, early)

	case classIntegrity:
		w := s.integrity[r.key]
		s.tracked -= len(w.ids)
		if w.withheld > 0 {
			out = append(out, Emission{Kind: KindIntegritySummary, Integrity: &IntegritySummary{
				Issuer:   w.issuer,
				KID:      w.kid,
				Error:    w.err,
				Count:    len(w.ids),
				Withheld: w.withheld,
				AlertIDs: slices.Sorted(maps.Keys(w.ids)),
				First:    w.first,
				Last:     w.last,
				Latest:   w.latest,
			}})
			s.count(KindIntegritySummary, w.withheld, early)
		}
		if w.withheld == 0 || early {
			delete(s.integrity, r.key)
			s.tracked--
			break
		}
		w.ids = map[string]struct{}{}
		w.first, w.last, w.latest, w.withheld = time.Time{}, time.Time{}, nil, 0
		s.schedule(classIntegrity, r.key, &w.seq, now.Add(s.cfg.IntegrityWindow))
	}
	return out
}

// count records emissions of kind standing for n alerts.
func (s *Shaper) count(kind Kind, n int, early bool) {
	if n == 0 {
		return
	}
	if early {
		s.stats.Overflowed += uint64(n)
	}
	switch kind {
	case KindPass:
		s.stats.Passed += uint64(n)
	case KindCoalesced:
		s.stats.Coalesced += uint64(n)
	case KindDigest:
		s.stats.Digests++
	case KindIntegritySummary:
		s.stats.IntegritySummaries++
	}
}

// schedule gives the window at key (already in its map) a new number and
// enters it in ends and order.
func (s *Shaper) schedule(c class, key string, seq *uint64, end time.Time) {
	s.seq++
	*seq = s.seq
	r := ref{class: c, key: key, seq: s.seq, end: end}
	heap.Push(&s.ends, r)
	s.order = append(s.order, r)
	s.compact()
}

// compact drops stale entries from ends and order once they are most of
// them, so both stay within a constant factor of the open windows.
func (s *Shaper) compact() {
	open := len(s.groups) + len(s.customers) + len(s.integrity)
	if len(s.ends) > 2*open+64 {
		s.ends = slices.DeleteFunc(s.ends, func(r ref) bool { return !s.live(r) })
		heap.Init(&s.ends)
	}
	if len(s.order)-s.head > 2*open+64 || s.head > len(s.order)/2 && s.head > 64 {
		s.order = slices.DeleteFunc(s.order[s.head:], func(r ref) bool { return !s.live(r) })
		s.head = 0
	}
}

// live reports whether r names an open window.
func (s *Shaper) live(r ref) bool {
	switch r.class {
	case classGroup:
		w := s.groups[r.key]
		return w != nil && w.seq == r.seq
	case classCustomer:
		w := s.customers[r.key]
		return w != nil && w.seq == r.seq
	case classIntegrity:
		w := s.integrity[r.key]
		return w != nil && w.seq == r.seq
	}
	return false
}

// holds reports whether the live window r names will emit something at
// its end.
func (s *Shaper) holds(r ref) bool {
	switch r.class {
	case classGroup:
		return len(s.groups[r.key].held) > 0
	case classCustomer:
		return s.customers[r.key].withheld > 0
	case classIntegrity:
		return s.integrity[r.key].withheld > 0
	}
	return false
}

// groupKey is the event's group, its alert_id when it has none (so that
// events without a group are never coalesced with one another).
func groupKey(ev *alert.Event) string {
	if ev.GroupKey != "" {
		return ev.GroupKey
	}
	return "alert:" + ev.AlertID
}

func integrityKey(issuer, kid, msg string) string {
	return fmt.Sprintf("%q %q %q", issuer, kid, msg)
}

// rank orders severities. An unknown one ranks as high, as alert.Severity
// rates an unknown alert type: it is looked at rather than buried.
func rank(severity string) int {
	switch severity {
	case alert.SeverityLow:
		return 1
	case alert.SeverityMedium:
		return 2
	case alert.SeverityCritical:
		return 4
	}
	return 3
}

func severityName(r int) string {
	switch r {
	case 1:
		return alert.SeverityLow
	case 2:
		return alert.SeverityMedium
	case 4:
		return alert.SeverityCritical
	}
	return alert.SeverityHigh
}

// sortEmissions orders one call's emissions by customer id, group key,
// alert_id and revision, so that output does not depend on map order.
func sortEmissions(es []Emission) {
	slices.SortStableFunc(es, func(a, b Emission) int {
		ac, ag, aa, ar := sortKey(a)
		bc, bg, ba, br := sortKey(b)
		return cmp.Or(cmp.Compare(ac, bc), cmp.Compare(ag, bg), cmp.Compare(aa, ba), cmp.Compare(ar, br))
	})
}

func sortKey(e Emission) (customer, group, alertID string, revision uint64) {
	switch {
	case e.Event != nil:
		if e.Event.Customer != nil {
			customer = e.Event.Customer.ID
		}
		return customer, groupKey(e.Event), e.Event.AlertID, e.Event.Revision
	case e.Digest != nil:
		return e.Digest.CustomerID, e.Digest.GroupKey, "", 0
	case e.Integrity != nil:
		in := e.Integrity
		return "", "integrity:" + integrityKey(in.Issuer, in.KID, in.Error), "", 0
	}
	return "", "", "", 0
}

// endHeap is a min-heap of windows by end, then number.
type endHeap []ref

func (h endHeap) Len() int { return len(h) }
func (h endHeap) Less(i, j int) bool {
	if c := h[i].end.Compare(h[j].end); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h endHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)   { *h = append(*h, x.(ref)) }
func (h *endHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
