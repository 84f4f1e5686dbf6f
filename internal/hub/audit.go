package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// appendBatch bounds how many records one tree append takes: each append
// syncs the hash file once, so catching up on a long stream is batched.
const appendBatch = 1024

// followRetry is the pause before the tree follows the stream again after
// NATS failed to answer.
const followRetry = time.Second

// auditor keeps the hub's verifiable history: the Merkle tree over the
// stream (auditlog.Tree over a FileStore), the checkpoints it signs under
// the log key (auditlog.Checkpointer), every checkpoint it signed with the
// cosignatures members handed in (checkpointStore), and the directory
// versions it appends (directoryLog). All files are in the data directory,
// outside NATS: whoever runs NATS cannot roll them back with the stream.
type auditor struct {
	log      *bus.Log
	logger   *slog.Logger
	key      *logKey
	every    int64
	interval time.Duration

	store       *auditlog.FileStore
	tree        *auditlog.Tree
	signer      *auditlog.Checkpointer
	checkpoints *checkpointStore
	dirs        *directoryLog

	// logged is the directory version in force at the tree's end: the
	// last one the follower met in the stream. Every notice after the
	// first directory version is verified against it at its log time
	// before it joins the tree, so an entry written into the stream past
	// the hub (by whoever runs NATS) stops the tree instead of being
	// signed into a checkpoint. Only the follower goroutine touches it.
	logged *directory.Directory

	mu     sync.Mutex
	broken error          // why the tree stopped: it disagrees with the stream
	health *health.Server // LogService's status; nil in tests of the parts
}

// openAuditor opens the audit state in cfg.DataDir and checks it against
// the stream. It returns nil, nil when no log key is configured. A
// persisted tree that disagrees with the stream does not stop the hub:
// the auditor is then broken (LogService NOT_SERVING, calls DATA_LOSS) and
// signs nothing.
func openAuditor(ctx context.Context, cfg Config, log *bus.Log, dirs *directorySource) (*auditor, error) {
	if cfg.LogKeyFile == "" {
		return nil, nil
	}
	if cfg.DirectoryVerifier == "" {
		return nil, errors.New("log key: the log holds signed directory versions; pin the governance key (--directory-verifier) too")
	}
	key, err := readLogKey(cfg.LogKeyFile)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(auditPath(cfg.DataDir, ""), 0o700); err != nil {
		return nil, fmt.Errorf("log state: %w", err)
	}
	a := &auditor{log: log, logger: cfg.Logger, key: key, every: int64(cfg.CheckpointEvery), interval: cfg.CheckpointInterval}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	if a.store, err = auditlog.OpenFileStore(auditPath(cfg.DataDir, "tree-hashes")); err != nil {
		return nil, err
	}
	if a.tree, err = auditlog.OpenTree(a.store); err != nil {
		return nil, err
	}
	if a.signer, err = auditlog.OpenCheckpointer(auditlog.CheckpointerConfig{
		Path: auditPath(cfg.DataDir, "checkpoint"), Origin: key.origin(), Signer: key.signer, Verifier: key.verifier,
	}); err != nil {
		return nil, err
	}
	if a.checkpoints, err = openCheckpointStore(auditPath(cfg.DataDir, "checkpoints.jsonl")); err != nil {
		return nil, err
	}
	// The checkpointer persists a checkpoint before the store does; a
	// crash in between leaves it out of the store until now.
	if last, signed := a.signer.Latest(); signed {
		if _, found, err := a.checkpoints.get(last.Size); err != nil {
			return nil, err
		} else if !found {
			if err := a.checkpoints.put(checkpointRecord{Size: last.Size, Note: last.Note}); err != nil {
				return nil, err
			}
		}
	}
	if err := a.checkStream(ctx); err != nil {
		a.fail(err)
	}
	a.dirs = &directoryLog{log: log, vkey: cfg.DirectoryVerifier, key: key, logger: cfg.Logger, loaded: dirs.loaded, kick: make(chan struct{}, 1)}
	if err := a.dirs.open(ctx); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// checkStream compares the persisted tree with the stream: the stream must
// hold every entry the tree does, the tree's last leaf must be the
// stream's entry at that sequence, and the tree's root at the last signed
// size the signed root. (A tree file that is missing is rebuilt from the
// stream; the checkpointer then refuses a rebuilt tree that contradicts
// what it signed.)
func (a *auditor) checkStream(ctx context.Context) error {
	n := a.tree.Size()
	_, last, err := a.log.Bounds(ctx)
	if err != nil {
		return fmt.Errorf("log tree: %w", err)
	}
	if uint64(n) > last {
		return fmt.Errorf("%w: the tree holds %d entries but the stream ends at sequence %d", ErrTreeMismatch, n, last)
	}
	if n > 0 {
		m, err := a.log.Get(ctx, uint64(n))
		if err != nil {
			return fmt.Errorf("%w: sequence %d: %v", ErrTreeMismatch, n, err)
		}
		rec, err := auditlog.LeafOf(m.Subject, m.Body)
		if err != nil {
			return fmt.Errorf("%w: sequence %d: %v", ErrTreeMismatch, n, err)
		}
		stored, err := a.tree.LeafHash(n - 1)
		if err != nil {
			return fmt.Errorf("log tree: %w", err)
		}
		if got := tlog.RecordHash(rec); got != stored {
			return fmt.Errorf("%w: sequence %d: the stream's entry hashes to %s, the tree holds %s", ErrTreeMismatch, n, got, stored)
		}
	}
	if cp, ok := a.signer.Latest(); ok && cp.Size <= n {
		root, err := a.tree.Root(cp.Size)
		if err != nil {
			return fmt.Errorf("log tree: %w", err)
		}
		if root != cp.Root {
			return fmt.Errorf("%w: the tree's root at size %d is %s, the hub signed %s", ErrTreeMismatch, cp.Size, root, cp.Root)
		}
	}
	return nil
}

// fail stops the tree for good (until an operator looks): logged loudly,
// LogService marked NOT_SERVING, nothing signed from now on.
func (a *auditor) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken != nil {
		return
	}
	a.broken = err
	a.logger.Error("LOG TREE STOPPED: the stream disagrees with the hub's signed history; no checkpoint will be signed. "+
		"Find out who changed the stream (or restored a backup) before anything else", "err", err)
	if a.health != nil {
		a.health.SetServingStatus(headsupv1.LogService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	}
}

// failure returns why the auditor stopped, nil while it runs.
func (a *auditor) failure() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.broken
}

// serveHealth reports LogService's status on h from now on; without a
// log key (a nil auditor) it is NOT_SERVING.
func (a *auditor) serveHealth(h *health.Server) {
	if a == nil {
		h.SetServingStatus(headsupv1.LogService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.health = h
	st := healthpb.HealthCheckResponse_SERVING
	if a.broken != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	h.SetServingStatus(headsupv1.LogService_ServiceDesc.ServiceName, st)
}

// logRecord is one stream entry on its way into the tree.
type logRecord struct {
	seq    uint64
	record []byte
	// serial and signed are set for a directory version.
	serial uint64
	signed []byte
}

// run keeps the tree in step with the stream, signs checkpoints and
// appends directory versions until ctx is done (a nil auditor returns at
// once). A tree that stops on a disagreement does not end it: the hub goes
// on serving and fail said why.
func (a *auditor) run(ctx context.Context) error {
	if a == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { defer close(done); a.dirs.run(ctx) }()
	a.runTree(ctx)
	<-done
	return nil
}

func (a *auditor) runTree(ctx context.Context) {
	if a.failure() != nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	records := make(chan logRecord, appendBatch)
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		a.follow(ctx, records)
		cancel()
	}()
	defer func() { cancel(); <-followDone }()

	var ticker <-chan time.Time
	if a.interval > 0 {
		t := time.NewTicker(a.interval)
		defer t.Stop()
		ticker = t.C
	}
	for {
		if a.failure() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker:
			a.sign(false)
		case r := <-records:
			batch := []logRecord{r}
		drain:
			for len(batch) < appendBatch {
				select {
				case r := <-records:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			if err := a.appendRecords(batch); err != nil {
				a.fail(err)
				return
			}
			if a.every > 0 {
				a.sign(true)
			}
		}
	}
}

// follow reads the stream after the tree's last entry and hands each
// entry's record to run, resuming after a NATS failure from the last entry
// handed over. A gap, or an entry that is neither a notice nor a directory
// version, stops the tree.
func (a *auditor) follow(ctx context.Context, out chan<- logRecord) {
	for {
		err := a.loadLogged(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, ErrTreeMismatch) {
			a.fail(err)
			return
		}
		a.logger.Warn("log tree: reading the latest directory version failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(followRetry):
		}
	}
	next := uint64(a.tree.Size()) + 1
	for ctx.Err() == nil {
		err := a.log.Follow(ctx, next-1, func(m bus.Message) error {
			rec, err := auditlog.LeafOf(m.Subject, m.Body)
			if err != nil {
				return fmt.Errorf("%w: sequence %d: %v", ErrTreeMismatch, m.Seq, err)
			}
			r := logRecord{seq: m.Seq, record: rec}
			if serial, ok := bus.DirectorySerial(m.Subject); ok {
				r.serial, r.signed = serial, m.Body
			}
			if err := a.checkEntry(m, r); err != nil {
				return err
			}
			select {
			case out <- r:
			case <-ctx.Done():
				return ctx.Err()
			}
			next = m.Seq + 1
			return nil
		})
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, bus.ErrGap), errors.Is(err, bus.ErrOutOfRange), errors.Is(err, ErrTreeMismatch):
			a.fail(fmt.Errorf("%w: %v", ErrTreeMismatch, err))
			return
		}
		a.logger.Warn("log tree: reading the stream failed; retrying", "after_sequence", next-1, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(followRetry):
		}
	}
}

// checkEntry verifies a stream entry before it joins the tree: a directory
// version must be signed by the governance key with a serial above the
// last one logged; a notice after the first logged directory version must
// verify against the version in force at its log time. Entries before any
// logged directory (a log started without a log key) are left to the
// auditor, which refuses them.
func (a *auditor) checkEntry(m bus.Message, r logRecord) error {
	if r.signed != nil {
		d, err := directory.Open(r.signed, a.dirs.vkey)
		if err != nil {
			return fmt.Errorf("%w: sequence %d: directory version %d is not signed by the governance key: %v", ErrTreeMismatch, m.Seq, r.serial, err)
		}
		if a.logged != nil && d.Serial <= a.logged.Serial {
			return fmt.Errorf("%w: sequence %d: directory serial %d after serial %d", ErrTreeMismatch, m.Seq, d.Serial, a.logged.Serial)
		}
		a.logged = d
		return nil
	}
	if a.logged == nil {
		return nil
	}
	env := &headsupv1.Envelope{}
	if err := proto.Unmarshal(m.Body, env); err != nil {
		return fmt.Errorf("%w: sequence %d: stored body is not an envelope: %v", ErrTreeMismatch, m.Seq, err)
	}
	_, err := envelope.Verify(env, a.logged, m.Stored)
	switch {
	case errors.Is(err, envelope.ErrKeyNotValid):
		// A directory version revoking the key can be logged between
		// Publish's check and its append: the auditor reports the entry,
		// but it is no sign that the stream was written past the hub.
		a.logger.Warn("log tree: an entry's key was not valid at its log time under the directory version before it", "sequence", m.Seq, "err", err)
	case err != nil:
		return fmt.Errorf("%w: sequence %d: the stream holds an envelope the hub would have refused: %v", ErrTreeMismatch, m.Seq, err)
	}
	return nil
}

// loadLogged sets the directory version in force at the tree's end from
// the stream, for a follower that resumes after a restart.
func (a *auditor) loadLogged(ctx context.Context) error {
	size := uint64(a.tree.Size())
	if size == 0 {
		return nil
	}
	m, err := a.log.LatestDirectory(ctx)
	switch {
	case errors.Is(err, bus.ErrNotFound):
		return nil
	case err != nil:
		return err
	case m.Seq > size:
		// The tree stopped short of the latest version (a restart while
		// catching up): the follower meets it; notices before it are left
		// to the auditor.
		return nil
	}
	d, err := directory.Open(m.Body, a.dirs.vkey)
	if err != nil {
		return fmt.Errorf("%w: sequence %d: logged directory is not signed by the governance key: %v", ErrTreeMismatch, m.Seq, err)
	}
	a.logged = d
	return nil
}

// appendRecords adds a batch to the tree, checking that it continues it.
func (a *auditor) appendRecords(batch []logRecord) error {
	size := uint64(a.tree.Size())
	recs := make([][]byte, len(batch))
	for i, r := range batch {
		if r.seq != size+uint64(i)+1 {
			return fmt.Errorf("%w: sequence %d delivered after the tree's %d", ErrTreeMismatch, r.seq, size+uint64(i))
		}
		recs[i] = r.record
	}
	if err := a.tree.Append(recs); err != nil {
		return fmt.Errorf("log tree: %w", err)
	}
	for _, r := range batch {
		if r.signed != nil {
			a.dirs.seen(r.serial, r.signed)
		}
	}
	return nil
}

// sign signs a checkpoint of the tree as it stands when it grew since the
// last one: with byCount, only once it grew by every entries. It never
// signs one inconsistent with the last it signed (the Checkpointer's
// check) or with the largest checkpoint a member cosigned; either
// inconsistency stops the tree.
func (a *auditor) sign(byCount bool) {
	size := a.tree.Size()
	last, signed := a.signer.Latest()
	switch {
	case size == 0, signed && size <= last.Size:
		return
	case byCount && size-last.Size < a.every:
		return
	}
	root, err := a.tree.Root(size)
	if err != nil {
		a.logger.Error("log tree: checkpoint not signed", "size", size, "err", err)
		return
	}
	var proof tlog.TreeProof
	if signed && last.Size > 0 {
		if proof, err = a.tree.ConsistencyProof(last.Size, size); err != nil {
			a.logger.Error("log tree: checkpoint not signed", "size", size, "err", err)
			return
		}
	}
	if err := a.checkCosigned(size, root); err != nil {
		a.fail(err)
		return
	}
	note, err := a.signer.Sign(size, root, proof)
	if errors.Is(err, auditlog.ErrInconsistent) {
		a.fail(fmt.Errorf("%w: %v", ErrTreeMismatch, err))
		return
	}
	if err != nil {
		a.logger.Error("log tree: checkpoint not signed", "size", size, "err", err)
		return
	}
	if err := a.checkpoints.put(checkpointRecord{Size: size, Note: note}); err != nil {
		a.logger.Error("log tree: signed checkpoint not stored; GetCheckpoint(size) will not find it", "size", size, "err", err)
	}
}

// checkCosigned refuses (size, root) unless it extends the largest
// checkpoint a member cosigned: a witness saw that one, so a tree that
// contradicts it is a fork the hub must not sign.
func (a *auditor) checkCosigned(size int64, root tlog.Hash) error {
	rec, ok, err := a.checkpoints.largestCosigned()
	if err != nil || !ok {
		return err
	}
	cp, err := auditlog.ParseCheckpoint(rec.Note, a.key.origin(), a.key.verifier)
	if err != nil {
		return fmt.Errorf("%w: cosigned checkpoint of size %d in the store: %v", ErrTreeMismatch, rec.Size, err)
	}
	wsize, wroot := int64(cp.Size), tlog.Hash(cp.Hash)
	if size < wsize {
		return fmt.Errorf("%w: size %d is below the cosigned size %d", ErrTreeMismatch, size, wsize)
	}
	proof, err := a.tree.ConsistencyProof(wsize, size)
	if err != nil {
		return fmt.Errorf("%w: from cosigned size %d: %v", ErrTreeMismatch, wsize, err)
	}
	if err := tlog.CheckTree(proof, size, root, wsize, wroot); err != nil {
		return fmt.Errorf("%w: size %d root %s does not extend the cosigned size %d root %s: %v", ErrTreeMismatch, size, root, wsize, wroot, err)
	}
	return nil
}

func (a *auditor) close() {
	if a.checkpoints != nil {
		a.checkpoints.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}
