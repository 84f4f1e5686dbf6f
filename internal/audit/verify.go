package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// QuorumChecker counts the distinct members, other than the log's
// operator, whose witness cosignature (C2SP tlog-cosignature) on
// signedCheckpoint verifies under dir and is dated at or before at.
// internal/witness provides one; Verify calls it with the directory in
// effect at the checkpoint's size.
type QuorumChecker func(dir *directory.Directory, signedCheckpoint []byte, at time.Time) (int, error)

// Config configures Verify.
type Config struct {
	// GovernanceVerifierKey is the federation's governance verifier key
	// ("name+hash+base64"), pinned by the auditor: the only key trusted
	// from outside the log.
	GovernanceVerifierKey string
	// StatePath, when set, is the auditor's state file: the largest
	// checkpoint verified before. A history that no longer reaches it, or
	// reaches it with another root, fails; on success it is replaced by the
	// largest checkpoint verified now.
	StatePath string
	// PreviousExport, when set, is an earlier archive of the same log: the
	// leaf hashes of the common prefix must be identical, and its
	// checkpoints are checked like the source's.
	PreviousExport string
	// Peers are members' witness URLs, each serving its latest cosigned
	// checkpoint, compared with the recomputed tree.
	Peers []string
	// Now is the time of the audit; zero means time.Now().
	Now time.Time
	// Quorum counts cosignatures; nil means quorum is not checked (and
	// the report says so).
	Quorum QuorumChecker
	// RequireQuorum makes a latest checkpoint without quorum a failure
	// (ErrNoQuorum) instead of a warning. It needs Quorum.
	RequireQuorum bool
	// HTTPClient fetches Peers; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Progress, when set, is called every few thousand entries and at the
	// end with the last sequence verified and the last announced.
	Progress func(done, last uint64)
}

// Report summarises a verified history (or as much as was verified before
// a failure).
type Report struct {
	LogID string
	// Origin is the log's origin as the signed directory names it.
	Origin      string
	First, Last uint64
	// Entries counts every entry replayed: Notices + Redacted + Directories.
	Entries, Notices, Redacted, Directories uint64
	// FromPreviousExport counts entries taken from the previous export
	// because the log no longer holds them (retention).
	FromPreviousExport uint64
	// DirectorySerial is the serial of the last directory version logged.
	DirectorySerial uint64
	// Checkpoints counts distinct signed checkpoints verified.
	Checkpoints int
	// LargestCheckpoint is the size of the largest checkpoint verified.
	LargestCheckpoint uint64
	// TreeSize and Root are the recomputed tree at the last entry.
	TreeSize uint64
	Root     tlog.Hash
	// QuorumChecked is false when no QuorumChecker was given.
	QuorumChecked bool
	// Witnessed counts the checkpoints verified with a quorum of
	// cosignatures; MaxCosigners is the largest count of qualifying
	// cosigners on one checkpoint.
	Witnessed, MaxCosigners int
	// Witnesses are the names on cosignature lines of verified
	// checkpoints (their signatures are verified by the QuorumChecker).
	Witnesses []string
	// Issuers are the members whose notices the log holds.
	Issuers []string
	// FirstTime and LastTime are the first and last stored_at.
	FirstTime, LastTime time.Time
	// Peers says what each peer's checkpoint showed.
	Peers []PeerResult
	// Warnings are findings that do not fail the audit.
	Warnings []string
}

// PeerResult is one peer's checkpoint compared with the tree.
type PeerResult struct {
	URL    string
	Size   uint64
	Root   tlog.Hash
	Status string // "agrees", "ahead", or why it was not compared
}

// maxWarnings bounds Report.Warnings; the last one says how many more.
const maxWarnings = 100

// publishWindow is the hub's bound on |iat − receipt time| (DESIGN.md,
// "Time"); an entry outside it is reported as a warning.
const publishWindow = 5 * time.Minute

// Verify replays src and checks the history as the package comment
// describes. It returns the report and nil, or the report so far and the
// first *Failure (or another error when the audit itself could not run:
// a bad config, an unreadable source).
func Verify(ctx context.Context, cfg Config, src Source) (*Report, error) {
	if cfg.GovernanceVerifierKey == "" {
		return nil, errors.New("governance verifier key: empty (pin the federation's key; the hub is never asked for it)")
	}
	if _, err := note.NewVerifier(cfg.GovernanceVerifierKey); err != nil {
		return nil, fmt.Errorf("governance verifier key %q: %v", cfg.GovernanceVerifierKey, err)
	}
	if cfg.RequireQuorum && cfg.Quorum == nil {
		return nil, errors.New("require quorum: no quorum checker configured")
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	store := auditlog.NewMemoryStore()
	tree, err := auditlog.OpenTree(store)
	if err != nil {
		return nil, err
	}
	v := &verifier{
		cfg:     cfg,
		rep:     &Report{QuorumChecked: cfg.Quorum != nil},
		tree:    tree,
		store:   store,
		notices: map[string]noticeRef{},
		ids:     map[string]noticeRef{},
		issuers: map[string]bool{},
		names:   map[string]bool{},
		bySize:  map[uint64][]*ckpt{},
		notes:   map[uint64][]byte{},
		seen:    map[string]bool{},
		byKid:   map[string][]timed{},
	}
	err = v.run(ctx, src)
	// What the source reported without stopping the audit (a hub that
	// refuses its own checkpoints) belongs in the report.
	if w, ok := src.(interface{ Warnings() []string }); ok {
		for _, s := range w.Warnings() {
			v.warnf("source: %s", s)
		}
	}
	v.finishReport()
	if err != nil {
		return v.rep, err
	}
	if cfg.StatePath != "" && v.lastGood > 0 && (v.state == nil || v.lastGood > v.state.Size) {
		sub, err := subtreeHashes(store, v.lastGood)
		if err != nil {
			return v.rep, err
		}
		s := &state{Origin: v.rep.Origin, Size: v.lastGood, Root: v.lastGoodRoot, Checkpoint: v.notes[v.lastGood], Subtrees: sub}
		if err := writeState(cfg.StatePath, s); err != nil {
			return v.rep, fmt.Errorf("state %s: %w", cfg.StatePath, err)
		}
	}
	return v.rep, nil
}

type noticeRef struct {
	issuer   string
	seq      uint64
	audience []string
}

// ckpt is a signed checkpoint to check and where it came from.
type ckpt struct {
	note []byte
	size uint64
	from string // "hub", "state", "previous export"
}

type logKey struct {
	origin   string
	vkey     string
	verifier note.Verifier
}

type timed struct {
	seq      uint64
	storedAt time.Time
}

type verifier struct {
	cfg   Config
	rep   *Report
	tree  *auditlog.Tree
	store *auditlog.MemoryStore
	state *state

	cur     *directory.Directory // the latest directory logged so far
	logKeys []logKey             // every distinct log key named so far, oldest first

	// The previous export's leaf hashes, leaf i at prevLeaves[i-prevFirst+1].
	prevLeaves []tlog.Hash
	prevFirst  uint64

	notices map[string]noticeRef // issuer + "\x00" + id
	ids     map[string]noticeRef // id, first logged
	issuers map[string]bool
	names   map[string]bool // cosigner names

	sizes  []uint64 // checkpoint sizes, ascending
	bySize map[uint64][]*ckpt
	next   int // index in sizes of the next size to check
	seen   map[string]bool

	lastGood     uint64 // largest checkpoint size verified
	lastGoodRoot tlog.Hash
	notes        map[uint64][]byte // a verified note per size

	pending []timed            // entries not yet in a witnessed checkpoint
	byKid   map[string][]timed // notices by signing key, for revocations set in the past
	quorate uint64             // largest checkpoint size verified with a quorum
	warned  int
}

func (v *verifier) warnf(format string, args ...any) {
	v.warned++
	switch {
	case v.warned < maxWarnings:
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf(format, args...))
	case v.warned == maxWarnings:
		v.rep.Warnings = append(v.rep.Warnings, "further warnings left out")
	}
}

func (v *verifier) finishReport() {
	v.rep.Issuers = sortedKeys(v.issuers)
	v.rep.Witnesses = sortedKeys(v.names)
	v.rep.TreeSize = uint64(v.tree.Size())
	if root, err := v.tree.Root(v.tree.Size()); err == nil {
		v.rep.Root = root
	}
	v.rep.LargestCheckpoint = v.lastGood
	if v.cur != nil {
		v.rep.DirectorySerial = v.cur.Serial
	}
	if len(v.logKeys) > 0 {
		v.rep.Origin = v.logKeys[len(v.logKeys)-1].origin
	}
}

func serialOf(d *directory.Directory) uint64 {
	if d == nil {
		return 0
	}
	return d.Serial
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (v *verifier) run(ctx context.Context, src Source) error {
	st, err := readState(v.cfg.StatePath)
	if v.cfg.StatePath != "" && err != nil {
		return err
	}
	v.state = st
	start, err := src.Start(ctx)
	if f := (*Failure)(nil); errors.As(err, &f) {
		return f
	}
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	v.rep.LogID, v.rep.First, v.rep.Last = start.LogID, start.First, start.Last

	var prevCps [][]byte
	if v.cfg.PreviousExport != "" {
		if prevCps, err = v.readPrevious(ctx); err != nil {
			return err
		}
	}
	entries := src
	if start.First > 1 {
		prevLast := v.prevFirst + uint64(len(v.prevLeaves)) - 1
		if v.prevLeaves == nil || v.prevFirst != 1 || prevLast < start.First-1 {
			f := failRange(1, start.First-1, ErrGap,
				"the log starts at sequence %d (older entries removed by retention); give an earlier export holding 1..%d", start.First, start.First-1)
			f.Sequence = 1
			return f
		}
		entries, err = withPrefix(ctx, v.cfg.PreviousExport, start.First, src, &v.rep.FromPreviousExport)
		if err != nil {
			return err
		}
		v.rep.First = 1
	}

	if err := v.collectCheckpoints(ctx, src, prevCps); err != nil {
		return err
	}

	// Signatures and digests are checked ahead, on every core; what
	// depends on order is checked below, one entry at a time, in order.
	p := startPipeline(ctx, entries, v.cfg.GovernanceVerifierKey)
	defer p.stop()
	var seq uint64
	for {
		if seq%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		j, err := p.next(ctx)
		if err == io.EOF {
			break
		}
		if f := (*Failure)(nil); errors.As(err, &f) {
			return f // the source itself located the offence (a hub's DATA_LOSS)
		}
		if err != nil {
			return fmt.Errorf("source: after sequence %d: %w", seq, err)
		}
		e := j.e
		if e.Sequence != seq+1 {
			if e.Sequence > seq+1 {
				f := failRange(seq+1, e.Sequence-1, ErrGap, "entry %d follows %d: %d missing (deleted or purged)", e.Sequence, seq, e.Sequence-seq-1)
				f.Sequence = seq + 1
				return f
			}
			return failAt(e.Sequence, ErrGap, nil, "entry %d follows %d (repeated or out of order)", e.Sequence, seq)
		}
		seq = e.Sequence
		if err := v.entry(j); err != nil {
			return err
		}
		if err := v.checkpointsAt(seq); err != nil {
			return err
		}
		if v.cfg.Progress != nil && seq%4096 == 0 {
			v.cfg.Progress(seq, start.Last)
		}
	}
	if v.cfg.Progress != nil {
		v.cfg.Progress(seq, start.Last)
	}
	if seq < start.Last {
		f := failRange(seq+1, start.Last, ErrGap, "the history ends at %d, the log announced %d entries", seq, start.Last)
		f.Sequence = seq + 1
		return f
	}
	if v.prevLeaves != nil {
		if prevLast := v.prevFirst + uint64(len(v.prevLeaves)) - 1; prevLast > seq {
			f := failRange(seq+1, prevLast, ErrRollback, "the history ends at %d, the previous export held %d", seq, prevLast)
			f.Sequence = seq + 1
			return f
		}
	}
	if err := v.checkpointsBeyond(seq); err != nil {
		return err
	}
	if err := v.peers(ctx); err != nil {
		return err
	}
	return v.quorumSummary()
}

// readPrevious reads the previous export's leaf hashes and checkpoints.
func (v *verifier) readPrevious(ctx context.Context) ([][]byte, error) {
	path := v.cfg.PreviousExport
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("previous export: %w", err)
	}
	defer f.Close()
	a := NewArchiveSource(f)
	st, err := a.Start(ctx)
	if err != nil {
		return nil, fmt.Errorf("previous export %s: %w", path, err)
	}
	cps, _ := a.Checkpoints(ctx)
	v.prevFirst = st.First
	v.prevLeaves = []tlog.Hash{}
	for {
		e, err := a.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("previous export %s: %w", path, err)
		}
		if want := v.prevFirst + uint64(len(v.prevLeaves)); e.Sequence != want {
			return nil, fmt.Errorf("previous export %s: sequence %d where %d was due: %w", path, e.Sequence, want, ErrArchive)
		}
		rec, err := e.record()
		if err != nil {
			return nil, fmt.Errorf("previous export %s: sequence %d: %v: %w", path, e.Sequence, err, ErrArchive)
		}
		v.prevLeaves = append(v.prevLeaves, tlog.RecordHash(rec))
	}
	return cps, nil
}

// collectCheckpoints gathers the checkpoints to check, by size.
func (v *verifier) collectCheckpoints(ctx context.Context, src Source, prevCps [][]byte) error {
	add := func(n []byte, from string) error {
		if v.seen[string(n)] {
			return nil
		}
		size, err := CheckpointSize(n)
		if err != nil {
			return &Failure{Err: ErrCheckpoint, Reason: fmt.Sprintf("checkpoint from the %s: %v", from, err), Notes: [][]byte{n}}
		}
		v.seen[string(n)] = true
		v.bySize[size] = append(v.bySize[size], &ckpt{note: n, size: size, from: from})
		return nil
	}
	cps, err := src.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("source: checkpoints: %w", err)
	}
	for _, n := range cps {
		if err := add(n, "hub"); err != nil {
			return err
		}
	}
	var known []*ckpt
	if v.state != nil {
		known = append(known, &ckpt{note: v.state.Checkpoint, from: "state"})
	}
	for _, n := range prevCps {
		known = append(known, &ckpt{note: n, from: "previous export"})
	}
	fetcher, _ := src.(CheckpointFetcher)
	for _, k := range known {
		if err := add(k.note, k.from); err != nil {
			return err
		}
		size, _ := CheckpointSize(k.note)
		if fetcher == nil || size == 0 || slices.ContainsFunc(v.bySize[size], func(c *ckpt) bool { return c.from == "hub" }) {
			continue
		}
		// The same size as the hub signs it now: a rewritten history
		// shows up as two log-signed checkpoints of one size.
		n, err := fetcher.Checkpoint(ctx, size)
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		if n != nil {
			if err := add(n, "hub"); err != nil {
				return err
			}
		}
	}
	for size := range v.bySize {
		v.sizes = append(v.sizes, size)
	}
	slices.Sort(v.sizes)
	return nil
}

// CheckpointSize reads a signed checkpoint's size WITHOUT verifying anything:
// Verify uses it only to know when to check the checkpoint.
func CheckpointSize(n []byte) (uint64, error) {
	if len(n) == 0 {
		return 0, errors.New("empty")
	}
	text, _, ok := bytes.Cut(n, []byte("\n\n"))
	if !ok {
		return 0, errors.New("not a signed note")
	}
	lines := bytes.SplitN(text, []byte("\n"), 3)
	if len(lines) < 2 {
		return 0, errors.New("no size line")
	}
	size, err := strconv.ParseUint(string(lines[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size line %q: not a decimal size", lines[1])
	}
	return size, nil
}

// entry checks one entry (its sequence already checked) and adds it to
// the tree. The pipeline has verified its envelope, or opened its
// directory, under the key state at its position.
func (v *verifier) entry(j *job) error {
	e := j.e
	seq := e.Sequence
	if j.dir != v.cur {
		// The reader's key state runs ahead of this one only past a
		// directory these checks refused, where they stopped.
		return fmt.Errorf("sequence %d: verified under directory serial %d, in force is %d (a bug in the pipeline)", seq, serialOf(j.dir), serialOf(v.cur))
	}
	rec, err := e.record()
	if err != nil {
		return failAt(seq, ErrEntry, nil, "%v", err)
	}
	if err := v.tree.Append([][]byte{rec}); err != nil {
		return fmt.Errorf("sequence %d: %w", seq, err)
	}
	if v.prevLeaves != nil && seq >= v.prevFirst && seq-v.prevFirst < uint64(len(v.prevLeaves)) {
		leaf, err := v.tree.LeafHash(int64(seq - 1))
		if err != nil {
			return err
		}
		if prev := v.prevLeaves[seq-v.prevFirst]; leaf != prev {
			return failAt(seq, ErrFork, nil, "leaf hash %s, the previous export had %s (the entry was rewritten)", leaf, prev)
		}
	}
	if v.rep.FirstTime.IsZero() {
		v.rep.FirstTime = e.StoredAt
	}
	v.rep.LastTime = e.StoredAt
	v.rep.Entries++

	if e.Directory != nil {
		return v.directory(e, j.opened, j.openErr)
	}
	if v.cur == nil {
		return failAt(seq, ErrNoDirectory, nil, "a notice before the first directory entry: no key can verify it")
	}
	var claims *envelope.Claims
	var key *directory.Key
	if e.Envelope != nil {
		if err := j.checkErr; err != nil {
			return failAt(seq, ErrEntry, err, "notice (directory serial %d, log time %s)", v.cur.Serial, e.StoredAt.UTC().Format(time.RFC3339))
		}
		claims, key = j.claims, j.key
		v.rep.Notices++
	} else {
		if err := j.checkErr; err != nil {
			return failAt(seq, ErrEntry, err, "redacted notice (directory serial %d, log time %s)", v.cur.Serial, e.StoredAt.UTC().Format(time.RFC3339))
		}
		c := j.claims
		claims, key = c, j.key
		v.rep.Redacted++
		// A notice addressed to every member is never redacted: a hub
		// that sends only its JWS withholds it (DESIGN.md, "Access").
		if len(c.Audience) == 0 {
			v.warnf("sequence %d: redacted, but %s/%s is addressed to every member: the hub withheld it", seq, c.Issuer, c.ID)
		}
	}
	v.byKid[key.ID] = append(v.byKid[key.ID], timed{seq: seq, storedAt: e.StoredAt})
	if d := e.StoredAt.Sub(claims.IssuedAt); d > publishWindow || d < -publishWindow {
		v.warnf("sequence %d: issued_at %s is %s from its log time %s (the hub allows %s)", seq,
			claims.IssuedAt.Format(time.RFC3339), d.Round(time.Second), e.StoredAt.UTC().Format(time.RFC3339), publishWindow)
	}
	if v.cfg.Quorum != nil {
		v.pending = append(v.pending, timed{seq: seq, storedAt: e.StoredAt})
	}
	v.issuers[claims.Issuer] = true
	return v.reference(seq, claims)
}

// reference checks the notice's identity and what it supersedes.
func (v *verifier) reference(seq uint64, c *envelope.Claims) error {
	key := c.Issuer + "\x00" + c.ID
	if prev, ok := v.notices[key]; ok {
		return failAt(seq, ErrReference, nil, "notice %s/%s was already logged at sequence %d", c.Issuer, c.ID, prev.seq)
	}
	if c.Supersedes != "" {
		ref, ok := v.notices[c.Issuer+"\x00"+c.Supersedes]
		if !ok {
			if other, ok := v.ids[c.Supersedes]; ok {
				return failAt(seq, ErrReference, nil, "%s/%s supersedes %s, a notice of %s (sequence %d), not of %s",
					c.Issuer, c.ID, c.Supersedes, other.issuer, other.seq, c.Issuer)
			}
			return failAt(seq, ErrReference, nil, "%s/%s supersedes %s, which no earlier entry holds", c.Issuer, c.ID, c.Supersedes)
		}
		// DESIGN.md, "Access": a replacement reaches at least the audience
		// of what it replaces, or some members keep acting on it.
		if len(c.Audience) != 0 {
			if len(ref.audience) == 0 {
				return failAt(seq, ErrReference, nil, "%s/%s supersedes %s (sequence %d), addressed to every member, but only reaches %q",
					c.Issuer, c.ID, c.Supersedes, ref.seq, c.Audience)
			}
			for _, m := range ref.audience {
				if !slices.Contains(c.Audience, m) {
					return failAt(seq, ErrReference, nil, "%s/%s supersedes %s (sequence %d) but does not reach %q, who received it",
						c.Issuer, c.ID, c.Supersedes, ref.seq, m)
				}
			}
		}
	}
	r := noticeRef{issuer: c.Issuer, seq: seq, audience: c.Audience}
	v.notices[key] = r
	if _, ok := v.ids[c.ID]; !ok {
		v.ids[c.ID] = r
	}
	return nil
}

// directory checks a directory entry, d being its version as
// directory.Open read it (err its failure), and makes it the key state for
// what follows.
func (v *verifier) directory(e *Entry, d *directory.Directory, err error) error {
	seq := e.Sequence
	if err != nil {
		return failAt(seq, ErrDirectory, err, "directory serial %d does not verify under the pinned governance key", e.Directory.Serial)
	}
	if d.Serial != e.Directory.Serial {
		return failAt(seq, ErrDirectory, nil, "entry says serial %d, the signed directory says %d", e.Directory.Serial, d.Serial)
	}
	if v.cur != nil && d.Serial <= v.cur.Serial {
		return failAt(seq, ErrDirectory, nil, "serial %d is not above the previous version's %d (a rollback of the directory)", d.Serial, v.cur.Serial)
	}
	if d.Log != nil {
		last := len(v.logKeys) - 1
		if last < 0 || v.logKeys[last].origin != d.Log.Origin || v.logKeys[last].vkey != d.Log.VerifierKey {
			lv, err := d.Log.Verifier()
			if err != nil {
				return failAt(seq, ErrDirectory, err, "directory serial %d: log verifier key", d.Serial)
			}
			if last >= 0 && v.logKeys[last].origin != d.Log.Origin {
				v.warnf("sequence %d: directory serial %d renames the log from %q to %q", seq, d.Serial, v.logKeys[last].origin, d.Log.Origin)
			}
			v.logKeys = append(v.logKeys, logKey{origin: d.Log.Origin, verifier: lv, vkey: d.Log.VerifierKey})
		}
	}
	v.revocations(seq, d)
	v.cur = d
	v.rep.Directories++
	return nil
}

// revocations warns about entries already logged under a key that the new
// directory d revokes from an instant before their log time (a suspected
// compromise): they stay valid, since the key state is the log's at their
// position, but members withdraw the alerts they caused.
func (v *verifier) revocations(seq uint64, d *directory.Directory) {
	if v.cur == nil {
		return
	}
	for _, m := range d.Members {
		for _, k := range m.Keys {
			if k.RevokedAt.IsZero() {
				continue
			}
			if _, old, ok := v.cur.Key(k.ID); ok && old.RevokedAt.Equal(k.RevokedAt) {
				continue
			}
			var after []uint64
			for _, e := range v.byKid[k.ID] {
				if !e.storedAt.Before(k.RevokedAt) {
					after = append(after, e.seq)
				}
			}
			if len(after) > 0 {
				v.warnf("sequence %d: directory serial %d revokes key %s of %s from %s; %d entries logged since under it (first: sequence %d) are suspect",
					seq, d.Serial, k.ID, m.ID, k.RevokedAt.UTC().Format(time.RFC3339), len(after), after[0])
			}
		}
	}
}
