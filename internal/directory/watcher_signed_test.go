package directory_test

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/headsup-dev/headsup/internal/directory"
)

func newSignedWatcher(t *testing.T, skey, vkey string) (*directory.Watcher, string, *syncBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "directory.signed")
	writeAtomic(t, path, string(signYAML(t, validYAML(t), skey)))
	logs := &syncBuffer{}
	w, err := directory.NewWatcher(path, slog.New(slog.NewTextHandler(logs, nil)), directory.WithVerifier(vkey))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Current().Serial; got != 7 {
		t.Fatalf("initial serial %d, want 7", got)
	}
	return w, path, logs
}

func TestNewWatcherWithVerifier(t *testing.T) {
	skey, vkey := govKey(t, "gov.example", 1)
	otherS, _ := govKey(t, "other.example", 2)
	dir := t.TempDir()
	unsigned := filepath.Join(dir, "directory.yaml")
	writeAtomic(t, unsigned, validYAML(t))
	other := filepath.Join(dir, "other.signed")
	writeAtomic(t, other, string(signYAML(t, validYAML(t), otherS)))
	good := filepath.Join(dir, "good.signed")
	writeAtomic(t, good, string(signYAML(t, validYAML(t), skey)))

	tests := []struct {
		name    string
		path    string
		vkey    string
		wantErr error
		want    string
	}{
		{"unsigned file", unsigned, vkey, directory.ErrUnsigned, unsigned},
		{"signed by another key", other, vkey, directory.ErrBadSignature, "signed by other.example+"},
		{"empty verifier key", good, "", nil, "governance verifier key: empty"},
		{"malformed verifier key", good, "gov.example", nil, "governance verifier key \"gov.example\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := directory.NewWatcher(tt.path, nil, directory.WithVerifier(tt.vkey))
			if err == nil {
				t.Fatal("NewWatcher succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	// The unsigned mode reads plain YAML and refuses nothing for lack of
	// a signature; the signed file is not YAML to it.
	if _, err := directory.NewWatcher(unsigned, nil); err != nil {
		t.Errorf("unsigned mode: %v", err)
	}
}

func TestSignedWatcherReload(t *testing.T) {
	skey, vkey := govKey(t, "gov.example", 1)
	otherS, _ := govKey(t, "other.example", 2)
	w, path, logs := newSignedWatcher(t, skey, vkey)
	first := w.Current()
	if first.SignedNote() == nil {
		t.Fatal("the watcher's directory has no SignedNote")
	}

	// A newer signed version is installed.
	v8 := signYAML(t, withSerial(t, "8"), skey)
	writeAtomic(t, path, string(v8))
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	good := w.Current()
	if good.Serial != 8 || string(good.SignedNote()) != string(v8) {
		t.Fatalf("serial %d after a good reload, want 8 and its signed note", good.Serial)
	}

	// The same version with a cosignature added is no change.
	n, err := note.Open(v8, note.VerifierList(mustVerifier(t, vkey)))
	if err != nil {
		t.Fatal(err)
	}
	cosigner, err := note.NewSigner(otherS)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, cosigner)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, path, string(cosigned))
	if err := w.Reload(); err != nil {
		t.Fatalf("the same version cosigned: %v", err)
	}
	if w.Current() != good {
		t.Error("the same version cosigned was installed as a new one")
	}

	refusals := []struct {
		name    string
		content string
		wantErr error
		want    string
	}{
		{"unsigned", withSerial(t, "9"), directory.ErrUnsigned, "no signature block"},
		{"signed by another key", string(signYAML(t, withSerial(t, "9"), otherS)), directory.ErrBadSignature, "signed by other.example+"},
		{"altered after signing", strings.Replace(string(signYAML(t, withSerial(t, "9"), skey)), "roles: [subscribe, audit]", "roles: [publish, audit]", 1), directory.ErrBadSignature, "does not verify"},
		{"older serial", string(signYAML(t, withSerial(t, "3"), skey)), directory.ErrOlderSerial, "serial 3, current 8"},
		{"same serial, other content", string(signYAML(t, strings.Replace(withSerial(t, "8"), "roles: [subscribe, audit]", "roles: [publish, audit]", 1), skey)), directory.ErrSerialReused, "serial 8: content differs"},
		{"invalid directory, validly signed", string(signedNote(t, strings.Replace(withSerial(t, "9"), "asns: [64501]", "asns: [0]", 1), skey)), nil, "asns[0]: 0 is not an AS number"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			writeAtomic(t, path, tt.content)
			err := w.Reload()
			if err == nil {
				t.Fatalf("accepted; serial now %d", w.Current().Serial)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file and say %q", err, tt.want)
			}
			if w.Current() != good {
				t.Error("the refused version replaced the directory")
			}
			if !strings.Contains(logs.String(), tt.want) {
				t.Errorf("the refusal was not logged with its reason %q:\n%s", tt.want, logs)
			}
		})
	}

	// After all that, a newer good version still gets in.
	writeAtomic(t, path, string(signYAML(t, withSerial(t, "10"), skey)))
	if err := w.Reload(); err != nil || w.Current().Serial != 10 {
		t.Fatalf("serial 10 after refusals: %v", err)
	}
}

// signedNote signs text as a note without Sign's check that it parses,
// as a careless or hostile governance tool might.
func signedNote(t *testing.T, text, skey string) []byte {
	t.Helper()
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
