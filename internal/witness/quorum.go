package witness

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/directory"
)

// Policy is a directory's rule for trusting a checkpoint: signed by the
// log key, and cosigned by at least Log.Quorum distinct members other
// than Log.Operator, each with a witness key of its own.
type Policy struct {
	origin   string
	log      note.Verifier
	operator string
	need     int
	keys     []policyKey
}

type policyKey struct {
	member   string
	key      *directory.Key
	verifier note.Verifier
}

// NewPolicy returns dir's policy. Building it once and checking many
// checkpoints saves rebuilding every witness verifier.
func NewPolicy(dir *directory.Directory) (*Policy, error) {
	if dir == nil || dir.Log == nil {
		return nil, ErrNoLog
	}
	lv, err := dir.Log.Verifier()
	if err != nil {
		return nil, fmt.Errorf("directory log: verifier_key: %q: %w", dir.Log.VerifierKey, err)
	}
	p := &Policy{origin: dir.Log.Origin, log: lv, operator: dir.Log.Operator, need: dir.Log.Quorum}
	for _, m := range dir.Members {
		// The hub's operator never counts: a hub must not vouch for
		// itself.
		if m.ID == dir.Log.Operator {
			continue
		}
		for _, k := range m.Keys {
			if k.Use != directory.UseWitness {
				continue
			}
			v, err := NewVerifier(m.ID, k.Public)
			if err != nil {
				return nil, fmt.Errorf("directory: member %q: key %s: %w", m.ID, k.ID, err)
			}
			p.keys = append(p.keys, policyKey{member: m.ID, key: k, verifier: v})
		}
	}
	return p, nil
}

func (p *Policy) parse(signed []byte) (*log.Checkpoint, error) {
	return auditlog.ParseCheckpoint(signed, p.origin, p.log)
}

// Cosignature is one member's valid cosignature on a checkpoint.
type Cosignature struct {
	// Member is the member id (the witness name).
	Member string
	// KeyID is the kid of the witness key that made it.
	KeyID string
	// Time is the cosignature's timestamp, the witness's own clock.
	Time time.Time
}

// Quorum is what a checkpoint's cosignatures amount to under a Policy.
type Quorum struct {
	// Size and Root are the checkpoint's.
	Size int64
	Root tlog.Hash
	// Need is the quorum the directory asks for.
	Need int
	// Cosigners are the members that cosigned, one each, by member id.
	Cosigners []Cosignature
}

// Satisfied reports whether enough distinct members cosigned.
func (q Quorum) Satisfied() bool { return len(q.Cosigners) >= q.Need }

// Time is when the checkpoint reached its quorum by the witnesses' own
// clocks: the Need-th most recent cosignature. A hub replaying an old
// checkpoint cannot make it look fresh, since it cannot forge a
// timestamp. Zero when the quorum is not satisfied or Need is 0.
func (q Quorum) Time() time.Time {
	if q.Need <= 0 || !q.Satisfied() {
		return time.Time{}
	}
	times := make([]time.Time, len(q.Cosigners))
	for i, c := range q.Cosigners {
		times[i] = c.Time
	}
	slices.SortFunc(times, func(a, b time.Time) int { return b.Compare(a) })
	return times[q.Need-1]
}

// CheckQuorum checks signed against dir's policy at time at (the time the
// caller trusts, now for an agent, the log time for an auditor).
func CheckQuorum(dir *directory.Directory, signed []byte, at time.Time) (Quorum, error) {
	p, err := NewPolicy(dir)
	if err != nil {
		return Quorum{}, err
	}
	return p.Check(signed, at)
}

// Check verifies the log's signature on signed (auditlog.ParseCheckpoint;
// its errors) and counts the members that cosigned it: each member other
// than the operator at most once, whatever number of lines or keys it
// has, and only with a witness key valid at at that was never revoked (a
// leaked key can backdate a cosignature, so a revoked key's timestamps
// prove nothing). A cosignature line that does not verify, is repeated
// with another spelling, or is in non-canonical base64 is ignored: it
// never counts, and never spoils the other lines.
//
// Counting is done here rather than with a witness-group library: see the
// package documentation.
func (p *Policy) Check(signed []byte, at time.Time) (Quorum, error) {
	cp, err := p.parse(signed)
	if err != nil {
		return Quorum{}, err
	}
	q := Quorum{Size: int64(cp.Size), Root: tlog.Hash(cp.Hash), Need: p.need}
	for _, k := range p.keys {
		if !k.key.RevokedAt.IsZero() || k.key.ValidAt(at) != nil {
			continue
		}
		t, ok := cosignedBy(signed, k.verifier)
		if !ok {
			continue
		}
		i, found := slices.BinarySearchFunc(q.Cosigners, k.member, func(c Cosignature, id string) int {
			return strings.Compare(c.Member, id)
		})
		switch {
		case !found:
			q.Cosigners = slices.Insert(q.Cosigners, i, Cosignature{Member: k.member, KeyID: k.key.ID, Time: t})
		case t.After(q.Cosigners[i].Time):
			// Two keys of one member (a rotation): still one member;
			// keep its latest word.
			q.Cosigners[i] = Cosignature{Member: k.member, KeyID: k.key.ID, Time: t}
		}
	}
	return q, nil
}

// cosignedBy reports whether v made a valid cosignature on signed, and
// its timestamp. Each key is opened on its own so that one bad line (a
// hub may attach anything) cannot make note.Open refuse the others.
func cosignedBy(signed []byte, v note.Verifier) (time.Time, bool) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 {
		return time.Time{}, false
	}
	// note decodes base64 leniently; a line it accepted in a spelling
	// no signer writes is not counted, so a byte changed anywhere in a
	// line never leaves a counted cosignature.
	if _, err := base64.StdEncoding.Strict().DecodeString(n.Sigs[0].Base64); err != nil {
		return time.Time{}, false
	}
	t, err := fnote.CoSigV1Timestamp(n.Sigs[0])
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// Freshness tracks when a checkpoint last reached its quorum, so that an
// agent notices a hub that stopped getting its checkpoints witnessed (or
// shows it a fork no other member cosigns): no quorum for longer than T is
// an integrity alert. It is safe for concurrent use.
type Freshness struct {
	mu   sync.Mutex
	last time.Time
}

// NewFreshness starts tracking at start (the agent's start): until a
// quorum is observed, staleness counts from there.
func NewFreshness(start time.Time) *Freshness {
	return &Freshness{last: start}
}

// Observe records q if it is satisfied, at q.Time() (the witnesses'
// clocks, never later than now: a witness's fast clock must not buy the
// hub time), or at now when the policy asks for no witness. It reports
// whether q counted. Time never moves back.
func (f *Freshness) Observe(q Quorum, now time.Time) bool {
	if !q.Satisfied() {
		return false
	}
	t := now
	if q.Need > 0 {
		if qt := q.Time(); qt.Before(now) {
			t = qt
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.last) {
		f.last = t
	}
	return true
}

// Last is when a checkpoint last reached its quorum (the start until the
// first).
func (f *Freshness) Last() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// Stale reports whether no checkpoint reached its quorum for longer than
// t before now.
func (f *Freshness) Stale(now time.Time, t time.Duration) bool {
	return now.Sub(f.Last()) > t
}
