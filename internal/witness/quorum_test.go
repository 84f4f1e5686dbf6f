package witness_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/witness"
)

func cosigners(q witness.Quorum) []string {
	var ids []string
	for _, c := range q.Cosigners {
		ids = append(ids, c.Member)
	}
	return ids
}

func TestCheckQuorum(t *testing.T) {
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	// member-d's only witness key is revoked (after at: revocation
	// withdraws a key's word whatever the time); member-e's is not yet
	// valid at at; member-f's is valid but only for notices; member-c
	// also holds a second witness key.
	revoked, notYet, noticeKey, secondC := memberKey(20), memberKey(21), memberKey(22), memberKey(23)
	extra := map[string][]*directory.Key{
		"member-d": {withTimes(dirKey(revoked, directory.UseWitness), time.Time{}, time.Time{}, at.Add(time.Hour))},
		"member-e": {withTimes(dirKey(notYet, directory.UseWitness), at.Add(time.Hour), time.Time{}, time.Time{})},
		"member-f": {dirKey(noticeKey, directory.UseNotice)},
		memberC:    {dirKey(secondC, directory.UseWitness)},
	}
	tr := newTree(t, 8, "")
	signed := checkpointAt(t, tr, 8)
	by := func(id string) func([]byte) []byte {
		return func(b []byte) []byte { return cosign(t, b, id, witnessKey(id)) }
	}
	byKey := func(id string, priv []byte) func([]byte) []byte {
		return func(b []byte) []byte { return cosign(t, b, id, priv) }
	}
	// dup repeats member-a's line: note.Sign never writes two lines by
	// one key, a hub may.
	dup := func(b []byte) []byte {
		line := sigLines(b, memberA)[0]
		return append(bytes.Clone(b), line...)
	}
	tests := []struct {
		name string
		need int
		sign []func([]byte) []byte
		want []string
	}{
		{"no cosignature", 2, nil, nil},
		{"one member", 2, []func([]byte) []byte{by(memberA)}, []string{memberA}},
		{"two members", 2, []func([]byte) []byte{by(memberA), by(memberB)}, []string{memberA, memberB}},
		{"three members", 2, []func([]byte) []byte{by(memberC), by(memberA), by(memberB)}, []string{memberA, memberB, memberC}},
		{"operator does not count", 2, []func([]byte) []byte{by(operator), by(memberA)}, []string{memberA}},
		{"revoked key does not count", 2, []func([]byte) []byte{byKey("member-d", revoked), by(memberA)}, []string{memberA}},
		{"key not yet valid does not count", 2, []func([]byte) []byte{byKey("member-e", notYet), by(memberA)}, []string{memberA}},
		{"notice key does not count", 2, []func([]byte) []byte{byKey("member-f", noticeKey), by(memberA)}, []string{memberA}},
		{"member not in the directory", 2, []func([]byte) []byte{byKey("member-x", memberKey(30)), by(memberA)}, []string{memberA}},
		{"key of one member under another's name", 2, []func([]byte) []byte{byKey(memberB, witnessKey(memberA)), by(memberA)}, []string{memberA}},
		{"duplicated line counts once", 2, []func([]byte) []byte{by(memberA), dup}, []string{memberA}},
		{"two keys of one member count once", 2, []func([]byte) []byte{by(memberC), byKey(memberC, secondC)}, []string{memberC}},
		{"quorum 0", 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := signed
			for _, f := range tt.sign {
				b = f(b)
			}
			before := time.Now()
			q, err := witness.CheckQuorum(testDir(t, tt.need, extra), b, at)
			if err != nil {
				t.Fatal(err)
			}
			if got := cosigners(q); !slices.Equal(got, tt.want) {
				t.Errorf("cosigners %q, want %q", got, tt.want)
			}
			if q.Satisfied() != (len(tt.want) >= tt.need) || q.Need != tt.need {
				t.Errorf("Satisfied %v with %d of %d", q.Satisfied(), len(q.Cosigners), q.Need)
			}
			if q.Size != 8 || q.Root != root(t, tr, 8) {
				t.Errorf("checkpoint size %d root %s", q.Size, q.Root)
			}
			for _, c := range q.Cosigners {
				between(t, c.Time, before.Add(-time.Minute), time.Now())
				if c.KeyID == "" {
					t.Errorf("%s: no key id", c.Member)
				}
			}
		})
	}
}

func withTimes(k *directory.Key, notBefore, notAfter, revokedAt time.Time) *directory.Key {
	k.NotBefore, k.NotAfter, k.RevokedAt = notBefore, notAfter, revokedAt
	return k
}

func TestCheckQuorumRefusals(t *testing.T) {
	tr := newTree(t, 4, "")
	good := cosign(t, checkpointAt(t, tr, 4), memberA, witnessKey(memberA))
	other := cosign(t, signCheckpoint(t, otherKey(t), 4, root(t, tr, 4)), memberA, witnessKey(memberA))
	if _, err := witness.CheckQuorum(testDir(t, 1, nil), other, time.Now()); !errors.Is(err, auditlog.ErrCheckpointSignature) {
		t.Errorf("checkpoint signed by another key: %v, want ErrCheckpointSignature", err)
	}
	if _, err := witness.CheckQuorum(&directory.Directory{}, good, time.Now()); !errors.Is(err, witness.ErrNoLog) {
		t.Errorf("directory without a log: %v, want ErrNoLog", err)
	}
	if _, err := witness.CheckQuorum(testDir(t, 1, nil), []byte("hub.test/headsup\n4\n"), time.Now()); err == nil {
		t.Error("unsigned text accepted")
	}
}

// Flip every byte of a checkpoint cosigned by two members: a change to
// the checkpoint or the log's signature is refused, and a change to a
// cosignature line never leaves that line counted (note's lenient base64
// included) nor spoils the other line.
func TestCheckQuorumFlipEveryByte(t *testing.T) {
	dir := testDir(t, 2, nil)
	tr := newTree(t, 6, "")
	signed := checkpointAt(t, tr, 6)
	cosigned := cosign(t, cosign(t, signed, memberA, witnessKey(memberA)), memberB, witnessKey(memberB))
	q, err := witness.CheckQuorum(dir, cosigned, time.Now())
	if err != nil || !q.Satisfied() {
		t.Fatalf("unchanged: %+v, %v", q, err)
	}
	lineA := bytes.Index(cosigned, []byte(sigLines(cosigned, memberA)[0]))
	lineB := bytes.Index(cosigned, []byte(sigLines(cosigned, memberB)[0]))
	if !(len(signed) <= lineA && lineA < lineB) {
		t.Fatalf("lines at %d and %d, after %d", lineA, lineB, len(signed))
	}
	for i := range cosigned {
		for _, x := range []byte{0x01, 0x02, 0x04, 0x20, 0x80} {
			b := bytes.Clone(cosigned)
			b[i] ^= x
			q, err := witness.CheckQuorum(dir, b, time.Now())
			var changed, kept string
			switch {
			case i < len(signed):
				if err == nil {
					t.Fatalf("byte %d ^ %#x in the checkpoint or the log's signature: accepted", i, x)
				}
				continue
			case i < lineB:
				changed, kept = memberA, memberB
			default:
				changed, kept = memberB, memberA
			}
			if err != nil {
				// A line note cannot parse makes the note malformed:
				// refused whole, which counts nothing.
				if !errors.Is(err, auditlog.ErrMalformedCheckpoint) {
					t.Fatalf("byte %d ^ %#x in %s's line: %v", i, x, changed, err)
				}
				continue
			}
			ids := cosigners(q)
			if slices.Contains(ids, changed) || !slices.Equal(ids, []string{kept}) {
				t.Fatalf("byte %d ^ %#x in %s's line: cosigners %q, want only %s", i, x, changed, ids, kept)
			}
		}
	}
}

// A Witness refuses every altered checkpoint: it only ever cosigns what
// the log signed.
func TestCosignFlipEveryByte(t *testing.T) {
	tr := newTree(t, 6, "")
	signed := checkpointAt(t, tr, 6)
	w := newWitnessOn(t, memberA, &memState{})
	for i := range signed {
		b := bytes.Clone(signed)
		b[i] ^= 0x01
		if _, err := w.Cosign(t.Context(), b, nil); err == nil {
			t.Fatalf("byte %d changed: cosigned %q", i, b)
		}
	}
	if _, err := w.Latest(); !errors.Is(err, witness.ErrNotCosigned) {
		t.Errorf("state after refusals: %v, want nothing cosigned", err)
	}
}

func TestQuorumTime(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	q := witness.Quorum{Need: 2, Cosigners: []witness.Cosignature{
		{Member: memberA, Time: t0.Add(3 * time.Minute)},
		{Member: memberB, Time: t0.Add(1 * time.Minute)},
		{Member: memberC, Time: t0.Add(2 * time.Minute)},
	}}
	if got := q.Time(); !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("Time %s, want the second most recent cosignature %s", got, t0.Add(2*time.Minute))
	}
	q.Need = 4
	if got := q.Time(); !got.IsZero() {
		t.Errorf("Time of an unsatisfied quorum: %s, want zero", got)
	}
}

func TestFreshness(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	const T = 10 * time.Minute
	quorumAt := func(ts ...time.Time) witness.Quorum {
		q := witness.Quorum{Need: 2}
		for i, ts := range ts {
			q.Cosigners = append(q.Cosigners, witness.Cosignature{Member: strings.Repeat("m", i+1), Time: ts})
		}
		return q
	}
	f := witness.NewFreshness(t0)
	if f.Stale(t0.Add(T), T) {
		t.Error("stale at exactly T after the start")
	}
	if !f.Stale(t0.Add(T+time.Second), T) {
		t.Error("not stale past T without any quorum")
	}
	// A quorum whose cosignatures are old does not refresh: a hub
	// replaying an old checkpoint cannot look fresh.
	if !f.Observe(quorumAt(t0.Add(-time.Hour), t0.Add(-time.Hour)), t0.Add(T)) {
		t.Error("satisfied quorum not observed")
	}
	if !f.Last().Equal(t0) {
		t.Errorf("Last %s moved back to an old quorum", f.Last())
	}
	// One fresh cosignature is not a fresh quorum.
	f.Observe(quorumAt(t0.Add(5*time.Minute)), t0.Add(6*time.Minute))
	if f.Observe(quorumAt(t0.Add(5*time.Minute)), t0.Add(6*time.Minute)) {
		t.Error("unsatisfied quorum observed")
	}
	f.Observe(quorumAt(t0.Add(5*time.Minute), t0.Add(4*time.Minute)), t0.Add(6*time.Minute))
	if !f.Last().Equal(t0.Add(4 * time.Minute)) {
		t.Errorf("Last %s, want the quorum's time %s", f.Last(), t0.Add(4*time.Minute))
	}
	if f.Stale(t0.Add(4*time.Minute+T), T) || !f.Stale(t0.Add(4*time.Minute+T+time.Second), T) {
		t.Error("staleness not counted from the last quorum")
	}
	// Witness clocks ahead of ours buy nothing.
	f.Observe(quorumAt(t0.Add(time.Hour), t0.Add(time.Hour)), t0.Add(7*time.Minute))
	if !f.Last().Equal(t0.Add(7 * time.Minute)) {
		t.Errorf("Last %s, want capped at now %s", f.Last(), t0.Add(7*time.Minute))
	}
	// With no witness asked for, every log-signed checkpoint is fresh.
	f.Observe(witness.Quorum{Need: 0}, t0.Add(8*time.Minute))
	if !f.Last().Equal(t0.Add(8 * time.Minute)) {
		t.Errorf("Last %s after a quorum of 0, want now", f.Last())
	}
}
