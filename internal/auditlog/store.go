package auditlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/gofrs/flock"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/atomicfile"
)

// Store holds the hashes tlog stores for a tree, by stored hash index
// (tlog.StoredHashIndex). Its methods may be called concurrently:
// ReadHashes of indexes below an append's from alongside that append.
type Store interface {
	// ReadHashes returns the hashes at the given stored hash indexes, or
	// an error when any of them is not stored. It is a tlog.HashReader.
	ReadHashes(indexes []int64) ([]tlog.Hash, error)
	// AppendHashes stores hashes at indexes from, from+1, …, durably
	// before it returns. from is at most Size(); hashes stored at from or
	// beyond are replaced (they belong to a record whose append was cut
	// short).
	AppendHashes(from int64, hashes []tlog.Hash) error
	// Size is the number of hashes stored.
	Size() int64
}

// MemoryStore is a Store in memory, for tests and for an auditor that
// recomputes a tree it does not keep.
type MemoryStore struct {
	mu     sync.RWMutex
	hashes []tlog.Hash
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// ReadHashes implements Store.
func (m *MemoryStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("stored hash %d: %d hashes stored", x, len(m.hashes))
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// AppendHashes implements Store.
func (m *MemoryStore) AppendHashes(from int64, hashes []tlog.Hash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if from < 0 || from > int64(len(m.hashes)) {
		return fmt.Errorf("append at stored hash %d: %d hashes stored", from, len(m.hashes))
	}
	// A fresh slice when replacing, so a concurrent reader of an older
	// slice header never sees an element change under it.
	if from < int64(len(m.hashes)) {
		m.hashes = append(make([]tlog.Hash, 0, from+int64(len(hashes))), m.hashes[:from]...)
	}
	m.hashes = append(m.hashes, hashes...)
	return nil
}

// Size implements Store.
func (m *MemoryStore) Size() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.hashes))
}

// FileStore is a Store in one file of 32-byte hashes, written only at its
// end and synced before an append returns. An exclusive lock (a sibling
// file NAME.lock) keeps a second writer out.
type FileStore struct {
	path string
	f    *os.File
	lock *flock.Flock

	appendMu sync.Mutex // serialises appends; reads do not take it
	broken   error      // set when a failed append could not be undone

	mu   sync.RWMutex
	size int64 // hashes in the file that count
}

// OpenFileStore opens or creates the hash file at path. A tail shorter
// than one hash (a write torn by a crash) is cut off and the cut synced,
// so the file always holds whole hashes. It returns ErrLocked when the
// file is in use.
func OpenFileStore(path string) (*FileStore, error) {
	lock := flock.New(path + ".lock")
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("hash store %s: lock: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("hash store %s: %w", path, ErrLocked)
	}
	s, err := openLocked(path)
	if err != nil {
		_ = lock.Unlock()
		return nil, fmt.Errorf("hash store %s: %w", path, err)
	}
	s.lock = lock
	return s, nil
}

func openLocked(path string) (*FileStore, error) {
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if created {
		// The directory entry must survive a crash too, or the hashes
		// synced into the file later could vanish with it.
		if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, err
		}
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	whole := info.Size() / tlog.HashSize * tlog.HashSize
	if whole != info.Size() {
		if err := f.Truncate(whole); err != nil {
			f.Close()
			return nil, fmt.Errorf("cut torn tail at byte %d: %w", whole, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &FileStore{path: path, f: f, size: whole / tlog.HashSize}, nil
}

// ReadHashes implements Store. Runs of consecutive indexes are read with
// one system call.
func (s *FileStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	size := s.Size()
	out := make([]tlog.Hash, len(indexes))
	for i := 0; i < len(indexes); {
		x := indexes[i]
		if x < 0 || x >= size {
			return nil, fmt.Errorf("hash store %s: stored hash %d: %d hashes stored", s.path, x, size)
		}
		j := i + 1
		for j < len(indexes) && indexes[j] == indexes[j-1]+1 && indexes[j] < size {
			j++
		}
		buf := make([]byte, (j-i)*tlog.HashSize)
		if _, err := s.f.ReadAt(buf, x*tlog.HashSize); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("hash store %s: read stored hash %d: %w", s.path, x, err)
		}
		for k := i; k < j; k++ {
			copy(out[k][:], buf[(k-i)*tlog.HashSize:])
		}
		i = j
	}
	return out, nil
}

// AppendHashes implements Store.
func (s *FileStore) AppendHashes(from int64, hashes []tlog.Hash) error {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	if s.broken != nil {
		return fmt.Errorf("hash store %s: unusable after a failed append: %w", s.path, s.broken)
	}
	size := s.Size()
	if from < 0 || from > size {
		return fmt.Errorf("hash store %s: append at stored hash %d: %d hashes stored", s.path, from, size)
	}
	if from < size {
		s.mu.Lock()
		s.size = from
		s.mu.Unlock()
		if err := s.f.Truncate(from * tlog.HashSize); err != nil {
			return fmt.Errorf("hash store %s: cut at stored hash %d: %w", s.path, from, err)
		}
	}
	buf := make([]byte, 0, len(hashes)*tlog.HashSize)
	for _, h := range hashes {
		buf = append(buf, h[:]...)
	}
	_, err := s.f.WriteAt(buf, from*tlog.HashSize)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		// Whatever part of the write reached the file must not count on
		// the next open, nor survive under a shorter later append.
		if terr := s.f.Truncate(from * tlog.HashSize); terr != nil {
			s.broken = terr
		}
		return fmt.Errorf("hash store %s: append at stored hash %d: %w", s.path, from, err)
	}
	s.mu.Lock()
	s.size = from + int64(len(hashes))
	s.mu.Unlock()
	return nil
}

// Size implements Store.
func (s *FileStore) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size
}

// Close closes the file and releases the lock.
func (s *FileStore) Close() error {
	err := s.f.Close()
	if uerr := s.lock.Unlock(); err == nil {
		err = uerr
	}
	return err
}
