package hub

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
)

// maxNoteSignatures is the most signature lines golang.org/x/mod/sumdb/note
// accepts on one note: the log's own line and the cosignatures together.
const maxNoteSignatures = 100

// checkpointRecord is one line of the checkpoint store: a checkpoint the
// hub signed, as it stands with the cosignatures attached so far.
type checkpointRecord struct {
	Size int64  `json:"size"`
	Note []byte `json:"note"` // the signed note (base64 in the file)
	// Cosigned is how many cosignature lines Note carries.
	Cosigned int `json:"cosigned,omitempty"`
}

// checkpointStore keeps every checkpoint the hub signed (size → signed
// note) in one append-only file of JSON lines in the data directory, so
// that GetCheckpoint(size) answers after a restart. A cosignature attached
// later appends the checkpoint again with it; the last line of a size wins.
// Only offsets stay in memory (sizes rise, so lookups are binary
// searches); notes are read from the file when asked for.
type checkpointStore struct {
	path string

	mu      sync.Mutex
	f       *os.File
	end     int64   // file length: where the next line goes
	sizes   []int64 // signed sizes, ascending
	offsets []int64 // offsets[i]: the line of sizes[i] in force
	lengths []int   // its length, newline excluded
	// cosigned is the largest size carrying a cosignature: the hub never
	// signs a checkpoint inconsistent with what a witness vouched for.
	cosigned int64
}

// openCheckpointStore opens or creates the store. A last line cut short
// by a crash is cut off (its checkpoint is signed again or its
// cosignature handed in again); any other unreadable line is an error,
// never skipped.
func openCheckpointStore(path string) (*checkpointStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	s := &checkpointStore{path: path, f: f}
	if err := s.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint store %s: %w", path, err)
	}
	return s, nil
}

func (s *checkpointStore) load() error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReader(s.f)
	var off int64
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				// A torn last line: cut it off so the next append starts
				// on a line of its own.
				if err := s.f.Truncate(off); err != nil {
					return fmt.Errorf("cut torn line %d: %w", lineNo, err)
				}
				if err := s.f.Sync(); err != nil {
					return err
				}
			}
			break
		}
		if err != nil {
			return err
		}
		var rec checkpointRecord
		if err := json.Unmarshal(line, &rec); err != nil || rec.Size < 0 || len(rec.Note) == 0 {
			return fmt.Errorf("line %d: not a checkpoint record", lineNo)
		}
		if err := s.index(rec, off, len(line)-1); err != nil {
			return fmt.Errorf("line %d: %w", lineNo, err)
		}
		off += int64(len(line))
	}
	s.end = off
	return nil
}

// index records where rec's line is. Lines of new sizes come in rising
// order; a line of a known size replaces it.
func (s *checkpointStore) index(rec checkpointRecord, off int64, n int) error {
	i, found := slices.BinarySearch(s.sizes, rec.Size)
	switch {
	case found:
		s.offsets[i], s.lengths[i] = off, n
	case i != len(s.sizes):
		return fmt.Errorf("size %d after size %d", rec.Size, s.sizes[len(s.sizes)-1])
	default:
		s.sizes = append(s.sizes, rec.Size)
		s.offsets = append(s.offsets, off)
		s.lengths = append(s.lengths, n)
	}
	if rec.Cosigned > 0 && rec.Size > s.cosigned {
		s.cosigned = rec.Size
	}
	return nil
}

// put appends rec durably and makes it the line in force for its size.
func (s *checkpointStore) put(rec checkpointRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putLocked(rec)
}

func (s *checkpointStore) putLocked(rec checkpointRecord) error {
	if n := len(s.sizes); n > 0 && rec.Size < s.sizes[n-1] {
		if _, found := slices.BinarySearch(s.sizes, rec.Size); !found {
			return fmt.Errorf("checkpoint store: size %d below the last signed %d", rec.Size, s.sizes[n-1])
		}
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if _, err := s.f.WriteAt(line, s.end); err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		// The partial line must not stay under the next append.
		_ = s.f.Truncate(s.end)
		return fmt.Errorf("checkpoint store %s: %w", s.path, err)
	}
	if err := s.index(rec, s.end, len(line)-1); err != nil {
		return err
	}
	s.end += int64(len(line))
	return nil
}

// get returns the checkpoint signed at size, with its cosignatures.
func (s *checkpointStore) get(size int64) (checkpointRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := slices.BinarySearch(s.sizes, size)
	if !found {
		return checkpointRecord{}, false, nil
	}
	return s.readLocked(i)
}

// latest returns the checkpoint signed last, with its cosignatures.
func (s *checkpointStore) latest() (checkpointRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sizes) == 0 {
		return checkpointRecord{}, false, nil
	}
	return s.readLocked(len(s.sizes) - 1)
}

// largestCosigned returns the checkpoint of the largest size that carries
// a cosignature.
func (s *checkpointStore) largestCosigned() (checkpointRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cosigned == 0 {
		return checkpointRecord{}, false, nil
	}
	i, _ := slices.BinarySearch(s.sizes, s.cosigned)
	return s.readLocked(i)
}

func (s *checkpointStore) readLocked(i int) (checkpointRecord, bool, error) {
	buf := make([]byte, s.lengths[i])
	if _, err := s.f.ReadAt(buf, s.offsets[i]); err != nil {
		return checkpointRecord{}, false, fmt.Errorf("checkpoint store %s: size %d: %w", s.path, s.sizes[i], err)
	}
	var rec checkpointRecord
	if err := json.Unmarshal(buf, &rec); err != nil || rec.Size != s.sizes[i] {
		return checkpointRecord{}, false, fmt.Errorf("checkpoint store %s: size %d: line at byte %d changed under the hub", s.path, s.sizes[i], s.offsets[i])
	}
	return rec, true, nil
}

// cosign replaces member's cosignature line on the checkpoint of size
// (at most one per member) and returns how many members' cosignatures it
// then carries. It refuses (errTooManyCosignatures) a new member beyond
// what one note may carry.
func (s *checkpointStore) cosign(size int64, member, line string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := slices.BinarySearch(s.sizes, size)
	if !found {
		return 0, fmt.Errorf("%w: size %d", ErrNotSignedHere, size)
	}
	rec, _, err := s.readLocked(i)
	if err != nil {
		return 0, err
	}
	text, logLine, cosigs, err := splitCheckpoint(rec.Note)
	if err != nil {
		return 0, fmt.Errorf("checkpoint store %s: size %d: %w", s.path, size, err)
	}
	if old, ok := cosigs[member]; ok && old == line {
		return len(cosigs), nil
	}
	if _, ok := cosigs[member]; !ok && 1+len(cosigs)+1 > maxNoteSignatures {
		return 0, fmt.Errorf("%w: the checkpoint of size %d carries %d cosignatures, the most a signed note holds with the log's own signature",
			ErrTooManyCosignatures, size, len(cosigs))
	}
	cosigs[member] = line
	rec.Note = joinCheckpoint(text, logLine, cosigs)
	rec.Cosigned = len(cosigs)
	if err := s.putLocked(rec); err != nil {
		return 0, err
	}
	return len(cosigs), nil
}

// splitCheckpoint cuts a signed note the hub stored into its text, the
// log's signature line (always the first: the hub writes it so) and the
// cosignature lines by witness name.
func splitCheckpoint(signed []byte) (text, logLine string, cosigs map[string]string, err error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return "", "", nil, errors.New("not a signed note")
	}
	text = string(signed[:i+1])
	lines := strings.Split(strings.TrimSuffix(string(signed[i+2:]), "\n"), "\n")
	cosigs = map[string]string{}
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(strings.TrimPrefix(l, "— "), " ")
		cosigs[name] = l
	}
	return text, lines[0], cosigs, nil
}

// joinCheckpoint is splitCheckpoint's inverse, cosignatures in name order
// so that one set of cosignatures has one spelling.
func joinCheckpoint(text, logLine string, cosigs map[string]string) []byte {
	var b strings.Builder
	b.WriteString(text)
	b.WriteString("\n")
	b.WriteString(logLine)
	b.WriteString("\n")
	names := make([]string, 0, len(cosigs))
	for n := range cosigs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(cosigs[n])
		b.WriteString("\n")
	}
	return []byte(b.String())
}

func (s *checkpointStore) Close() error { return s.f.Close() }

// checkpointStorePath and the other audit files live together under the
// data directory, outside NATS.
func auditPath(dataDir, name string) string { return filepath.Join(dataDir, "log", name) }
