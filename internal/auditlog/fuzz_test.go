package auditlog_test

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
)

// FuzzParseCheckpoint: whatever the input, ParseCheckpoint returns a
// checkpoint or one of its named errors; what it accepts is exactly the
// text this log writes for that checkpoint, and signing that text again
// parses to the same checkpoint. The seeds under
// testdata/fuzz/FuzzParseCheckpoint are signed with testKey, so mutations
// start from notes whose signature verifies.
func FuzzParseCheckpoint(f *testing.F) {
	k := testKey(f)
	root := tlog.RecordHash([]byte("root"))
	f.Add(signText(f, checkpointText(7, root[:]), k))
	f.Add(signText(f, checkpointText(7, root[:30]), k))
	f.Add([]byte(checkpointText(7, root[:])))
	f.Fuzz(func(t *testing.T, signed []byte) {
		cp, err := auditlog.ParseCheckpoint(signed, testOrigin, k.verifier)
		if err != nil {
			if !errors.Is(err, auditlog.ErrCheckpointSignature) && !errors.Is(err, auditlog.ErrMalformedCheckpoint) &&
				!errors.Is(err, auditlog.ErrWrongOrigin) {
				t.Fatalf("error without a named outcome: %v", err)
			}
			return
		}
		text := cp.Marshal()
		if !bytes.HasPrefix(signed, append(text, '\n')) {
			t.Fatalf("accepted %q, whose text is not the canonical %q", signed, text)
		}
		again, err := note.Sign(&note.Note{Text: string(text)}, k.signer)
		if err != nil {
			t.Fatal(err)
		}
		cp2, err := auditlog.ParseCheckpoint(again, testOrigin, k.verifier)
		if err != nil || cp2.Size != cp.Size || !bytes.Equal(cp2.Hash, cp.Hash) || cp2.Origin != cp.Origin {
			t.Fatalf("round trip of %+v: %+v, %v", cp, cp2, err)
		}
	})
}
