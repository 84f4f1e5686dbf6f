package audit_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/audit/audittest"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// story is a small valid history:
//
//	1 directory serial 1        6 directory serial 2
//	2 edgeshield A              7 voxhost C
//	3 voxhost B                 8 edgeshield D        checkpoint 8
//	4 researcher (redacted)     9 researcher E
//	  checkpoint 4             10 voxhost F           checkpoint 10
//	5 edgeshield retracts A
type story struct {
	*audittest.History
	a *audit.Entry // edgeshield's notice at sequence 2
}

func newStory(t *testing.T) *story {
	t.Helper()
	h := audittest.New(t)
	a := h.Publish("edgeshield", audittest.Suspension("a.example"))
	h.Publish("voxhost", audittest.Suspension("b.example"))
	h.PublishRedacted("researcher", audittest.Suspension("r.example"))
	h.Checkpoint()
	h.Publish("edgeshield", audittest.Retraction(claims(t, a).ID))
	h.NextDirectory(func(d *directory.Directory) {
		m, _ := d.Member("epiq")
		m.Name = "Epiq Hosting Limited"
	})
	h.Publish("voxhost", audittest.Suspension("c.example"))
	h.Publish("edgeshield", audittest.Suspension("d.example"))
	h.Checkpoint()
	h.Publish("researcher", audittest.Suspension("e.example"))
	h.Publish("voxhost", audittest.Suspension("f.example"))
	h.Checkpoint()
	return &story{History: h, a: a}
}

func claims(t *testing.T, e *audit.Entry) *envelope.Claims {
	t.Helper()
	jws := e.RedactedJWS
	if e.Envelope != nil {
		jws = e.Envelope.Jws
	}
	c, err := envelope.PeekClaims(jws)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func verify(t *testing.T, cfg audit.Config, src audit.Source) (*audit.Report, error) {
	t.Helper()
	if cfg.Now.IsZero() {
		cfg.Now = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	}
	return audit.Verify(context.Background(), cfg, src)
}

// renumber returns copies of entries with sequences 1, 2, 3, …
func renumber(entries []*audit.Entry) []*audit.Entry {
	out := make([]*audit.Entry, len(entries))
	for i, e := range entries {
		c := *e
		c.Sequence = uint64(i) + 1
		out[i] = &c
	}
	return out
}

func TestAuditVerifyValid(t *testing.T) {
	s := newStory(t)
	rep, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, s.Source())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Entries != 10 || rep.Directories != 2 || rep.Notices != 7 || rep.Redacted != 1 {
		t.Errorf("entries %d (directories %d, notices %d, redacted %d), want 10 (2, 7, 1)", rep.Entries, rep.Directories, rep.Notices, rep.Redacted)
	}
	if rep.Checkpoints != 3 || rep.LargestCheckpoint != 10 || rep.TreeSize != 10 {
		t.Errorf("checkpoints %d, largest %d, tree %d; want 3, 10, 10", rep.Checkpoints, rep.LargestCheckpoint, rep.TreeSize)
	}
	if want := []string{"edgeshield", "researcher", "voxhost"}; !slices.Equal(rep.Issuers, want) {
		t.Errorf("issuers %q, want %q", rep.Issuers, want)
	}
	if rep.Origin != audittest.Origin || rep.DirectorySerial != 2 {
		t.Errorf("origin %q serial %d, want %q 2", rep.Origin, rep.DirectorySerial, audittest.Origin)
	}
	if rep.QuorumChecked || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "quorum not checked") {
		t.Errorf("without a quorum checker the report must say quorum was not checked (and nothing else); warnings %q", rep.Warnings)
	}
	if !rep.FirstTime.Equal(s.Entries[0].StoredAt) || !rep.LastTime.Equal(s.Entries[9].StoredAt) {
		t.Errorf("times %s..%s", rep.FirstTime, rep.LastTime)
	}
}

// TestAuditTamper plays whoever runs NATS (or holds the log key) against
// an auditor: each altered history must fail, naming the first offending
// sequence or the range that holds it.
func TestAuditTamper(t *testing.T) {
	type tampered struct {
		src *audittest.Source
		cfg audit.Config
	}
	tests := []struct {
		name string
		// tamper returns the history the auditor sees.
		tamper  func(t *testing.T, s *story) tampered
		want    error
		cause   error
		seq     uint64
		lo, hi  uint64
		inNotes int // how many notes the failure must carry as evidence
	}{
		{
			name: "one message deleted",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				src.Entries = slices.Delete(src.Entries, 6, 7) // sequence 7
				return tampered{src: src}
			},
			want: audit.ErrGap, seq: 7, lo: 7, hi: 7,
		},
		{
			name: "a range purged",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				src.Entries = slices.Delete(src.Entries, 2, 5) // sequences 3..5
				return tampered{src: src}
			},
			want: audit.ErrGap, seq: 3, lo: 3, hi: 5,
		},
		{
			name: "the newest entries withheld",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				src.Entries = src.Entries[:8]
				return tampered{src: src}
			},
			want: audit.ErrGap, seq: 9, lo: 9, hi: 10,
		},
		{
			name: "an altered copy of an envelope appended",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				env := proto.Clone(src.Entries[2].Envelope).(*headsupv1.Envelope)
				n := new(headsupv1.Notice)
				if err := proto.Unmarshal(env.Notice, n); err != nil {
					t.Fatal(err)
				}
				n.Summary = "altered"
				env.Notice, _ = proto.Marshal(n)
				src.Entries = append(src.Entries, &audit.Entry{Sequence: 11, StoredAt: s.Clock, Envelope: env})
				src.Info.Last = 11
				return tampered{src: src}
			},
			want: audit.ErrEntry, cause: envelope.ErrDigest, seq: 11, lo: 11, hi: 11,
		},
		{
			name: "claims altered in place",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				e := *src.Entries[6]
				parts := strings.Split(e.Envelope.Jws, ".")
				other := strings.Split(src.Entries[2].Envelope.Jws, ".")
				e.Envelope = &headsupv1.Envelope{Notice: src.Entries[2].Envelope.Notice, Jws: parts[0] + "." + other[1] + "." + parts[2]}
				src.Entries[6] = &e
				return tampered{src: src}
			},
			want: audit.ErrEntry, cause: envelope.ErrSignature, seq: 7, lo: 7, hi: 7,
		},
		{
			name: "two entries swapped",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				src.Entries[6], src.Entries[7] = src.Entries[7], src.Entries[6]
				src.Entries = renumber(src.Entries)
				return tampered{src: src}
			},
			// Every signature holds; only the checkpoint at 8 shows it,
			// after the good one at 4.
			want: audit.ErrRootMismatch, lo: 5, hi: 8, inNotes: 1,
		},
		{
			name: "checkpoint signature altered",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				n := slices.Clone(src.Notes[1])
				n[len(n)-3] ^= 'A' ^ 'B'
				src.Notes[1] = n
				return tampered{src: src}
			},
			want: audit.ErrCheckpoint, lo: 5, hi: 8, inNotes: 1,
		},
		{
			name: "an older snapshot restored",
			tamper: func(t *testing.T, s *story) tampered {
				state := filepath.Join(t.TempDir(), "state.json")
				if _, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey, StatePath: state}, s.Source()); err != nil {
					t.Fatalf("first audit: %v", err)
				}
				// The snapshot taken at 8: its stream and its checkpoints.
				src := s.Source()
				src.Entries, src.Notes, src.Info.Last = src.Entries[:8], src.Notes[:2], 8
				return tampered{src: src, cfg: audit.Config{StatePath: state}}
			},
			want: audit.ErrRollback, seq: 9, lo: 9, hi: 10, inNotes: 2,
		},
		{
			name: "log key signs a rewritten history (vs state)",
			tamper: func(t *testing.T, s *story) tampered {
				state := filepath.Join(t.TempDir(), "state.json")
				if _, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey, StatePath: state}, s.Source()); err != nil {
					t.Fatalf("first audit: %v", err)
				}
				return tampered{src: rewrite(t, s), cfg: audit.Config{StatePath: state}}
			},
			// Sequence 3 dropped: the state's subtree hashes of size 10
			// (8 + 2) place the change in the first 8.
			want: audit.ErrFork, lo: 1, hi: 8, inNotes: 2,
		},
		{
			name: "log key signs a rewritten history (vs previous export)",
			tamper: func(t *testing.T, s *story) tampered {
				prev := filepath.Join(t.TempDir(), "prev.jsonl")
				writeFile(t, prev, s.Source().Archive(t))
				return tampered{src: rewrite(t, s), cfg: audit.Config{PreviousExport: prev}}
			},
			want: audit.ErrFork, seq: 3, lo: 3, hi: 3,
		},
		{
			name: "a notice signed by a key revoked before its log time",
			tamper: func(t *testing.T, s *story) tampered {
				s.NextDirectory(func(d *directory.Directory) {
					m, _ := d.Member("voxhost")
					// An hour ago: the entries logged under the key before
					// this version stay valid (a warning names them).
					m.Keys[0].RevokedAt = s.Clock.Add(-time.Hour)
				})
				s.Publish("voxhost", audittest.Suspension("g.example")) // 12
				return tampered{src: s.Source()}
			},
			want: audit.ErrEntry, cause: directory.ErrKeyRevoked, seq: 12, lo: 12, hi: 12,
		},
		{
			name: "a retraction of another issuer's notice",
			tamper: func(t *testing.T, s *story) tampered {
				s.Publish("voxhost", audittest.Retraction(claims(t, s.Entries[7]).ID)) // edgeshield's D
				return tampered{src: s.Source()}
			},
			want: audit.ErrReference, seq: 11, lo: 11, hi: 11,
		},
		{
			name: "a supersede of a notice logged later",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				src.Entries[4], src.Entries[1] = src.Entries[1], src.Entries[4] // retraction before A
				src.Entries = renumber(src.Entries)
				return tampered{src: src}
			},
			want: audit.ErrReference, seq: 2, lo: 2, hi: 2,
		},
		{
			name: "the same notice logged twice",
			tamper: func(t *testing.T, s *story) tampered {
				s.Append(&audit.Entry{Envelope: s.Entries[2].Envelope})
				return tampered{src: s.Source()}
			},
			want: audit.ErrReference, seq: 11, lo: 11, hi: 11,
		},
		{
			name: "a directory signed by another key",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				other := audittest.New(t)
				e := *src.Entries[5]
				e.Directory = &audit.DirectoryVersion{Serial: 1, Signed: other.Entries[0].Directory.Signed}
				src.Entries[5] = &e
				return tampered{src: src}
			},
			want: audit.ErrDirectory, cause: directory.ErrBadSignature, seq: 6, lo: 6, hi: 6,
		},
		{
			name: "an older directory logged again",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				e := *src.Entries[0]
				e.Sequence = 11
				src.Entries = append(src.Entries, &e)
				src.Info.Last = 11
				return tampered{src: src}
			},
			want: audit.ErrDirectory, seq: 11, lo: 11, hi: 11,
		},
		{
			name: "a notice before any directory",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				src.Entries[0], src.Entries[1] = src.Entries[1], src.Entries[0]
				src.Entries = renumber(src.Entries)
				return tampered{src: src}
			},
			want: audit.ErrNoDirectory, seq: 1, lo: 1, hi: 1,
		},
		{
			name: "stored_at moved after the witnessed checkpoint",
			tamper: func(t *testing.T, s *story) tampered {
				src := s.Source()
				// The checkpoint at 4 reached quorum at 12:10; the hub
				// claims it logged sequence 3 at 13:00.
				src.Notes[0] = s.Cosign(src.Notes[0], s.Clock.Add(10*time.Minute), "epiq", "voxhost")
				e := *src.Entries[2]
				e.StoredAt = s.Clock.Add(time.Hour)
				src.Entries[2] = &e
				return tampered{src: src, cfg: audit.Config{Quorum: audittest.QuorumChecker}}
			},
			want: audit.ErrLogTime, seq: 3, lo: 3, hi: 3,
		},
		{
			name: "no quorum required and missing",
			tamper: func(t *testing.T, s *story) tampered {
				return tampered{src: s.Source(), cfg: audit.Config{Quorum: audittest.QuorumChecker, RequireQuorum: true}}
			},
			want: audit.ErrNoQuorum, lo: 1, hi: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStory(t)
			tm := tt.tamper(t, s)
			tm.cfg.GovernanceVerifierKey = s.GovernanceKey
			_, err := verify(t, tm.cfg, tm.src)
			var f *audit.Failure
			if !errors.As(err, &f) {
				t.Fatalf("Verify = %v, want a *Failure", err)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("Verify = %v, want it to wrap %v", err, tt.cause)
			}
			if f.Sequence != tt.seq || f.Range != [2]uint64{tt.lo, tt.hi} {
				t.Errorf("failure at sequence %d range %v, want %d [%d %d]: %v", f.Sequence, f.Range, tt.seq, tt.lo, tt.hi, err)
			}
			if len(f.Notes) < tt.inNotes {
				t.Errorf("failure carries %d notes, want at least %d", len(f.Notes), tt.inNotes)
			}
			if !strings.Contains(err.Error(), "sequence") {
				t.Errorf("error %q names no sequence", err)
			}
		})
	}
}

// rewrite is the history someone holding the log key builds: sequence 3
// dropped, the rest renumbered, two entries more, and fresh checkpoints at
// 10 and 11 over the new tree.
func rewrite(t *testing.T, s *story) *audittest.Source {
	t.Helper()
	s.Publish("researcher", audittest.Suspension("x.example"))
	s.Publish("researcher", audittest.Suspension("y.example"))
	entries := renumber(slices.Delete(slices.Clone(s.Entries), 2, 3))
	tree := s.Rebuild(entries)
	src := s.Source()
	src.Entries, src.Info.Last = entries, uint64(len(entries))
	src.Notes = [][]byte{s.SignCheckpoint(tree, 4), s.SignCheckpoint(tree, 10), s.SignCheckpoint(tree, 11)}
	return src
}

// TestAuditWarnings: findings that do not fail an audit but must be seen.
func TestAuditWarnings(t *testing.T) {
	s := newStory(t)
	// A notice to every member sent redacted: the hub withheld it.
	s.Append(&audit.Entry{RedactedJWS: s.Seal("researcher", audittest.Suspension("w.example")).Jws})
	// edgeshield's key revoked from before sequences 2, 5 and 8.
	s.NextDirectory(func(d *directory.Directory) {
		m, _ := d.Member("edgeshield")
		m.Keys[0].RevokedAt = s.Entries[0].StoredAt
	})
	rep, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, s.Source())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, want := range []string{"sequence 11: redacted, but researcher/", "sequence 12: directory serial 3 revokes key", "3 entries logged since under it (first: sequence 2)"} {
		if !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("no warning with %q in %q", want, rep.Warnings)
		}
	}
}

func TestAuditWitnessed(t *testing.T) {
	s := newStory(t)
	src := s.Source()
	for i := range src.Notes {
		src.Notes[i] = s.Cosign(src.Notes[i], s.Clock.Add(time.Minute), "epiq", "voxhost", audittest.Operator)
	}
	rep, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey, Quorum: audittest.QuorumChecker, RequireQuorum: true}, src)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.QuorumChecked || rep.Witnessed != 3 || rep.MaxCosigners != 2 {
		t.Errorf("quorum checked %v, witnessed %d, max cosigners %d; want true, 3, 2 (the operator never counts)", rep.QuorumChecked, rep.Witnessed, rep.MaxCosigners)
	}
	if want := []string{"edgeshield", "epiq", "voxhost"}; !slices.Equal(rep.Witnesses, want) {
		t.Errorf("witnesses %q, want %q", rep.Witnesses, want)
	}
}

func TestAuditState(t *testing.T) {
	s := newStory(t)
	state := filepath.Join(t.TempDir(), "state.json")
	cfg := audit.Config{GovernanceVerifierKey: s.GovernanceKey, StatePath: state}
	if _, err := verify(t, cfg, s.Source()); err != nil {
		t.Fatal(err)
	}
	// The log grows; the next audit extends the state.
	s.Publish("voxhost", audittest.Suspension("h.example"))
	s.Checkpoint()
	rep, err := verify(t, cfg, s.Source())
	if err != nil {
		t.Fatal(err)
	}
	if rep.LargestCheckpoint != 11 {
		t.Fatalf("largest checkpoint %d, want 11", rep.LargestCheckpoint)
	}
	// The state now holds 11: the history of 10 is a rollback.
	src := s.Source()
	src.Entries, src.Notes, src.Info.Last = src.Entries[:10], src.Notes[:3], 10
	if _, err := verify(t, cfg, src); !errors.Is(err, audit.ErrRollback) {
		t.Fatalf("Verify of the older history = %v, want ErrRollback", err)
	}
}

func TestAuditRetention(t *testing.T) {
	s := newStory(t)
	prev := filepath.Join(t.TempDir(), "prev.jsonl")
	old := s.Source()
	old.Entries, old.Notes, old.Info.Last = old.Entries[:6], old.Notes[:1], 6
	writeFile(t, prev, old.Archive(t))

	// Retention removed 1..5 from the log.
	src := s.Source()
	src.Entries, src.Info.First = src.Entries[5:], 6
	if _, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, src); !errors.Is(err, audit.ErrGap) {
		t.Fatalf("without the earlier export: %v, want ErrGap", err)
	}
	src = s.Source()
	src.Entries, src.Info.First = src.Entries[5:], 6
	rep, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey, PreviousExport: prev}, src)
	if err != nil {
		t.Fatalf("with the earlier export: %v", err)
	}
	if rep.FromPreviousExport != 5 || rep.Entries != 10 || rep.Checkpoints != 3 {
		t.Errorf("from previous %d, entries %d, checkpoints %d; want 5, 10, 3", rep.FromPreviousExport, rep.Entries, rep.Checkpoints)
	}
}

func TestAuditConfig(t *testing.T) {
	s := newStory(t)
	for _, cfg := range []audit.Config{
		{},
		{GovernanceVerifierKey: "not a key"},
		{GovernanceVerifierKey: s.GovernanceKey, RequireQuorum: true},
	} {
		_, err := verify(t, cfg, s.Source())
		if err == nil || errors.As(err, new(*audit.Failure)) {
			t.Errorf("Verify(%+v) = %v, want a config error", cfg, err)
		}
	}
	// Another federation's governance key: the first directory fails.
	other := audittest.New(t)
	_, err := verify(t, audit.Config{GovernanceVerifierKey: other.GovernanceKey}, s.Source())
	if !errors.Is(err, audit.ErrDirectory) {
		t.Errorf("Verify under another governance key = %v, want ErrDirectory", err)
	}
}
