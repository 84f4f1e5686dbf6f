package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/match"
	"github.com/headsup-dev/headsup/internal/recheck"
)

// Live re-checks of sightings (Config.VerifySightings; package recheck).
//
// For every CUSTOMER_SIGHTED link on an alert's path, evaluation asks for
// a re-check of the sighted subject's host name (its first host
// identifier) at the matched addresses: the link's matched identifier
// when it is one address, else every single address the sighting's host
// entity lists (at most maxRecheckAddrs). The loop hands the request to a
// worker and goes on: ingest never waits for the network. The worker's
// results come back to the loop, which stores them (table rechecks) in
// its next commit and re-evaluates the roots of the sightings concerned,
// so the alert gets a new revision with the result on the link
// (alert.Link.Rechecks). A (host, address) is asked at most once per
// recheck window (the checker also keeps that bound, per window).
//
// Strength rule, per link:
//
//   - Confirmed at one of its addresses: a live TLS handshake is a fresh
//     observation that is not DNS, so the weakness a sighting has from
//     its observation (observed by DNS only, or observed too long ago) no
//     longer applies: the link is as strong as its matching rule. A rule
//     that is weak itself (a sibling domain, a broad prefix, an origin
//     ASN) stays weak. The path stays as strong as its weakest link, so a
//     weak alert becomes strong only when every other link is strong.
//   - Re-checked at its addresses and confirmed at none: the link is weak,
//     whatever the notice's observation said.
//   - Results that say nothing about the host are not kept: an address
//     the checker may not dial (private, loopback: a notice must not make
//     the agent probe its own network), a host that is not a host name,
//     an attempt the agent's shutdown cut short.

// maxRecheckAddrs bounds the addresses re-checked for one link.
const maxRecheckAddrs = 8

// recheckQueue bounds the requests waiting for the worker; a request that
// does not fit is asked again at the next evaluation that reaches it.
const recheckQueue = 256

type recheckKey struct {
	host string
	addr netip.Addr
}

type recheckRequest struct {
	host  string
	addrs []netip.Addr
}

// verifier holds the re-checks. results, asked, sightings and wanted are
// the loop's (evaluation runs in the loop); the worker only runs checks.
type verifier struct {
	checker     *recheck.Checker
	window      time.Duration
	concurrency int
	results     map[recheckKey]alert.Recheck
	asked       map[recheckKey]time.Time
	// sightings are the sighting notices that asked for a key, so that a
	// result re-evaluates their roots.
	sightings map[recheckKey][]*record
	wanted    []recheckRequest
	requests  chan recheckRequest
	done      chan []recheck.Result
	// pending are results received, stored by the next commit.
	pending []recheck.Result
}

func newVerifier(cfg recheck.Config, now func() time.Time) (*verifier, error) {
	if cfg.Now == nil {
		cfg.Now = now
	}
	c, err := recheck.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: verify_sightings: %w", err)
	}
	d := recheck.DefaultConfig()
	window, conc := cmpOr(cfg.Window, d.Window), cmpOr(cfg.Concurrency, d.Concurrency)
	return &verifier{checker: c, window: window, concurrency: conc, results: map[recheckKey]alert.Recheck{}, asked: map[recheckKey]time.Time{},
		sightings: map[recheckKey][]*record{}, requests: make(chan recheckRequest, recheckQueue), done: make(chan []recheck.Result, recheckQueue)}, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// load reads the stored results.
func (v *verifier) load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT host, address, result FROM rechecks`)
	if err != nil {
		return fmt.Errorf("agent: state: rechecks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var host, addr, body string
		if err := rows.Scan(&host, &addr, &body); err != nil {
			return err
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			continue
		}
		var rc alert.Recheck
		if json.Unmarshal([]byte(body), &rc) == nil {
			v.results[recheckKey{host, a}] = rc
		}
	}
	return rows.Err()
}

// run is the worker: it runs up to concurrency requests at once (the
// checker bounds attempts across all of them) and hands results to the
// loop.
func (v *verifier) run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, v.concurrency)
	for {
		var req recheckRequest
		select {
		case <-ctx.Done():
			return ctx.Err()
		case req = <-v.requests:
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			res := v.checker.Check(ctx, req.host, req.addrs)
			select {
			case v.done <- res:
			case <-ctx.Done():
			}
		})
	}
}

// apply sets a sighting link's re-checks and strength from the results,
// and asks for what it lacks. entity is the sighting's host entity.
func (v *verifier) apply(l *link, entity *headsupv1.Entity) {
	host := sightedHost(l.rec.n)
	if host == "" {
		return
	}
	addrs := linkAddrs(l.match, entity)
	if len(addrs) == 0 {
		return
	}
	v.wanted = append(v.wanted, recheckRequest{host, addrs})
	confirmed, checked := false, false
	for _, a := range addrs {
		k := recheckKey{host, a}
		if !slices.Contains(v.sightings[k], l.rec) {
			v.sightings[k] = append(v.sightings[k], l.rec)
		}
		rc, ok := v.results[k]
		if !ok {
			continue
		}
		checked = true
		confirmed = confirmed || rc.Confirmed
		l.rechecks = append(l.rechecks, rc)
	}
	switch {
	case confirmed:
		if l.match.Strength == match.Strong || strings.HasPrefix(l.match.Weakened, "observed ") {
			l.strength = match.Strong
		} else {
			l.strength = l.match.Strength
		}
	case checked:
		l.strength = match.Weak
	}
}

// request sends what evaluation asked for and was not asked within the
// window; a full queue leaves it for the next evaluation.
func (v *verifier) request(now time.Time) {
	wanted := v.wanted
	v.wanted = nil
	for _, w := range wanted {
		var addrs []netip.Addr
		for _, a := range w.addrs {
			if t, ok := v.asked[recheckKey{w.host, a}]; ok && now.Sub(t) < v.window {
				continue
			}
			addrs = append(addrs, a)
		}
		if len(addrs) == 0 {
			continue
		}
		select {
		case v.requests <- recheckRequest{w.host, addrs}:
			for _, a := range addrs {
				v.asked[recheckKey{w.host, a}] = now
			}
		default:
		}
	}
	// Forget what is long past its window, so asked stays bounded by what
	// alerts still name.
	for k, t := range v.asked {
		if now.Sub(t) > 2*v.window {
			delete(v.asked, k)
		}
	}
}

// store writes the pending results in tx and returns the sightings whose
// roots they may change. Results that say nothing about the host are
// counted and dropped.
func (a *agent) storeRechecks(ctx context.Context, tx *sql.Tx) ([]*record, error) {
	v := a.verifier
	if v == nil || len(v.pending) == 0 {
		return nil, nil
	}
	pending := v.pending
	v.pending = nil
	var touched []*record
	for _, r := range pending {
		if notChecked(r) {
			a.metrics.rechecks.WithLabelValues("not_checked").Inc()
			continue
		}
		result := "not_confirmed"
		if r.Confirmed {
			result = "confirmed"
		}
		a.metrics.rechecks.WithLabelValues(result).Inc()
		rc := alert.Recheck{Host: r.Host, Address: r.Address.String(), At: r.CheckedAt.UTC().Truncate(time.Second), Confirmed: r.Confirmed,
			Trusted: r.Trusted, Resolves: r.Resolves, CertSHA256: r.CertSHA256, Summary: r.Summary()}
		body, err := json.Marshal(rc)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rechecks(host, address, result, checked_at) VALUES (?, ?, ?, ?)
			ON CONFLICT(host, address) DO UPDATE SET result = excluded.result, checked_at = excluded.checked_at`,
			rc.Host, rc.Address, string(body), rc.At.Unix()); err != nil {
			return nil, fmt.Errorf("agent: state: rechecks: %w", err)
		}
		k := recheckKey{r.Host, r.Address}
		v.results[k] = rc
		touched = append(touched, v.sightings[k]...)
		if !r.Cached {
			a.log.Info("sighting re-checked", "host", r.Host, "address", r.Address, "result", rc.Summary)
		}
	}
	return touched, nil
}

// notChecked reports a result that says nothing about the host.
func notChecked(r recheck.Result) bool {
	for _, p := range []string{"address not allowed", "host not valid", "canceled"} {
		if strings.HasPrefix(r.Detail, p) && !r.Confirmed {
			return true
		}
	}
	return false
}

// sightedHost is the host name a sighting says now answers: its subject's
// first host identifier.
func sightedHost(n *headsupv1.Notice) string {
	for _, id := range n.GetSubject().GetIdentifiers() {
		if h := id.GetHost(); h != "" {
			return h
		}
	}
	return ""
}

// linkAddrs are the addresses a sighting link is re-checked at: the
// matched identifier when it is one address, else the single addresses
// the host entity lists.
func linkAddrs(m match.Match, entity *headsupv1.Entity) []netip.Addr {
	if typ, val, ok := strings.Cut(m.Identifier, ":"); ok && (typ == "address" || typ == "prefix") {
		if a, ok := singleAddr(val); ok {
			return []netip.Addr{a}
		}
	}
	var out []netip.Addr
	for _, id := range entity.GetIdentifiers() {
		if a, ok := singleAddr(id.GetAddress().GetPrefix()); ok && !slices.Contains(out, a) {
			out = append(out, a)
			if len(out) == maxRecheckAddrs {
				break
			}
		}
	}
	return out
}

func singleAddr(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.IsSingleIP() {
			return p.Addr().Unmap(), true
		}
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}
