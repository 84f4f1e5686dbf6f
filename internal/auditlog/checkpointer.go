package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/atomicfile"
)

// CheckpointerConfig configures OpenCheckpointer.
type CheckpointerConfig struct {
	// Path is the file holding the last signed checkpoint, in the hub's
	// data directory: never in NATS, so that whoever runs NATS cannot
	// roll the hub's memory back along with the stream.
	Path string
	// Origin is the log's name, the first line of every checkpoint.
	Origin string
	// Signer is the hub's log key (never a member key).
	Signer note.Signer
	// Verifier is the log key's verifier, the one in the signed
	// directory; the persisted checkpoint is verified with it on open.
	Verifier note.Verifier
}

// SignedCheckpoint is a checkpoint as the log signed it.
type SignedCheckpoint struct {
	Size int64
	Root tlog.Hash
	// Note is the signed note: the checkpoint text and the log's
	// signature.
	Note []byte
}

// Checkpointer signs the log's checkpoints and remembers the last one, so
// that it never signs two that contradict each other. It is safe for
// concurrent use; one process per Path.
type Checkpointer struct {
	cfg CheckpointerConfig

	mu   sync.Mutex
	last *SignedCheckpoint // nil until the first checkpoint
}

// OpenCheckpointer reads the last signed checkpoint from cfg.Path (none
// when the file does not exist) and verifies it. A file that does not
// verify is an error, never replaced: signing afresh from nothing would
// let a rollback through.
func OpenCheckpointer(cfg CheckpointerConfig) (*Checkpointer, error) {
	if cfg.Path == "" {
		return nil, errors.New("checkpointer: path: empty")
	}
	if err := checkOrigin(cfg.Origin); err != nil {
		return nil, fmt.Errorf("checkpointer: %w", err)
	}
	if cfg.Signer == nil || cfg.Verifier == nil {
		return nil, errors.New("checkpointer: signer and verifier: both required")
	}
	if cfg.Signer.Name() != cfg.Verifier.Name() || cfg.Signer.KeyHash() != cfg.Verifier.KeyHash() {
		return nil, fmt.Errorf("checkpointer: signer %s and verifier %s are different keys",
			keyName(cfg.Signer.Name(), cfg.Signer.KeyHash()), keyName(cfg.Verifier.Name(), cfg.Verifier.KeyHash()))
	}
	c := &Checkpointer{cfg: cfg}
	b, err := os.ReadFile(cfg.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("checkpointer: %w", err)
	}
	cp, err := ParseCheckpoint(b, cfg.Origin, cfg.Verifier)
	if err != nil {
		return nil, fmt.Errorf("checkpointer: last signed checkpoint %s: %w", cfg.Path, err)
	}
	c.last = &SignedCheckpoint{Size: int64(cp.Size), Root: tlog.Hash(cp.Hash), Note: b}
	return c, nil
}

// Latest returns the last checkpoint signed (false before the first).
func (c *Checkpointer) Latest() (SignedCheckpoint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return SignedCheckpoint{}, false
	}
	s := *c.last
	s.Note = bytes.Clone(s.Note)
	return s, true
}

// Sign signs the checkpoint (size, root) and returns the signed note,
// after persisting it as the last signed checkpoint. proof is the
// consistency proof from the last signed checkpoint to (size, root)
// (Tree.ConsistencyProof(last, size)); it is ignored for the first
// checkpoint and when the last one was of size 0. Signing the last
// checkpoint again returns it unchanged.
//
// Refusals: a size below the last (ErrRollback), the last size with
// another root (ErrFork), a proof that does not verify
// (ErrBadConsistency); size 0 with a root other than the empty tree's is
// ErrInvalidRange.
func (c *Checkpointer) Sign(size int64, root tlog.Hash, proof tlog.TreeProof) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("sign checkpoint: size %d: %w", size, ErrInvalidRange)
	}
	if size == 0 {
		if empty, _ := tlog.TreeHash(0, nil); root != empty {
			return nil, fmt.Errorf("sign checkpoint: size 0 with root %s, the empty tree's is %s: %w", root, empty, ErrInvalidRange)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if last := c.last; last != nil {
		switch {
		case size < last.Size:
			return nil, fmt.Errorf("sign checkpoint: size %d, last signed %d: %w", size, last.Size, ErrRollback)
		case size == last.Size && root != last.Root:
			return nil, fmt.Errorf("sign checkpoint: size %d root %s, last signed root %s: %w", size, root, last.Root, ErrFork)
		case size == last.Size:
			return bytes.Clone(last.Note), nil
		case last.Size > 0:
			if err := tlog.CheckTree(proof, size, root, last.Size, last.Root); err != nil {
				return nil, fmt.Errorf("sign checkpoint: size %d root %s from last signed size %d root %s: %v: %w",
					size, root, last.Size, last.Root, err, ErrBadConsistency)
			}
		}
	}
	text := log.Checkpoint{Origin: c.cfg.Origin, Size: uint64(size), Hash: root[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, c.cfg.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: size %d: %w", size, err)
	}
	// Never hand out, or remember, what a verifier would refuse.
	if _, err := ParseCheckpoint(signed, c.cfg.Origin, c.cfg.Verifier); err != nil {
		return nil, fmt.Errorf("sign checkpoint: size %d: own checkpoint refused: %w", size, err)
	}
	if err := atomicfile.Write(c.cfg.Path, signed, 0o600); err != nil {
		return nil, fmt.Errorf("sign checkpoint: size %d: persist: %w", size, err)
	}
	c.last = &SignedCheckpoint{Size: size, Root: root, Note: signed}
	return bytes.Clone(signed), nil
}
