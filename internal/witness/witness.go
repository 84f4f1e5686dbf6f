package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
)

// Config configures New.
type Config struct {
	// MemberID is the witness's member id, which is also its witness
	// name (the name on its cosignature lines).
	MemberID string
	// Key is the member's witness private key (directory.UseWitness).
	Key ed25519.PrivateKey
	// Origin is the log's origin, directory.Log.Origin.
	Origin string
	// LogVerifier is the log key's verifier, directory.Log.Verifier():
	// from the signed directory, never from the hub.
	LogVerifier note.Verifier
	// State is the witness's durable memory (a FileState).
	State State
}

// maxCASAttempts bounds how often Cosign starts again when another
// cosignation moved the state under it. Each retry follows a successful
// step of the other, so it is only reached under a flood of requests.
const maxCASAttempts = 4

// Witness cosigns the log's checkpoints as C2SP tlog-witness describes.
// It is safe for concurrent use: concurrent Cosign calls are ordered by
// the state's compare-and-swap.
type Witness struct {
	cfg      Config
	signer   note.Signer
	verifier note.Verifier
}

// New returns the witness of cfg. The state's checkpoint, if any, must be
// of cfg.Origin and signed by cfg.LogVerifier's key; otherwise New fails
// with ErrWrongLog rather than start afresh: whether the log was replaced
// is an operator's decision.
func New(cfg Config) (*Witness, error) {
	if cfg.LogVerifier == nil || cfg.State == nil {
		return nil, errors.New("witness: log verifier and state: both required")
	}
	if cfg.Origin == "" {
		return nil, errors.New("witness: origin: empty")
	}
	signer, err := NewSigner(cfg.MemberID, cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	w := &Witness{cfg: cfg, signer: signer, verifier: signer.Verifier()}
	last, err := cfg.State.Load()
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	if last != nil {
		if _, err := auditlog.ParseCheckpoint(last.Note, cfg.Origin, cfg.LogVerifier); err != nil {
			return nil, fmt.Errorf("witness: last cosigned checkpoint: %v: %w", err, ErrWrongLog)
		}
	}
	return w, nil
}

// Verifier is the verifier of this witness's cosignatures.
func (w *Witness) Verifier() note.Verifier { return w.verifier }

// Cosign checks signed, a checkpoint signed by the log key, against the
// last checkpoint this witness cosigned, and returns it with the
// witness's cosignature (C2SP tlog-cosignature, cosignature/v1) added to
// the signatures it carries. proof is the consistency proof from the last
// cosigned size to signed's size (ignored when there is none yet, or it
// was of size 0, or the sizes are equal).
//
// Refusals: a checkpoint not signed by the log key, of another origin or
// not exactly as the log writes one (auditlog's errors); a smaller size
// (ErrRollback); the same size with another root (ErrFork, the error a
// *ForkProof); a larger size whose proof does not verify, or size 0 with
// a root other than the empty tree's (ErrInconsistent). The same
// checkpoint again is cosigned again, with a fresh timestamp: that is
// how the witness vouches that an idle log is still what it showed.
//
// The new state is stored before the cosignature is returned, so no
// cosignature ever leaves for a checkpoint the witness could forget.
func (w *Witness) Cosign(ctx context.Context, signed []byte, proof tlog.TreeProof) ([]byte, error) {
	cp, err := auditlog.ParseCheckpoint(signed, w.cfg.Origin, w.cfg.LogVerifier)
	if err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	size, root := int64(cp.Size), tlog.Hash(cp.Hash)
	if size == 0 {
		if empty, _ := tlog.TreeHash(0, nil); root != empty {
			return nil, fmt.Errorf("cosign: size 0 with root %s, the empty tree's is %s: %w", root, empty, ErrInconsistent)
		}
	}
	for range maxCASAttempts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("cosign: size %d: %w", size, err)
		}
		last, err := w.cfg.State.Load()
		if err != nil {
			return nil, fmt.Errorf("cosign: %w", err)
		}
		if err := checkStep(last, signed, size, root, proof); err != nil {
			return nil, fmt.Errorf("cosign: %w", err)
		}
		cosigned, err := w.addCosignature(signed)
		if err != nil {
			return nil, fmt.Errorf("cosign: size %d: %w", size, err)
		}
		next := &Checkpoint{Origin: w.cfg.Origin, Size: size, Root: root, Note: cosigned}
		err = w.cfg.State.CompareAndSwap(last, next)
		if errors.Is(err, ErrStateChanged) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cosign: size %d: %w", size, err)
		}
		return bytes.Clone(cosigned), nil
	}
	return nil, fmt.Errorf("cosign: size %d: state moved %d times while cosigning: %w", size, maxCASAttempts, ErrStateChanged)
}

// checkStep is C2SP tlog-witness's rule: from the last cosigned
// checkpoint, only an append-only extension may be cosigned. The first
// checkpoint is trusted as it comes (the state is never rebuilt, so this
// happens once per witness).
func checkStep(last *Checkpoint, signed []byte, size int64, root tlog.Hash, proof tlog.TreeProof) error {
	switch {
	case last == nil:
		return nil
	case size < last.Size:
		return fmt.Errorf("size %d, last cosigned %d: %w", size, last.Size, ErrRollback)
	case size == last.Size && root != last.Root:
		return &ForkProof{A: bytes.Clone(last.Note), B: bytes.Clone(signed)}
	case size == last.Size || last.Size == 0:
		return nil
	}
	if err := tlog.CheckTree(proof, size, root, last.Size, last.Root); err != nil {
		return fmt.Errorf("size %d root %s from last cosigned size %d root %s: %v: %w",
			size, root, last.Size, last.Root, err, ErrInconsistent)
	}
	return nil
}

// addCosignature returns signed with this witness's cosignature added
// after the signatures it carries; an older line by this witness's key is
// replaced. The result is checked as a verifier will check it.
func (w *Witness) addCosignature(signed []byte) ([]byte, error) {
	n, err := note.Open(signed, note.VerifierList(w.cfg.LogVerifier))
	if err != nil {
		return nil, err // unreachable: ParseCheckpoint opened it
	}
	out, err := note.Sign(n, w.signer)
	if err != nil {
		return nil, err
	}
	if _, err := auditlog.ParseCheckpoint(out, w.cfg.Origin, w.cfg.LogVerifier); err != nil {
		return nil, fmt.Errorf("cosigned note refused: %w", err)
	}
	if _, err := note.Open(out, note.VerifierList(w.verifier)); err != nil {
		return nil, fmt.Errorf("own cosignature refused: %v", err)
	}
	return out, nil
}

// Latest returns the last checkpoint this witness cosigned, with its
// cosignature; ErrNotCosigned before the first.
func (w *Witness) Latest() (Checkpoint, error) {
	last, err := w.cfg.State.Load()
	if err != nil {
		return Checkpoint{}, err
	}
	if last == nil {
		return Checkpoint{}, ErrNotCosigned
	}
	return *last, nil
}

// Handler serves the latest cosigned checkpoint at GET / (and HEAD), as
// text/plain, for the member's witness_url: auditors compare members'
// checkpoints without going through the hub. Before the first cosignature
// it answers 404. Mount it with http.StripPrefix where witness_url's path
// is not "/".
func (w *Witness) Handler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(rw, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", "GET, HEAD")
			http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		last, err := w.Latest()
		switch {
		case errors.Is(err, ErrNotCosigned):
			http.Error(rw, "no checkpoint cosigned yet", http.StatusNotFound)
			return
		case err != nil:
			http.Error(rw, "witness state unavailable", http.StatusInternalServerError)
			return
		}
		h := rw.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(last.Note)))
		// A cached checkpoint would hide a newer one, or a fork.
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		rw.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			rw.Write(last.Note)
		}
	})
}
