package agent

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/witness"
)

// The log (DESIGN.md, Audit): the agent checks what the hub shows it of
// its verifiable history and, opt-in (WitnessKey), witnesses it. Nothing
// here trusts the hub: the log key and the witnesses' keys come from the
// directory in force (dirlog.go), the proofs are checked with tlog, and
// the leaves are computed from the bytes the agent verified.
//
// Every LogCheck, and soon after a commit that moved the cursor, a round:
//
//  1. GetCheckpoint (latest). It must verify under the directory's log key
//     and extend the last checkpoint the agent verified (meta checkpoint):
//     a larger one by a consistency proof, the same size by the same root.
//     A smaller one (a hub replica behind another) must be a prefix of it
//     and is otherwise left aside. A checkpoint that does not verify, a
//     proof that fails, and a fork (one size, two roots, both signed by
//     the log key) are integrity alerts, raised once each; a fork's proof
//     (witness.ForkProof) is also written to StateDir/forks, durably.
//  2. Quorum: witness.CheckQuorum of the checkpoint under the directory;
//     witness.Freshness keeps when a checkpoint last reached its quorum
//     by the witnesses' own clocks. None for longer than QuorumFreshness
//     is an integrity alert (quorum_stale), withdrawn (resolved) when
//     one does again. Off while the directory names no log or quorum 0.
//  3. Witnessing: witness.Cosign from the witness's own state (never
//     rebuilt from the hub) with the hub's consistency proof from the
//     state's size, then AddCosignature. The witness refuses a fork
//     (alerted as above), an inconsistent or smaller checkpoint; after
//     cosigning, the checkpoint is fetched again at its size and its
//     quorum counted with this member's cosignature in it.
//  4. Inclusion: every notice on an alert's chain (root and links) is
//     proved in the tree of the last verified checkpoint once it covers
//     the notice (GetInclusionProof, tlog.CheckRecord, the leaf
//     tlog.RecordHash of the JWS the agent verified). A proof that fails
//     is an integrity alert; a proof that holds is stored (table
//     inclusions) and the alerts show it as included_in on the notice: a
//     new revision (updated) of each alert concerned, once per notice.
//
// A failed call to the hub is no alert (hub_disconnected covers an
// absent hub); only an answer that fails verification is.

// logRPCTimeout bounds one round's calls to the hub.
const logRPCTimeout = 30 * time.Second

// maxInclusionsPerRound bounds the inclusion proofs asked in one round;
// the rest wait for the next.
const maxInclusionsPerRound = 256

// verifiedCheckpoint is the last checkpoint the agent verified.
type verifiedCheckpoint struct {
	Size int64     `json:"size"`
	Root tlog.Hash `json:"root"`
	Note string    `json:"note"`
}

// inclusion is a notice proved in the tree of a verified checkpoint.
type inclusion struct {
	seq  uint64
	size int64
}

// logWatch is the agent's side of the log. Its fields are the watcher's
// (watchLog) except where a lock says otherwise.
type logWatch struct {
	client headsupv1.LogServiceClient
	// wstate is the witness's durable state; nil unless witnessing.
	wstate *witness.FileState
	wit    atomic.Pointer[witnessFor]
	fresh  *witness.Freshness
	kick   chan struct{}
	// included hands proved inclusions to the loop.
	included chan []inclusion

	mu       sync.Mutex
	last     *verifiedCheckpoint
	wanted   map[uint64]tlog.Hash // notices on alerts' chains not yet proved: the loop adds
	failed   map[uint64]bool      // inclusion proofs that failed: not asked again
	quorum   witness.Quorum       // of the last checkpoint counted
	stale    bool                 // the quorum_stale alert is active
	cosigned int64                // the witness's last cosigned size
	failures map[string]uint64    // integrity alerts raised, by kind
}

// witnessFor is a witness built for one log key.
type witnessFor struct {
	w    *witness.Witness
	vkey string
}

func newLogWatch(cfg Config) (*logWatch, error) {
	lw := &logWatch{fresh: witness.NewFreshness(cfg.Now()), kick: make(chan struct{}, 1), included: make(chan []inclusion, 4),
		wanted: map[uint64]tlog.Hash{}, failed: map[uint64]bool{}, failures: map[string]uint64{}}
	if cfg.WitnessKey != nil {
		st, err := witness.OpenFileState(cfg.WitnessState)
		if err != nil {
			return nil, fmt.Errorf("agent: witness_state: %w", err)
		}
		lw.wstate = st
		if last, err := st.Load(); err == nil && last != nil {
			lw.cosigned = last.Size
		}
	}
	return lw, nil
}

func (lw *logWatch) close() {
	if lw.wstate != nil {
		lw.wstate.Close()
	}
}

// poke asks for a round soon (a commit moved the cursor: the hub signs a
// checkpoint over it shortly).
func (lw *logWatch) poke() {
	if lw == nil {
		return // offline matching (offline.go)
	}
	select {
	case lw.kick <- struct{}{}:
	default:
	}
}

// want asks for r's inclusion to be proved, unless it was. Called by the
// loop while it builds alerts.
func (lw *logWatch) want(r *record) {
	if lw == nil || r == nil || r.included > 0 {
		return
	}
	lw.mu.Lock()
	if !lw.failed[r.seq] {
		lw.wanted[r.seq] = r.leaf
	}
	lw.mu.Unlock()
}

func (lw *logWatch) lastVerified() *verifiedCheckpoint {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.last
}

// loadLog reads the log state: the last verified checkpoint, the proved
// inclusions, and whether the quorum_stale alert is active.
func (a *agent) loadLog(ctx context.Context) error {
	lw := a.logw
	var body string
	err := a.store.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'checkpoint'`).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("agent: state: checkpoint: %w", err)
	default:
		var cp verifiedCheckpoint
		if err := json.Unmarshal([]byte(body), &cp); err != nil {
			return fmt.Errorf("agent: state: checkpoint: %w", err)
		}
		lw.last = &cp
	}
	rows, err := a.store.db.QueryContext(ctx, `SELECT seq, size FROM inclusions`)
	if err != nil {
		return fmt.Errorf("agent: state: inclusions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		var size int64
		if err := rows.Scan(&seq, &size); err != nil {
			return err
		}
		if r, ok := a.model.bySeq[seq]; ok {
			r.included = size
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	row, _, err := storedAlert(ctx, a.store.db, a.logAlertID(staleKey))
	switch {
	case errors.Is(err, ErrAlertNotFound):
	case err != nil:
		return err
	default:
		lw.stale = row.State == stateActive
	}
	return nil
}

// storeInclusions writes the inclusions logw proved (in the loop's
// transaction) and returns the records whose alerts must show them.
func (a *agent) storeInclusions(ctx context.Context, tx *sql.Tx) ([]*record, error) {
	pending := a.pendingIncl
	a.pendingIncl = nil
	var touched []*record
	now := a.cfg.Now().Unix()
	for _, in := range pending {
		r, ok := a.model.bySeq[in.seq]
		if !ok || r.included > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO inclusions(seq, size, at) VALUES (?, ?, ?) ON CONFLICT(seq) DO NOTHING`, in.seq, in.size, now); err != nil {
			return nil, fmt.Errorf("agent: state: inclusions: %w", err)
		}
		r.included = in.size
		touched = append(touched, r)
	}
	return touched, nil
}

// watchLog runs rounds until ctx is done: every LogCheck, and after a
// poke, but no sooner than a quarter of LogCheck after the last round, so
// that a busy log does not turn every commit into calls to the hub.
func (a *agent) watchLog(ctx context.Context) error {
	t := time.NewTicker(a.cfg.LogCheck)
	defer t.Stop()
	gap := a.cfg.LogCheck / 4
	for {
		start := time.Now()
		a.logRound(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-a.logw.kick:
			if wait := gap - time.Since(start); wait > 0 {
				pause := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					pause.Stop()
					return ctx.Err()
				case <-pause.C:
				}
			}
		}
	}
}

// logRound is one round (see the top of this file).
func (a *agent) logRound(parent context.Context) {
	dir := a.directory()
	defer a.checkFreshness(parent, dir)
	if dir.Log == nil {
		return
	}
	lv, err := dir.Log.Verifier()
	if err != nil {
		a.log.Error("directory log: verifier_key unusable", "err", err)
		return
	}
	// Built before anything is fetched, so that witness_url serves what
	// the witness cosigned before, whatever this round meets.
	a.witness(dir, lv)
	ctx, cancel := context.WithTimeout(parent, logRPCTimeout)
	defer cancel()
	res, err := a.logw.client.GetCheckpoint(ctx, &headsupv1.GetCheckpointRequest{})
	switch {
	case status.Code(err) == codes.NotFound:
		return // none signed yet
	case err != nil:
		if parent.Err() == nil {
			a.log.Warn("log: latest checkpoint not fetched; trying again later", "err", err)
		}
		return
	}
	signed := res.GetCheckpoint()
	cp, ok := a.verifyCheckpoint(ctx, dir, lv, signed)
	if !ok {
		return
	}
	a.countQuorum(dir, signed)
	if cosigned := a.cosign(ctx, dir, lv, signed, cp); cosigned {
		// Count again with this member's cosignature among the hub's.
		if again, err := a.logw.client.GetCheckpoint(ctx, &headsupv1.GetCheckpointRequest{Size: uint64(cp.Size)}); err == nil {
			if _, ok := a.verifyCheckpoint(ctx, dir, lv, again.GetCheckpoint()); ok {
				a.countQuorum(dir, again.GetCheckpoint())
			}
		}
	}
	a.proveInclusions(ctx, cp)
}

// verifyCheckpoint checks signed against the log key and the last
// verified checkpoint, stores it when it moves the log forward, and
// returns it. ok is false when it was refused (and alerted on), when a
// call failed, or when it is an older prefix of the last verified one.
func (a *agent) verifyCheckpoint(ctx context.Context, dir *directory.Directory, lv note.Verifier, signed []byte) (*verifiedCheckpoint, bool) {
	c, err := auditlog.ParseCheckpoint(signed, dir.Log.Origin, lv)
	if err != nil {
		sum := sha256.Sum256(signed)
		a.raiseLog(ctx, "signature/"+hex.EncodeToString(sum[:8]), 0, alert.LogIntegrity{Kind: alert.LogCheckpointSignature, Proof: string(signed)},
			err.Error(), "the hub served a checkpoint that does not verify under the log key of your directory: do not trust what it shows of the log")
		return nil, false
	}
	next := &verifiedCheckpoint{Size: int64(c.Size), Root: tlog.Hash(c.Hash), Note: string(signed)}
	last := a.logw.lastVerified()
	switch {
	case last == nil:
	case next.Size == last.Size && next.Root == last.Root:
		return next, true
	case next.Size == last.Size:
		a.fork(ctx, dir, []byte(last.Note), signed)
		return nil, false
	case next.Size < last.Size:
		proof, err := a.consistency(ctx, next.Size, last.Size)
		if err == nil {
			err = tlog.CheckTree(proof, last.Size, last.Root, next.Size, next.Root)
		}
		// A failed call (OutOfRange included: a replica whose tree is
		// behind) is no alert; a hub rolled back for good shows as no
		// fresh quorum, and its subscription as OUT_OF_RANGE.
		if err != nil && !errors.Is(err, errHubCall) {
			a.inconsistent(ctx, next.Size, last.Note, signed, fmt.Errorf("size %d is not a prefix of the verified size %d: %w", next.Size, last.Size, err))
		}
		return nil, false // an older view, a replica behind: nothing new
	case last.Size > 0:
		proof, err := a.consistency(ctx, last.Size, next.Size)
		if err == nil {
			err = tlog.CheckTree(proof, next.Size, next.Root, last.Size, last.Root)
		}
		if errors.Is(err, errHubCall) {
			return nil, false
		}
		if err != nil {
			a.inconsistent(ctx, next.Size, last.Note, signed, fmt.Errorf("size %d does not extend the verified size %d: %w", next.Size, last.Size, err))
			return nil, false
		}
	}
	body, err := json.Marshal(next)
	if err == nil {
		err = setMeta(ctx, a.store.db, "checkpoint", string(body))
	}
	if err != nil {
		a.log.Error("log: verified checkpoint not stored", "size", next.Size, "err", err)
		return nil, false
	}
	a.logw.mu.Lock()
	a.logw.last = next
	a.logw.mu.Unlock()
	return next, true
}

// errHubCall marks a proof the hub did not give (a failed call): no
// alert, the next round asks again.
var errHubCall = errors.New("hub call failed")

// consistency asks the hub for the consistency proof between two sizes.
// Hashes that are not 32 bytes make a proof that cannot verify.
func (a *agent) consistency(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error) {
	res, err := a.logw.client.GetConsistencyProof(ctx, &headsupv1.GetConsistencyProofRequest{OldSize: uint64(oldSize), NewSize: uint64(newSize)})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("log: consistency proof not fetched; trying again later", "old_size", oldSize, "new_size", newSize, "err", err)
		}
		return nil, fmt.Errorf("%w: %w", errHubCall, err)
	}
	return hashes(res.GetProof())
}

func hashes(bs [][]byte) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != len(tlog.Hash{}) {
			return nil, fmt.Errorf("proof hash %d has %d bytes, want %d", i, len(b), len(tlog.Hash{}))
		}
		out[i] = tlog.Hash(b)
	}
	return out, nil
}

// inconsistent raises the alert for a checkpoint that is not an
// append-only extension of what this member verified or cosigned.
func (a *agent) inconsistent(ctx context.Context, size int64, before string, signed []byte, err error) {
	proof := string(signed)
	if before != "" {
		proof = before + "\n" + proof
	}
	a.raiseLog(ctx, fmt.Sprintf("inconsistent/%d", size), 0, alert.LogIntegrity{Kind: alert.LogInconsistent, Size: uint64(size), Proof: proof},
		err.Error(), fmt.Sprintf("the hub's checkpoint of size %d is not an extension of the log this agent verified before: the hub rewrote or rolled back history", size))
}

// fork keeps the proof that a and b, two log-signed checkpoints of one
// size, fork the log, and raises the alert.
func (a *agent) fork(ctx context.Context, dir *directory.Directory, x, y []byte) {
	p, ok := witness.DetectFork(dir, x, y)
	if !ok {
		a.log.Error("log: two checkpoints of one size that do not prove a fork")
		return
	}
	a.keepFork(ctx, dir, p)
}

func (a *agent) keepFork(ctx context.Context, dir *directory.Directory, p *witness.ForkProof) {
	lv, _ := dir.Log.Verifier()
	c, err := auditlog.ParseCheckpoint(p.B, dir.Log.Origin, lv)
	if err != nil {
		a.log.Error("log: fork proof unreadable", "err", err)
		return
	}
	body := p.Marshal()
	path, err := a.storeForkProof(c.Size, body)
	if err != nil {
		// The alert carries the proof too.
		a.log.Error("log: fork proof not stored", "err", err)
	}
	a.raiseLog(ctx, fmt.Sprintf("fork/%d", c.Size), 0, alert.LogIntegrity{Kind: alert.LogFork, Size: c.Size, Proof: string(body), ProofFile: path},
		p.Error(), fmt.Sprintf("the hub showed two different histories of size %d: a fork of the log, proven by two checkpoints signed by its log key", c.Size))
}

// storeForkProof writes a fork proof in StateDir/forks, synced, and
// returns its path. A proof already kept is not written again.
func (a *agent) storeForkProof(size uint64, body []byte) (string, error) {
	dir := filepath.Join(a.cfg.StateDir, "forks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	path := filepath.Join(dir, fmt.Sprintf("fork-%d-%s.proof", size, hex.EncodeToString(sum[:6])))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.CreateTemp(dir, ".fork-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return path, nil
}

// countQuorum counts signed's cosignatures under the directory and lets
// freshness know.
func (a *agent) countQuorum(dir *directory.Directory, signed []byte) {
	now := a.cfg.Now()
	q, err := witness.CheckQuorum(dir, signed, now)
	if err != nil {
		return
	}
	a.logw.fresh.Observe(q, now)
	a.logw.mu.Lock()
	a.logw.quorum = q
	a.logw.mu.Unlock()
}

// staleKey names the quorum_stale alert.
const staleKey = "quorum-stale"

// checkFreshness raises the quorum_stale alert when no checkpoint reached
// its quorum for longer than QuorumFreshness, and withdraws it when one
// does again.
func (a *agent) checkFreshness(ctx context.Context, dir *directory.Directory) {
	if ctx.Err() != nil {
		return
	}
	now := a.cfg.Now()
	t := a.cfg.QuorumFreshness
	off := t < 0 || dir.Log == nil || dir.Log.Quorum == 0
	stale := !off && a.logw.fresh.Stale(now, t)
	a.logw.mu.Lock()
	was := a.logw.stale
	a.logw.mu.Unlock()
	if stale == was {
		return
	}
	last := a.logw.fresh.Last().UTC().Truncate(time.Second)
	var err error
	if stale {
		need := dir.Log.Quorum
		err = a.raiseLog(ctx, staleKey, 0, alert.LogIntegrity{Kind: alert.LogQuorumStale, Since: &last},
			fmt.Sprintf("no checkpoint reached the quorum of %d witnesses for longer than %s", need, t),
			fmt.Sprintf("no checkpoint of the log has reached its quorum of %d witnesses for %s: the hub may be showing this agent a history the other members do not see",
				need, now.Sub(last).Round(time.Second)))
	} else {
		err = a.withdrawLog(ctx, staleKey, fmt.Sprintf("a checkpoint reached its witness quorum again at %s", last.Format(time.RFC3339)))
	}
	if err == nil {
		a.logw.mu.Lock()
		a.logw.stale = stale
		a.logw.mu.Unlock()
	}
}

// cosign has the witness cosign signed (verified as cp) and hands the
// cosignature to the hub. It reports whether the hub took it.
func (a *agent) cosign(ctx context.Context, dir *directory.Directory, lv note.Verifier, signed []byte, cp *verifiedCheckpoint) bool {
	w := a.witness(dir, lv)
	if w == nil {
		return false
	}
	var proof tlog.TreeProof
	last, err := w.Latest()
	switch {
	case errors.Is(err, witness.ErrNotCosigned):
	case err != nil:
		a.log.Error("witness: state unreadable; not cosigning", "err", err)
		return false
	case cp.Size < last.Size:
		return false // a replica behind: verifyCheckpoint checked it is a prefix
	case cp.Size > last.Size && last.Size > 0:
		proof, err = a.consistency(ctx, last.Size, cp.Size)
		if errors.Is(err, errHubCall) {
			return false
		}
		// A malformed proof goes to Cosign, which refuses it.
	}
	cosigned, err := w.Cosign(ctx, signed, proof)
	var fp *witness.ForkProof
	switch {
	case errors.As(err, &fp):
		a.keepFork(ctx, dir, fp)
		return false
	case errors.Is(err, witness.ErrInconsistent), errors.Is(err, witness.ErrRollback):
		a.inconsistent(ctx, cp.Size, "", signed, fmt.Errorf("the witness refused to cosign: %w", err))
		return false
	case err != nil:
		if ctx.Err() == nil {
			a.log.Error("witness: not cosigned", "size", cp.Size, "err", err)
		}
		return false
	}
	a.logw.mu.Lock()
	a.logw.cosigned = cp.Size
	a.logw.mu.Unlock()
	if _, err := a.logw.client.AddCosignature(ctx, &headsupv1.AddCosignatureRequest{Checkpoint: cosigned}); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("witness: the hub did not take the cosignature (is this member's witness key in the directory?)", "size", cp.Size, "err", err)
		}
		return false
	}
	return true
}

// witness returns the witness for the directory's log, built on first
// use and again when the log key changes; nil when not witnessing.
func (a *agent) witness(dir *directory.Directory, lv note.Verifier) *witness.Witness {
	lw := a.logw
	if lw.wstate == nil {
		return nil
	}
	if cur := lw.wit.Load(); cur != nil && cur.vkey == dir.Log.VerifierKey {
		return cur.w
	}
	w, err := witness.New(witness.Config{MemberID: a.cfg.Member, Key: a.cfg.WitnessKey, Origin: dir.Log.Origin, LogVerifier: lv, State: lw.wstate})
	if err != nil {
		// ErrWrongLog: the state belongs to another log; whether the log
		// was replaced is an operator's decision (witness package doc).
		a.log.Error("witness: not witnessing", "err", err)
		return nil
	}
	lw.wit.Store(&witnessFor{w: w, vkey: dir.Log.VerifierKey})
	return w
}

// proveInclusions proves the wanted notices that cp covers.
func (a *agent) proveInclusions(ctx context.Context, cp *verifiedCheckpoint) {
	lw := a.logw
	lw.mu.Lock()
	todo := map[uint64]tlog.Hash{}
	for seq, leaf := range lw.wanted {
		if int64(seq) <= cp.Size && len(todo) < maxInclusionsPerRound {
			todo[seq] = leaf
		}
	}
	lw.mu.Unlock()
	var done []inclusion
	for seq, leaf := range todo {
		res, err := lw.client.GetInclusionProof(ctx, &headsupv1.GetInclusionProofRequest{Sequence: seq, TreeSize: uint64(cp.Size)})
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("log: inclusion proof not fetched; trying again later", "sequence", seq, "size", cp.Size, "err", err)
			}
			break
		}
		proof, err := hashes(res.GetProof())
		if err == nil {
			err = tlog.CheckRecord(proof, cp.Size, cp.Root, int64(seq)-1, leaf)
		}
		if err != nil {
			lw.mu.Lock()
			lw.failed[seq] = true
			delete(lw.wanted, seq)
			lw.mu.Unlock()
			a.raiseLog(ctx, fmt.Sprintf("inclusion/%d", seq), seq, alert.LogIntegrity{Kind: alert.LogInclusion, Size: uint64(cp.Size), Proof: cp.Note},
				fmt.Sprintf("inclusion of sequence %d in the checkpoint of size %d: %v", seq, cp.Size, err),
				fmt.Sprintf("notice %d on an alert's chain is not in the log the hub signed (checkpoint of size %d): the hub showed this agent an entry it did not log for everyone", seq, cp.Size))
			continue
		}
		done = append(done, inclusion{seq: seq, size: cp.Size})
	}
	if len(done) == 0 {
		return
	}
	select {
	case lw.included <- done:
		lw.mu.Lock()
		for _, in := range done {
			delete(lw.wanted, in.seq)
		}
		lw.mu.Unlock()
	default:
		// The loop is busy: the next round proves them again.
	}
}

// logAlertID is the alert id of a log integrity alert: like the
// envelopes', a root pair of its own that never equals a (member, notice
// UUID) pair.
func (a *agent) logAlertID(key string) string {
	return alert.ID(a.cfg.Member, "", alert.TypeIntegrity, "log/"+key)
}

// raiseLog raises a log integrity alert, once per key: a key already
// active is left as it is (its first evidence stands); one withdrawn
// (quorum_stale only) is raised again with the next revision.
func (a *agent) raiseLog(ctx context.Context, key string, seq uint64, li alert.LogIntegrity, errText, headline string) error {
	id := a.logAlertID(key)
	raised := false
	err := a.inTx(ctx, func(tx *sql.Tx, now time.Time) error {
		row, _, err := storedAlert(ctx, tx, id)
		switch {
		case errors.Is(err, ErrAlertNotFound):
		case err != nil:
			return err
		case row.State == stateActive:
			return nil
		}
		raised = true
		sev := a.cfg.Severity.Severity(alert.Rating{Type: alert.TypeIntegrity})
		ev := &alert.Event{Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive, AlertID: id, Revision: row.Revision + 1,
			GroupKey: alert.GroupKey(a.cfg.Member, "", alert.TypeIntegrity), Type: alert.TypeIntegrity, At: now, Member: a.cfg.Member,
			Headline: headline, Severity: sev, PeakSeverity: sev, Integrity: &alert.Integrity{Sequence: seq, Error: errText, Log: &li}}
		body, err := alert.Marshal(ev)
		if err != nil {
			return err
		}
		return putAlert(ctx, tx, alertRow{AlertID: id, Revision: ev.Revision, State: stateActive, Type: alert.TypeIntegrity, Event: string(body)},
			ev, now, revisionNote{By: alert.AgentActor, Note: errText})
	})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error("log integrity alert not stored", "key", key, "err", err)
		}
		return err
	}
	if !raised {
		return nil
	}
	a.logw.mu.Lock()
	a.logw.failures[li.Kind]++
	a.logw.mu.Unlock()
	a.log.Error("INTEGRITY "+headline, "kind", li.Kind, "err", errText)
	return nil
}

// withdrawLog withdraws an active log alert as resolved.
func (a *agent) withdrawLog(ctx context.Context, key, detail string) error {
	id := a.logAlertID(key)
	return a.inTx(ctx, func(tx *sql.Tx, now time.Time) error {
		row, prev, err := storedAlert(ctx, tx, id)
		switch {
		case errors.Is(err, ErrAlertNotFound):
			return nil
		case err != nil:
			return err
		case row.State != stateActive:
			return nil
		}
		ev := *prev
		ev.Event, ev.State, ev.Revision, ev.At, ev.Desk = alert.EventWithdrawn, alert.StateWithdrawn, row.Revision+1, now, nil
		ev.Headline = "resolved: " + prev.Headline
		ev.Withdrawn = &alert.Withdrawal{Reason: alert.WithdrawResolved, Detail: detail}
		body, err := alert.Marshal(&ev)
		if err != nil {
			return err
		}
		a.log.Info("log integrity alert resolved: "+detail, "key", key)
		return putAlert(ctx, tx, alertRow{AlertID: id, Revision: ev.Revision, State: stateWithdrawn, Type: alert.TypeIntegrity, Event: string(body)},
			&ev, now, revisionNote{By: alert.AgentActor, Note: detail})
	})
}

// listenWitness opens the witness listener, or returns nil when not
// configured.
func (a *agent) listenWitness() (net.Listener, error) {
	if a.cfg.WitnessListen == "" {
		return nil, nil
	}
	if a.cfg.WitnessKey == nil {
		return nil, errors.New("agent: witness_listen: set witness_key too (there is nothing to serve without witnessing)")
	}
	l, err := net.Listen("tcp", a.cfg.WitnessListen)
	if err != nil {
		return nil, fmt.Errorf("agent: witness_listen %q: %w", a.cfg.WitnessListen, err)
	}
	return l, nil
}

// serveWitness serves the latest cosigned checkpoint (witness.Handler) at
// the path of this member's witness_url in the directory in force, "/"
// when it names none.
func (a *agent) serveWitness(ctx context.Context, l net.Listener) error {
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		path := "/"
		if m, ok := a.directory().Member(a.cfg.Member); ok && m.WitnessURL != "" {
			if u, err := url.Parse(m.WitnessURL); err == nil && u.Path != "" {
				path = u.Path
			}
		}
		if p := strings.TrimSuffix(path, "/"); r.URL.Path != p && r.URL.Path != p+"/" {
			http.NotFound(rw, r)
			return
		}
		cur := a.logw.wit.Load()
		if cur == nil {
			http.Error(rw, "no checkpoint cosigned yet", http.StatusNotFound)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		cur.w.Handler().ServeHTTP(rw, r2)
	})
	return serveHTTP(ctx, l, h, a.cfg.WitnessReady, "witness")
}
