package auditlog

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// maxCheckpointBytes bounds what ParseCheckpoint reads: a checkpoint with
// the most signatures a note may carry (100) is far below it.
const maxCheckpointBytes = 64 << 10

// GenerateLogKey makes the hub's log key pair, named origin as C2SP
// tlog-checkpoint recommends: skey signs checkpoints (the hub's secret),
// vkey is the verifier key published in the signed directory. Both are
// note keys. An origin that cannot be a key name (empty, with a space or
// a '+') is refused.
func GenerateLogKey(origin string) (skey, vkey string, err error) {
	if err := checkOrigin(origin); err != nil {
		return "", "", err
	}
	if strings.Contains(origin, "+") {
		return "", "", fmt.Errorf("origin %q: a key name holds no '+'", origin)
	}
	return note.GenerateKey(rand.Reader, origin)
}

// checkOrigin refuses an origin that cannot be the first line of a
// checkpoint (and so could shift the size and hash lines).
func checkOrigin(origin string) error {
	if origin == "" {
		return errors.New("origin: empty")
	}
	if !utf8.ValidString(origin) || strings.IndexFunc(origin, unicode.IsSpace) >= 0 ||
		strings.IndexFunc(origin, unicode.IsControl) >= 0 {
		return fmt.Errorf("origin %q: holds a space, a control character or invalid UTF-8", origin)
	}
	return nil
}

// ParseCheckpoint verifies a signed checkpoint of the log named origin
// against the log's verifier and returns it. Signatures by other keys
// (witnesses' cosignatures) are ignored here.
//
// Beyond log.ParseCheckpoint it refuses (ErrMalformedCheckpoint) what
// this log never writes and what would give one checkpoint two texts: a
// root hash that is not 32 bytes, a size not spelt canonically (leading
// zeros, a sign) or beyond int64, a hash in non-canonical base64,
// extension lines, and a log signature line in non-canonical base64 or
// repeated (note.Open checks only the first line by a key). A
// checkpoint without a valid log signature is ErrCheckpointSignature; one
// of another origin is ErrWrongOrigin.
func ParseCheckpoint(signed []byte, origin string, verifier note.Verifier) (*log.Checkpoint, error) {
	if len(signed) > maxCheckpointBytes {
		return nil, fmt.Errorf("checkpoint: %d bytes, limit %d: %w", len(signed), maxCheckpointBytes, ErrMalformedCheckpoint)
	}
	key := keyName(verifier.Name(), verifier.KeyHash())
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, fmt.Errorf("checkpoint: no signature by %s: %w", key, ErrCheckpointSignature)
		case errors.As(err, &invalid):
			return nil, fmt.Errorf("checkpoint: signature by %s does not verify: %w", key, ErrCheckpointSignature)
		}
		return nil, fmt.Errorf("checkpoint: not a signed note (%v): %w", err, ErrMalformedCheckpoint)
	}
	// note decodes base64 leniently (the unused low bits of the last
	// character could change and the signature still verify) and skips a
	// second line by a key it has verified once without verifying it.
	// Either would give one checkpoint more than one spelling of the log's
	// signature, so the log's line must be canonical and alone.
	if err := checkLogSignatureLine(signed[len(n.Text)+1:], verifier); err != nil {
		return nil, fmt.Errorf("checkpoint: signature by %s: %v: %w", key, err, ErrMalformedCheckpoint)
	}
	// The text is parsed only now that the log's signature holds.
	var cp log.Checkpoint
	rest, err := cp.Unmarshal([]byte(n.Text))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %v: %w", err, ErrMalformedCheckpoint)
	}
	if cp.Origin != origin {
		return nil, fmt.Errorf("checkpoint: origin %q, want %q: %w", cp.Origin, origin, ErrWrongOrigin)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	switch {
	case lines[1] != strconv.FormatUint(cp.Size, 10):
		return nil, fmt.Errorf("checkpoint: size %q is not canonical decimal: %w", lines[1], ErrMalformedCheckpoint)
	case cp.Size > math.MaxInt64:
		return nil, fmt.Errorf("checkpoint: size %d beyond %d: %w", cp.Size, int64(math.MaxInt64), ErrMalformedCheckpoint)
	case len(cp.Hash) != tlog.HashSize:
		return nil, fmt.Errorf("checkpoint: root hash of %d bytes, want %d: %w", len(cp.Hash), tlog.HashSize, ErrMalformedCheckpoint)
	case lines[2] != base64.StdEncoding.EncodeToString(cp.Hash):
		return nil, fmt.Errorf("checkpoint: root hash %q is not canonical base64: %w", lines[2], ErrMalformedCheckpoint)
	case len(rest) != 0:
		return nil, fmt.Errorf("checkpoint: extension lines %q (this log writes none): %w", rest, ErrMalformedCheckpoint)
	case !bytes.Equal(cp.Marshal(), []byte(n.Text)):
		// Unreachable after the checks above; kept so that the one-text
		// rule holds even if log.Checkpoint's parsing changes.
		return nil, fmt.Errorf("checkpoint: text is not the canonical form: %w", ErrMalformedCheckpoint)
	}
	return &cp, nil
}

// checkLogSignatureLine checks that the signature block sigs (lines "— name
// base64", as note.Open accepted them) holds exactly one line by v's key,
// in canonical base64.
func checkLogSignatureLine(sigs []byte, v note.Verifier) error {
	count := 0
	for line := range bytes.Lines(sigs) {
		name, b64, _ := strings.Cut(strings.TrimPrefix(strings.TrimSuffix(string(line), "\n"), "— "), " ")
		if name != v.Name() {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) < 4 || binary.BigEndian.Uint32(sig) != v.KeyHash() {
			continue
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(b64); err != nil {
			return errors.New("not canonical base64")
		}
		count++
	}
	if count != 1 {
		return fmt.Errorf("%d lines by the log key, want 1", count)
	}
	return nil
}

func keyName(name string, hash uint32) string {
	return fmt.Sprintf("%s+%08x", name, hash)
}
