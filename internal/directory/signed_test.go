package directory_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/headsup-dev/headsup/internal/directory"
)

// govKey returns a deterministic governance key pair, so that test vectors
// under testdata stay valid.
func govKey(t testing.TB, name string, seed byte) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

func signYAML(t testing.TB, yamlText, skey string) []byte {
	t.Helper()
	signed, err := directory.Sign([]byte(yamlText), skey)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func marshal(t testing.TB, d *directory.Directory) string {
	t.Helper()
	b, err := directory.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGenerateGovernanceKey(t *testing.T) {
	skey, vkey, err := directory.GenerateGovernanceKey("gov.headsup.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(skey, "PRIVATE+KEY+gov.headsup.example+") || !strings.HasPrefix(vkey, "gov.headsup.example+") {
		t.Fatalf("keys %q / %q do not carry the name", skey[:20], vkey)
	}
	if _, err := directory.Open(signYAML(t, validYAML(t), skey), vkey); err != nil {
		t.Fatalf("a generated pair does not sign and verify: %v", err)
	}
	skey2, _, err := directory.GenerateGovernanceKey("gov.headsup.example")
	if err != nil || skey2 == skey {
		t.Fatalf("second key: %v, same as the first: %v", err, skey2 == skey)
	}
	for _, name := range []string{"", "Gov", "../x", "a/b", ".hidden", "a+b", "a b", "-x", strings.Repeat("a", 64)} {
		if _, _, err := directory.GenerateGovernanceKey(name); err == nil || !strings.Contains(err.Error(), "governance key name") {
			t.Errorf("GenerateGovernanceKey(%q): %v, want a refusal naming the name", name, err)
		}
	}
}

func TestSignOpenRoundTrip(t *testing.T) {
	skey, vkey := govKey(t, "gov.example", 1)
	text := validYAML(t)
	signed := signYAML(t, text, skey)
	if !bytes.HasPrefix(signed, []byte(text+"\n— gov.example ")) {
		t.Fatalf("signed directory is not text, blank line, signature:\n%s", signed)
	}
	d, err := directory.Open(signed, vkey)
	if err != nil {
		t.Fatal(err)
	}
	want, err := directory.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if marshal(t, d) != marshal(t, want) {
		t.Errorf("Open gave another directory than Parse of the text")
	}
	if _, _, ok := d.Key(want.Members[0].Keys[0].ID); !ok {
		t.Error("an opened directory does not index its keys")
	}
	if !bytes.Equal(d.SignedNote(), signed) {
		t.Error("SignedNote is not the signed file")
	}
	if want.SignedNote() != nil {
		t.Error("a parsed (unsigned) directory has a SignedNote")
	}

	// Ed25519 is deterministic: signing again gives the same bytes.
	if again := signYAML(t, text, skey); !bytes.Equal(again, signed) {
		t.Error("signing the same text twice gave two files")
	}
	// A text without its final newline gets one.
	if got := signYAML(t, strings.TrimSuffix(text, "\n"), skey); !bytes.Equal(got, signed) {
		t.Error("a text without final newline was signed differently")
	}

	// A cosignature by another key does not disturb verification.
	otherS, otherV := govKey(t, "witness.example", 9)
	n, err := note.Open(signed, note.VerifierList(mustVerifier(t, vkey)))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(otherS)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := directory.Open(cosigned, vkey); err != nil {
		t.Errorf("a cosigned directory: %v", err)
	}
	if _, err := directory.Open(cosigned, otherV); err != nil {
		t.Errorf("the cosigner's key does not verify its own signature: %v", err)
	}

	path := filepath.Join(t.TempDir(), "directory.signed")
	if err := os.WriteFile(path, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := directory.LoadSigned(path, vkey); err != nil || d.Serial != 7 {
		t.Errorf("LoadSigned: %v", err)
	}
	if _, err := directory.LoadSigned(path, otherV); !errors.Is(err, directory.ErrBadSignature) || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadSigned with another key: %v, want ErrBadSignature naming the file", err)
	}
}

func mustVerifier(t testing.TB, vkey string) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenRefuses(t *testing.T) {
	skey, vkey := govKey(t, "gov.example", 1)
	otherS, _ := govKey(t, "other.example", 2)
	sameNameS, _ := govKey(t, "gov.example", 3)
	text := validYAML(t)
	signed := signYAML(t, text, skey)
	sig := signed[len(text)+1:]

	// A validly signed note whose text is no directory: governance
	// signed garbage, and Parse says what is wrong with it.
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	signedGarbage, err := note.Sign(&note.Note{Text: "serial: 1\nbogus: true\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		in      []byte
		vkey    string
		wantErr error
		want    string
	}{
		{"unsigned YAML", []byte(text), vkey, directory.ErrUnsigned, "no signature block"},
		{"empty", nil, vkey, directory.ErrUnsigned, "no signature block"},
		{"signature block removed", signed[:len(text)+1], vkey, directory.ErrUnsigned, "no signature block"},
		{"signed by another key", signYAML(t, text, otherS), vkey, directory.ErrBadSignature, "signed by other.example+"},
		{"another key of the same name", signYAML(t, text, sameNameS), vkey, directory.ErrBadSignature, "not by the pinned key gov.example+"},
		{"text altered", append([]byte(strings.Replace(text, "serial: 7", "serial: 8", 1)+"\n"), sig...), vkey, directory.ErrBadSignature, "does not verify (text or signature altered)"},
		{"member added after signing", append([]byte(text+"  - id: mallory\n\n"), sig...), vkey, directory.ErrBadSignature, "does not verify"},
		{"no blank line before the signature", append([]byte(text), sig...), vkey, directory.ErrBadSignature, "malformed signed note"},
		{"signature truncated", signed[:len(signed)-10], vkey, directory.ErrBadSignature, "malformed"},
		{"carriage returns", []byte(strings.ReplaceAll(string(signed), "\n", "\r\n")), vkey, directory.ErrBadSignature, "line 1: carriage return"},
		{"signed, not a directory", signedGarbage, vkey, nil, "field bogus not found"},
		{"bad verifier key", signed, "gov.example+00000000+AAAA", nil, "governance verifier key \"gov.example+00000000+AAAA\": "},
		{"signing key as verifier key", signed, skey, nil, "governance verifier key"},
		{"empty verifier key", signed, " ", nil, "governance verifier key: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := directory.Open(tt.in, tt.vkey)
			if err == nil {
				t.Fatalf("Open accepted it (serial %d)", d.Serial)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestOpenFlipEveryByte: a change of any byte of a signed directory, in
// the text or in the signature, is refused. A change in the text is a bad
// signature; one in the signature block may also leave no block at all.
func TestOpenFlipEveryByte(t *testing.T) {
	skey, vkey := govKey(t, "gov.example", 1)
	text := validYAML(t)
	signed := signYAML(t, text, skey)
	for _, mask := range []byte{0x01, 0x80} {
		for i := range signed {
			b := bytes.Clone(signed)
			b[i] ^= mask
			_, err := directory.Open(b, vkey)
			switch {
			case err == nil:
				t.Fatalf("byte %d ^ %#x: accepted", i, mask)
			case i < len(text):
				if !errors.Is(err, directory.ErrBadSignature) {
					t.Errorf("byte %d ^ %#x (text): %v, want ErrBadSignature", i, mask, err)
				}
			default:
				if !errors.Is(err, directory.ErrBadSignature) && !errors.Is(err, directory.ErrUnsigned) {
					t.Errorf("byte %d ^ %#x (signature): %v, want ErrBadSignature or ErrUnsigned", i, mask, err)
				}
			}
		}
	}
}

func TestSignRefuses(t *testing.T) {
	skey, vkey := govKey(t, "gov.example", 1)
	text := validYAML(t)
	tests := []struct {
		name string
		in   string
		skey string
		want string
	}{
		{"invalid directory", strings.Replace(text, "use: notice", "use: nonsense", 1), skey, `"nonsense" is not a key use`},
		{"not YAML", "serial: [\n", skey, "yaml"},
		{"tab", strings.Replace(text, "name: VoxHost", "name:\tVoxHost", 1), skey, "line 10: tab"},
		{"CRLF", strings.ReplaceAll(text, "\n", "\r\n"), skey, "line 1: carriage return (use LF line endings)"},
		{"not UTF-8", strings.Replace(text, "VoxHost", "Vox\xffHost", 1), skey, "line 10: byte 0xff is not UTF-8"},
		{"already signed", string(signYAML(t, text, skey)), skey, "already signed"},
		{"verifier key as signing key", text, vkey, "governance signing key: "},
		{"no signing key", text, "", "governance signing key: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := directory.Sign([]byte(tt.in), tt.skey)
			if err == nil {
				t.Fatalf("Sign accepted it:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), skey) || strings.Contains(err.Error(), skey[len("PRIVATE+KEY+gov.example+12345678+"):]) {
				t.Errorf("error %q shows the signing key", err)
			}
		})
	}
}

func TestBumpSerial(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"block", "# the federation\nserial: 7 # bump me\nmembers: []\n", "# the federation\nserial: 8 # bump me\nmembers: []\n"},
		{"not first", "members: []\nserial: 9\n", "members: []\nserial: 10\n"},
		{"flow", "{members: [], serial: 99}\n", "{members: [], serial: 100}\n"},
		{"after non-ASCII comment", "# fédération — test\nserial:   41\n", "# fédération — test\nserial:   42\n"},
		{"full directory", validYAML(t), strings.Replace(validYAML(t), "serial: 7", "serial: 8", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := directory.BumpSerial([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	for _, in := range []string{
		"serial: 0\n",
		"members: []\n",
		"serial: 18446744073709551615\n",
		"serial: 1\nbogus: 2\n",
	} {
		if got, err := directory.BumpSerial([]byte(in)); err == nil {
			t.Errorf("BumpSerial(%q) = %q, want an error", in, got)
		}
	}
	if _, err := directory.BumpSerial([]byte("serial: 18446744073709551615\n")); err == nil || !strings.Contains(err.Error(), "cannot be raised") {
		t.Errorf("BumpSerial of the largest serial: %v", err)
	}
}
