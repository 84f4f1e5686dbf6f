package witness_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/witness"
)

// testOrigin is the log every test checkpoint belongs to.
const testOrigin = "hub.test/headsup"

// The members of the test directory. operator runs the hub.
const (
	operator = "hub-op"
	memberA  = "member-a"
	memberB  = "member-b"
	memberC  = "member-c"
)

// logKey is a log key pair derived from a fixed seed, so that the signed
// notes in testdata stay valid (Ed25519 signatures are deterministic).
type logKey struct {
	vkey     string
	signer   note.Signer
	verifier note.Verifier
}

func newLogKey(t testing.TB, seed byte) logKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return logKey{vkey, s, v}
}

// hubKey is the log key of the test directory; otherKey is not in it.
func hubKey(t testing.TB) logKey   { return newLogKey(t, 1) }
func otherKey(t testing.TB) logKey { return newLogKey(t, 2) }

// memberKey is a member's witness private key, fixed by seed.
func memberKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// Witness keys of the test members.
var memberSeeds = map[string]byte{operator: 10, memberA: 11, memberB: 12, memberC: 13}

func witnessKey(id string) ed25519.PrivateKey { return memberKey(memberSeeds[id]) }

func pubKey(priv ed25519.PrivateKey) ed25519.PublicKey { return priv.Public().(ed25519.PublicKey) }

func dirKey(priv ed25519.PrivateKey, use directory.Use) *directory.Key {
	pub := pubKey(priv)
	return &directory.Key{ID: directory.Thumbprint(pub), Use: use, Public: pub}
}

// testDir is a directory naming hubKey's log, run by operator, with a
// quorum of need; each member holds the witness key of witnessKey, then
// the keys extra gives it.
func testDir(t testing.TB, need int, extra map[string][]*directory.Key) *directory.Directory {
	t.Helper()
	d := &directory.Directory{
		Log: &directory.Log{Origin: testOrigin, VerifierKey: hubKey(t).vkey, Operator: operator, Quorum: need},
	}
	ids := []string{operator, memberA, memberB, memberC}
	for id := range extra {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := &directory.Member{ID: id, Name: id}
		if _, ok := memberSeeds[id]; ok {
			m.Keys = append(m.Keys, dirKey(witnessKey(id), directory.UseWitness))
		}
		m.Keys = append(m.Keys, extra[id]...)
		d.Members = append(d.Members, m)
	}
	return d
}

// records returns n distinct records shaped like compact JWSs.
func records(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		sum := sha256.Sum256(fmt.Appendf(nil, "record %d", i))
		out[i] = fmt.Appendf(nil, "eyJhbGciOiJFZERTQSJ9.%x.%x", sum[:], sum[:16])
	}
	return out
}

// newTree returns a tree in memory of n records; prefix changes every
// record, so two trees of different prefixes fork from the first leaf.
func newTree(t testing.TB, n int, prefix string) *auditlog.Tree {
	t.Helper()
	tr, err := auditlog.OpenTree(auditlog.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	recs := records(n)
	for i := range recs {
		recs[i] = append([]byte(prefix), recs[i]...)
	}
	if err := tr.Append(recs); err != nil {
		t.Fatal(err)
	}
	return tr
}

func root(t testing.TB, tr *auditlog.Tree, size int64) tlog.Hash {
	t.Helper()
	h, err := tr.Root(size)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func proof(t testing.TB, tr *auditlog.Tree, old, new int64) tlog.TreeProof {
	t.Helper()
	p, err := tr.ConsistencyProof(old, new)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signCheckpoint signs the checkpoint (size, root) with k: the hub's
// note, built without a Checkpointer so that tests can sign forks.
func signCheckpoint(t testing.TB, k logKey, size int64, root tlog.Hash) []byte {
	t.Helper()
	text := log.Checkpoint{Origin: testOrigin, Size: uint64(size), Hash: root[:]}.Marshal()
	b, err := note.Sign(&note.Note{Text: string(text)}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkpointAt signs tree tr's checkpoint at size with the hub key.
func checkpointAt(t testing.TB, tr *auditlog.Tree, size int64) []byte {
	t.Helper()
	return signCheckpoint(t, hubKey(t), size, root(t, tr, size))
}

// cosign adds member id's cosignature to signed, as a witness would,
// without any state.
func cosign(t testing.TB, signed []byte, id string, priv ed25519.PrivateKey) []byte {
	t.Helper()
	s, err := witness.NewSigner(id, priv)
	if err != nil {
		t.Fatal(err)
	}
	// Opened with no verifier, so that any signed note (by any log key)
	// can be cosigned; its signatures are all kept.
	_, err = note.Open(signed, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		t.Fatalf("cosign %q: %v", signed, err)
	}
	out, err := note.Sign(unverified.Note, s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openState opens the FileState in dir and closes it at the end of the
// test (a test may close it earlier itself).
func openState(t testing.TB, dir string) *witness.FileState {
	t.Helper()
	s, err := witness.OpenFileState(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newWitness returns member id's witness over a FileState in dir.
func newWitness(t testing.TB, id string, dir string) (*witness.Witness, *witness.FileState) {
	t.Helper()
	s := openState(t, dir)
	return newWitnessOn(t, id, s), s
}

func newWitnessOn(t testing.TB, id string, s witness.State) *witness.Witness {
	t.Helper()
	w, err := witness.New(witness.Config{
		MemberID: id, Key: witnessKey(id), Origin: testOrigin, LogVerifier: hubKey(t).verifier, State: s,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func stateDir(t testing.TB) string { return filepath.Join(t.TempDir(), "witness") }

// sigLines returns the signature lines of a note by name.
func sigLines(signed []byte, name string) []string {
	var out []string
	_, sigs, _ := strings.Cut(string(signed), "\n\n")
	for line := range strings.Lines(sigs) {
		if n, _, _ := strings.Cut(strings.TrimPrefix(line, "— "), " "); n == name {
			out = append(out, line)
		}
	}
	return out
}

// memState is a State in memory: the test double for fuzzing, where a
// file per input would only slow the fuzzer down.
type memState struct {
	mu  sync.Mutex
	cur *witness.Checkpoint
}

func (m *memState) Load() (*witness.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		return nil, nil
	}
	c := *m.cur
	c.Note = bytes.Clone(c.Note)
	return &c, nil
}

func (m *memState) CompareAndSwap(old, new *witness.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	same := old == nil && m.cur == nil ||
		old != nil && m.cur != nil && old.Size == m.cur.Size && old.Root == m.cur.Root && bytes.Equal(old.Note, m.cur.Note)
	if !same {
		return witness.ErrStateChanged
	}
	c := *new
	c.Note = bytes.Clone(new.Note)
	m.cur = &c
	return nil
}

// between checks that got lies in [from, to], to the second (cosignature
// timestamps are whole seconds).
func between(t testing.TB, got, from, to time.Time) {
	t.Helper()
	if got.Before(from.Truncate(time.Second)) || got.After(to) {
		t.Errorf("time %s, want within [%s, %s]", got, from, to)
	}
}
