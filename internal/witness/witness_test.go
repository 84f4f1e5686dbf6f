package witness_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/witness"
)

// cosignedSize reads the size and root of the state, failing the test
// when nothing was cosigned.
func stateOf(t testing.TB, w *witness.Witness) (int64, tlog.Hash) {
	t.Helper()
	cp, err := w.Latest()
	if err != nil {
		t.Fatal(err)
	}
	return cp.Size, cp.Root
}

// TestCosign runs one witness through a history: each step is checked
// against the state the steps before it left.
func TestCosign(t *testing.T) {
	tr := newTree(t, 20, "")
	fork := newTree(t, 20, "fork")
	ctx := context.Background()
	w, _ := newWitness(t, memberA, stateDir(t))
	if _, err := w.Latest(); !errors.Is(err, witness.ErrNotCosigned) {
		t.Fatalf("Latest before the first cosignature: %v, want ErrNotCosigned", err)
	}
	badProof := proof(t, tr, 10, 15)
	badProof[0][0] ^= 1

	steps := []struct {
		name     string
		signed   []byte
		proof    tlog.TreeProof
		wantErr  error
		wantSize int64 // state after the step
	}{
		{"first checkpoint is trusted", checkpointAt(t, tr, 5), nil, nil, 5},
		{"growth with its proof", checkpointAt(t, tr, 10), proof(t, tr, 5, 10), nil, 10},
		{"same checkpoint again", checkpointAt(t, tr, 10), nil, nil, 10},
		{"smaller size", checkpointAt(t, tr, 7), nil, witness.ErrRollback, 10},
		{"same size, other root", signCheckpoint(t, hubKey(t), 10, root(t, fork, 10)), nil, witness.ErrFork, 10},
		{"growth with an altered proof", checkpointAt(t, tr, 15), badProof, witness.ErrInconsistent, 10},
		{"growth without a proof", checkpointAt(t, tr, 15), nil, witness.ErrInconsistent, 10},
		{"growth with a proof from another size", checkpointAt(t, tr, 15), proof(t, tr, 5, 15), witness.ErrInconsistent, 10},
		{"fork at a larger size", signCheckpoint(t, hubKey(t), 15, root(t, fork, 15)), proof(t, tr, 10, 15), witness.ErrInconsistent, 10},
		{"not signed by the log key", signCheckpoint(t, otherKey(t), 15, root(t, tr, 15)), proof(t, tr, 10, 15), auditlog.ErrCheckpointSignature, 10},
		{"growth after refusals", checkpointAt(t, tr, 15), proof(t, tr, 10, 15), nil, 15},
		{"growth to the whole tree", checkpointAt(t, tr, 20), proof(t, tr, 15, 20), nil, 20},
	}
	for _, st := range steps {
		before, err := w.Latest()
		if err != nil && !errors.Is(err, witness.ErrNotCosigned) {
			t.Fatal(err)
		}
		got, err := w.Cosign(ctx, st.signed, st.proof)
		if !errors.Is(err, st.wantErr) || (err == nil) != (st.wantErr == nil) {
			t.Fatalf("%s: Cosign: %v, want %v", st.name, err, st.wantErr)
		}
		size, _ := stateOf(t, w)
		if size != st.wantSize {
			t.Fatalf("%s: state size %d, want %d", st.name, size, st.wantSize)
		}
		if err != nil {
			if after, _ := w.Latest(); !bytes.Equal(after.Note, before.Note) {
				t.Errorf("%s: refused, but the state changed", st.name)
			}
			continue
		}
		// The cosigned note: the log's checkpoint, unchanged, and one
		// valid cosignature by this witness.
		if !bytes.HasPrefix(got, st.signed) {
			t.Errorf("%s: cosigned note %q does not extend the input %q", st.name, got, st.signed)
		}
		if n, err := note.Open(got, note.VerifierList(w.Verifier())); err != nil || len(sigLines(got, memberA)) != 1 {
			t.Errorf("%s: cosignature: %v, %d lines by %s", st.name, err, len(sigLines(got, memberA)), memberA)
		} else if _, err := auditlog.ParseCheckpoint(got, testOrigin, hubKey(t).verifier); err != nil {
			t.Errorf("%s: cosigned note: %v", st.name, err)
		} else if len(n.Sigs) != 1 {
			t.Errorf("%s: %d signatures by the witness", st.name, len(n.Sigs))
		}
		if latest, _ := w.Latest(); !bytes.Equal(latest.Note, got) {
			t.Errorf("%s: Latest is not the note just returned", st.name)
		}
	}
}

// A fork's error carries the proof: both log-signed checkpoints, which
// anyone holding the directory can check.
func TestCosignForkProof(t *testing.T) {
	tr := newTree(t, 10, "")
	fork := newTree(t, 10, "fork")
	w, _ := newWitness(t, memberA, stateDir(t))
	first, err := w.Cosign(context.Background(), checkpointAt(t, tr, 10), nil)
	if err != nil {
		t.Fatal(err)
	}
	forked := signCheckpoint(t, hubKey(t), 10, root(t, fork, 10))
	_, err = w.Cosign(context.Background(), forked, nil)
	var p *witness.ForkProof
	if !errors.As(err, &p) || !errors.Is(err, witness.ErrFork) {
		t.Fatalf("Cosign of a fork: %v, want a *ForkProof", err)
	}
	if !bytes.Equal(p.A, first) || !bytes.Equal(p.B, forked) {
		t.Errorf("proof holds %q and %q, want the cosigned %q and the fork %q", p.A, p.B, first, forked)
	}
	dir := testDir(t, 1, nil)
	if err := p.Verify(dir); err != nil {
		t.Errorf("Verify: %v", err)
	}
	again, err := witness.ParseForkProof(p.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Verify(dir); err != nil {
		t.Errorf("Verify after a round trip through the encoding: %v", err)
	}
}

// The cosignature is added to those the note carries; an older line by
// the same witness is replaced, never doubled.
func TestCosignKeepsOtherSignatures(t *testing.T) {
	tr := newTree(t, 10, "")
	w, _ := newWitness(t, memberA, stateDir(t))
	withB := cosign(t, checkpointAt(t, tr, 10), memberB, witnessKey(memberB))
	got, err := w.Cosign(context.Background(), withB, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigLines(got, memberB)) != 1 || len(sigLines(got, memberA)) != 1 || len(sigLines(got, testOrigin)) != 1 {
		t.Fatalf("cosigned note %q: want one line each by the log, %s and %s", got, memberA, memberB)
	}
	q, err := witness.CheckQuorum(testDir(t, 2, nil), got, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !q.Satisfied() || len(q.Cosigners) != 2 {
		t.Errorf("quorum %+v, want %s and %s", q, memberA, memberB)
	}
	again, err := w.Cosign(context.Background(), got, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigLines(again, memberA)) != 1 || len(sigLines(again, memberB)) != 1 {
		t.Errorf("re-cosigned note %q: want one line by each witness", again)
	}
}

// The state outlives the process: after a restart the witness still
// refuses what it refused before.
func TestCosignAfterRestart(t *testing.T) {
	tr := newTree(t, 10, "")
	dir := stateDir(t)
	w, s := newWitness(t, memberA, dir)
	if _, err := w.Cosign(context.Background(), checkpointAt(t, tr, 10), nil); err != nil {
		t.Fatal(err)
	}
	s.Close()

	w, _ = newWitness(t, memberA, dir)
	if size, _ := stateOf(t, w); size != 10 {
		t.Fatalf("after restart: size %d, want 10", size)
	}
	if _, err := w.Cosign(context.Background(), checkpointAt(t, tr, 7), nil); !errors.Is(err, witness.ErrRollback) {
		t.Errorf("rollback after restart: %v, want ErrRollback", err)
	}
}

// A state cosigned under one log key is not silently taken over by
// another: replacing the log is an operator's decision.
func TestNewRefusesStateOfAnotherLog(t *testing.T) {
	dir := stateDir(t)
	w, s := newWitness(t, memberA, dir)
	if _, err := w.Cosign(context.Background(), checkpointAt(t, newTree(t, 3, ""), 3), nil); err != nil {
		t.Fatal(err)
	}
	_, err := witness.New(witness.Config{
		MemberID: memberA, Key: witnessKey(memberA), Origin: testOrigin, LogVerifier: otherKey(t).verifier, State: s,
	})
	if !errors.Is(err, witness.ErrWrongLog) {
		t.Errorf("New under another log key: %v, want ErrWrongLog", err)
	}
}

func TestCosignEmptyTree(t *testing.T) {
	w, _ := newWitness(t, memberA, stateDir(t))
	empty, _ := tlog.TreeHash(0, nil)
	if _, err := w.Cosign(context.Background(), signCheckpoint(t, hubKey(t), 0, tlog.RecordHash([]byte("x"))), nil); !errors.Is(err, witness.ErrInconsistent) {
		t.Errorf("size 0 with a non-empty root: %v, want ErrInconsistent", err)
	}
	if _, err := w.Cosign(context.Background(), signCheckpoint(t, hubKey(t), 0, empty), nil); err != nil {
		t.Fatal(err)
	}
	// From size 0 any growth is consistent: nothing to prove.
	tr := newTree(t, 4, "")
	if _, err := w.Cosign(context.Background(), checkpointAt(t, tr, 4), nil); err != nil {
		t.Errorf("growth from size 0: %v", err)
	}
}

func TestCosignCanceled(t *testing.T) {
	w, _ := newWitness(t, memberA, stateDir(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Cosign(ctx, checkpointAt(t, newTree(t, 3, ""), 3), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Cosign with a canceled context: %v", err)
	}
	if _, err := w.Latest(); !errors.Is(err, witness.ErrNotCosigned) {
		t.Errorf("state after a canceled Cosign: %v, want nothing cosigned", err)
	}
}

// Two requests racing from the same state, each with a proof from it:
// whichever lands first makes the other inconsistent (or a rollback), so
// exactly one is cosigned and the state is that one.
func TestCosignRace(t *testing.T) {
	tr := newTree(t, 20, "")
	for range 5 {
		w, _ := newWitness(t, memberA, stateDir(t))
		if _, err := w.Cosign(context.Background(), checkpointAt(t, tr, 10), nil); err != nil {
			t.Fatal(err)
		}
		sizes := []int64{12, 14}
		errs := make([]error, len(sizes))
		var wg sync.WaitGroup
		for i, size := range sizes {
			signed, p := checkpointAt(t, tr, size), proof(t, tr, 10, size)
			wg.Go(func() { _, errs[i] = w.Cosign(context.Background(), signed, p) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won < 0:
				won = i
			case err == nil:
				t.Fatal("both racing checkpoints were cosigned from one state")
			case !errors.Is(err, witness.ErrInconsistent) && !errors.Is(err, witness.ErrRollback):
				t.Fatalf("losing Cosign: %v", err)
			}
		}
		if won < 0 {
			t.Fatal("neither racing checkpoint was cosigned")
		}
		if size, _ := stateOf(t, w); size != sizes[won] {
			t.Errorf("state size %d, want the winner's %d", size, sizes[won])
		}
	}
}

func TestHandler(t *testing.T) {
	w, _ := newWitness(t, memberA, stateDir(t))
	h := w.Handler()
	get := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	if rec := get(http.MethodGet, "/"); rec.Code != http.StatusNotFound {
		t.Errorf("GET before the first cosignature: %d, want 404", rec.Code)
	}
	cosigned, err := w.Cosign(context.Background(), checkpointAt(t, newTree(t, 3, ""), 3), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := get(http.MethodGet, "/")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" ||
		!bytes.Equal(rec.Body.Bytes(), cosigned) {
		t.Errorf("GET: %d %q %q, want 200 text/plain %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body, cosigned)
	}
	if rec := get(http.MethodHead, "/"); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes, want 200 and no body", rec.Code, rec.Body.Len())
	}
	if rec := get(http.MethodPost, "/"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
	if rec := get(http.MethodGet, "/other"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /other: %d, want 404", rec.Code)
	}
}
