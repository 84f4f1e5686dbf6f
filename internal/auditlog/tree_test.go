package auditlog_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
)

func TestKnownAnswerVectors(t *testing.T) {
	var v struct {
		Leaves    []string
		Roots     []string
		Inclusion []struct {
			Index, Size int64
			Proof       []string
		}
		Consistency []struct {
			Old, New int64
			Proof    []string
		}
	}
	b, err := os.ReadFile("testdata/rfc6962.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for _, l := range v.Leaves {
		recs = append(recs, mustHex(t, l))
	}
	tr := newTree(t, recs)
	for size, want := range v.Roots {
		got, err := tr.Root(int64(size))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("root at size %d = %x, RFC 6962 vectors say %s", size, got, want)
		}
	}
	for _, c := range v.Inclusion {
		p, err := tr.InclusionProof(c.Index, c.Size)
		if err != nil {
			t.Fatal(err)
		}
		if got := hexHashes(p); !slices.Equal(got, c.Proof) {
			t.Errorf("inclusion proof of %d in %d = %v, want %v", c.Index, c.Size, got, c.Proof)
		}
	}
	for _, c := range v.Consistency {
		p, err := tr.ConsistencyProof(c.Old, c.New)
		if err != nil {
			t.Fatal(err)
		}
		if got := hexHashes(p); !slices.Equal(got, c.Proof) {
			t.Errorf("consistency proof %d→%d = %v, want %v", c.Old, c.New, got, c.Proof)
		}
	}
}

// TestRootsEveryShape: the root at every size matches two independent
// computations, whatever batches the records arrived in.
func TestRootsEveryShape(t *testing.T) {
	const n = 64
	recs := records(n)
	ref := refStore(t, recs)
	leaves := make([]tlog.Hash, n)
	for i, r := range recs {
		leaves[i] = tlog.RecordHash(r)
	}
	for _, batch := range []int{1, 2, 3, 7, 16, 64} {
		tr := newTree(t, nil)
		for i := 0; i < n; i += batch {
			if err := tr.Append(recs[i:min(i+batch, n)]); err != nil {
				t.Fatal(err)
			}
		}
		if tr.Size() != n {
			t.Fatalf("batch %d: size %d, want %d", batch, tr.Size(), n)
		}
		for size := int64(0); size <= n; size++ {
			got, err := tr.Root(size)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tlog.TreeHash(size, ref)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || got != refMTH(leaves[:size]) {
				t.Fatalf("batch %d: root at size %d = %s, tlog reference %s, RFC 6962 MTH %s", batch, size, got, want, refMTH(leaves[:size]))
			}
		}
		for i := range int64(n) {
			got, err := tr.LeafHash(i)
			if err != nil || got != leaves[i] {
				t.Fatalf("batch %d: LeafHash(%d) = %s, %v; want %s", batch, i, got, err, leaves[i])
			}
		}
	}
}

// TestInclusionProofs: every proof in every tree up to 64 records checks
// with tlog.CheckRecord, and flipping any byte of the proof, or one of
// the record, makes it fail.
func TestInclusionProofs(t *testing.T) {
	const n = 64
	recs := records(n)
	tr := newTree(t, recs)
	for size := int64(1); size <= n; size++ {
		root, err := tr.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		for i := range size {
			p, err := tr.InclusionProof(i, size)
			if err != nil {
				t.Fatal(err)
			}
			leaf := tlog.RecordHash(recs[i])
			if err := tlog.CheckRecord(p, size, root, i, leaf); err != nil {
				t.Fatalf("proof of %d in %d: %v", i, size, err)
			}
			for j := range p {
				for k := range tlog.HashSize {
					p[j][k] ^= 0x01
					if tlog.CheckRecord(p, size, root, i, leaf) == nil {
						t.Fatalf("proof of %d in %d verifies with byte %d of hash %d flipped", i, size, k, j)
					}
					p[j][k] ^= 0x01
				}
			}
			rec := []byte(string(recs[i]))
			rec[int(i+size)%len(rec)] ^= 0x01
			if tlog.CheckRecord(p, size, root, i, tlog.RecordHash(rec)) == nil {
				t.Fatalf("proof of %d in %d verifies for an altered record", i, size)
			}
			if size > 1 && tlog.CheckRecord(p, size, root, (i+1)%size, leaf) == nil {
				t.Fatalf("proof of %d in %d verifies at index %d", i, size, (i+1)%size)
			}
		}
	}
}

// TestConsistencyProofs: every proof between sizes up to 64 checks with
// tlog.CheckTree, and flipping any byte of it makes it fail.
func TestConsistencyProofs(t *testing.T) {
	const n = 64
	tr := newTree(t, records(n))
	roots := make([]tlog.Hash, n+1)
	for size := range int64(n + 1) {
		var err error
		if roots[size], err = tr.Root(size); err != nil {
			t.Fatal(err)
		}
	}
	for old := int64(1); old <= n; old++ {
		for size := old; size <= n; size++ {
			p, err := tr.ConsistencyProof(old, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(p, size, roots[size], old, roots[old]); err != nil {
				t.Fatalf("proof %d→%d: %v", old, size, err)
			}
			for j := range p {
				for k := range tlog.HashSize {
					p[j][k] ^= 0x80
					if tlog.CheckTree(p, size, roots[size], old, roots[old]) == nil {
						t.Fatalf("proof %d→%d verifies with byte %d of hash %d flipped", old, size, k, j)
					}
					p[j][k] ^= 0x80
				}
			}
			if old < size && tlog.CheckTree(p, size, roots[size], old, roots[old-1]) == nil {
				t.Fatalf("proof %d→%d verifies from another old root", old, size)
			}
		}
	}
}

func TestRangeErrors(t *testing.T) {
	tr := newTree(t, records(10))
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"root negative", func() error { _, err := tr.Root(-1); return err }, auditlog.ErrInvalidRange},
		{"root past tree", func() error { _, err := tr.Root(11); return err }, auditlog.ErrBeyondTree},
		{"leaf negative", func() error { _, err := tr.LeafHash(-1); return err }, auditlog.ErrInvalidRange},
		{"leaf past tree", func() error { _, err := tr.LeafHash(10); return err }, auditlog.ErrBeyondTree},
		{"inclusion size 0", func() error { _, err := tr.InclusionProof(0, 0); return err }, auditlog.ErrInvalidRange},
		{"inclusion index = size", func() error { _, err := tr.InclusionProof(5, 5); return err }, auditlog.ErrInvalidRange},
		{"inclusion index negative", func() error { _, err := tr.InclusionProof(-1, 5); return err }, auditlog.ErrInvalidRange},
		{"inclusion past tree", func() error { _, err := tr.InclusionProof(3, 11); return err }, auditlog.ErrBeyondTree},
		{"consistency old 0", func() error { _, err := tr.ConsistencyProof(0, 5); return err }, auditlog.ErrInvalidRange},
		{"consistency old > new", func() error { _, err := tr.ConsistencyProof(6, 5); return err }, auditlog.ErrInvalidRange},
		{"consistency past tree", func() error { _, err := tr.ConsistencyProof(5, 11); return err }, auditlog.ErrBeyondTree},
		{"consistency both past tree", func() error { _, err := tr.ConsistencyProof(11, 12); return err }, auditlog.ErrBeyondTree},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
	if p, err := tr.ConsistencyProof(10, 10); err != nil || len(p) != 0 {
		t.Fatalf("ConsistencyProof(10, 10) = %v, %v; want an empty proof", p, err)
	}
}

// TestReplicasAgree: two trees fed the same stream, one in memory in
// small batches and one on disk in others, give the same root and the
// same proofs at every size.
func TestReplicasAgree(t *testing.T) {
	const n = 50
	recs := records(n)
	a := newTree(t, nil)
	b, _ := openFileTree(t, filepath.Join(t.TempDir(), "hashes"))
	for i := 0; i < n; i += 3 {
		if err := a.Append(recs[i:min(i+3, n)]); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 11 {
		if err := b.Append(recs[i:min(i+11, n)]); err != nil {
			t.Fatal(err)
		}
	}
	for size := int64(1); size <= n; size++ {
		ra, _ := a.Root(size)
		rb, _ := b.Root(size)
		if ra != rb {
			t.Fatalf("size %d: roots %s and %s", size, ra, rb)
		}
		pa, _ := a.ConsistencyProof(1, size)
		pb, _ := b.ConsistencyProof(1, size)
		if !slices.Equal(hexHashes(pa), hexHashes(pb)) {
			t.Fatalf("size %d: consistency proofs differ", size)
		}
		ia, _ := a.InclusionProof(size-1, size)
		ib, _ := b.InclusionProof(size-1, size)
		if !slices.Equal(hexHashes(ia), hexHashes(ib)) {
			t.Fatalf("size %d: inclusion proofs differ", size)
		}
	}
}

func TestFileStorePersists(t *testing.T) {
	const n = 37
	recs := records(n)
	want := newTree(t, recs)
	path := filepath.Join(t.TempDir(), "hashes")

	tr, s := openFileTree(t, path)
	if err := tr.Append(recs[:20]); err != nil {
		t.Fatal(err)
	}
	if err := tr.Append(recs[20:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	tr, _ = openFileTree(t, path)
	assertSameTree(t, tr, want, n)
}

func TestFileStoreTornTail(t *testing.T) {
	const n = 8 // record 7 completes three subtrees: four stored hashes
	recs := records(n)
	want := newTree(t, recs)

	cases := []struct {
		name string
		// damage changes the file of a complete tree of n records.
		damage    func(t *testing.T, path string)
		wantSize  int64
		wantBytes int64 // file size after open
	}{
		{"partial hash", func(t *testing.T, path string) {
			appendBytes(t, path, make([]byte, 17))
		}, n, tlog.StoredHashCount(n) * tlog.HashSize},
		{"partial record", func(t *testing.T, path string) {
			if err := os.Truncate(path, (tlog.StoredHashCount(n)-2)*tlog.HashSize); err != nil {
				t.Fatal(err)
			}
		}, n - 1, (tlog.StoredHashCount(n) - 2) * tlog.HashSize},
		{"partial record and hash", func(t *testing.T, path string) {
			if err := os.Truncate(path, (tlog.StoredHashCount(n)-1)*tlog.HashSize-5); err != nil {
				t.Fatal(err)
			}
		}, n - 1, (tlog.StoredHashCount(n) - 2) * tlog.HashSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hashes")
			tr, s := openFileTree(t, path)
			if err := tr.Append(recs); err != nil {
				t.Fatal(err)
			}
			s.Close()
			c.damage(t, path)

			tr, s = openFileTree(t, path)
			if tr.Size() != c.wantSize {
				t.Fatalf("size after damage %d, want %d", tr.Size(), c.wantSize)
			}
			if info, err := os.Stat(path); err != nil || info.Size() != c.wantBytes {
				t.Fatalf("file after open: %v, %v; want %d bytes", info.Size(), err, c.wantBytes)
			}
			// The stream still holds the records: append what is missing.
			if err := tr.Append(recs[tr.Size():]); err != nil {
				t.Fatal(err)
			}
			assertSameTree(t, tr, want, n)
			s.Close()
			tr, _ = openFileTree(t, path)
			assertSameTree(t, tr, want, n)
		})
	}
}

func TestFileStoreRefusesDamagedTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hashes")
	tr, s := openFileTree(t, path)
	if err := tr.Append(records(8)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The last stored hash, the root of the 8-record subtree, zeroed as a
	// crash on a file system without data ordering may leave it.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, tlog.HashSize), (tlog.StoredHashCount(8)-1)*tlog.HashSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err = auditlog.OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := auditlog.OpenTree(s); !errors.Is(err, auditlog.ErrCorruptStore) {
		t.Fatalf("OpenTree of a damaged store: %v, want ErrCorruptStore", err)
	}
}

func TestFileStoreLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hashes")
	_, s := openFileTree(t, path)
	if _, err := auditlog.OpenFileStore(path); !errors.Is(err, auditlog.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	s.Close()
	s2, err := auditlog.OpenFileStore(path)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

func TestStoreAppendOutOfPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hashes")
	fs, err := auditlog.OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	for name, s := range map[string]auditlog.Store{"memory": auditlog.NewMemoryStore(), "file": fs} {
		t.Run(name, func(t *testing.T) {
			if err := s.AppendHashes(1, []tlog.Hash{{1}}); err == nil {
				t.Fatal("append past the end accepted")
			}
			if err := s.AppendHashes(0, []tlog.Hash{{1}, {2}, {3}}); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendHashes(1, []tlog.Hash{{9}}); err != nil {
				t.Fatal(err)
			}
			got, err := s.ReadHashes([]int64{0, 1})
			if err != nil || s.Size() != 2 || got[0] != (tlog.Hash{1}) || got[1] != (tlog.Hash{9}) {
				t.Fatalf("after replacing the tail: %v %v size %d", got, err, s.Size())
			}
			if _, err := s.ReadHashes([]int64{2}); err == nil {
				t.Fatal("read past the end accepted")
			}
		})
	}
}

// TestReadsDuringAppends: readers see a consistent tree of some size
// while appends go on (run with -race).
func TestReadsDuringAppends(t *testing.T) {
	const n = 200
	recs := records(n)
	ref := refStore(t, recs)
	tr, _ := openFileTree(t, filepath.Join(t.TempDir(), "hashes"))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := 0; i < n; i += 9 {
			if err := tr.Append(recs[i:min(i+9, n)]); err != nil {
				t.Error(err)
				return
			}
		}
	})
	t.Cleanup(wg.Wait)
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		size := tr.Size()
		got, err := tr.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := tlog.TreeHash(size, ref); got != want {
			t.Fatalf("root at %d during appends: %s, want %s", size, got, want)
		}
		if size > 0 {
			if _, err := tr.InclusionProof(size-1, size); err != nil {
				t.Fatal(err)
			}
		}
	}
	if tr.Size() != n {
		t.Fatalf("size after appends %d, want %d", tr.Size(), n)
	}
}

func assertSameTree(t *testing.T, got, want *auditlog.Tree, n int64) {
	t.Helper()
	if got.Size() != n {
		t.Fatalf("size %d, want %d", got.Size(), n)
	}
	for size := int64(0); size <= n; size++ {
		g, err := got.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := want.Root(size)
		if g != w {
			t.Fatalf("root at size %d = %s, want %s", size, g, w)
		}
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexHashes[H ~[]tlog.Hash](hs H) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}
