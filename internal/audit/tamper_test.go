package audit_test

// End-to-end tamper and fork tests (issue 7, "What it must show"), played
// by someone who runs NATS: the real hub on an external nats-server, the
// real LogService over gRPC, and audit.Verify as `headsup audit verify`
// runs it, with the --state and --previous export an auditor saved
// before the tampering.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/tlog"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/witness"
)

// before is the log as the auditor saw it before the tampering: the
// directory at sequence 1, then notices up to size, all verified (the
// state holds the checkpoint of size) and exported.
type before struct {
	w    *world
	nats *natsNode
	data string // the hub's data directory
	hub  *runningHub
	size uint64
	aud  *auditor
	// A snapshot of the NATS store and of the hub's data directory, both
	// taken while stopped, when the log held snapSize entries.
	snapNATS, snapData string
	snapSize           uint64
}

// sizes of the history before the tampering.
const (
	firstNotices = 6 // sequences 2..7; the snapshot is taken here
	moreNotices  = 5 // sequences 8..12
	untampered   = 1 + firstNotices + moreNotices
)

func setupBefore(t *testing.T) *before {
	t.Helper()
	w := newWorld(t)
	b := &before{w: w, data: filepath.Join(w.root, "hub"), aud: w.auditor()}
	store := filepath.Join(w.root, "nats")
	b.nats = w.startNATS(store)
	b.hub = w.startHub(b.nats.url(), b.data)
	b.snapSize = w.publish(b.hub, firstNotices)
	w.checkpointAt(b.hub, b.snapSize)
	b.hub.stop()
	b.nats.stop()
	b.snapNATS, b.snapData = filepath.Join(w.root, "snap-nats"), filepath.Join(w.root, "snap-hub")
	copyDir(t, store, b.snapNATS)
	copyDir(t, b.data, b.snapData)

	b.nats = w.startNATS(store)
	b.hub = w.startHub(b.nats.url(), b.data)
	b.size = w.publish(b.hub, moreNotices)
	if b.size != untampered {
		t.Fatalf("log ends at %d, want %d", b.size, untampered)
	}
	w.checkpointAt(b.hub, b.size)
	b.aud.baseline(b.hub, b.size)
	return b
}

// originalRefuses: the hub restarted on its own data directory refuses a
// recreated stream: its persisted log_id is the old stream's (DESIGN.md,
// Bus: "a hub that has persisted log state never recreates a missing or
// shorter stream").
func (b *before) originalRefuses(t *testing.T) {
	t.Helper()
	_, err := b.w.tryHub(b.nats.url(), b.data)
	if !errors.Is(err, bus.ErrStreamLost) {
		t.Fatalf("the original hub on the rebuilt stream: %v; want it to refuse (bus.ErrStreamLost)", err)
	}
}

// replica starts a hub with a fresh data directory on the tampered
// stream, as a new stateless replica would, with the log key.
func (b *before) replica(t *testing.T) *runningHub {
	t.Helper()
	return b.w.startHub(b.nats.url(), filepath.Join(b.w.root, "replica"))
}

func (b *before) operator(t *testing.T) *operator {
	t.Helper()
	b.hub.stop()
	return b.w.operator(b.nats)
}

func inRange(f *audit.Failure, seq uint64) bool { return f.Range[0] <= seq && seq <= f.Range[1] }

// TestTamperUnderTheHub: each way someone running NATS can alter the
// history is caught, by the hub itself or by `audit verify` with its
// saved state, naming the sequence or the range.
func TestTamperUnderTheHub(t *testing.T) {
	ctx := context.Background()

	t.Run("one message deleted", func(t *testing.T) {
		t.Parallel()
		b := setupBefore(t)
		op := b.operator(t)
		op.rebuild(op.messages(), func(s jetstream.Stream) { check(t, s.DeleteMsg(ctx, 5)) })
		b.originalRefuses(t)
		h := b.replica(t)
		// The replica's tree meets the gap and stops: the hub's own
		// defence, before any auditor.
		logHealth(t, h, healthpb.HealthCheckResponse_NOT_SERVING)
		_, err := b.aud.verify(h, false)
		if f := failure(t, err, audit.ErrGap); f.Sequence != 5 || !inRange(f, 5) {
			t.Fatalf("failure %v names sequence %d, range %v; want 5", f, f.Sequence, f.Range)
		}
	})

	t.Run("a range purged", func(t *testing.T) {
		t.Parallel()
		b := setupBefore(t)
		op := b.operator(t)
		msgs := op.messages()
		op.rebuild(msgs, func(s jetstream.Stream) {
			for _, m := range msgs[3:7] { // sequences 4..7
				check(t, s.Purge(ctx, jetstream.WithPurgeSubject(m.subject)))
			}
		})
		b.originalRefuses(t)
		h := b.replica(t)
		logHealth(t, h, healthpb.HealthCheckResponse_NOT_SERVING)
		_, err := b.aud.verify(h, false)
		if f := failure(t, err, audit.ErrGap); f.Sequence != 4 || !inRange(f, 7) {
			t.Fatalf("failure %v names sequence %d, range %v; want 4 in a range through 7", f, f.Sequence, f.Range)
		}
	})

	t.Run("the oldest entries purged", func(t *testing.T) {
		t.Parallel()
		b := setupBefore(t)
		op := b.operator(t)
		op.rebuild(op.messages(), func(s jetstream.Stream) {
			check(t, s.Purge(ctx, jetstream.WithPurgeSequence(5))) // 1..4
		})
		b.originalRefuses(t)
		h := b.replica(t)
		logHealth(t, h, healthpb.HealthCheckResponse_NOT_SERVING)
		_, err := b.aud.verify(h, false)
		if f := failure(t, err, audit.ErrGap); f.Sequence != 1 {
			t.Fatalf("failure %v names sequence %d; want 1", f, f.Sequence)
		}
	})

	t.Run("an altered copy of an envelope appended", func(t *testing.T) {
		t.Parallel()
		b := setupBefore(t)
		// No rebuild needed: DenyDelete does not stop a publish, and the
		// hub is running and follows its stream.
		op := b.w.operator(b.nats)
		orig := op.messages()[2] // sequence 3, a notice
		env := &headsupv1.Envelope{}
		check(t, proto.Unmarshal(orig.body, env))
		n := &headsupv1.Notice{}
		check(t, proto.Unmarshal(env.Notice, n))
		n.Subject.Label = "innocent.example"
		n.Subject.Identifiers[0].Value = &headsupv1.Identifier_Host{Host: "innocent.example"}
		var err error
		env.Notice, err = proto.Marshal(n)
		check(t, err)
		body, err := proto.Marshal(env)
		check(t, err)
		subj, err := bus.Subject(n.Issuer, uuid.Must(uuid.NewV7()).String())
		check(t, err)
		seq := op.append(storedMsg{subject: subj, body: body})
		if seq != b.size+1 {
			t.Fatalf("appended at %d, want %d", seq, b.size+1)
		}
		// The hub verifies what it follows before it joins the tree: it
		// stops its log (NOT_SERVING, DATA_LOSS) and signs nothing over
		// the forgery. The auditor, replaying past it, names the entry.
		logHealth(t, b.hub, healthpb.HealthCheckResponse_NOT_SERVING)
		_, err = b.aud.verify(b.hub, false)
		if f := failure(t, err, audit.ErrEntry); f.Sequence != seq {
			t.Fatalf("failure %v names sequence %d; want %d", f, f.Sequence, seq)
		}
	})

	t.Run("two entries swapped", func(t *testing.T) {
		t.Parallel()
		b := setupBefore(t)
		op := b.operator(t)
		msgs := op.messages()
		msgs[4], msgs[5] = msgs[5], msgs[4] // sequences 5 and 6
		op.rebuild(msgs, nil)
		b.originalRefuses(t)

		// The operator also runs the hub and moves its log state away to
		// hide the new log_id. The hub's start-up check compares only the
		// stream's last entry and its own tree's signed root, so it does
		// not notice a rewritten middle: it goes on serving its old
		// checkpoints over the swapped stream. The auditor names the
		// rewritten part from its state's subtrees.
		check(t, os.Remove(filepath.Join(b.data, "bus-state.json")))
		orig := b.w.startHub(b.nats.url(), b.data)
		logHealth(t, orig, healthpb.HealthCheckResponse_SERVING)
		_, err := b.aud.verify(orig, false)
		if f := failure(t, err, audit.ErrRootMismatch); !inRange(f, 5) || !inRange(f, 6) || f.Range[1] >= b.size {
			t.Fatalf("failure %v: range %v; want one holding 5 and 6, narrowed by the state", f, f.Range)
		}
		orig.stop()

		// A fresh replica with the log key signs the swapped history.
		h := b.replica(t)
		b.w.checkpointAt(h, b.size)
		_, err = b.aud.verify(h, false)
		f := failure(t, err, audit.ErrFork)
		if !inRange(f, 5) || !inRange(f, 6) || f.Range[1] >= b.size || len(f.Notes) != 2 {
			t.Fatalf("failure %v: range %v, %d notes; want a range holding 5 and 6, the state's and the hub's checkpoint", f, f.Range, len(f.Notes))
		}
		_, err = b.aud.verify(h, true)
		if f := failure(t, err, audit.ErrFork); f.Sequence != 5 {
			t.Fatalf("with the previous export: failure %v names sequence %d; want 5", f, f.Sequence)
		}
	})

	t.Run("an older snapshot of the data directory restored", func(t *testing.T) {
		t.Parallel()
		b := setupBefore(t)
		b.hub.stop()
		b.nats.stop()
		restoreDir(t, b.snapNATS, b.nats.store)
		restoreDir(t, b.snapData, b.data)
		b.nats = b.w.startNATS(b.nats.store)
		// Stream and hub state agree: the hub cannot tell.
		h := b.w.startHub(b.nats.url(), b.data)
		logHealth(t, h, healthpb.HealthCheckResponse_SERVING)
		_, err := b.aud.verify(h, false)
		if f := failure(t, err, audit.ErrRollback); f.Sequence != b.snapSize+1 || f.Range != [2]uint64{b.snapSize + 1, b.size} {
			t.Fatalf("failure %v names sequence %d, range %v; want %d, %d..%d", f, f.Sequence, f.Range, b.snapSize+1, b.snapSize+1, b.size)
		}
		// New notices since, past the state's size: the same numbers now
		// hold other entries.
		last := b.w.publish(h, int(b.size-b.snapSize)+1)
		b.w.checkpointAt(h, last)
		_, err = b.aud.verify(h, false)
		if f := failure(t, err, audit.ErrFork); !inRange(f, b.snapSize+1) {
			t.Fatalf("failure %v: range %v; want one holding %d", f, f.Range, b.snapSize+1)
		}
		_, err = b.aud.verify(h, true)
		if f := failure(t, err, audit.ErrFork); f.Sequence != b.snapSize+1 {
			t.Fatalf("with the previous export: failure %v names sequence %d; want %d", f, f.Sequence, b.snapSize+1)
		}
	})

	t.Run("the log key signs a rewritten history", func(t *testing.T) {
		t.Parallel()
		b := setupBefore(t)
		op := b.operator(t)
		msgs := op.messages()
		// Sequence 5 dropped and the rest renumbered: no gap anywhere.
		op.rebuild(append(msgs[:4:4], msgs[5:]...), nil)
		b.originalRefuses(t)
		h := b.replica(t)
		last := b.w.publish(h, 2) // past the state's size again
		b.w.checkpointAt(h, last)
		logHealth(t, h, healthpb.HealthCheckResponse_SERVING)
		_, err := b.aud.verify(h, false)
		if f := failure(t, err, audit.ErrFork); !inRange(f, 5) {
			t.Fatalf("failure %v: range %v; want one holding 5", f, f.Range)
		}
		_, err = b.aud.verify(h, true)
		if f := failure(t, err, audit.ErrFork); f.Sequence != 5 {
			t.Fatalf("with the previous export: failure %v names sequence %d; want 5", f, f.Sequence)
		}
	})
}

// TestForkTwoViews: one log served two ways. Two hubs share a history (a
// NATS store and a data directory copied while stopped), then each takes
// other notices: two checkpoints of one size, two roots, both signed by
// the log key. Member A's witness cosigns one, member B's the other;
// neither ever gets a quorum, B's witness refuses A's checkpoint as a
// fork and keeps the proof, and `audit verify --peers` shows it.
func TestForkTwoViews(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	storeA, dataA := filepath.Join(w.root, "nats-a"), filepath.Join(w.root, "hub-a")
	n := w.startNATS(storeA)
	h := w.startHub(n.url(), dataA)
	common := w.publish(h, 4)
	w.checkpointAt(h, common)
	h.stop()
	n.stop()
	storeB, dataB := filepath.Join(w.root, "nats-b"), filepath.Join(w.root, "hub-b")
	copyDir(t, storeA, storeB)
	copyDir(t, dataA, dataB)
	hubA := w.startHub(w.startNATS(storeA).url(), dataA)
	hubB := w.startHub(w.startNATS(storeB).url(), dataB)
	size := w.publish(hubA, 3)
	if sb := w.publish(hubB, 3); sb != size {
		t.Fatalf("sizes %d and %d", size, sb)
	}
	cpA, cpB := w.checkpointAt(hubA, size), w.checkpointAt(hubB, size)
	rootOf := func(n []byte) tlog.Hash {
		cp, err := auditlog.ParseCheckpoint(n, tamperOrigin, w.logVerif)
		check(t, err)
		return tlog.Hash(cp.Hash)
	}
	if rootOf(cpA) == rootOf(cpB) {
		t.Fatal("the two views have one root")
	}

	// Each member's witness follows the view its hub shows it, from the
	// common checkpoint, checking consistency as C2SP tlog-witness says.
	newWitness := func(id string) *witness.Witness {
		st, err := witness.OpenFileState(t.TempDir())
		check(t, err)
		t.Cleanup(func() { st.Close() })
		wt, err := witness.New(witness.Config{MemberID: id, Key: w.witness[id], Origin: tamperOrigin, LogVerifier: w.logVerif, State: st})
		check(t, err)
		return wt
	}
	follow := func(wt *witness.Witness, h *runningHub, latest []byte) []byte {
		t.Helper()
		base, err := h.log.GetCheckpoint(ctx, &headsupv1.GetCheckpointRequest{Size: common})
		check(t, err)
		if _, err := wt.Cosign(ctx, base.GetCheckpoint(), nil); err != nil {
			t.Fatalf("cosign the common checkpoint: %v", err)
		}
		res, err := h.log.GetConsistencyProof(ctx, &headsupv1.GetConsistencyProofRequest{OldSize: common, NewSize: size})
		check(t, err)
		var proof tlog.TreeProof
		for _, p := range res.GetProof() {
			proof = append(proof, tlog.Hash(p))
		}
		cosigned, err := wt.Cosign(ctx, latest, proof)
		if err != nil {
			t.Fatalf("cosign its hub's checkpoint: %v", err)
		}
		// Handed back to the hub, which attaches it.
		if _, err := h.log.AddCosignature(ctx, &headsupv1.AddCosignatureRequest{Checkpoint: cosigned}); err != nil {
			t.Fatalf("AddCosignature: %v", err)
		}
		return cosigned
	}
	witA, witB := newWitness("epiq"), newWitness("mitigatr")
	cosA, cosB := follow(witA, hubA, cpA), follow(witB, hubB, cpB)
	serve := func(wt *witness.Witness) string {
		srv := httptest.NewServer(wt.Handler())
		t.Cleanup(srv.Close)
		return srv.URL + "/"
	}
	urlA, urlB := serve(witA), serve(witB)

	// B's witness is shown A's checkpoint by a peer: a fork, refused, the
	// proof kept; its state stays B's.
	resp, err := http.Get(urlA)
	check(t, err)
	fromPeer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	check(t, err)
	_, err = witB.Cosign(ctx, fromPeer, nil)
	var proof *witness.ForkProof
	if !errors.Is(err, witness.ErrFork) || !errors.As(err, &proof) {
		t.Fatalf("B's witness shown A's checkpoint: %v; want ErrFork with a ForkProof", err)
	}
	if err := proof.Verify(w.dir); err != nil {
		t.Fatalf("the fork proof does not verify against the directory: %v", err)
	}
	kept, err := witness.ParseForkProof(proof.Marshal())
	check(t, err)
	if rootOf(kept.A) != rootOf(cpB) || rootOf(kept.B) != rootOf(cpA) {
		t.Error("the kept proof does not hold B's and A's checkpoints")
	}
	if last, err := witB.Latest(); err != nil || last.Root != rootOf(cpB) {
		t.Fatalf("B's witness state after the refusal: %v, %v; want B's checkpoint", last.Root, err)
	}

	// No quorum for either view, however their cosignatures are combined,
	// so members' freshness alerts fire after T.
	start := time.Now()
	fresh := witness.NewFreshness(start)
	// mitigatr's cosignature line of B's view, added to A's note.
	combined := bytes.Clone(cosA)
	for line := range bytes.Lines(cosB) {
		if bytes.HasPrefix(line, []byte("— mitigatr ")) {
			combined = append(combined, line...)
		}
	}
	if bytes.Equal(combined, cosA) {
		t.Fatal("no cosignature line by mitigatr on B's checkpoint")
	}
	for name, signed := range map[string][]byte{"A": cosA, "B": cosB, "A with B's lines": combined} {
		q, err := witness.CheckQuorum(w.dir, signed, time.Now())
		check(t, err)
		if q.Satisfied() || len(q.Cosigners) != 1 {
			t.Errorf("view %s: %d cosigners of %d needed; want 1, no quorum", name, len(q.Cosigners), q.Need)
		}
		if fresh.Observe(q, time.Now()) {
			t.Errorf("view %s counted toward freshness", name)
		}
	}
	const freshness = time.Minute
	if !fresh.Stale(start.Add(freshness+time.Second), freshness) {
		t.Error("no freshness alert after T without a quorum")
	}

	// `audit verify --peers` against either hub reports the fork with
	// both notes.
	aud := w.auditor()
	for _, v := range []struct {
		name  string
		h     *runningHub
		peers []string // its own member's witness first
	}{{"A", hubA, []string{urlA, urlB}}, {"B", hubB, []string{urlB, urlA}}} {
		name := v.name
		rep, err := audit.Verify(ctx, aud.config(false, v.peers...), audit.NewHubSource(v.h.log, ""))
		f := failure(t, err, audit.ErrFork)
		if len(f.Notes) != 2 {
			t.Fatalf("hub %s: fork reported with %d notes, want 2", name, len(f.Notes))
		}
		if p, ok := witness.DetectFork(w.dir, f.Notes[0], f.Notes[1]); !ok || p.Verify(w.dir) != nil {
			t.Errorf("hub %s: the failure's notes are not a fork proof", name)
		}
		if len(rep.Peers) != 2 || rep.Peers[0].Status != "agrees" || rep.Peers[1].Status != "forked" {
			t.Errorf("hub %s: peers %+v; want the member shown this view to agree", name, rep.Peers)
		}
	}
}
