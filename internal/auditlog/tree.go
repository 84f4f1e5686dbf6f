package auditlog

import (
	"fmt"
	"sort"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// Tree is the RFC 6962 Merkle tree over the log's records, kept as tlog's
// stored hashes in a Store. Appends are serialised; reads run alongside
// them and see the tree as of the last completed Append.
type Tree struct {
	store Store

	appendMu sync.Mutex // serialises Append

	mu   sync.RWMutex
	size int64 // records in the tree
}

// OpenTree opens the tree held in store. Stored hashes past the last
// record whose hashes were all written (an Append cut short) do not count
// and are replaced by the next Append. The hashes of the last record are
// recomputed and compared, so a store whose tail was damaged is refused
// with ErrCorruptStore rather than extended.
func OpenTree(store Store) (*Tree, error) {
	count := store.Size()
	// The largest n with StoredHashCount(n) <= count; StoredHashCount
	// grows with n by at least one per record.
	n := int64(sort.Search(int(count)+1, func(n int) bool {
		return tlog.StoredHashCount(int64(n)) > count
	})) - 1
	t := &Tree{store: store, size: n}
	if n == 0 {
		return t, nil
	}
	first := tlog.StoredHashIndex(0, n-1)
	end := tlog.StoredHashCount(n)
	indexes := make([]int64, 0, end-first)
	for x := first; x < end; x++ {
		indexes = append(indexes, x)
	}
	stored, err := store.ReadHashes(indexes)
	if err != nil {
		return nil, fmt.Errorf("open tree of %d records: %w", n, err)
	}
	again, err := tlog.StoredHashesForRecordHash(n-1, stored[0], store)
	if err != nil {
		return nil, fmt.Errorf("open tree of %d records: %w", n, err)
	}
	for i := range again {
		if again[i] != stored[i] {
			return nil, fmt.Errorf("open tree of %d records: stored hash %d is %s, recomputed %s: %w",
				n, first+int64(i), stored[i], again[i], ErrCorruptStore)
		}
	}
	return t, nil
}

// Size is the number of records in the tree: the last sequence of the log
// it covers.
func (t *Tree) Size() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.size
}

// Append adds records, in sequence order, after the last one: records[i]
// becomes leaf Size()+i, its leaf hash tlog.RecordHash(records[i]). The
// hashes of the whole batch are written to the store at once; on error
// the tree is as before.
func (t *Tree) Append(records [][]byte) error {
	if len(records) == 0 {
		return nil
	}
	t.appendMu.Lock()
	defer t.appendMu.Unlock()
	n0 := t.Size()
	from := tlog.StoredHashCount(n0)
	// The batch's own hashes are read back from memory before they are
	// stored: StoredHashes needs the subtrees the earlier records completed.
	var pending []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		var old []int64
		for i, x := range indexes {
			switch {
			case x >= from && x-from < int64(len(pending)):
				out[i] = pending[x-from]
			case x < from:
				old = append(old, x)
			default:
				return nil, fmt.Errorf("stored hash %d not yet computed", x)
			}
		}
		if len(old) == 0 {
			return out, nil
		}
		got, err := t.store.ReadHashes(old)
		if err != nil {
			return nil, err
		}
		k := 0
		for i, x := range indexes {
			if x < from {
				out[i] = got[k]
				k++
			}
		}
		return out, nil
	})
	for i, rec := range records {
		hs, err := tlog.StoredHashes(n0+int64(i), rec, reader)
		if err != nil {
			return fmt.Errorf("append record %d (sequence %d): %w", n0+int64(i), n0+int64(i)+1, err)
		}
		pending = append(pending, hs...)
	}
	if err := t.store.AppendHashes(from, pending); err != nil {
		return fmt.Errorf("append records %d..%d: %w", n0, n0+int64(len(records))-1, err)
	}
	t.mu.Lock()
	t.size = n0 + int64(len(records))
	t.mu.Unlock()
	return nil
}

// Root is the tree hash at size (tlog.TreeHash); size 0 is the empty
// tree's hash. A size past the tree is ErrBeyondTree.
func (t *Tree) Root(size int64) (tlog.Hash, error) {
	if size < 0 {
		return tlog.Hash{}, fmt.Errorf("root: size %d: %w", size, ErrInvalidRange)
	}
	if cur := t.Size(); size > cur {
		return tlog.Hash{}, fmt.Errorf("root: size %d, tree has %d: %w", size, cur, ErrBeyondTree)
	}
	h, err := tlog.TreeHash(size, t.store)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("root: size %d: %w", size, err)
	}
	return h, nil
}

// LeafHash is the leaf hash of the record at index (sequence − 1).
func (t *Tree) LeafHash(index int64) (tlog.Hash, error) {
	if index < 0 {
		return tlog.Hash{}, fmt.Errorf("leaf hash: index %d: %w", index, ErrInvalidRange)
	}
	if cur := t.Size(); index >= cur {
		return tlog.Hash{}, fmt.Errorf("leaf hash: index %d, tree has %d: %w", index, cur, ErrBeyondTree)
	}
	hs, err := t.store.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("leaf hash: index %d: %w", index, err)
	}
	return hs[0], nil
}

// InclusionProof proves that the tree of size size holds the record at
// index; check it with tlog.CheckRecord. size below 1 or index outside
// [0, size) is ErrInvalidRange; a size past the tree is ErrBeyondTree.
func (t *Tree) InclusionProof(index, size int64) (tlog.RecordProof, error) {
	if size < 1 || index < 0 || index >= size {
		return nil, fmt.Errorf("inclusion proof: index %d, size %d: %w", index, size, ErrInvalidRange)
	}
	if cur := t.Size(); size > cur {
		return nil, fmt.Errorf("inclusion proof: size %d, tree has %d: %w", size, cur, ErrBeyondTree)
	}
	p, err := tlog.ProveRecord(size, index, t.store)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: index %d, size %d: %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof proves that the tree of size newSize extends the tree
// of size oldSize; check it with tlog.CheckTree. oldSize below 1 or above
// newSize is ErrInvalidRange; a newSize past the tree is ErrBeyondTree.
// Equal sizes give an empty proof.
func (t *Tree) ConsistencyProof(oldSize, newSize int64) (tlog.TreeProof, error) {
	if oldSize < 1 || oldSize > newSize {
		return nil, fmt.Errorf("consistency proof: old size %d, new size %d: %w", oldSize, newSize, ErrInvalidRange)
	}
	if cur := t.Size(); newSize > cur {
		return nil, fmt.Errorf("consistency proof: new size %d, tree has %d: %w", newSize, cur, ErrBeyondTree)
	}
	p, err := tlog.ProveTree(newSize, oldSize, t.store)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: old size %d, new size %d: %w", oldSize, newSize, err)
	}
	return p, nil
}
