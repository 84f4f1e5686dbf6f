package witness

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// algEd25519 is the signature type byte of an Ed25519 note key
// (C2SP signed-note). NewSignerForCosignatureV1 accepts it and signs
// cosignature/v1 (type 0x04) with the same seed.
const algEd25519 = 0x01

// VerifierKey returns the cosignature/v1 verifier key (C2SP
// tlog-cosignature, signature type 0x04) of the member memberID whose
// directory witness key is pub: note.NewEd25519VerifierKey(memberID, pub)
// converted with VKeyToCosignatureV1. The witness name is the member id,
// so a cosignature line names the member that made it.
func VerifierKey(memberID string, pub ed25519.PublicKey) (string, error) {
	vkey, err := note.NewEd25519VerifierKey(memberID, pub)
	if err != nil {
		return "", fmt.Errorf("witness key of %q: %w", memberID, err)
	}
	cvkey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		return "", fmt.Errorf("witness key of %q: %q: %w", memberID, vkey, err)
	}
	return cvkey, nil
}

// NewVerifier returns the verifier of memberID's cosignatures made with
// the witness key whose public half is pub.
func NewVerifier(memberID string, pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := VerifierKey(memberID, pub)
	if err != nil {
		return nil, err
	}
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("witness key of %q: %w", memberID, err)
	}
	return v, nil
}

// NewSigner returns the cosignature/v1 signer of memberID for its witness
// private key (as directory.ParsePrivateKey returns it). Its verifier is
// the one NewVerifier builds from the public half.
func NewSigner(memberID string, priv ed25519.PrivateKey) (*fnote.Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("witness key of %q: %d bytes, want %d", memberID, len(priv), ed25519.PrivateKeySize)
	}
	s, err := fnote.NewSignerForCosignatureV1(signerKey(memberID, priv))
	if err != nil {
		return nil, fmt.Errorf("witness key of %q: %w", memberID, err)
	}
	return s, nil
}

// signerKey spells priv as note's signer key,
// "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>", the form
// note.GenerateKey writes; the hash is note's key hash of the verifier
// key (the first four bytes of SHA-256(name || "\n" || 0x01 || public)).
// NewSignerForCosignatureV1 recomputes the cosignature key's own hash from
// the seed, so this one only has to be well formed; it is the real one
// so that the string is a valid note key wherever it ends up.
func signerKey(name string, priv ed25519.PrivateKey) string {
	pub := append([]byte{algEd25519}, priv.Public().(ed25519.PublicKey)...)
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(pub)
	hash := binary.BigEndian.Uint32(h.Sum(nil))
	seed := append([]byte{algEd25519}, priv.Seed()...)
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(seed))
}
