package agent

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
)

// ref names a notice: (issuer, id) is unique forever.
type ref struct{ issuer, id string }

func (r ref) String() string { return r.issuer + "/" + r.id }

func refOf(n *headsupv1.Notice) ref { return ref{n.GetIssuer(), n.GetId()} }

// record is a verified notice the agent holds.
type record struct {
	seq      uint64
	n        *headsupv1.Notice
	kid      string
	storedAt time.Time
	// logTime bounds when the entry was logged, for key validity: the
	// receipt time live, or the hub's store time in catch-up (until
	// witnessed checkpoints give a bound the hub cannot move).
	logTime time.Time
	// leaf is the entry's Merkle leaf hash (tlog.RecordHash of the JWS),
	// computed here from the bytes the agent verified; included is the
	// size of the verified checkpoint its inclusion was proved in, 0
	// until then (log.go).
	leaf     tlog.Hash
	included int64
}

func (r *record) ref() ref { return refOf(r.n) }

// model is every notice the agent may read, in memory: the input of
// evaluation. It is rebuilt from the store at start.
type model struct {
	bySeq map[uint64]*record
	byRef map[ref]*record
	// replacedBy maps a notice to the notices that supersede or retract it.
	replacedBy map[ref][]*record
	// sightingsAbout maps a root to the sightings that name it.
	sightingsAbout map[ref][]*record
	// redacted holds notices the agent saw only as a JWS (outside their
	// audience): they exist, but their content is not visible here.
	redacted map[ref]uint64
	// unverified holds notices that are in the log but failed
	// verification here (parked: a key this directory copy does not know
	// yet; invalid: a failure against a known key). A sighting about one
	// is not "root not visible": the integrity or directory-stale alert
	// says what is wrong.
	unverified map[ref]uint64
}

func newModel() *model {
	return &model{bySeq: map[uint64]*record{}, byRef: map[ref]*record{}, replacedBy: map[ref][]*record{},
		sightingsAbout: map[ref][]*record{}, redacted: map[ref]uint64{}, unverified: map[ref]uint64{}}
}

func (m *model) add(r *record) {
	if _, ok := m.bySeq[r.seq]; ok {
		return
	}
	m.bySeq[r.seq] = r
	m.byRef[r.ref()] = r
	delete(m.unverified, r.ref())
	for _, about := range r.n.GetSighting().GetAbout() {
		rr := ref{about.GetIssuer(), about.GetId()}
		m.sightingsAbout[rr] = append(m.sightingsAbout[rr], r)
	}
	if sup := r.n.GetSupersedes(); sup != "" {
		target := ref{r.n.GetIssuer(), sup}
		m.replacedBy[target] = append(m.replacedBy[target], r)
	}
}

// inactiveReason says why a notice takes no part in matching now, or ""
// when it does. The reasons are the withdrawal reasons of the alert schema.
func (m *model) inactiveReason(r *record, dir *directory.Directory, now time.Time) string {
	if reason := keyReason(r, dir); reason != "" {
		return reason
	}
	for _, by := range m.replacedBy[r.ref()] {
		if keyReason(by, dir) != "" {
			continue // a replacement signed by a revoked key replaces nothing
		}
		if by.n.GetKind() == headsupv1.NoticeKind_NOTICE_KIND_RETRACTION {
			return "retracted"
		}
		return "superseded"
	}
	if e := r.n.GetEffectiveAt(); e != nil && e.AsTime().After(now) {
		return "not_yet_effective"
	}
	if x := r.n.GetExpiresAt(); x != nil && !x.AsTime().After(now) {
		return "expired"
	}
	return ""
}

// keyReason re-checks the signing key against the current directory:
// revoked_at may be set in the past (suspected compromise), and then the
// entries it signed after that instant stop counting.
func keyReason(r *record, dir *directory.Directory) string {
	if dir == nil {
		return "key_revoked"
	}
	member, key, ok := dir.Key(r.kid)
	if !ok || member.ID != r.n.GetIssuer() || key.ValidAt(r.logTime) != nil {
		return "key_revoked"
	}
	return ""
}

// active returns the notices that take part in matching now, by kind.
func (m *model) active(dir *directory.Directory, now time.Time) (roots, sightings, resellers []*record) {
	for _, r := range m.bySeq {
		if m.inactiveReason(r, dir, now) != "" {
			continue
		}
		switch r.n.GetKind() {
		case headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED:
			roots = append(roots, r)
		case headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED:
			sightings = append(sightings, r)
		case headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED:
			resellers = append(resellers, r)
		}
	}
	for _, rs := range [][]*record{roots, sightings, resellers} {
		slices.SortFunc(rs, func(a, b *record) int { return cmp.Compare(a.seq, b.seq) })
	}
	return roots, sightings, resellers
}

// rootRefs lists every ref that may root an alert: the active roots and
// whatever the sightings name (visible or not), in a stable order.
func (m *model) rootRefs(activeRoots []*record) []ref {
	seen := map[ref]bool{}
	var out []ref
	for _, r := range activeRoots {
		if !seen[r.ref()] {
			seen[r.ref()] = true
			out = append(out, r.ref())
		}
	}
	var about []ref
	for rr := range m.sightingsAbout {
		if !seen[rr] {
			seen[rr] = true
			about = append(about, rr)
		}
	}
	slices.SortFunc(about, func(a, b ref) int { return strings.Compare(a.String(), b.String()) })
	return append(out, about...)
}

// affected lists the roots whose alerts a new notice may change, and
// whether it changes the reseller index (then every root with a sighting
// may be affected: a reseller edge can lie on any sighting's chain).
func (m *model) affected(r *record) (roots []ref, resellers bool) {
	switch r.n.GetKind() {
	case headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED:
		roots = append(roots, r.ref())
	case headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED:
		for _, about := range r.n.GetSighting().GetAbout() {
			roots = append(roots, ref{about.GetIssuer(), about.GetId()})
		}
	case headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED:
		resellers = true
	}
	if sup := r.n.GetSupersedes(); sup != "" {
		if target, ok := m.byRef[ref{r.n.GetIssuer(), sup}]; ok && target != r {
			more, res := m.affected(target)
			roots, resellers = append(roots, more...), resellers || res
		}
	}
	return roots, resellers
}
