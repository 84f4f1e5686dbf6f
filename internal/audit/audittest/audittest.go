// Package audittest builds synthetic, valid headsup log histories in
// memory — signed directories in the log, sealed notices, log-signed
// checkpoints, witnesses' cosignatures — for the tests and benchmarks of
// the auditor (internal/audit) and of the CLI. Tests tamper with copies of
// its entries to play whoever runs NATS.
//
// Synthetic and Bound serve both the Go benchmark of audit.Verify and the
// audit scenario of `headsup bench`, so the two measure the same history
// against the same bound. Nothing here imports testing: a command builds a
// history through the TB interface.
package audittest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/story"
)

// Origin is the synthetic log's origin.
const Origin = "hub.test/headsup"

// Operator runs the synthetic hub; its witness never counts.
const Operator = "edgeshield"

// Witnesses are the members holding witness keys (besides the operator);
// the directory asks for a quorum of two of them.
var Witnesses = []string{"epiq", "mitigatr", "voxhost"}

// TB is the part of testing.TB a history needs to report a failure and
// to clean up after itself. testing.TB satisfies it; a command
// (internal/bench) passes an adapter whose Fatal and Fatalf panic with an
// error it recovers, and which runs the cleanups once done with the
// history. Fatal and Fatalf must not return: their callers go on as if
// the step had succeeded.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// History is a synthetic log under construction.
type History struct {
	tb TB

	// GovernanceKey is the governance verifier key an auditor pins.
	GovernanceKey string
	govSigner     string
	// LogKey is the log's verifier key; logSigner signs checkpoints.
	LogKey    string
	logSigner note.Signer
	// Dir is the directory as it will be logged by the next LogDirectory.
	Dir *directory.Directory
	// Notice and witness private keys by member id.
	NoticeKeys  map[string]ed25519.PrivateKey
	WitnessKeys map[string]ed25519.PrivateKey

	// Entries and Checkpoints are the log so far.
	Entries     []*audit.Entry
	Checkpoints [][]byte
	// Clock is the stored_at of the next entry; each entry advances it by
	// a second.
	Clock time.Time

	tree *auditlog.Tree
}

// New returns a history whose first entry is the signed directory (serial
// 1) of the story's federation, with a log section naming the log key and
// witness keys for Witnesses and the operator.
func New(tb TB) *History {
	tb.Helper()
	gs, gv, err := directory.GenerateGovernanceKey("governance.test")
	must(tb, err)
	ls, lv, err := auditlog.GenerateLogKey(Origin)
	must(tb, err)
	signer, err := note.NewSigner(ls)
	must(tb, err)
	dir, members, err := story.Federation()
	must(tb, err)
	h := &History{tb: tb, GovernanceKey: gv, govSigner: gs, LogKey: lv, logSigner: signer, Dir: dir,
		NoticeKeys: map[string]ed25519.PrivateKey{}, WitnessKeys: map[string]ed25519.PrivateKey{},
		Clock: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	for id, m := range members {
		h.NoticeKeys[id] = m.Key
	}
	for _, id := range append([]string{Operator}, Witnesses...) {
		k, priv, err := directory.NewKey(directory.UseWitness)
		must(tb, err)
		m, _ := dir.Member(id)
		m.Keys = append(m.Keys, k)
		h.WitnessKeys[id] = priv
	}
	dir.Log = &directory.Log{Origin: Origin, VerifierKey: lv, Operator: Operator, Quorum: 2}
	tree, err := auditlog.OpenTree(auditlog.NewMemoryStore())
	must(tb, err)
	h.tree = tree
	h.LogDirectory()
	return h
}

func must(tb TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func (h *History) append(e *audit.Entry) *audit.Entry {
	h.tb.Helper()
	e.Sequence = uint64(len(h.Entries)) + 1
	e.StoredAt = h.Clock
	h.Clock = h.Clock.Add(time.Second)
	rec := []byte(e.RedactedJWS)
	switch {
	case e.Directory != nil:
		rec = e.Directory.Signed
	case e.Envelope != nil:
		rec = []byte(e.Envelope.Jws)
	}
	must(h.tb, h.tree.Append([][]byte{rec}))
	h.Entries = append(h.Entries, e)
	return e
}

// LogDirectory signs h.Dir with the governance key and appends it.
func (h *History) LogDirectory() *audit.Entry {
	h.tb.Helper()
	text, err := directory.Marshal(h.Dir)
	must(h.tb, err)
	signed, err := directory.Sign(text, h.govSigner)
	must(h.tb, err)
	return h.append(&audit.Entry{Directory: &audit.DirectoryVersion{Serial: h.Dir.Serial, Signed: signed}})
}

// NextDirectory bumps the serial, lets change edit the directory, and
// logs the new version.
func (h *History) NextDirectory(change func(*directory.Directory)) *audit.Entry {
	h.tb.Helper()
	h.Dir.Serial++
	change(h.Dir)
	return h.LogDirectory()
}

// Key returns member id's notice key in h.Dir.
func (h *History) Key(id string) *directory.Key {
	m, ok := h.Dir.Member(id)
	if !ok {
		h.tb.Fatalf("no member %q", id)
	}
	for _, k := range m.Keys {
		if k.Use == directory.UseNotice {
			return k
		}
	}
	h.tb.Fatalf("member %q has no notice key", id)
	return nil
}

// Suspension is a valid CUSTOMER_SUSPENDED notice of host.
func Suspension(host string) *headsupv1.Notice {
	return &headsupv1.Notice{
		Kind:    headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject: &headsupv1.Entity{Label: host, Identifiers: []*headsupv1.Identifier{story.Host(host)}},
		Reason:  "abusive-content:violence",
		Tlp:     headsupv1.Tlp_TLP_GREEN,
		LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE,
			Reference: "AUP 4.2"},
	}
}

// Retraction is a RETRACTION of the notice id.
func Retraction(id string) *headsupv1.Notice {
	return &headsupv1.Notice{
		Kind:       headsupv1.NoticeKind_NOTICE_KIND_RETRACTION,
		Supersedes: id,
		Tlp:        headsupv1.Tlp_TLP_GREEN,
	}
}

// Seal fills n for issuer (issued at the clock), and signs it with the
// issuer's notice key, without logging it.
func (h *History) Seal(issuer string, n *headsupv1.Notice) *headsupv1.Envelope {
	h.tb.Helper()
	n.Issuer = issuer
	n.IssuedAt = timestamppb.New(h.Clock)
	must(h.tb, notice.Fill(n, h.Clock))
	must(h.tb, notice.Normalize(n, notice.Options{TestNetwork: true}))
	env, err := envelope.Seal(n, h.NoticeKeys[issuer])
	must(h.tb, err)
	return env
}

// Publish seals n as issuer and appends it.
func (h *History) Publish(issuer string, n *headsupv1.Notice) *audit.Entry {
	h.tb.Helper()
	return h.append(&audit.Entry{Envelope: h.Seal(issuer, n)})
}

// PublishRedacted seals n as issuer and appends it as a redacted entry,
// as a member outside its audience receives it; an n without an audience
// is addressed to voxhost (a notice to every member is never redacted).
func (h *History) PublishRedacted(issuer string, n *headsupv1.Notice) *audit.Entry {
	h.tb.Helper()
	if len(n.Audience) == 0 {
		n.Audience = []string{"voxhost"}
	}
	return h.append(&audit.Entry{RedactedJWS: h.Seal(issuer, n).Jws})
}

// Append appends e as it is (sequence and stored_at set by the history):
// for entries built by hand, valid or not.
func (h *History) Append(e *audit.Entry) *audit.Entry {
	h.tb.Helper()
	return h.append(e)
}

// Checkpoint signs a checkpoint of the whole history so far with the log
// key and records it.
func (h *History) Checkpoint() []byte {
	h.tb.Helper()
	n := h.SignCheckpoint(h.tree, uint64(len(h.Entries)))
	h.Checkpoints = append(h.Checkpoints, n)
	return n
}

// SignCheckpoint signs, with the log key, the checkpoint of the first size
// records of tree: the log key in an attacker's hands.
func (h *History) SignCheckpoint(tree *auditlog.Tree, size uint64) []byte {
	h.tb.Helper()
	root, err := tree.Root(int64(size))
	must(h.tb, err)
	text := log.Checkpoint{Origin: Origin, Size: size, Hash: root[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, h.logSigner)
	must(h.tb, err)
	return signed
}

// Rebuild returns a tree over the records of entries, in their order: the
// tree someone rewriting the history would sign.
func (h *History) Rebuild(entries []*audit.Entry) *auditlog.Tree {
	h.tb.Helper()
	tree, err := auditlog.OpenTree(auditlog.NewMemoryStore())
	must(h.tb, err)
	for _, e := range entries {
		rec := []byte(e.RedactedJWS)
		switch {
		case e.Directory != nil:
			rec = e.Directory.Signed
		case e.Envelope != nil:
			rec = []byte(e.Envelope.Jws)
		}
		must(h.tb, tree.Append([][]byte{rec}))
	}
	return tree
}

// witnessVerifier is member id's cosignature verifier: the key name is the
// member id (the convention of these tests).
func witnessVerifier(id string, pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(id, pub)
	if err != nil {
		return nil, err
	}
	cv, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		return nil, err
	}
	return fnote.NewVerifierForCosignatureV1(cv)
}

// Cosign adds the cosignatures (C2SP tlog-cosignature v1) of the given
// witnesses, dated at, to a signed checkpoint.
func (h *History) Cosign(signed []byte, at time.Time, ids ...string) []byte {
	h.tb.Helper()
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		h.tb.Fatal("cosign: not a signed note")
	}
	out := bytes.Clone(signed)
	for _, id := range ids {
		priv := h.WitnessKeys[id]
		v, err := witnessVerifier(id, priv.Public().(ed25519.PublicKey))
		must(h.tb, err)
		t := uint64(at.Unix())
		msg := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s\n", t, text)
		sig := binary.BigEndian.AppendUint32(nil, v.KeyHash())
		sig = binary.BigEndian.AppendUint64(sig, t)
		sig = append(sig, ed25519.Sign(priv, msg)...)
		out = fmt.Appendf(out, "— %s %s\n", id, base64.StdEncoding.EncodeToString(sig))
	}
	return out
}

// QuorumChecker counts, as internal/witness will, the distinct members
// other than the operator whose cosignature verifies under dir's witness
// keys and is dated at or before at.
func QuorumChecker(dir *directory.Directory, signed []byte, at time.Time) (int, error) {
	var vs []note.Verifier
	for _, m := range dir.Members {
		if dir.Log != nil && m.ID == dir.Log.Operator {
			continue
		}
		for _, k := range m.Keys {
			if k.Use != directory.UseWitness {
				continue
			}
			v, err := witnessVerifier(m.ID, k.Public)
			if err != nil {
				return 0, err
			}
			vs = append(vs, v)
		}
	}
	n, err := note.Open(signed, note.VerifierList(vs...))
	var unverified *note.UnverifiedNoteError
	if errors.As(err, &unverified) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var who []string
	for _, s := range n.Sigs {
		t, err := fnote.CoSigV1Timestamp(s)
		if err == nil && !t.After(at) && !slices.Contains(who, s.Name) {
			who = append(who, s.Name)
		}
	}
	return len(who), nil
}

// Source is an in-memory audit.Source over a copy of some entries.
type Source struct {
	Info    audit.Start
	Entries []*audit.Entry
	Notes   [][]byte
	next    int
}

// Source returns a Source over the history as it stands, with its
// checkpoints. Tests tamper with src.Entries (a copy of the slice; copy an
// entry before changing it).
func (h *History) Source() *Source {
	last := uint64(len(h.Entries))
	first := uint64(0)
	if last > 0 {
		first = 1
	}
	return &Source{Info: audit.Start{LogID: "HEADSUP@test", Origin: Origin, First: first, Last: last},
		Entries: slices.Clone(h.Entries), Notes: slices.Clone(h.Checkpoints)}
}

// Start implements audit.Source.
func (s *Source) Start(context.Context) (audit.Start, error) { return s.Info, nil }

// Checkpoints implements audit.Source.
func (s *Source) Checkpoints(context.Context) ([][]byte, error) { return s.Notes, nil }

// Next implements audit.Source.
func (s *Source) Next(context.Context) (*audit.Entry, error) {
	if s.next >= len(s.Entries) {
		return nil, io.EOF
	}
	s.next++
	return s.Entries[s.next-1], nil
}

// Archive writes the source as an archive (audit.Export) and returns it.
func (s *Source) Archive(tb TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), s, &buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
