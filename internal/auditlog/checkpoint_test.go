package auditlog_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/auditlog"
)

// checkpointText is the text this log writes for (size, root).
func checkpointText(size uint64, root []byte) string {
	return string(log.Checkpoint{Origin: testOrigin, Size: size, Hash: root}.Marshal())
}

func TestParseCheckpoint(t *testing.T) {
	k := testKey(t)
	root := tlog.RecordHash([]byte("root"))
	b64 := base64.StdEncoding.EncodeToString(root[:])
	// The last base64 character of a 32-byte hash carries two unused
	// bits; setting one spells the same hash another way.
	loose := b64[:42] + string(rune(b64[42]+1)) + "="
	cases := []struct {
		name   string
		signed []byte
		want   error
		// lenient: formats' log.ParseCheckpoint accepts it, so the check
		// is ours.
		lenient bool
	}{
		{"valid", signText(t, checkpointText(5, root[:]), k), nil, true},
		{"size 0", signText(t, checkpointText(0, root[:]), k), nil, true},
		{"other key", signText(t, checkpointText(5, root[:]), newLogKey(t, testOrigin, 2)), auditlog.ErrCheckpointSignature, false},
		{"text altered", bytes.Replace(signText(t, checkpointText(5, root[:]), k), []byte("\n5\n"), []byte("\n6\n"), 1), auditlog.ErrCheckpointSignature, false},
		{"unsigned", []byte(checkpointText(5, root[:])), auditlog.ErrMalformedCheckpoint, false},
		{"other origin", signText(t, "hub.test/other\n5\n"+b64+"\n", k), auditlog.ErrWrongOrigin, false},
		{"short hash", signText(t, checkpointText(5, root[:31]), k), auditlog.ErrMalformedCheckpoint, true},
		{"long hash", signText(t, checkpointText(5, append(root[:], 0)), k), auditlog.ErrMalformedCheckpoint, true},
		{"empty hash", signText(t, testOrigin+"\n5\n\n", k), auditlog.ErrMalformedCheckpoint, true},
		{"leading zero", signText(t, testOrigin+"\n05\n"+b64+"\n", k), auditlog.ErrMalformedCheckpoint, true},
		{"plus sign", signText(t, testOrigin+"\n+5\n"+b64+"\n", k), auditlog.ErrMalformedCheckpoint, false},
		{"size beyond int64", signText(t, testOrigin+"\n9223372036854775808\n"+b64+"\n", k), auditlog.ErrMalformedCheckpoint, true},
		{"loose base64 hash", signText(t, testOrigin+"\n5\n"+loose+"\n", k), auditlog.ErrMalformedCheckpoint, true},
		{"extension line", signText(t, checkpointText(5, root[:])+"ext\n", k), auditlog.ErrMalformedCheckpoint, true},
		{"two lines", signText(t, testOrigin+"\n5\n", k), auditlog.ErrMalformedCheckpoint, false},
		{"log signature twice", func() []byte {
			b := signText(t, checkpointText(5, root[:]), k)
			return append(b, b[bytes.Index(b, []byte("\n\n"))+2:]...)
		}(), auditlog.ErrMalformedCheckpoint, true},
		{"too large", append(signText(t, checkpointText(5, root[:]), k), bytes.Repeat([]byte("— x AAAAAAA=\n"), 6000)...), auditlog.ErrMalformedCheckpoint, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp, err := auditlog.ParseCheckpoint(c.signed, testOrigin, k.verifier)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if err == nil && (cp.Origin != testOrigin || !bytes.Equal(cp.Hash, root[:])) {
				t.Fatalf("parsed %+v", cp)
			}
			if _, _, _, lerr := log.ParseCheckpoint(c.signed, testOrigin, k.verifier); (lerr == nil) != c.lenient {
				t.Fatalf("log.ParseCheckpoint: %v; the case assumes lenient=%v", lerr, c.lenient)
			}
		})
	}
}

// TestParseCheckpointCosigned: signatures by other keys (witnesses) are
// carried, not refused.
func TestParseCheckpointCosigned(t *testing.T) {
	k, w := testKey(t), newLogKey(t, "witness.test", 3)
	root := tlog.RecordHash([]byte("root"))
	signed, err := note.Sign(&note.Note{Text: checkpointText(9, root[:])}, k.signer, w.signer)
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := auditlog.ParseCheckpoint(signed, testOrigin, k.verifier); err != nil || cp.Size != 9 {
		t.Fatalf("cosigned checkpoint: %v, %v", cp, err)
	}
	// Signed by the witness only: not the log's.
	signed, _ = note.Sign(&note.Note{Text: checkpointText(9, root[:])}, w.signer)
	if _, err := auditlog.ParseCheckpoint(signed, testOrigin, k.verifier); !errors.Is(err, auditlog.ErrCheckpointSignature) {
		t.Fatalf("witness-only checkpoint: %v", err)
	}
}

// TestCheckpointFlipEveryByte: any change to any bit of a signed
// checkpoint is refused, as a bad signature or a malformed note.
func TestCheckpointFlipEveryByte(t *testing.T) {
	k := testKey(t)
	c := newCheckpointer(t, t.TempDir(), k)
	tr := newTree(t, records(12))
	root, _ := tr.Root(12)
	signed, err := c.Sign(12, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditlog.ParseCheckpoint(signed, testOrigin, k.verifier); err != nil {
		t.Fatal(err)
	}
	for i := range signed {
		for bit := range 8 {
			b := bytes.Clone(signed)
			b[i] ^= 1 << bit
			_, err := auditlog.ParseCheckpoint(b, testOrigin, k.verifier)
			if !errors.Is(err, auditlog.ErrCheckpointSignature) && !errors.Is(err, auditlog.ErrMalformedCheckpoint) {
				t.Fatalf("byte %d bit %d flipped (%q): error %v", i, bit, b, err)
			}
		}
	}
	for i := range signed {
		// Cut short anywhere: refused too.
		if _, err := auditlog.ParseCheckpoint(signed[:i], testOrigin, k.verifier); err == nil {
			t.Fatalf("checkpoint cut to %d bytes accepted", i)
		}
	}
}

func TestCheckpointerRefusesInconsistent(t *testing.T) {
	k := testKey(t)
	recs := records(40)
	tr := newTree(t, recs)
	// A fork: the same first 20 records, then others.
	other := append(append([][]byte{}, recs[:20]...), records(60)[40:]...)
	fork := newTree(t, other)

	c := newCheckpointer(t, t.TempDir(), k)
	if _, ok := c.Latest(); ok {
		t.Fatal("Latest before any checkpoint")
	}
	sign := func(tr *auditlog.Tree, size, from int64) error {
		t.Helper()
		root, err := tr.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		var p tlog.TreeProof
		if from > 0 && from <= size {
			if p, err = tr.ConsistencyProof(from, size); err != nil {
				t.Fatal(err)
			}
		}
		_, err = c.Sign(size, root, p)
		return err
	}
	if err := sign(tr, 25, 0); err != nil {
		t.Fatal(err)
	}
	root25, _ := tr.Root(25)
	root30, _ := tr.Root(30)
	goodProof, _ := tr.ConsistencyProof(25, 30)
	badProof := append(tlog.TreeProof{}, goodProof...)
	badProof[0][0] ^= 1

	cases := []struct {
		name string
		sign func() error
		want error
	}{
		{"smaller size", func() error { return sign(tr, 24, 0) }, auditlog.ErrRollback},
		{"same size other root", func() error { return sign(fork, 25, 0) }, auditlog.ErrFork},
		{"forked history, its own proof", func() error { return sign(fork, 30, 25) }, auditlog.ErrBadConsistency},
		{"flipped proof", func() error { _, err := c.Sign(30, root30, badProof); return err }, auditlog.ErrBadConsistency},
		{"no proof", func() error { _, err := c.Sign(30, root30, nil); return err }, auditlog.ErrBadConsistency},
		{"proof of other sizes", func() error { p, _ := tr.ConsistencyProof(24, 30); _, err := c.Sign(30, root30, p); return err }, auditlog.ErrBadConsistency},
		{"negative size", func() error { _, err := c.Sign(-1, root30, nil); return err }, auditlog.ErrInvalidRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sign()
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.want != auditlog.ErrInvalidRange && !errors.Is(err, auditlog.ErrInconsistent) {
				t.Fatalf("error %v is not ErrInconsistent", err)
			}
			if last, _ := c.Latest(); last.Size != 25 || last.Root != root25 {
				t.Fatalf("after a refusal the last checkpoint is %d %s", last.Size, last.Root)
			}
		})
	}

	// The same checkpoint again is the same bytes; the real successor is
	// signed.
	last, _ := c.Latest()
	again, err := c.Sign(25, root25, nil)
	if err != nil || !bytes.Equal(again, last.Note) {
		t.Fatalf("re-signing the last checkpoint: %v", err)
	}
	signed, err := c.Sign(30, root30, goodProof)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := auditlog.ParseCheckpoint(signed, testOrigin, k.verifier)
	if err != nil || cp.Size != 30 || !bytes.Equal(cp.Hash, root30[:]) {
		t.Fatalf("signed checkpoint %+v, %v", cp, err)
	}
}

func TestCheckpointerPersists(t *testing.T) {
	k := testKey(t)
	dir := t.TempDir()
	tr := newTree(t, records(20))
	root10, _ := tr.Root(10)
	root20, _ := tr.Root(20)

	c := newCheckpointer(t, dir, k)
	signed, err := c.Sign(10, root10, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A restarted hub remembers what it signed.
	c = newCheckpointer(t, dir, k)
	last, ok := c.Latest()
	if !ok || last.Size != 10 || last.Root != root10 || !bytes.Equal(last.Note, signed) {
		t.Fatalf("after restart: %v %d %s", ok, last.Size, last.Root)
	}
	if _, err := c.Sign(9, root10, nil); !errors.Is(err, auditlog.ErrRollback) {
		t.Fatalf("rollback after restart: %v", err)
	}
	if _, err := c.Sign(10, root20, nil); !errors.Is(err, auditlog.ErrFork) {
		t.Fatalf("fork after restart: %v", err)
	}
	p, _ := tr.ConsistencyProof(10, 20)
	if _, err := c.Sign(20, root20, p); err != nil {
		t.Fatal(err)
	}
	c = newCheckpointer(t, dir, k)
	if last, _ := c.Latest(); last.Size != 20 {
		t.Fatalf("after second restart: size %d", last.Size)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d files, want only the checkpoint", len(entries))
	}
}

func TestCheckpointerEmptyTree(t *testing.T) {
	k := testKey(t)
	c := newCheckpointer(t, t.TempDir(), k)
	empty, _ := tlog.TreeHash(0, nil)
	if _, err := c.Sign(0, tlog.Hash{1}, nil); !errors.Is(err, auditlog.ErrInvalidRange) {
		t.Fatalf("size 0 with a root other than the empty tree's: %v", err)
	}
	if _, err := c.Sign(0, empty, nil); err != nil {
		t.Fatal(err)
	}
	// From size 0 any tree is consistent: no proof needed.
	tr := newTree(t, records(3))
	root, _ := tr.Root(3)
	if _, err := c.Sign(3, root, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCheckpointerRefuses(t *testing.T) {
	k, other := testKey(t), newLogKey(t, testOrigin, 2)
	root := tlog.RecordHash([]byte("root"))
	write := func(t *testing.T, b []byte) string {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "checkpoint"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cases := []struct {
		name string
		cfg  func(dir string) auditlog.CheckpointerConfig
		dir  func(t *testing.T) string
		want error
	}{
		{"state signed by another key", nil, func(t *testing.T) string {
			return write(t, signText(t, checkpointText(4, root[:]), other))
		}, auditlog.ErrCheckpointSignature},
		{"state damaged", nil, func(t *testing.T) string {
			return write(t, []byte(checkpointText(4, root[:])))
		}, auditlog.ErrMalformedCheckpoint},
		{"signer and verifier differ", func(dir string) auditlog.CheckpointerConfig {
			return auditlog.CheckpointerConfig{Path: filepath.Join(dir, "checkpoint"), Origin: testOrigin, Signer: k.signer, Verifier: other.verifier}
		}, nil, nil},
		{"origin with a newline", func(dir string) auditlog.CheckpointerConfig {
			return auditlog.CheckpointerConfig{Path: filepath.Join(dir, "checkpoint"), Origin: "a\n5", Signer: k.signer, Verifier: k.verifier}
		}, nil, nil},
		{"no path", func(string) auditlog.CheckpointerConfig {
			return auditlog.CheckpointerConfig{Origin: testOrigin, Signer: k.signer, Verifier: k.verifier}
		}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.dir != nil {
				dir = c.dir(t)
			}
			cfg := auditlog.CheckpointerConfig{Path: filepath.Join(dir, "checkpoint"), Origin: testOrigin, Signer: k.signer, Verifier: k.verifier}
			if c.cfg != nil {
				cfg = c.cfg(dir)
			}
			_, err := auditlog.OpenCheckpointer(cfg)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

func TestGenerateLogKey(t *testing.T) {
	skey, vkey, err := auditlog.GenerateLogKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != testOrigin || v.Name() != testOrigin || s.KeyHash() != v.KeyHash() {
		t.Fatalf("key %s, verifier %s", s.Name(), v.Name())
	}
	for _, bad := range []string{"", "a b", "a+b", "a\nb"} {
		if _, _, err := auditlog.GenerateLogKey(bad); err == nil || !strings.Contains(err.Error(), "origin") {
			t.Errorf("GenerateLogKey(%q): %v", bad, err)
		}
	}
}
