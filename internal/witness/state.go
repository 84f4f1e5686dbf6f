package witness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gofrs/flock"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/atomicfile"
)

// Checkpoint is a checkpoint the witness cosigned: the log's origin, size
// and root, and the signed note as the witness returned it (the log's
// signature, the cosignatures it came with, and the witness's own).
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Note   []byte
}

func (c *Checkpoint) clone() *Checkpoint {
	if c == nil {
		return nil
	}
	d := *c
	d.Note = bytes.Clone(c.Note)
	return &d
}

func sameCheckpoint(a, b *Checkpoint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Origin == b.Origin && a.Size == b.Size && a.Root == b.Root && bytes.Equal(a.Note, b.Note)
}

// checkpointOf reads origin, size and root from a signed checkpoint note
// without checking any signature (the note is the witness's own record;
// Witness checks the log's signature on it when it starts). It refuses
// what is not a note whose text is exactly a checkpoint with a 32-byte
// root and no extension lines.
func checkpointOf(signed []byte) (*Checkpoint, error) {
	_, err := note.Open(signed, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return nil, fmt.Errorf("not a signed note: %v", err)
	}
	text := unverified.Note.Text
	var cp log.Checkpoint
	rest, err := cp.Unmarshal([]byte(text))
	switch {
	case err != nil:
		return nil, err
	case len(rest) != 0:
		return nil, fmt.Errorf("extension lines %q", rest)
	case len(cp.Hash) != tlog.HashSize:
		return nil, fmt.Errorf("root hash of %d bytes, want %d", len(cp.Hash), tlog.HashSize)
	case cp.Size > math.MaxInt64:
		return nil, fmt.Errorf("size %d beyond %d", cp.Size, int64(math.MaxInt64))
	case string(cp.Marshal()) != text:
		return nil, fmt.Errorf("text %q is not the canonical checkpoint", text)
	}
	return &Checkpoint{Origin: cp.Origin, Size: int64(cp.Size), Root: tlog.Hash(cp.Hash), Note: bytes.Clone(signed)}, nil
}

// State is the witness's durable memory: the last checkpoint it cosigned.
// It only moves forward, and only by compare-and-swap, so that two
// cosigning requests racing each other cannot both advance it from the
// same checkpoint.
type State interface {
	// Load returns the last cosigned checkpoint, nil when none was ever
	// cosigned.
	Load() (*Checkpoint, error)
	// CompareAndSwap replaces old (nil: none cosigned) with new, durably
	// before it returns. It fails with ErrStateChanged when the state
	// does not hold exactly old.
	CompareAndSwap(old, new *Checkpoint) error
}

// The names in a FileState directory.
const (
	stateFile   = "state"
	lockFile    = "state.lock"
	stateHeader = "headsup witness state v1\n"
)

// maxStateBytes bounds the state file: a checkpoint with the most
// signatures a note may carry is far below it.
const maxStateBytes = 64 << 10

// FileState is a State in one file, DIR/state, replaced atomically (a
// synced temporary file renamed over it, the directory synced) so that a
// crash leaves the old or the new checkpoint, never a mix, and never
// loses one that CompareAndSwap reported stored. An exclusive lock
// (DIR/state.lock) keeps a second process out: two witnesses sharing one
// state would each check consistency against a checkpoint the other may
// have moved.
//
// The file holds a header line and then the cosigned note, or the header
// alone before the first cosignature.
type FileState struct {
	dir  string
	lock *flock.Flock

	mu     sync.Mutex
	cur    *Checkpoint
	closed bool
}

// OpenFileState opens the witness state kept in dir, the witness's own
// directory. A dir that does not exist or is empty is a first use: it is
// created with an empty state ("never cosigned"). A dir that holds
// anything but no state file is ErrStateMissing, never a fresh start:
// the state is never rebuilt, from the hub or from nothing. To reset it
// deliberately an operator stops the witness and moves the whole
// directory aside. It returns ErrLocked while another FileState holds
// dir.
func OpenFileState(dir string) (*FileState, error) {
	entries, err := os.ReadDir(dir)
	fresh := len(entries) == 0
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("witness state %s: %w", dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("witness state %s: %w", dir, err)
	}
	lock := flock.New(filepath.Join(dir, lockFile))
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("witness state %s: lock: %w", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("witness state %s: %w", dir, ErrLocked)
	}
	s := &FileState{dir: dir, lock: lock}
	if err := s.load(fresh); err != nil {
		_ = lock.Unlock()
		return nil, fmt.Errorf("witness state %s: %w", dir, err)
	}
	return s, nil
}

func (s *FileState) load(fresh bool) error {
	path := filepath.Join(s.dir, stateFile)
	b, err := readBounded(path)
	if errors.Is(err, os.ErrNotExist) {
		if !fresh {
			return fmt.Errorf("%s: %w (remove the directory only to reset the witness deliberately)", path, ErrStateMissing)
		}
		if err := createFile(path, []byte(stateHeader)); err != nil {
			return err
		}
		// Another process that saw the same empty directory may have
		// created it first (createFile never replaces): read what is
		// there.
		b, err = readBounded(path)
	}
	if err != nil {
		return err
	}
	cp, err := parseState(b)
	if err != nil {
		return fmt.Errorf("%s: %v: %w", path, err, ErrCorruptState)
	}
	s.cur = cp
	return nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStateBytes {
		return nil, fmt.Errorf("%s: over %d bytes: %w", path, maxStateBytes, ErrCorruptState)
	}
	return b, nil
}

func parseState(b []byte) (*Checkpoint, error) {
	rest, ok := bytes.CutPrefix(b, []byte(stateHeader))
	if !ok {
		return nil, fmt.Errorf("first line is not %q", strings.TrimSuffix(stateHeader, "\n"))
	}
	if len(rest) == 0 {
		return nil, nil
	}
	return checkpointOf(rest)
}

func formatState(cp *Checkpoint) []byte {
	return append([]byte(stateHeader), cp.Note...)
}

// Load implements State.
func (s *FileState) Load() (*Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("witness state %s: closed", s.dir)
	}
	return s.cur.clone(), nil
}

// CompareAndSwap implements State. Beyond the swap it refuses to move
// the state backwards (ErrRollback, ErrFork) or to another log
// (ErrWrongLog), and a new whose fields disagree with its note: whatever
// the caller checked, the file never records a step a witness must not
// take.
func (s *FileState) CompareAndSwap(old, new *Checkpoint) error {
	if new == nil {
		return fmt.Errorf("witness state %s: new: nil (the state is reset only by an operator)", s.dir)
	}
	got, err := checkpointOf(new.Note)
	if err != nil {
		return fmt.Errorf("witness state %s: new note: %v", s.dir, err)
	}
	if got.Origin != new.Origin || got.Size != new.Size || got.Root != new.Root {
		return fmt.Errorf("witness state %s: new is %s size %d root %s, its note says %s size %d root %s",
			s.dir, new.Origin, new.Size, new.Root, got.Origin, got.Size, got.Root)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("witness state %s: closed", s.dir)
	}
	if !sameCheckpoint(s.cur, old) {
		return fmt.Errorf("witness state %s: %w", s.dir, ErrStateChanged)
	}
	if cur := s.cur; cur != nil {
		switch {
		case new.Origin != cur.Origin:
			return fmt.Errorf("witness state %s: origin %q, stored %q: %w", s.dir, new.Origin, cur.Origin, ErrWrongLog)
		case new.Size < cur.Size:
			return fmt.Errorf("witness state %s: size %d, stored %d: %w", s.dir, new.Size, cur.Size, ErrRollback)
		case new.Size == cur.Size && new.Root != cur.Root:
			return fmt.Errorf("witness state %s: size %d root %s, stored root %s: %w", s.dir, new.Size, new.Root, cur.Root, ErrFork)
		}
	}
	if err := atomicfile.Write(filepath.Join(s.dir, stateFile), formatState(new), 0o600); err != nil {
		return fmt.Errorf("witness state %s: %w", s.dir, err)
	}
	s.cur = new.clone()
	return nil
}

// Close releases the lock. The FileState is unusable afterwards.
func (s *FileState) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.lock.Unlock()
}

// createFile creates path holding b, durably, unless path exists (then it
// does nothing): a link never replaces its target, so two processes
// creating the first state cannot overwrite each other.
func createFile(path string, b []byte) error {
	tmp, err := writeTemp(path, b)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(path))
}

// writeTemp writes b to a synced temporary file beside path.
func writeTemp(path string, b []byte) (name string, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}
