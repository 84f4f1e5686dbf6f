package directory

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Outcomes of Open (and of a Watcher that pins a verifier key).
var (
	// ErrUnsigned: the file has no signature block at all, typically the
	// plain YAML where the signed file was meant.
	ErrUnsigned = errors.New("directory not signed")
	// ErrBadSignature: the file has a signature block, but no signature
	// in it verifies under the pinned governance key: signed by another
	// key, text or signature altered, or the block is malformed.
	ErrBadSignature = errors.New("directory signature not valid")
	// ErrSerialReused: a signed version has the serial of the installed
	// one but other content. The serial names the version appended to the
	// log, so two contents under one serial would be two histories.
	ErrSerialReused = errors.New("directory content changed without a new serial")
)

// governanceNamePattern limits key names to what is also a safe file name
// (DIR/NAME.skey): no slash, no leading dot, nothing note forbids (space,
// '+').
var governanceNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

// sigLineStart begins every line of a note's signature block.
const sigLineStart = "— "

// GenerateGovernanceKey makes a governance key pair named name (lower
// case, like a domain or a member id): skey is the secret signing key,
// vkey the verifier key every hub and agent pins. Both are note keys,
// "PRIVATE+KEY+name+hash+base64" and "name+hash+base64".
func GenerateGovernanceKey(name string) (skey, vkey string, err error) {
	if !governanceNamePattern.MatchString(name) {
		return "", "", fmt.Errorf("governance key name %q does not match %s", name, governanceNamePattern)
	}
	return note.GenerateKey(rand.Reader, name)
}

// Sign signs a directory's YAML text with the governance signing key skey
// and returns the signed directory: the text (with a final newline added
// when missing) followed by a blank line and the signature line. The text
// must Parse: governance never signs a version that hubs would refuse.
func Sign(yamlText []byte, skey string) ([]byte, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		// The error names no part of the key: it is a secret.
		return nil, fmt.Errorf("governance signing key: %v (want PRIVATE+KEY+name+hash+base64, as written by headsup directory keygen)", err)
	}
	text := yamlText
	if !bytes.HasSuffix(text, []byte("\n")) {
		text = append(bytes.Clone(text), '\n')
	}
	if err := checkNoteText(text); err != nil {
		return nil, err
	}
	if line, ok := signatureLine(text); ok {
		return nil, fmt.Errorf("line %d starts with %q: the input is already signed (sign the YAML, not the signed file)", line, sigLineStart)
	}
	if _, err := Parse(text); err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: string(text)}, s)
}

// Open verifies a signed directory against the pinned governance verifier
// key vkey and parses the signed text. It returns ErrUnsigned when there
// is no signature block, ErrBadSignature when no signature verifies under
// vkey (signatures by other keys, such as cosigners', are ignored), and
// Parse's error when the signed text is not a valid directory.
func Open(signed []byte, vkey string) (*Directory, error) {
	v, err := newVerifier(vkey)
	if err != nil {
		return nil, err
	}
	return open(signed, v)
}

// LoadSigned reads a signed directory file and opens it with vkey.
func LoadSigned(path, vkey string) (*Directory, error) {
	v, err := newVerifier(vkey)
	if err != nil {
		return nil, err
	}
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	d, err := open(b, v)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", path, err)
	}
	return d, nil
}

// SignedNote returns the signed directory d was opened from (text and
// signatures, as read), the bytes to append to the log; nil when d was
// parsed from unsigned YAML.
func (d *Directory) SignedNote() []byte {
	return d.signed
}

func newVerifier(vkey string) (note.Verifier, error) {
	vkey = strings.TrimSpace(vkey)
	if vkey == "" {
		return nil, errors.New("governance verifier key: empty")
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("governance verifier key %q: %v (want name+hash+base64, as written by headsup directory keygen)", vkey, err)
	}
	return v, nil
}

func keyName(name string, hash uint32) string {
	return fmt.Sprintf("%s+%08x", name, hash)
}

func open(signed []byte, v note.Verifier) (*Directory, error) {
	if len(signed) > MaxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	if _, ok := signatureLine(signed); !ok {
		return nil, fmt.Errorf("no signature block (sign the YAML with headsup directory sign): %w", ErrUnsigned)
	}
	pinned := keyName(v.Name(), v.KeyHash())
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			var by []string
			for _, s := range unverified.Note.UnverifiedSigs {
				by = append(by, keyName(s.Name, s.Hash))
			}
			return nil, fmt.Errorf("signed by %s, not by the pinned key %s: %w", strings.Join(by, ", "), pinned, ErrBadSignature)
		case errors.As(err, &invalid):
			return nil, fmt.Errorf("signature by %s does not verify (text or signature altered): %w", pinned, ErrBadSignature)
		}
		if cerr := checkNoteText(signed); cerr != nil {
			return nil, fmt.Errorf("%v: %w", cerr, ErrBadSignature)
		}
		return nil, fmt.Errorf("malformed signed note (%v; want the YAML text, a blank line, then lines \"— name signature\"): %w", err, ErrBadSignature)
	}
	// note decodes signatures leniently, so the unused low bits of the
	// last base64 character could be changed without breaking the
	// signature. One signed version must have one spelling (it is
	// appended to the log as read), so only canonical base64 is accepted.
	for _, s := range append(n.Sigs, n.UnverifiedSigs...) {
		if _, err := base64.StdEncoding.Strict().DecodeString(s.Base64); err != nil {
			return nil, fmt.Errorf("signature by %s is not canonical base64: %w", keyName(s.Name, s.Hash), ErrBadSignature)
		}
	}
	d, err := Parse([]byte(n.Text))
	if err != nil {
		return nil, err
	}
	d.signed = bytes.Clone(signed)
	d.text = d.signed[:len(n.Text)]
	return d, nil
}

// signatureLine reports the first line (1-based) that starts like a
// signature line. A directory's YAML never has one (a top-level line of
// the document is a key), so a file without one is unsigned, not a
// damaged signed file.
func signatureLine(b []byte) (int, bool) {
	line := 1
	for start := 0; start < len(b); line++ {
		if bytes.HasPrefix(b[start:], []byte(sigLineStart)) {
			return line, true
		}
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			break
		}
		start += i + 1
	}
	return 0, false
}

// checkNoteText refuses what a signed note cannot carry: bytes that are
// not UTF-8 and control characters other than newline (tabs, carriage
// returns). Refused rather than rewritten, so that what is signed is what
// the author wrote.
func checkNoteText(b []byte) error {
	line := 1
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("line %d: byte %#02x is not UTF-8", line, b[i])
		case r == '\n':
			line++
		case r < 0x20:
			what := fmt.Sprintf("control character %U", r)
			switch r {
			case '\t':
				what = "tab"
			case '\r':
				what = "carriage return (use LF line endings)"
			}
			return fmt.Errorf("line %d: %s: a signed directory holds printable text and newlines only", line, what)
		}
		i += size
	}
	return nil
}

// ReadVerifierKey returns a governance verifier key given as itself
// ("name+hash+key") or as the path of a file holding it (a .vkey file of
// `headsup directory keygen`).
func ReadVerifierKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	// The key itself first: its base64 may hold a '+' or a '/', so its
	// spelling says nothing about whether it is a file name.
	if _, err := note.NewVerifier(s); err == nil {
		return s, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", fmt.Errorf("verifier key %q: neither a key nor a readable file: %w", s, err)
	}
	return strings.TrimSpace(string(b)), nil
}
