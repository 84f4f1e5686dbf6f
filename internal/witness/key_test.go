package witness_test

import (
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/witness"
)

// The signer built from the private key and the verifier built from the
// directory's public key must be one key, or no cosignature would ever
// count.
func TestSignerMatchesVerifier(t *testing.T) {
	_, priv, err := directory.NewKey(directory.UseWitness)
	if err != nil {
		t.Fatal(err)
	}
	// Through PEM, as the agent holds it.
	pem, err := directory.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	priv, err = directory.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	s, err := witness.NewSigner(memberA, priv)
	if err != nil {
		t.Fatal(err)
	}
	v, err := witness.NewVerifier(memberA, pubKey(priv))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != memberA || v.Name() != memberA {
		t.Errorf("names %q, %q, want %q", s.Name(), v.Name(), memberA)
	}
	if s.KeyHash() != v.KeyHash() || s.Verifier().KeyHash() != v.KeyHash() {
		t.Errorf("key hashes: signer %08x, its verifier %08x, from public key %08x", s.KeyHash(), s.Verifier().KeyHash(), v.KeyHash())
	}
	tr := newTree(t, 3, "")
	signed := checkpointAt(t, tr, 3)
	cosigned := cosign(t, signed, memberA, priv)
	if _, err := note.Open(cosigned, note.VerifierList(v)); err != nil {
		t.Errorf("cosignature does not verify under the directory key: %v", err)
	}
	// Another member's name on the same key is another verifier.
	other, err := witness.NewVerifier(memberB, pubKey(priv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(cosigned, note.VerifierList(other)); err == nil {
		t.Error("cosignature verified under another member's name")
	}
}

// The verifier key is the cosignature/v1 (0x04) form of the plain note
// key: same name, another key hash.
func TestVerifierKeyIsCosignatureV1(t *testing.T) {
	pub := pubKey(witnessKey(memberA))
	plain, err := note.NewEd25519VerifierKey(memberA, pub)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := witness.VerifierKey(memberA, pub)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := note.NewVerifier(plain)
	if err != nil {
		t.Fatal(err)
	}
	v, err := witness.NewVerifier(memberA, pub)
	if err != nil {
		t.Fatal(err)
	}
	if vkey == plain || v.KeyHash() == pv.KeyHash() {
		t.Errorf("cosignature key %q has the plain key's hash (%q)", vkey, plain)
	}
	if _, err := witness.VerifierKey(memberA, pub[:31]); err == nil {
		t.Error("31-byte public key accepted")
	}
	if _, err := witness.NewSigner(memberA, witnessKey(memberA)[:40]); err == nil {
		t.Error("40-byte private key accepted")
	}
	if _, err := witness.NewSigner("bad name", witnessKey(memberA)); err == nil {
		t.Error("name with a space accepted")
	}
}
