package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
)

// maxPeerBody bounds what a peer may send: a checkpoint with the most
// signatures a note carries is far smaller.
const maxPeerBody = 64 << 10

// parse verifies a checkpoint under the log keys named so far, newest
// first: a checkpoint signed before the log key was rotated verifies under
// the key of its time.
func (v *verifier) parse(n []byte) (*log.Checkpoint, error) {
	if len(v.logKeys) == 0 {
		return nil, errors.New("no directory logged so far names the log key")
	}
	var first error
	for i := len(v.logKeys) - 1; i >= 0; i-- {
		k := v.logKeys[i]
		cp, err := auditlog.ParseCheckpoint(n, k.origin, k.verifier)
		if err == nil {
			return cp, nil
		}
		if first == nil {
			first = err
		}
		if !errors.Is(err, auditlog.ErrCheckpointSignature) && !errors.Is(err, auditlog.ErrWrongOrigin) {
			break
		}
	}
	return nil, first
}

// checkpointsAt checks every checkpoint whose size the tree has reached.
func (v *verifier) checkpointsAt(treeSize uint64) error {
	for v.next < len(v.sizes) && v.sizes[v.next] <= treeSize {
		size := v.sizes[v.next]
		v.next++
		if err := v.checkGroup(size); err != nil {
			return err
		}
	}
	return nil
}

// checkGroup checks the checkpoints of one size against the tree.
func (v *verifier) checkGroup(size uint64) error {
	group := v.bySize[size]
	lo := v.lastGood + 1
	root, err := v.tree.Root(int64(size))
	if err != nil {
		return err
	}
	var matched []byte
	for _, c := range group {
		cp, err := v.parse(c.note)
		if err != nil {
			f := failRange(lo, size, ErrCheckpoint, "the %s's checkpoint at size %d does not verify under the log key of the logged directory", c.from, size)
			if len(v.logKeys) == 0 {
				f.Err = ErrNoDirectory
			}
			f.Cause, f.Notes = err, [][]byte{c.note}
			return f
		}
		if tlog.Hash(cp.Hash) != root {
			return v.mismatch(c, group, tlog.Hash(cp.Hash), root)
		}
		if matched == nil {
			matched = c.note
		}
	}
	// Both roots come from one tree, so this holds by construction; it is
	// checked all the same with tlog's own proof check, as a checkpoint
	// chain is meant to be.
	if v.lastGood > 0 && v.lastGood < size {
		proof, err := v.tree.ConsistencyProof(int64(v.lastGood), int64(size))
		if err != nil {
			return err
		}
		if err := tlog.CheckTree(proof, int64(size), root, int64(v.lastGood), v.lastGoodRoot); err != nil {
			return failRange(lo, size, ErrFork, "checkpoint at size %d is not consistent with the one at size %d: %v", size, v.lastGood, err)
		}
	}
	for _, c := range group {
		if err := v.quorum(c); err != nil {
			return err
		}
	}
	v.rep.Checkpoints += len(group)
	v.lastGood, v.lastGoodRoot = size, root
	v.notes[size] = matched
	return nil
}

// mismatch reports a checkpoint whose root is not the recomputed one.
func (v *verifier) mismatch(bad *ckpt, group []*ckpt, got, want tlog.Hash) error {
	size := bad.size
	lo, hi := v.lastGood+1, size
	notes := [][]byte{bad.note}
	for _, c := range group {
		if c != bad {
			notes = append(notes, c.note)
		}
	}
	// The auditor's state at this size holds the hashes of the subtrees
	// tiling it: the first that differs now says which part was
	// rewritten, whichever checkpoint showed the mismatch first (the
	// hub's own, still the one the state holds, can come first).
	narrowed := false
	if v.state != nil && v.state.Size == size && len(v.state.Subtrees) > 0 {
		now, err := subtreeHashes(v.store, size)
		if err != nil {
			return err
		}
		for i, st := range subtrees(size) {
			if now[i] != v.state.Subtrees[i] {
				lo, hi, narrowed = st.start+1, st.start+1<<st.level, true
				break
			}
		}
	}
	var f *Failure
	switch bad.from {
	case "state":
		// The log key signed this root before and the history now gives
		// another: the auditor's own memory proves the rewrite.
		if !narrowed {
			lo, hi = 1, size
		}
		f = failRange(lo, hi, ErrFork, "the history at size %d has root %s, the checkpoint verified before (--state) has %s", size, want, got)
	case "previous export":
		f = failRange(lo, hi, ErrFork, "the history at size %d has root %s, the previous export's checkpoint has %s", size, want, got)
	default:
		f = failRange(lo, hi, ErrRootMismatch, "the %s's checkpoint at size %d has root %s, the entries give %s (an entry in this range was altered, reordered or replaced)", bad.from, size, got, want)
	}
	f.Notes = notes
	return f
}

// checkpointsBeyond handles checkpoints the history does not reach: once
// their log signature holds, each proves that the log held more than it
// now shows.
func (v *verifier) checkpointsBeyond(treeSize uint64) error {
	for ; v.next < len(v.sizes); v.next++ {
		size := v.sizes[v.next]
		for _, c := range v.bySize[size] {
			if _, err := v.parse(c.note); err != nil {
				f := failRange(treeSize+1, size, ErrCheckpoint, "the %s's checkpoint at size %d does not verify under the log key of the logged directory", c.from, size)
				f.Cause, f.Notes = err, [][]byte{c.note}
				return f
			}
			f := failRange(treeSize+1, size, ErrRollback, "the %s's checkpoint at size %d is signed by the log key, but the history ends at %d", c.from, size, treeSize)
			f.Sequence, f.Notes = treeSize+1, [][]byte{c.note}
			if v.notes[treeSize] != nil {
				f.Notes = append(f.Notes, v.notes[treeSize])
			}
			return f
		}
	}
	return nil
}

// quorum counts a verified checkpoint's cosignatures and, once it has a
// quorum, bounds the log time of the entries it is the first witnessed
// checkpoint of.
func (v *verifier) quorum(c *ckpt) error {
	check := v.cfg.Quorum
	if check == nil || v.cur == nil || v.cur.Log == nil || v.cur.Log.Quorum == 0 {
		return nil
	}
	dir, need := v.cur, v.cur.Log.Quorum
	n, err := check(dir, c.note, v.cfg.Now)
	if err != nil {
		v.warnf("the %s's checkpoint at size %d: quorum check: %v", c.from, c.size, err)
		return nil
	}
	v.rep.MaxCosigners = max(v.rep.MaxCosigners, n)
	times := v.cosignatures(c.note, n > 0)
	if n < need {
		if c.from == "hub" {
			v.warnf("the hub's checkpoint at size %d has %d of the %d cosignatures a quorum needs", c.size, n, need)
		}
		return nil
	}
	v.rep.Witnessed++
	v.quorate = max(v.quorate, c.size)
	// The instant the checkpoint reached quorum: the entries it holds were
	// logged by then, whatever stored_at the hub wrote.
	var witnessed time.Time
	for _, t := range times {
		if k, err := check(dir, c.note, t); err == nil && k >= need {
			witnessed = t
			break
		}
	}
	if witnessed.IsZero() {
		v.pending = v.pending[:0]
		return nil
	}
	for _, p := range v.pending {
		if p.storedAt.After(witnessed) {
			return failAt(p.seq, ErrLogTime, nil, "stored_at %s is after %s, when its first witnessed checkpoint (size %d) had a quorum: the hub moved its log time",
				p.storedAt.UTC().Format(time.RFC3339), witnessed.UTC().Format(time.RFC3339), c.size)
		}
	}
	v.pending = v.pending[:0]
	return nil
}

// cosignatures returns the sorted, distinct timestamps of the cosignature
// lines of a checkpoint (unverified: the QuorumChecker verifies), and
// records the cosigners' names when record is set.
func (v *verifier) cosignatures(signed []byte, record bool) []time.Time {
	_, err := note.Open(signed, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return nil
	}
	var times []time.Time
	for _, s := range unverified.Note.UnverifiedSigs {
		t, err := fnote.CoSigV1Timestamp(s)
		if err != nil {
			continue // the log's own signature, or not a cosignature
		}
		if record {
			v.names[s.Name] = true
		}
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(times, time.Time.Equal)
}

// quorumSummary says whether the latest checkpoint was witnessed.
func (v *verifier) quorumSummary() error {
	if v.cfg.Quorum == nil {
		if v.rep.Checkpoints > 0 {
			v.warnf("quorum not checked: no witness quorum checker configured, so no checkpoint is known to be witnessed and log times are the hub's")
		}
		return nil
	}
	if v.cur == nil || v.cur.Log == nil || v.cur.Log.Quorum == 0 || v.lastGood == 0 {
		return nil
	}
	if v.quorate == v.lastGood {
		return nil
	}
	msg := fmt.Sprintf("the latest checkpoint (size %d) lacks a quorum of %d cosignatures; the latest with one is size %d", v.lastGood, v.cur.Log.Quorum, v.quorate)
	if v.cfg.RequireQuorum {
		return failRange(v.quorate+1, v.lastGood, ErrNoQuorum, "%s", msg)
	}
	v.warnf("%s", msg)
	return nil
}

// peers compares each peer's latest cosigned checkpoint with the tree.
func (v *verifier) peers(ctx context.Context) error {
	if len(v.cfg.Peers) == 0 {
		return nil
	}
	client := v.cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	treeSize := uint64(v.tree.Size())
	for _, url := range v.cfg.Peers {
		res := PeerResult{URL: url}
		body, err := fetch(ctx, client, url)
		if err != nil {
			res.Status = "unreachable: " + err.Error()
			v.warnf("peer %s: %v", url, err)
			v.rep.Peers = append(v.rep.Peers, res)
			continue
		}
		cp, err := v.parse(body)
		if err != nil {
			res.Status = "not a checkpoint of this log: " + err.Error()
			v.warnf("peer %s: %v", url, err)
			v.rep.Peers = append(v.rep.Peers, res)
			continue
		}
		res.Size, res.Root = cp.Size, tlog.Hash(cp.Hash)
		if cp.Size > treeSize {
			res.Status = "ahead"
			v.warnf("peer %s: checkpoint at size %d is beyond the %d entries verified: not compared", url, cp.Size, treeSize)
			v.rep.Peers = append(v.rep.Peers, res)
			continue
		}
		root, err := v.tree.Root(int64(cp.Size))
		if err != nil {
			return err
		}
		if root != res.Root {
			f := failRange(1, cp.Size, ErrFork, "peer %s holds a log-signed checkpoint at size %d with root %s; the history verified here has %s", url, cp.Size, res.Root, root)
			f.Notes = [][]byte{body}
			if n := v.noteAtOrAbove(cp.Size); n != nil {
				f.Notes = append(f.Notes, n)
			}
			res.Status = "forked"
			v.rep.Peers = append(v.rep.Peers, res)
			return f
		}
		res.Status = "agrees"
		v.rep.Peers = append(v.rep.Peers, res)
	}
	return nil
}

// noteAtOrAbove returns a verified note of the given size, else of the
// smallest verified size above it.
func (v *verifier) noteAtOrAbove(size uint64) []byte {
	for _, s := range v.sizes {
		if s >= size && v.notes[s] != nil {
			return v.notes[s]
		}
	}
	return nil
}

func fetch(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPeerBody {
		return nil, fmt.Errorf("more than %d bytes", maxPeerBody)
	}
	return b, nil
}

// prefixSource replays the entries before first from an earlier export,
// then the source's own: the log no longer holds them, the auditor does.
type prefixSource struct {
	Source
	prev  *ArchiveSource
	file  *os.File
	first uint64
	count *uint64
}

func withPrefix(ctx context.Context, path string, first uint64, src Source, count *uint64) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("previous export: %w", err)
	}
	a := NewArchiveSource(f)
	if _, err := a.Start(ctx); err != nil {
		f.Close()
		return nil, fmt.Errorf("previous export %s: %w", path, err)
	}
	return &prefixSource{Source: src, prev: a, file: f, first: first, count: count}, nil
}

func (p *prefixSource) Next(ctx context.Context) (*Entry, error) {
	if p.prev != nil {
		e, err := p.prev.Next(ctx)
		if err == nil && e.Sequence < p.first {
			*p.count++
			return e, nil
		}
		p.prev = nil
		p.file.Close()
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("previous export: %w", err)
		}
	}
	return p.Source.Next(ctx)
}
