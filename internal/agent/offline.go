package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/match"
)

// Offline is what MatchNotices needs besides the notices: who asks, with
// which customer list, under which directory.
type Offline struct {
	// Member is the member whose customers these are (own space, own
	// domains, the issuer-is-the-customer rule depend on it).
	Member string
	// Directory supplies test_network, every member's domains and ASNs,
	// the issuers' names and contacts, and their notice keys.
	Directory *directory.Directory
	// Customers is the customer list; bad rows are returned, the rest used.
	Customers []match.Row
	// Match adds shared domains, mailbox providers, transit ASNs and hash
	// keys, as the agent's configuration does.
	Match match.Config
	// MaxHops bounds reseller edges (zero: the agent's default, 3).
	MaxHops int
	// Now is the evaluation time (zero: time.Now).
	Now time.Time
}

// ErrNoNoticeKey: an offline notice's issuer is not a member with a
// notice key in the directory, so no agent would ever accept a notice of
// it.
var ErrNoNoticeKey = errors.New("issuer has no notice key in the directory")

// MatchNotices runs the agent's evaluation (the same chains, rules and
// alert contents) over notices held in hand instead of read from the log:
// `headsup match` uses it to show what an agent with this customer list
// would raise. The notices must be normalised (notice.Normalize) and are
// taken in order as sequences 1, 2, …. There are no signatures, so key
// validity plays no part: every notice is treated as signed by a notice
// key of its issuer (ErrNoNoticeKey when the directory lists none), and
// the events show it unsigned: no key id, not verified. Retractions and superseding
// notices among them take effect; a sighting about a notice not among them
// gives the "root not visible" alert an agent would give.
//
// The events are each alert's first revision (raised), in alert id order;
// rowErrs are the customer rows left out.
func MatchNotices(notices []*headsupv1.Notice, o Offline) (events []alert.Event, rowErrs []*match.RowError, err error) {
	if o.Directory == nil {
		return nil, nil, errors.New("offline match: directory: missing")
	}
	if o.MaxHops == 0 {
		o.MaxHops = DefaultConfig().MaxHops
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	now := o.Now.UTC().Truncate(time.Second)
	dir := timeless(o.Directory)
	m := newModel()
	for i, n := range notices {
		kid, ok := noticeKey(dir, n.GetIssuer())
		if !ok {
			return nil, nil, fmt.Errorf("notice %d (%s/%s): %q: %w", i+1, n.GetIssuer(), n.GetId(), n.GetIssuer(), ErrNoNoticeKey)
		}
		r := &record{seq: uint64(i + 1), n: n, kid: kid, storedAt: now, logTime: now}
		if prev, dup := m.byRef[r.ref()]; dup {
			return nil, nil, fmt.Errorf("notice %d: %s is notice %d again: an issuer uses an id once", i+1, r.ref(), prev.seq)
		}
		m.add(r)
	}
	cfg := memberMatchConfig(o.Match, o.Member, dir)
	customers, rowErrs := match.Build(o.Customers, cfg)
	a := &agent{cfg: Config{Member: o.Member, MaxHops: o.MaxHops, Match: o.Match}, log: slog.New(slog.DiscardHandler), model: m}
	cands := evaluate(m, dir, customers, cfg, o.Member, o.MaxHops, now)
	for _, id := range sortedKeys(cands) {
		ev := a.matchEvent(id, cands[id], dir, now)
		ev.Event, ev.Revision, ev.PeakStrength = alert.EventRaised, 1, ev.Strength
		unsigned(ev)
		events = append(events, *ev)
	}
	return events, rowErrs, nil
}

// noticeKey finds a notice key of member.
func noticeKey(dir *directory.Directory, member string) (string, bool) {
	mem, ok := dir.Member(member)
	if !ok {
		return "", false
	}
	for _, k := range mem.Keys {
		if k.Use == directory.UseNotice {
			return k.ID, true
		}
	}
	return "", false
}

// timeless copies dir with every key valid at all times: offline notices
// carry no signature, so when a key was valid says nothing about them.
func timeless(dir *directory.Directory) *directory.Directory {
	c := &directory.Directory{Serial: dir.Serial, TestNetwork: dir.TestNetwork}
	for _, m := range dir.Members {
		mc := *m
		mc.Keys = nil
		for _, k := range m.Keys {
			kc := *k
			kc.NotBefore, kc.NotAfter, kc.RevokedAt = time.Time{}, time.Time{}, time.Time{}
			mc.Keys = append(mc.Keys, &kc)
		}
		c.Members = append(c.Members, &mc)
	}
	return c
}

// unsigned marks every notice of ev as what it is offline: not signed, not
// in a log.
func unsigned(ev *alert.Event) {
	if r := ev.Root; r != nil {
		r.KID, r.SignedBy, r.Verified, r.Sequence = "", "", false, 0
	}
	for i := range ev.Paths {
		for j := range ev.Paths[i].Links {
			n := &ev.Paths[i].Links[j].Notice
			n.KID, n.SignedBy, n.Verified, n.Sequence = "", "", false, 0
		}
	}
}
