package auditlog_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
)

// testOrigin is the log every test checkpoint belongs to.
const testOrigin = "hub.test/headsup"

// records returns n distinct records shaped like compact JWSs, the same
// for every call: record i depends on i alone.
func records(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		sum := sha256.Sum256(fmt.Appendf(nil, "record %d", i))
		out[i] = fmt.Appendf(nil, "eyJhbGciOiJFZERTQSJ9.%x.%x", sum[:], sum[:16])
	}
	return out
}

// refStore builds the stored hashes of records one record at a time in a
// plain slice, the way tlog's own documentation and tests use StoredHashes:
// an implementation independent of Tree's batching and of any Store.
func refStore(t testing.TB, recs [][]byte) tlog.HashReader {
	t.Helper()
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, rec := range recs {
		hs, err := tlog.StoredHashes(int64(i), rec, r)
		if err != nil {
			t.Fatalf("reference StoredHashes(%d): %v", i, err)
		}
		stored = append(stored, hs...)
	}
	return r
}

// refMTH is RFC 6962 section 2.1's MTH written as the RFC states it,
// with tlog's leaf and node hash functions: a second, recursive,
// reference for the roots.
func refMTH(leaves []tlog.Hash) tlog.Hash {
	switch n := len(leaves); n {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return tlog.NodeHash(refMTH(leaves[:k]), refMTH(leaves[k:]))
	}
}

// newTree returns a tree in memory holding recs, appended in one batch.
func newTree(t testing.TB, recs [][]byte) *auditlog.Tree {
	t.Helper()
	tr, err := auditlog.OpenTree(auditlog.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Append(recs); err != nil {
		t.Fatal(err)
	}
	return tr
}

// openFileTree opens the tree in the hash file at path and closes it at
// the end of the test (a test may close it earlier itself).
func openFileTree(t testing.TB, path string) (*auditlog.Tree, *auditlog.FileStore) {
	t.Helper()
	s, err := auditlog.OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tr, err := auditlog.OpenTree(s)
	if err != nil {
		t.Fatal(err)
	}
	return tr, s
}

// logKey is the test log key pair, derived from a fixed seed so that the
// signed seeds of the fuzz corpus stay valid.
type logKey struct {
	skey, vkey string
	signer     note.Signer
	verifier   note.Verifier
}

func newLogKey(t testing.TB, name string, seed byte) logKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), name)
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
	return logKey{skey, vkey, s, v}
}

func testKey(t testing.TB) logKey { return newLogKey(t, testOrigin, 1) }

// signText signs any text with k, so tests can build checkpoints this log
// would never write.
func signText(t testing.TB, text string, k logKey) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: text}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newCheckpointer(t testing.TB, dir string, k logKey) *auditlog.Checkpointer {
	t.Helper()
	c, err := auditlog.OpenCheckpointer(auditlog.CheckpointerConfig{
		Path:     filepath.Join(dir, "checkpoint"),
		Origin:   testOrigin,
		Signer:   k.signer,
		Verifier: k.verifier,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
