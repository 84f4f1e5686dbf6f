package witness_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/headsup-dev/headsup/internal/witness"
)

var update = flag.Bool("update", false, "rewrite the test vectors and fuzz seeds under testdata/")

// forkPair returns two checkpoints of size 7 with different roots, both
// signed by the hub key (deterministically: fixed keys and records).
func forkPair(t testing.TB) (a, b []byte) {
	t.Helper()
	tr, fork := newTree(t, 7, ""), newTree(t, 7, "fork")
	return checkpointAt(t, tr, 7), signCheckpoint(t, hubKey(t), 7, root(t, fork, 7))
}

func TestDetectFork(t *testing.T) {
	dir := testDir(t, 1, nil)
	tr := newTree(t, 9, "")
	a, b := forkPair(t)
	tests := []struct {
		name string
		a, b []byte
		fork bool
	}{
		{"one size, two roots", a, b, true},
		{"cosigned copies", cosign(t, a, memberA, witnessKey(memberA)), cosign(t, b, memberB, witnessKey(memberB)), true},
		{"same checkpoint", a, a, false},
		{"two sizes", a, checkpointAt(t, tr, 9), false},
		{"one not signed by the log key", a, signCheckpoint(t, otherKey(t), 7, root(t, newTree(t, 7, "x"), 7)), false},
		{"not a checkpoint", a, []byte("fork\n"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := witness.DetectFork(dir, tt.a, tt.b)
			if ok != tt.fork {
				t.Fatalf("DetectFork: %v, want %v", ok, tt.fork)
			}
			err := (&witness.ForkProof{A: tt.a, B: tt.b}).Verify(dir)
			if tt.fork != (err == nil) || (err != nil && !errors.Is(err, witness.ErrNotFork)) {
				t.Errorf("Verify: %v", err)
			}
			if ok && (!bytes.Equal(p.A, tt.a) || !bytes.Equal(p.B, tt.b)) {
				t.Errorf("proof does not hold the two checkpoints as given")
			}
		})
	}
	if _, ok := witness.DetectFork(nil, a, b); ok {
		t.Error("fork detected without a directory")
	}
}

// The encoding is a test vector: a proof made today must read the same
// in any later version.
func TestForkProofVector(t *testing.T) {
	path := filepath.Join("testdata", "forkproof.txt")
	a, b := forkPair(t)
	p := &witness.ForkProof{A: a, B: b}
	if *update {
		if err := os.WriteFile(path, p.Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Marshal(), want) {
		t.Errorf("Marshal:\n%s\nwant %s:\n%s", p.Marshal(), path, want)
	}
	got, err := witness.ParseForkProof(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.A, a) || !bytes.Equal(got.B, b) {
		t.Errorf("ParseForkProof: %q, %q", got.A, got.B)
	}
	if err := got.Verify(testDir(t, 1, nil)); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if !errors.Is(got, witness.ErrFork) {
		t.Error("a *ForkProof is not an ErrFork")
	}
}

func TestParseForkProofMalformed(t *testing.T) {
	a, b := forkPair(t)
	good := (&witness.ForkProof{A: a, B: b}).Marshal()
	header := []byte("headsup fork proof v1\n")
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"no header", good[len(header):]},
		{"other header", append([]byte("headsup fork proof v2\n"), good[len(header):]...)},
		{"one checkpoint", append(bytes.Clone(header), a...)},
		{"no separator", append(append(bytes.Clone(header), a...), b...)},
		{"two separators", append(append(append(bytes.Clone(header), a...), "\n\n"...), b...)},
		{"trailing empty line", append(bytes.Clone(good), '\n')},
		{"second not a note", append(append(bytes.Clone(header), a...), "\nhello\n"...)},
		{"unsigned text", append(bytes.Clone(header), "hub.test/headsup\n7\nAAAA\n\nhub.test/headsup\n7\nBBBB\n"...)},
		{"too long", append(bytes.Clone(good), bytes.Repeat([]byte("— x AAAAAAAA\n"), 30000)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := witness.ParseForkProof(tt.in); !errors.Is(err, witness.ErrMalformedForkProof) {
				t.Errorf("ParseForkProof: %+v, %v; want ErrMalformedForkProof", p, err)
			}
		})
	}
}
