package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// commit turns a batch of entries (possibly none) into one transaction:
// the entries, the cursor after them, and the alert events that the new
// state causes. A failed commit stops the agent: its state on disk is the
// last committed one, and a restart resumes from there.
//
// With full set, every root is evaluated again (the directory, the clock,
// the start); otherwise only the roots the batch's notices, or the
// customers changed since the last commit, may affect.
func (a *agent) commit(ctx context.Context, batch []received, full bool) error {
	a.queued = a.queued[:0]
	dir := a.directory()
	now := a.cfg.Now()
	tx, err := a.store.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	defer tx.Rollback()

	stx := a.store.cached(tx) // the per-entry statements, prepared once
	cur := a.committedCursor()
	var touched []*record
	rows := a.entryRows[:0] // stored together after the loop
	for _, r := range batch {
		if cur.LogID != "" && r.logID != cur.LogID {
			return fmt.Errorf("%w: cursor in %s, entry %d from %s", ErrLogChanged, cur.LogID, r.seq, r.logID)
		}
		if r.seq <= cur.Seq {
			continue // at-least-once delivery: already committed
		}
		if r.seq != cur.Seq+1 {
			return fmt.Errorf("agent: entry %d after cursor %d: the hub skipped entries", r.seq, cur.Seq)
		}
		if r.dirNote != nil {
			e, newer := a.verifyDirectory(r, dir)
			if e.Status == statusInvalid {
				a.metrics.verifyFailures.WithLabelValues(kindDirectory).Inc()
				a.unsettled = true
			}
			rows = append(rows, e)
			if newer != nil {
				// The entries after it are verified under it, and every
				// alert is evaluated again.
				a.log.Info("directory version from the log taken as this agent's", "sequence", r.seq, "serial", newer.Serial, "previous_serial", dir.Serial)
				a.logDir.Store(newer)
				dir, full = newer, true
			}
			cur = cursor{LogID: r.logID, Seq: r.seq}
			continue
		}
		e, rec, err := a.checkedEntry(ctx, r, dir)
		if err != nil {
			return err
		}
		if e.Status == statusParked || e.Status == statusInvalid {
			a.metrics.verifyFailures.WithLabelValues(verifyFailureLabel(e)).Inc()
			a.unsettled = true
		}
		rows = append(rows, e)
		switch e.Status {
		case statusVerified:
			a.model.add(rec)
			touched = append(touched, rec)
		case statusRedacted:
			a.model.redacted[ref{e.Issuer, e.ID}] = e.Seq
		case statusParked, statusInvalid:
			a.model.unverified[ref{e.Issuer, e.ID}] = e.Seq
		}
		cur = cursor{LogID: r.logID, Seq: r.seq}
	}
	err = putEntries(ctx, stx, rows)
	clear(rows) // drop the notices' bytes
	a.entryRows = rows[:0]
	if err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	// Parked entries are tried again against the directory now in force:
	// a key the agent's copy did not know may have arrived.
	verified, err := a.retryParked(ctx, tx, dir)
	if err != nil {
		return err
	}
	touched = append(touched, verified...)
	rechecked, err := a.storeRechecks(ctx, tx)
	if err != nil {
		return err
	}
	touched = append(touched, rechecked...)
	included, err := a.storeInclusions(ctx, tx)
	if err != nil {
		return err
	}
	touched = append(touched, included...)
	if cur.LogID != a.committedCursor().LogID {
		if err := setLogID(ctx, tx, cur.LogID); err != nil {
			return fmt.Errorf("agent: state: cursor: %w", err)
		}
	}
	if err := a.raiseFloor(ctx, tx, dir); err != nil {
		return fmt.Errorf("agent: state: directory floor: %w", err)
	}
	n, err := a.reconcile(ctx, tx, dir, now, touched, full)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("agent: state: commit: %w", err)
	}
	moved := cur.Seq != a.committedCursor().Seq
	a.mu.Lock()
	a.cursor = cur
	a.mu.Unlock()
	a.dirFloor = max(a.dirFloor, dir.Serial)
	a.health.committed(cur.Seq)
	if moved {
		a.logw.poke()
	}
	if a.verifier != nil {
		a.verifier.request(now)
	}
	if a.cfg.Committed != nil {
		a.cfg.Committed(cur.Seq)
	}
	if n > 0 {
		// The events are durable now: the deliverers get them from
		// memory rather than reading them back. Events this commit wrote
		// by other ways (triage lifting a hold) are read from the store.
		for _, o := range a.outlets {
			o.hand(a.queued, n > len(a.queued))
		}
		clear(a.queued) // the outlets hold them now; drop the references
	}
	return nil
}

func (a *agent) committedCursor() cursor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cursor
}

// checkedEntry returns the verification workers' result for r when it was
// verified under dir, the directory in force at its position, and
// verifies it again otherwise (a directory reloaded, or taken from the
// log, in between).
func (a *agent) checkedEntry(ctx context.Context, r received, dir *directory.Directory) (entryRow, *record, error) {
	if c := r.checked; c != nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			return entryRow{}, nil, ctx.Err()
		}
		if c.dir == dir {
			return c.entry, c.rec, nil
		}
	}
	e, rec := a.verifyRecord(r, dir)
	return e, rec, nil
}

// verifyRecord is verify, with the record a verified notice becomes.
func (a *agent) verifyRecord(r received, dir *directory.Directory) (entryRow, *record) {
	e, n := a.verify(r, dir)
	if n == nil {
		return e, nil
	}
	return e, newRecord(e, n)
}

// verify checks one entry exactly as the hub does, with the agent's own
// directory, and returns the row to store and, when it verified, the
// notice it holds. The log time is bounded by the receipt time (live) or
// the hub's store time if earlier (catch-up), until witnessed checkpoints
// give a bound the hub cannot move. It is safe for concurrent use.
func (a *agent) verify(r received, dir *directory.Directory) (entryRow, *headsupv1.Notice) {
	logTime := r.at
	if !r.storedAt.IsZero() && r.storedAt.Before(logTime) {
		logTime = r.storedAt
	}
	e := entryRow{Seq: r.seq, StoredAt: r.storedAt, LogTime: logTime}
	if r.env == nil {
		return a.verifyRedacted(e, r.jws, dir), nil
	}
	e.JWS, e.Notice = r.env.GetJws(), r.env.GetNotice()
	v, err := envelope.Verify(r.env, dir, logTime)
	if err != nil {
		// What the failed entry claims, for its row and the alert: read
		// only now, since a verified one says it with its signature.
		if c, err := envelope.PeekClaims(e.JWS); err == nil {
			e.Issuer, e.ID = c.Issuer, c.ID
		}
		e.Kid, _ = envelope.PeekKeyID(e.JWS)
	}
	switch {
	case err == nil:
		e.Status, e.Issuer, e.ID, e.Kid, e.Kind = statusVerified, v.Claims.Issuer, v.Claims.ID, v.Key.ID, v.Notice.GetKind().String()
		if aud := v.Claims.Audience; len(aud) > 0 && !slices.Contains(aud, a.cfg.Member) {
			// The hub sent a notice this member is not in the audience
			// of: harmless here (the signature holds), worth a line.
			a.log.Warn("hub delivered a notice outside this member's audience", "sequence", r.seq, "issuer", e.Issuer, "id", e.ID)
		}
	case errors.Is(err, envelope.ErrUnknownKey):
		// Only a failure against a known key is an integrity alert; an
		// unknown kid means this directory copy is behind.
		e.Status, e.Error = statusParked, err.Error()
		a.log.Warn("notice parked: unknown key, directory stale?", "sequence", r.seq, "kid", e.Kid, "issuer", e.Issuer)
	default:
		e.Status, e.Error = statusInvalid, err.Error()
		a.log.Error("notice failed verification against a known key", "sequence", r.seq, "issuer", e.Issuer, "kid", e.Kid, "err", err)
	}
	if err != nil {
		return e, nil
	}
	return e, v.Notice
}

// verifyRedacted checks a redacted entry: its JWS must verify, and this
// member must indeed be outside its signed audience, or the hub withheld a
// notice by calling it redacted.
func (a *agent) verifyRedacted(e entryRow, jws string, dir *directory.Directory) entryRow {
	e.JWS = jws
	e.Kid, _ = envelope.PeekKeyID(jws)
	c, _, key, err := envelope.VerifyJWS(jws, dir, e.LogTime)
	switch {
	case err == nil && len(c.Audience) > 0 && !slices.Contains(c.Audience, a.cfg.Member):
		e.Status, e.Issuer, e.ID, e.Kid, e.Kind = statusRedacted, c.Issuer, c.ID, key.ID, "redacted"
	case err == nil:
		e.Status, e.Issuer, e.ID, e.Kind = statusInvalid, c.Issuer, c.ID, "redacted"
		e.Error = "the hub withheld a notice whose signed audience includes this member"
	case errors.Is(err, envelope.ErrUnknownKey):
		e.Status, e.Error = statusParked, err.Error()
	default:
		e.Status, e.Error = statusInvalid, err.Error()
	}
	if e.Issuer == "" {
		if c, err := envelope.PeekClaims(jws); err == nil {
			e.Issuer, e.ID = c.Issuer, c.ID
		}
	}
	return e
}

// retryParked verifies parked entries again; those that now verify join
// the model, those that fail against a now-known key become integrity
// alerts.
func (a *agent) retryParked(ctx context.Context, tx *sql.Tx, dir *directory.Directory) ([]*record, error) {
	if a.parkedSerial == dir.Serial && a.parkedChecked {
		return nil, nil
	}
	parked, err := entriesIn(ctx, tx, statusParked)
	if err != nil {
		return nil, fmt.Errorf("agent: state: %w", err)
	}
	var verified []*record
	for _, p := range parked {
		r := received{seq: p.Seq, storedAt: p.StoredAt, at: p.LogTime}
		if p.Notice != nil {
			r.env = &headsupv1.Envelope{Notice: p.Notice, Jws: p.JWS}
		} else {
			r.jws = p.JWS
		}
		e, rec := a.verifyRecord(r, dir)
		if e.Status == statusParked {
			continue
		}
		if err := putEntry(ctx, tx, e); err != nil {
			return nil, err
		}
		switch e.Status {
		case statusVerified:
			a.model.add(rec)
			verified = append(verified, rec)
			a.log.Info("parked notice verified after a directory reload", "sequence", e.Seq, "kid", e.Kid)
		case statusRedacted:
			delete(a.model.unverified, ref{e.Issuer, e.ID})
			a.model.redacted[ref{e.Issuer, e.ID}] = e.Seq
		case statusInvalid:
			a.model.unverified[ref{e.Issuer, e.ID}] = e.Seq
		}
	}
	a.parkedSerial, a.parkedChecked = dir.Serial, true
	return verified, nil
}

// recordOf parses a verified entry's notice. Its bytes were verified, so
// parsing cannot fail unless the state file was altered.
func recordOf(e entryRow) (*record, error) {
	n := &headsupv1.Notice{}
	if err := proto.Unmarshal(e.Notice, n); err != nil {
		return nil, err
	}
	return newRecord(e, n), nil
}

// newRecord is the record of a verified entry and its notice.
func newRecord(e entryRow, n *headsupv1.Notice) *record {
	return &record{seq: e.Seq, n: n, kid: e.Kid, storedAt: e.StoredAt, logTime: e.LogTime, leaf: tlog.RecordHash([]byte(e.JWS))}
}
