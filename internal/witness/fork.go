package witness

import (
	"bytes"
	"fmt"

	"github.com/headsup-dev/headsup/internal/directory"
)

// ForkProof is evidence that the log forked: two checkpoints of one size
// with different roots, both signed by the log key. Anyone holding the
// directory that names the key can check it (Verify); no secret and no
// trust in the hub is needed. A and B are the signed notes as they were
// received, cosignatures included.
//
// A *ForkProof is also the error Witness.Cosign returns on a fork
// (errors.Is(err, ErrFork), errors.As(err, &proof)).
type ForkProof struct {
	A, B []byte
}

// forkProofHeader is the first line of a fork proof's encoding.
const forkProofHeader = "headsup fork proof v1\n"

// maxForkProofBytes bounds what ParseForkProof reads: two checkpoints
// with the most signatures a note may carry are far below it.
const maxForkProofBytes = 256 << 10

// Error implements error.
func (p *ForkProof) Error() string {
	a, errA := checkpointOf(p.A)
	b, errB := checkpointOf(p.B)
	if errA != nil || errB != nil {
		return ErrFork.Error()
	}
	return fmt.Sprintf("%v: size %d has root %s and root %s", ErrFork, a.Size, a.Root, b.Root)
}

// Unwrap makes a *ForkProof an ErrFork.
func (p *ForkProof) Unwrap() error { return ErrFork }

// Verify checks that p proves a fork of dir's log: both notes are
// checkpoints signed by the log key (auditlog.ParseCheckpoint), of one
// size, with different roots. A proof that proves nothing is ErrNotFork.
func (p *ForkProof) Verify(dir *directory.Directory) error {
	pl, err := NewPolicy(dir)
	if err != nil {
		return err
	}
	a, err := pl.parse(p.A)
	if err != nil {
		return fmt.Errorf("fork proof: first checkpoint: %v: %w", err, ErrNotFork)
	}
	b, err := pl.parse(p.B)
	if err != nil {
		return fmt.Errorf("fork proof: second checkpoint: %v: %w", err, ErrNotFork)
	}
	switch {
	case a.Size != b.Size:
		return fmt.Errorf("fork proof: sizes %d and %d: %w", a.Size, b.Size, ErrNotFork)
	case bytes.Equal(a.Hash, b.Hash):
		return fmt.Errorf("fork proof: size %d: both roots are %x: %w", a.Size, a.Hash, ErrNotFork)
	}
	return nil
}

// DetectFork returns the proof that a and b, two checkpoints signed by
// dir's log key, fork the log (one size, two roots). It returns false when
// they do not, or when either is not a checkpoint of dir's log.
func DetectFork(dir *directory.Directory, a, b []byte) (*ForkProof, bool) {
	p := &ForkProof{A: bytes.Clone(a), B: bytes.Clone(b)}
	if p.Verify(dir) != nil {
		return nil, false
	}
	return p, true
}

// Marshal encodes p for a file or a message: the line
// "headsup fork proof v1", then note A, an empty line, and note B. A
// checkpoint's text holds no empty line and its signature lines are not
// empty, so the empty line after A's signatures is where A ends.
func (p *ForkProof) Marshal() []byte {
	out := make([]byte, 0, len(forkProofHeader)+len(p.A)+1+len(p.B))
	out = append(out, forkProofHeader...)
	out = append(out, p.A...)
	out = append(out, '\n')
	return append(out, p.B...)
}

// ParseForkProof decodes what Marshal wrote. It checks the form only
// (two notes, each a checkpoint-shaped text and its signatures); Verify
// checks what they prove. Marshal(ParseForkProof(b)) is b.
func ParseForkProof(b []byte) (*ForkProof, error) {
	if len(b) > maxForkProofBytes {
		return nil, fmt.Errorf("fork proof: %d bytes, limit %d: %w", len(b), maxForkProofBytes, ErrMalformedForkProof)
	}
	rest, ok := bytes.CutPrefix(b, []byte(forkProofHeader))
	if !ok {
		return nil, fmt.Errorf("fork proof: first line is not %q: %w", bytes.TrimSuffix([]byte(forkProofHeader), []byte("\n")), ErrMalformedForkProof)
	}
	// A ends at the second empty line: the first ends its text, the
	// second its signatures.
	first := bytes.Index(rest, []byte("\n\n"))
	if first < 0 {
		return nil, fmt.Errorf("fork proof: no signatures on the first checkpoint: %w", ErrMalformedForkProof)
	}
	second := bytes.Index(rest[first+2:], []byte("\n\n"))
	if second < 0 {
		return nil, fmt.Errorf("fork proof: no second checkpoint: %w", ErrMalformedForkProof)
	}
	end := first + 2 + second + 1
	p := &ForkProof{A: bytes.Clone(rest[:end]), B: bytes.Clone(rest[end+1:])}
	for i, n := range [][]byte{p.A, p.B} {
		if _, err := checkpointOf(n); err != nil {
			return nil, fmt.Errorf("fork proof: checkpoint %d: %v: %w", i+1, err, ErrMalformedForkProof)
		}
		if bytes.Count(n, []byte("\n\n")) != 1 {
			return nil, fmt.Errorf("fork proof: checkpoint %d: more than one empty line: %w", i+1, ErrMalformedForkProof)
		}
	}
	return p, nil
}
