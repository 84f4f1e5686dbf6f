package audit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/audit/audittest"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// longStory is a valid history longer than Verify's read-ahead window,
// with a key rotation far from the start:
//
//	1                    directory serial 1
//	2 … 400              notices (one in eight redacted)
//	401                  directory serial 2: edgeshield's notice key replaced
//	402 … 700            notices, edgeshield's under its new key
//
// and a checkpoint every 100 entries and at the end. Each version holds
// only one of edgeshield's keys, so an entry verified under the wrong
// version fails.
type longStory struct {
	*audittest.History
	rotation uint64 // the sequence of directory serial 2
}

func newLongStory(t *testing.T) *longStory {
	t.Helper()
	h := audittest.New(t)
	publish := func(n int) {
		issuers := []string{"edgeshield", "voxhost", "researcher"}
		for i := 0; i < n; i++ {
			iss := issuers[len(h.Entries)%len(issuers)]
			notice := audittest.Suspension(fmt.Sprintf("host-%d.example", len(h.Entries)))
			if len(h.Entries)%8 == 0 {
				h.PublishRedacted(iss, notice)
			} else {
				h.Publish(iss, notice)
			}
			if len(h.Entries)%100 == 0 {
				h.Checkpoint()
			}
		}
	}
	publish(399)
	rot := h.NextDirectory(func(d *directory.Directory) {
		k, priv, err := directory.NewKey(directory.UseNotice)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := d.Member("edgeshield")
		m.Keys = slices.DeleteFunc(m.Keys, func(k *directory.Key) bool { return k.Use == directory.UseNotice })
		m.Keys = append(m.Keys, k)
		h.NoticeKeys["edgeshield"] = priv
	})
	publish(299)
	h.Checkpoint()
	return &longStory{History: h, rotation: rot.Sequence}
}

// edgeshieldAround returns the index in entries of edgeshield's last
// notice before the rotation and of its first after.
func (s *longStory) edgeshieldAround(t *testing.T) (before, after int) {
	t.Helper()
	before, after = -1, -1
	for i, e := range s.Entries {
		if e.Directory != nil || claims(t, e).Issuer != "edgeshield" {
			continue
		}
		if e.Sequence < s.rotation {
			before = i
		} else if after < 0 {
			after = i
		}
	}
	if before < 0 || after < 0 {
		t.Fatal("no edgeshield notice on each side of the rotation")
	}
	return before, after
}

// breakSignature returns a copy of e whose JWS signature is another
// valid-looking one.
func breakSignature(t *testing.T, e *audit.Entry) *audit.Entry {
	t.Helper()
	c := *e
	flip := func(jws string) string {
		b := []byte(jws)
		i := len(b) - 10 // inside the signature, clear of its last character's unused bits
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	if e.Envelope != nil {
		c.Envelope = proto.Clone(e.Envelope).(*headsupv1.Envelope)
		c.Envelope.Jws = flip(e.Envelope.Jws)
	} else {
		c.RedactedJWS = flip(e.RedactedJWS)
	}
	return &c
}

// TestAuditKeyStateAtPosition: every entry is verified under the
// directory version logged before it, however far ahead of the ordered
// checks its signature is verified, and the first failure is named
// whatever fails after it.
func TestAuditKeyStateAtPosition(t *testing.T) {
	s := newLongStory(t)
	rep, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, s.Source())
	if err != nil {
		t.Fatalf("Verify of the valid history: %v", err)
	}
	if n := uint64(len(s.Entries)); rep.Entries != n || rep.Directories != 2 || rep.TreeSize != n || rep.LargestCheckpoint != n {
		t.Fatalf("report: entries %d, directories %d, tree %d, largest checkpoint %d; want %d, 2, %d, %d",
			rep.Entries, rep.Directories, rep.TreeSize, rep.LargestCheckpoint, n, n, n)
	}

	before, after := s.edgeshieldAround(t)
	rot := int(s.rotation) - 1 // index of the rotation
	tests := []struct {
		name   string
		tamper func(entries []*audit.Entry) []*audit.Entry
		want   error
		cause  error
		seq    uint64
	}{
		{
			name: "a notice under the new key moved before the rotation",
			tamper: func(es []*audit.Entry) []*audit.Entry {
				moved := es[after]
				es = slices.Delete(es, after, after+1)
				return slices.Insert(es, rot, moved)
			},
			want: audit.ErrEntry, cause: envelope.ErrUnknownKey, seq: s.rotation,
		},
		{
			name: "a notice under the old key moved after the rotation",
			tamper: func(es []*audit.Entry) []*audit.Entry {
				moved := es[before]
				es = slices.Insert(es, rot+1, moved)
				return slices.Delete(es, before, before+1)
			},
			want: audit.ErrEntry, cause: envelope.ErrUnknownKey, seq: s.rotation,
		},
		{
			name: "two bad signatures, the first past the window",
			tamper: func(es []*audit.Entry) []*audit.Entry {
				es[649] = breakSignature(t, es[649])
				es[299] = breakSignature(t, es[299])
				return es
			},
			want: audit.ErrEntry, cause: envelope.ErrSignature, seq: 300,
		},
		{
			name: "a repeated notice before a bad signature",
			tamper: func(es []*audit.Entry) []*audit.Entry {
				es[301] = breakSignature(t, es[301])
				es[300] = es[299]
				return es
			},
			want: audit.ErrReference, seq: 301,
		},
		{
			name: "a forged directory, then bad signatures",
			tamper: func(es []*audit.Entry) []*audit.Entry {
				e, d := *es[rot], *es[rot].Directory
				d.Signed = slices.Clone(d.Signed)
				d.Signed[len(d.Signed)/3] ^= 1
				e.Directory = &d
				es[rot] = &e
				for i := rot + 1; i < len(es); i += 7 {
					es[i] = breakSignature(t, es[i])
				}
				return es
			},
			want: audit.ErrDirectory, seq: s.rotation,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := s.Source()
			src.Entries = renumber(tt.tamper(src.Entries))
			// Without checkpoints, so that no root mismatch (a moved
			// entry changes the tree) comes before the entry at fault.
			src.Notes = nil
			rep, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, src)
			var f *audit.Failure
			if !errors.As(err, &f) || !errors.Is(err, tt.want) || (tt.cause != nil && !errors.Is(err, tt.cause)) {
				t.Fatalf("Verify: %v, want a failure with %v (cause %v)", err, tt.want, tt.cause)
			}
			if f.Sequence != tt.seq {
				t.Fatalf("failure at sequence %d, want %d: %v", f.Sequence, tt.seq, f)
			}
			// The report covers exactly the entries before the failure.
			if rep.Entries != tt.seq {
				t.Errorf("report counts %d entries, want %d (up to the failure)", rep.Entries, tt.seq)
			}
		})
	}
}

// blockingSource delivers its entries, then blocks in Next until its
// context is done, as a hub that neither sends nor ends the replay.
type blockingSource struct {
	*audittest.Source
	blocked  atomic.Bool // Next started to block
	released atomic.Bool // a blocked Next returned
}

func (b *blockingSource) Next(ctx context.Context) (*audit.Entry, error) {
	e, err := b.Source.Next(ctx)
	if err != io.EOF {
		return e, err
	}
	b.blocked.Store(true)
	<-ctx.Done()
	b.released.Store(true)
	return nil, ctx.Err()
}

// TestAuditStopsReadingAtFailure: reading ahead does not keep Verify
// waiting on a source that stalls past a failure, and nothing it started
// outlives it.
func TestAuditStopsReadingAtFailure(t *testing.T) {
	s := newStory(t)
	src := s.Source()
	src.Entries[6] = breakSignature(t, src.Entries[6])
	src.Info.Last = 1000 // more announced than it will ever send
	b := &blockingSource{Source: src}
	_, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, b)
	var f *audit.Failure
	if !errors.As(err, &f) || !errors.Is(err, audit.ErrEntry) || f.Sequence != 7 {
		t.Fatalf("Verify: %v, want ErrEntry at sequence 7", err)
	}
	// The reader may not have reached the stall before the failure
	// stopped it (a loaded machine); if it did, it was released first.
	if b.blocked.Load() && !b.released.Load() {
		t.Fatal("Verify returned while its reader was still blocked in the source's Next")
	}
}
