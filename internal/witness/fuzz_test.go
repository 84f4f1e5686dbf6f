package witness_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/witness"
)

// fuzzHistory is the log the Cosign fuzz target witnesses: the witness
// last cosigned size fuzzStateSize of a tree of fuzzTreeSize records.
const (
	fuzzTreeSize  = 16
	fuzzStateSize = 6
)

// cosignSeeds are the inputs of FuzzCosign's corpus: a signed checkpoint
// and a consistency proof (its hashes concatenated).
func cosignSeeds(t testing.TB) [][2][]byte {
	tr := newTree(t, fuzzTreeSize, "")
	fork := newTree(t, fuzzTreeSize, "fork")
	flat := func(p tlog.TreeProof) []byte {
		var b []byte
		for _, h := range p {
			b = append(b, h[:]...)
		}
		return b
	}
	return [][2][]byte{
		{checkpointAt(t, tr, 11), flat(proof(t, tr, fuzzStateSize, 11))},
		{checkpointAt(t, tr, 16), flat(proof(t, tr, fuzzStateSize, 16))},
		{checkpointAt(t, tr, fuzzStateSize), nil},
		{cosign(t, checkpointAt(t, tr, 9), memberB, witnessKey(memberB)), flat(proof(t, tr, fuzzStateSize, 9))},
		{checkpointAt(t, tr, 3), nil},
		{signCheckpoint(t, hubKey(t), fuzzStateSize, root(t, fork, fuzzStateSize)), nil},
		{signCheckpoint(t, hubKey(t), 12, root(t, fork, 12)), flat(proof(t, tr, fuzzStateSize, 12))},
	}
}

// FuzzCosign: whatever the hub sends, Cosign either refuses it with a
// named outcome, leaving the state as it was, or returns the log's
// checkpoint with this witness's valid cosignature, stored as the new
// state, and the step from the old state is one a witness may take.
func FuzzCosign(f *testing.F) {
	for _, s := range cosignSeeds(f) {
		f.Add(s[0], s[1])
	}
	tr := newTree(f, fuzzTreeSize, "")
	start := &witness.Checkpoint{Origin: testOrigin, Size: fuzzStateSize, Root: root(f, tr, fuzzStateSize),
		Note: checkpointAt(f, tr, fuzzStateSize)}
	f.Fuzz(func(t *testing.T, signed, proofBytes []byte) {
		var p tlog.TreeProof
		for len(proofBytes) >= tlog.HashSize {
			p = append(p, tlog.Hash(proofBytes[:tlog.HashSize]))
			proofBytes = proofBytes[tlog.HashSize:]
		}
		st := &memState{cur: start}
		w := newWitnessOn(t, memberA, st)
		got, err := w.Cosign(t.Context(), signed, p)
		if err != nil {
			named := []error{witness.ErrRollback, witness.ErrFork, witness.ErrInconsistent,
				auditlog.ErrCheckpointSignature, auditlog.ErrMalformedCheckpoint, auditlog.ErrWrongOrigin}
			if !slicesContainsIs(named, err) {
				t.Fatalf("error without a named outcome: %v", err)
			}
			if cur, _ := st.Load(); !bytes.Equal(cur.Note, start.Note) {
				t.Fatalf("refused (%v), but the state moved", err)
			}
			return
		}
		cp, err := auditlog.ParseCheckpoint(got, testOrigin, hubKey(t).verifier)
		if err != nil {
			t.Fatalf("cosigned note refused: %v", err)
		}
		if !bytes.HasPrefix(got, cp.Marshal()) || !bytes.HasPrefix(signed, cp.Marshal()) {
			t.Fatalf("cosigned %q is not the input's checkpoint", got)
		}
		if _, err := note.Open(got, note.VerifierList(w.Verifier())); err != nil {
			t.Fatalf("own cosignature: %v", err)
		}
		size, rootHash := int64(cp.Size), tlog.Hash(cp.Hash)
		switch {
		case size < start.Size, size == start.Size && rootHash != start.Root:
			t.Fatalf("cosigned size %d root %s from size %d root %s", size, rootHash, start.Size, start.Root)
		case size > start.Size:
			if err := tlog.CheckTree(p, size, rootHash, start.Size, start.Root); err != nil {
				t.Fatalf("cosigned size %d without a valid proof: %v", size, err)
			}
		}
		if cur, _ := st.Load(); !bytes.Equal(cur.Note, got) || cur.Size != size || cur.Root != rootHash {
			t.Fatalf("state %+v is not the note returned", cur)
		}
	})
}

func slicesContainsIs(targets []error, err error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// FuzzParseForkProof: ParseForkProof accepts exactly the encodings
// Marshal writes (the round trip is the identity), and Verify of whatever
// it accepts is nil or ErrNotFork.
func FuzzParseForkProof(f *testing.F) {
	a, b := forkPair(f)
	f.Add((&witness.ForkProof{A: a, B: b}).Marshal())
	f.Add((&witness.ForkProof{A: a, B: a}).Marshal())
	dir := testDir(f, 1, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := witness.ParseForkProof(in)
		if err != nil {
			if !errors.Is(err, witness.ErrMalformedForkProof) {
				t.Fatalf("error without a named outcome: %v", err)
			}
			return
		}
		if out := p.Marshal(); !bytes.Equal(out, in) {
			t.Fatalf("round trip: %q became %q", in, out)
		}
		if err := p.Verify(dir); err != nil && !errors.Is(err, witness.ErrNotFork) {
			t.Fatalf("Verify: %v", err)
		}
	})
}

// TestWriteFuzzSeeds rewrites the seed corpora under testdata/fuzz with
// -update. They are signed with the fixed test keys, so the fuzzer starts
// from notes whose signatures verify.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("rewrites testdata/fuzz with -update")
	}
	write := func(target string, i int, args ...[]byte) {
		var buf bytes.Buffer
		buf.WriteString("go test fuzz v1\n")
		for _, a := range args {
			fmt.Fprintf(&buf, "[]byte(%s)\n", strconv.Quote(string(a)))
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range cosignSeeds(t) {
		write("FuzzCosign", i, s[0], s[1])
	}
	a, b := forkPair(t)
	write("FuzzParseForkProof", 0, (&witness.ForkProof{A: a, B: b}).Marshal())
	write("FuzzParseForkProof", 1, (&witness.ForkProof{A: cosign(t, a, memberA, witnessKey(memberA)), B: b}).Marshal())
}
