package hub

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/headsup-dev/headsup/internal/directory"
)

// logKey is the hub's log key: the note signer of its checkpoints and the
// verifier key the signed directory must publish as log.verifier_key.
type logKey struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string // canonical "origin+hash+base64"
}

// readLogKey reads a log key file written by `headsup log keygen`: one
// line, "PRIVATE+KEY+origin+hash+base64". The verifier is derived from the
// key itself, never read from elsewhere, so the two cannot disagree.
func readLogKey(path string) (*logKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	k, err := parseLogKey(strings.TrimSpace(string(b)))
	if err != nil {
		// The key's text is a secret: the error names the file only.
		return nil, fmt.Errorf("log key %s: %w", path, err)
	}
	return k, nil
}

func parseLogKey(skey string) (*logKey, error) {
	const want = "want PRIVATE+KEY+origin+hash+base64, as written by headsup log keygen"
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("not a note signer key (%s)", want)
	}
	// note.NewSigner checked the form; the seed is the fifth field (the
	// base64 may hold a '+'), after the algorithm byte (1: Ed25519).
	fields := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(fields[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, fmt.Errorf("not an Ed25519 note signer key (%s)", want)
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %v", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %v", err)
	}
	if verifier.KeyHash() != signer.KeyHash() {
		return nil, errors.New("key hash does not match the key")
	}
	return &logKey{signer: signer, verifier: verifier, vkey: vkey}, nil
}

// origin is the log's name: the checkpoints' first line and the key name.
func (k *logKey) origin() string { return k.signer.Name() }

// matches checks that d publishes this key as the log's verifier: a note
// signed with the hub's key must verify under d's log.verifier_key. A
// name and key hash alone would be a 32-bit check.
func (k *logKey) matches(d *directory.Directory) error {
	if d.Log == nil {
		return fmt.Errorf("directory serial %d: log: missing; it must name the log %q and its verifier key %s", d.Serial, k.origin(), k.vkey)
	}
	v, err := d.Log.Verifier()
	if err != nil {
		return fmt.Errorf("directory serial %d: log.verifier_key: %v", d.Serial, err)
	}
	probe, err := note.Sign(&note.Note{Text: "headsup log key check\n"}, k.signer)
	if err != nil {
		return fmt.Errorf("log key: %v", err)
	}
	if d.Log.Origin != k.origin() {
		return fmt.Errorf("directory serial %d: log.origin is %q but the hub's log key is named %q", d.Serial, d.Log.Origin, k.origin())
	}
	if _, err := note.Open(probe, note.VerifierList(v)); err != nil {
		return fmt.Errorf("directory serial %d: log.verifier_key %s is not the hub's log key (its verifier is %s)", d.Serial, d.Log.VerifierKey, k.vkey)
	}
	return nil
}
