package hub

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
)

// logService implements headsupv1.LogServiceServer over the auditor; with
// no auditor (no log key) every call is FAILED_PRECONDITION.
type logService struct {
	headsupv1.UnimplementedLogServiceServer

	hub   *service
	audit *auditor
}

// tree returns the auditor when its tree may be read: a tree that
// disagrees with the stream answers nothing (DATA_LOSS).
func (s *logService) tree() (*auditor, error) {
	if s.audit == nil {
		return nil, fmt.Errorf("%w: start it with a log key (--log-key) to serve checkpoints and proofs", ErrNoSignedLog)
	}
	if err := s.audit.failure(); err != nil {
		return nil, err
	}
	return s.audit, nil
}

// reply maps a handler's outcome through the one error table, logging
// refusals.
func reply[T any](s *logService, call string, res T, err error) (T, error) {
	if err != nil {
		s.hub.refused(call, err)
		var zero T
		return zero, Status(err)
	}
	return res, nil
}

func (s *logService) GetCheckpoint(_ context.Context, req *headsupv1.GetCheckpointRequest) (*headsupv1.GetCheckpointResponse, error) {
	res, err := s.getCheckpoint(req)
	return reply(s, "get checkpoint", res, err)
}

func (s *logService) getCheckpoint(req *headsupv1.GetCheckpointRequest) (*headsupv1.GetCheckpointResponse, error) {
	a, err := s.tree()
	if err != nil {
		return nil, err
	}
	var rec checkpointRecord
	var found bool
	if req.GetSize() == 0 {
		if rec, found, err = a.checkpoints.latest(); err == nil && !found {
			return nil, fmt.Errorf("%w: none signed yet (the tree holds %d entries); retry", ErrNoCheckpoint, a.tree.Size())
		}
	} else {
		// A checkpoint signed before a restart is served while the tree
		// is still being rebuilt up to it.
		rec, found, err = a.checkpoints.get(sizeArg(req.GetSize()))
		if size := a.tree.Size(); err == nil && !found && req.GetSize() > uint64(size) {
			return nil, fmt.Errorf("%w: size %d, the tree holds %d entries", auditlog.ErrBeyondTree, req.GetSize(), size)
		}
		if err == nil && !found {
			return nil, fmt.Errorf("%w: size %d", ErrNoCheckpoint, req.GetSize())
		}
	}
	if err != nil {
		return nil, err
	}
	// Never hand out what a verifier would refuse: the store is a file
	// anyone with the disk could edit.
	if _, err := auditlog.ParseCheckpoint(rec.Note, a.key.origin(), a.key.verifier); err != nil {
		return nil, fmt.Errorf("%w: stored checkpoint of size %d: %v", ErrTreeMismatch, rec.Size, err)
	}
	return &headsupv1.GetCheckpointResponse{Checkpoint: rec.Note, LogId: s.hub.log.ID()}, nil
}

func (s *logService) GetInclusionProof(_ context.Context, req *headsupv1.GetInclusionProofRequest) (*headsupv1.GetInclusionProofResponse, error) {
	res, err := s.getInclusionProof(req)
	return reply(s, "get inclusion proof", res, err)
}

func (s *logService) getInclusionProof(req *headsupv1.GetInclusionProofRequest) (*headsupv1.GetInclusionProofResponse, error) {
	a, err := s.tree()
	if err != nil {
		return nil, err
	}
	if req.GetSequence() == 0 {
		return nil, fmt.Errorf("%w: sequence: 0 (sequences start at 1)", auditlog.ErrInvalidRange)
	}
	index := sizeArg(req.GetSequence()) - 1
	proof, err := a.tree.InclusionProof(index, sizeArg(req.GetTreeSize()))
	if err != nil {
		return nil, err
	}
	leaf, err := a.tree.LeafHash(index)
	if err != nil {
		return nil, err
	}
	return &headsupv1.GetInclusionProofResponse{Proof: hashBytes(proof), LeafHash: leaf[:]}, nil
}

func (s *logService) GetConsistencyProof(_ context.Context, req *headsupv1.GetConsistencyProofRequest) (*headsupv1.GetConsistencyProofResponse, error) {
	res, err := s.getConsistencyProof(req)
	return reply(s, "get consistency proof", res, err)
}

func (s *logService) getConsistencyProof(req *headsupv1.GetConsistencyProofRequest) (*headsupv1.GetConsistencyProofResponse, error) {
	a, err := s.tree()
	if err != nil {
		return nil, err
	}
	proof, err := a.tree.ConsistencyProof(sizeArg(req.GetOldSize()), sizeArg(req.GetNewSize()))
	if err != nil {
		return nil, err
	}
	return &headsupv1.GetConsistencyProofResponse{Proof: hashBytes(proof)}, nil
}

// sizeArg turns a request's size into the tree's int64; anything beyond
// int64 is beyond every tree.
func sizeArg(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func hashBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// errReplayDone ends the log reader of a replay at its last sequence.
var errReplayDone = errors.New("replay done")

func (s *logService) Replay(req *headsupv1.ReplayRequest, stream headsupv1.LogService_ReplayServer) error {
	err := s.replay(req, stream)
	if err != nil && !errors.Is(err, context.Canceled) {
		s.hub.refused("replay", err)
	}
	return Status(err)
}

// replay reads the stream itself, not the tree, so it serves while the
// tree is stopped: an auditor then needs it most. Its memory is bounded
// by the log reader's buffer: each entry is sent before the next is read.
func (s *logService) replay(req *headsupv1.ReplayRequest, stream headsupv1.LogService_ReplayServer) error {
	if s.audit == nil {
		return fmt.Errorf("%w: subscribe instead", ErrNoSignedLog)
	}
	ctx := stream.Context()
	redactFor, release, err := s.hub.readAccess(ctx)
	if err != nil {
		return err
	}
	defer release()
	log := s.hub.log
	if want := req.GetLogId(); want != "" && want != log.ID() {
		return fmt.Errorf("%w: log_id %q: this hub serves %q; your cursor belongs to another log", bus.ErrLogMismatch, want, log.ID())
	}
	first, last, err := log.Bounds(ctx)
	if err != nil {
		return err
	}
	after := req.GetAfterSequence()
	if after == 0 && first > 1 {
		// "Everything" is everything retained: an auditor of a log whose
		// oldest entries were exported and removed starts at the first
		// one kept, which SubscribeStart names, and brings the earlier
		// export for the rest.
		after = first - 1
	}
	if after > last {
		return fmt.Errorf("%w: after_sequence %d is beyond the last sequence %d", bus.ErrOutOfRange, after, last)
	}
	if first > 0 && after+1 < first {
		return fmt.Errorf("%w: after_sequence %d is before the first retained sequence %d", bus.ErrOutOfRange, after, first)
	}
	if err := stream.Send(&headsupv1.ReplayResponse{Event: &headsupv1.ReplayResponse_Start{Start: &headsupv1.SubscribeStart{
		LogId: log.ID(), FirstSequence: first, LastSequence: last, AfterSequence: after,
	}}}); err != nil {
		return err
	}
	if after == last {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.hub.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	var sent uint64 = after
	err = log.Follow(ctx, after, func(m bus.Message) error {
		ev, err := entryOf(m, redactFor)
		if err != nil {
			return err
		}
		out := &headsupv1.ReplayResponse{}
		switch e := ev.Event.(type) {
		case *headsupv1.SubscribeResponse_Entry:
			out.Event = &headsupv1.ReplayResponse_Entry{Entry: e.Entry}
		case *headsupv1.SubscribeResponse_Redacted:
			out.Event = &headsupv1.ReplayResponse_Redacted{Redacted: e.Redacted}
		case *headsupv1.SubscribeResponse_Directory:
			out.Event = &headsupv1.ReplayResponse_Directory{Directory: e.Directory}
		default:
			return fmt.Errorf("replay: sequence %d: unexpected event %T", m.Seq, e)
		}
		if err := stream.Send(out); err != nil {
			return err
		}
		sent = m.Seq
		if m.Seq >= last {
			return errReplayDone
		}
		return nil
	})
	select {
	case <-s.hub.stopping:
		if !errors.Is(err, errReplayDone) {
			return fmt.Errorf("%w: resume from your cursor (last sequence sent %d)", ErrShuttingDown, sent)
		}
	default:
	}
	if errors.Is(err, errReplayDone) {
		return nil
	}
	return err
}

func (s *logService) AddCosignature(ctx context.Context, req *headsupv1.AddCosignatureRequest) (*headsupv1.AddCosignatureResponse, error) {
	res, err := s.addCosignature(ctx, req)
	return reply(s, "add cosignature", res, err)
}

// witnessKey is a member's witness key as a C2SP tlog-cosignature
// verifier: the note key name is the member id, the key its Ed25519
// witness key.
type witnessKey struct {
	member   string
	key      *directory.Key
	verifier note.Verifier
}

type keyID struct {
	name string
	hash uint32
}

// addCosignature attaches the caller's cosignature (C2SP
// tlog-cosignature/v1) to a checkpoint the hub signed. The cosigned note
// must carry the hub's text and log signature exactly as signed; among its
// other lines, those by the caller's witness keys (any member's when call
// tokens are off) must verify, and at least one must. Lines by other keys
// (cosignatures the hub served along with the checkpoint) are ignored.
func (s *logService) addCosignature(ctx context.Context, req *headsupv1.AddCosignatureRequest) (*headsupv1.AddCosignatureResponse, error) {
	a, err := s.tree()
	if err != nil {
		return nil, err
	}
	signed := req.GetCheckpoint()
	cp, err := auditlog.ParseCheckpoint(signed, a.key.origin(), a.key.verifier)
	switch {
	case errors.Is(err, auditlog.ErrMalformedCheckpoint):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrNotSignedHere, err)
	}
	size := int64(cp.Size)
	rec, found, err := a.checkpoints.get(size)
	if err != nil {
		return nil, err
	}
	text := cp.Marshal()
	if !found || !bytes.HasPrefix(rec.Note, append(text, '\n')) {
		return nil, fmt.Errorf("%w: no checkpoint of size %d with root %s was signed here", ErrNotSignedHere, size, base64.StdEncoding.EncodeToString(cp.Hash))
	}

	dir := s.hub.dir()
	if dir == nil {
		return nil, fmt.Errorf("%w: no witness keys to check the cosignature with", ErrNoDirectory)
	}
	members := dir.Members
	caller, authed := calltoken.CallerFrom(ctx)
	if authed {
		m, ok := dir.Member(caller.Member.ID)
		if !ok {
			return nil, fmt.Errorf("%w: member %q is not in directory serial %d", ErrNotWitness, caller.Member.ID, dir.Serial)
		}
		members = []*directory.Member{m}
	}
	keys := map[keyID]witnessKey{}
	for _, m := range members {
		for _, k := range m.Keys {
			if k.Use != directory.UseWitness {
				continue
			}
			v, err := cosignatureVerifier(m.ID, k)
			if err != nil {
				return nil, fmt.Errorf("directory: member %q: witness key %s: %w", m.ID, k.ID, err)
			}
			keys[keyID{v.Name(), v.KeyHash()}] = witnessKey{member: m.ID, key: k, verifier: v}
		}
	}

	now := s.hub.cfg.Now()
	accepted := map[string]string{} // member → its line
	var refusal error
	for line := range strings.Lines(string(signed[len(text)+1:])) {
		line = strings.TrimSuffix(line, "\n")
		name, b64, _ := strings.Cut(strings.TrimPrefix(line, "— "), " ")
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) < 4 {
			return nil, fmt.Errorf("%w: signature line by %q: not base64 of a key hash and signature", ErrBadCosignature, name)
		}
		wk, ok := keys[keyID{name, binary.BigEndian.Uint32(sig)}]
		if !ok {
			continue // the log's own line, or a key that is not the caller's
		}
		if _, ok := accepted[wk.member]; ok {
			continue // at most one cosignature per member
		}
		// One cosignature has one spelling: note decodes base64 leniently.
		if _, err := base64.StdEncoding.Strict().DecodeString(b64); err != nil {
			return nil, fmt.Errorf("%w: cosignature by %s: not canonical base64", ErrBadCosignature, name)
		}
		if _, err := note.Open(append(append(bytes.Clone(text), '\n'), line+"\n"...), note.VerifierList(wk.verifier)); err != nil {
			return nil, fmt.Errorf("%w: cosignature by witness key %s of %q on the checkpoint of size %d", ErrBadCosignature, wk.key.ID, wk.member, size)
		}
		when, err := fnote.CoSigV1Timestamp(note.Signature{Base64: b64})
		if err != nil {
			return nil, fmt.Errorf("%w: cosignature by %s: %v", ErrBadCosignature, name, err)
		}
		if err := wk.key.ValidAt(now); err != nil {
			refusal = fmt.Errorf("%w: witness key %s of %q: %v", ErrNotWitness, wk.key.ID, wk.member, err)
			continue
		}
		if err := wk.key.ValidAt(when); err != nil {
			refusal = fmt.Errorf("%w: witness key %s of %q at the cosignature's time %s: %v", ErrNotWitness, wk.key.ID, wk.member, when.UTC().Format(time.RFC3339), err)
			continue
		}
		accepted[wk.member] = line
	}
	if len(accepted) == 0 {
		if refusal != nil {
			return nil, refusal
		}
		who := "any member"
		if authed {
			who = fmt.Sprintf("%q", caller.Member.ID)
		}
		return nil, fmt.Errorf("%w: no cosignature line by a witness key of %s (the key name must be the member id)", ErrNotWitness, who)
	}
	var count int
	for member, line := range accepted {
		if count, err = a.checkpoints.cosign(size, member, line); err != nil {
			return nil, err
		}
	}
	return &headsupv1.AddCosignatureResponse{Cosignatures: uint32(count)}, nil
}

// cosignatureVerifier is the C2SP tlog-cosignature/v1 verifier of a
// member's Ed25519 witness key, named for the member id.
func cosignatureVerifier(member string, k *directory.Key) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(member, k.Public)
	if err != nil {
		return nil, err
	}
	cvkey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		return nil, err
	}
	return fnote.NewVerifierForCosignatureV1(cvkey)
}
