package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/atomicfile"
)

// stateFormat names the state file's format.
const stateFormat = "headsup.audit.state.v1"

// state is what Verify remembers between runs: the largest checkpoint it
// verified, and the hashes of the perfect subtrees that tile the tree at
// that size (RFC 6962's decomposition, at most 64 of them), so that a
// rewritten history is located to one subtree rather than "somewhere in
// the first N entries".
type state struct {
	Format     string      `json:"format"`
	Origin     string      `json:"origin"`
	Size       uint64      `json:"size"`
	Root       tlog.Hash   `json:"root"`
	Checkpoint []byte      `json:"checkpoint"`
	Subtrees   []tlog.Hash `json:"subtrees"`
}

// readState reads the state file; a missing file is no state (first run).
func readState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state %s: %v", path, err)
	}
	if s.Format != stateFormat {
		return nil, fmt.Errorf("state %s: format %q, want %q", path, s.Format, stateFormat)
	}
	if s.Size == 0 || len(s.Checkpoint) == 0 {
		return nil, fmt.Errorf("state %s: size %d, checkpoint of %d bytes: want both", path, s.Size, len(s.Checkpoint))
	}
	if len(s.Subtrees) != 0 && len(s.Subtrees) != len(subtrees(s.Size)) {
		return nil, fmt.Errorf("state %s: %d subtree hashes, size %d has %d", path, len(s.Subtrees), s.Size, len(subtrees(s.Size)))
	}
	return &s, nil
}

// writeState replaces the state file atomically: a crash leaves the old or
// the new state, never a torn one that would lose the rollback check.
func writeState(path string, s *state) (err error) {
	s.Format = stateFormat
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// subtree is a perfect subtree of 2^level leaves starting at leaf start.
type subtree struct {
	level int
	start uint64
}

// subtrees returns the perfect subtrees that tile the first size leaves,
// largest (leftmost) first.
func subtrees(size uint64) []subtree {
	var out []subtree
	var start uint64
	for level := 63; level >= 0; level-- {
		if size&(1<<level) != 0 {
			out = append(out, subtree{level: level, start: start})
			start += 1 << level
		}
	}
	return out
}

// subtreeHashes reads the hashes of the subtrees tiling size leaves from
// the tree's stored hashes (tlog stores every complete subtree's hash).
func subtreeHashes(r tlog.HashReader, size uint64) ([]tlog.Hash, error) {
	st := subtrees(size)
	idx := make([]int64, len(st))
	for i, s := range st {
		idx[i] = tlog.StoredHashIndex(s.level, int64(s.start>>s.level))
	}
	return r.ReadHashes(idx)
}
