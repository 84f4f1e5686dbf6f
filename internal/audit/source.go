package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// Source is a history to audit: the log's entries in order and the signed
// checkpoints known for it. Callers call Start once, then Checkpoints,
// then Next until io.EOF. Nothing a Source returns is trusted: Verify
// checks all of it.
type Source interface {
	// Start opens the history and says which log it is and which
	// sequences it holds.
	Start(ctx context.Context) (Start, error)
	// Checkpoints returns the signed checkpoints (notes) known for the log,
	// in no particular order.
	Checkpoints(ctx context.Context) ([][]byte, error)
	// Next returns the next entry, or io.EOF after the last.
	Next(ctx context.Context) (*Entry, error)
}

// CheckpointFetcher is a Source that can also fetch the checkpoint the log
// signed at a given size (nil, nil when it signed none there). Verify
// asks it for the sizes it already knows of (its state, an earlier
// export), so that the same sizes are compared checkpoint to checkpoint.
type CheckpointFetcher interface {
	Checkpoint(ctx context.Context, size uint64) ([]byte, error)
}

// Start describes a history.
type Start struct {
	// LogID is the log's identity (stream name and creation time).
	LogID string
	// Origin is the checkpoint origin the source claims (informative: the
	// signed directory says what it is).
	Origin string
	// First and Last are the first and last sequences held; 0 when empty.
	First, Last uint64
}

// Entry is one entry of the log: a notice (Envelope), a notice the reader
// may not see (RedactedJWS), or a directory version (Directory).
type Entry struct {
	Sequence uint64
	StoredAt time.Time
	// Envelope is the notice as signed; nil unless the entry is a notice.
	Envelope *headsupv1.Envelope
	// RedactedJWS is the JWS of a notice whose bytes are withheld.
	RedactedJWS string
	// Directory is a directory version as the governance key signed it.
	Directory *DirectoryVersion
}

// DirectoryVersion is a directory entry's content.
type DirectoryVersion struct {
	Serial uint64
	// Signed is the signed note, byte for byte (the entry's leaf record).
	Signed []byte
}

// record is what the entry contributes to the tree (auditlog.LeafOf): the
// JWS of a notice, redacted or not, or the signed directory note.
func (e *Entry) record() ([]byte, error) {
	switch {
	case e.Directory != nil:
		if len(e.Directory.Signed) == 0 {
			return nil, errors.New("empty directory")
		}
		return e.Directory.Signed, nil
	case e.Envelope != nil:
		if e.Envelope.GetJws() == "" {
			return nil, errors.New("envelope without a JWS")
		}
		return []byte(e.Envelope.GetJws()), nil
	case e.RedactedJWS != "":
		return []byte(e.RedactedJWS), nil
	}
	return nil, errors.New("neither notice, redacted notice nor directory")
}

// HubSource reads a history from a hub's LogService: the latest
// checkpoint (fetched before the replay, so the replay covers it), then a
// full Replay. The replay stream lives on the context given to Start.
//
// The hub's own alarms do not stop the audit: a hub whose tree disagrees
// with its stream answers its checkpoints with DATA_LOSS (its replay
// still reads the stream, for an auditor who then needs it most), and
// the audit goes on without them, saying so in the report's warnings. A
// replay the hub ends with DATA_LOSS (a sequence missing from its stream)
// is a *Failure naming the first sequence it could not deliver.
type HubSource struct {
	client headsupv1.LogServiceClient
	logID  string

	stream      headsupv1.LogService_ReplayClient
	cancel      context.CancelFunc // ends stream
	checkpoints [][]byte
	last        uint64 // the last sequence the replay announced
	got         uint64 // the last sequence received
	warnings    []string
}

// NewHubSource returns a Source over client. logID, when not empty, is
// the log the caller expects; the hub refuses a replay of another.
func NewHubSource(client headsupv1.LogServiceClient, logID string) *HubSource {
	return &HubSource{client: client, logID: logID}
}

// Start implements Source.
func (h *HubSource) Start(ctx context.Context) (Start, error) {
	latest, err := h.Checkpoint(ctx, 0)
	if err != nil {
		return Start{}, err
	}
	if latest != nil {
		h.checkpoints = append(h.checkpoints, latest)
	}
	// The stream lives on Start's context; Next may also end it early,
	// so that a reader told to stop is not left waiting on the hub.
	sctx, cancel := context.WithCancel(ctx)
	stream, err := h.client.Replay(sctx, &headsupv1.ReplayRequest{LogId: h.logID})
	if err != nil {
		cancel()
		return Start{}, fmt.Errorf("replay: %w", err)
	}
	h.cancel = cancel
	first, err := stream.Recv()
	if status.Code(err) == codes.OutOfRange {
		cancel()
		// Asked for everything (after sequence 0), the hub says its
		// stream no longer starts at 1: the entries before its first
		// are gone from the log.
		return Start{}, &Failure{Sequence: 1, Range: [2]uint64{1, 1}, Err: ErrGap, Cause: err,
			Reason: "the hub no longer holds sequence 1 (entries removed from its stream; verify with an earlier export holding them)"}
	}
	if err != nil {
		cancel()
		return Start{}, fmt.Errorf("replay: %w", err)
	}
	s := first.GetStart()
	if s == nil {
		cancel()
		return Start{}, fmt.Errorf("replay: first event is %T, want start", first.GetEvent())
	}
	h.stream, h.last = stream, s.GetLastSequence()
	return Start{LogID: s.GetLogId(), Origin: originOf(latest), First: s.GetFirstSequence(), Last: s.GetLastSequence()}, nil
}

// Checkpoints implements Source.
func (h *HubSource) Checkpoints(context.Context) ([][]byte, error) {
	return h.checkpoints, nil
}

// Checkpoint implements CheckpointFetcher; size 0 is the latest. A
// checkpoint fetched is also returned by later calls of Checkpoints.
func (h *HubSource) Checkpoint(ctx context.Context, size uint64) ([]byte, error) {
	resp, err := h.client.GetCheckpoint(ctx, &headsupv1.GetCheckpointRequest{Size: size})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		return nil, nil
	case codes.OutOfRange:
		// The hub's tree does not reach size: Verify decides from the
		// checkpoint it already holds whether that is a rollback.
		return nil, nil
	case codes.DataLoss:
		h.warnings = append(h.warnings, fmt.Sprintf("the hub refuses its checkpoints (size %d): %s", size, status.Convert(err).Message()))
		return nil, nil
	default:
		return nil, fmt.Errorf("get checkpoint (size %d): %w", size, err)
	}
	if h.logID != "" && resp.GetLogId() != "" && resp.GetLogId() != h.logID {
		return nil, fmt.Errorf("get checkpoint (size %d): log_id %q, want %q", size, resp.GetLogId(), h.logID)
	}
	if size != 0 {
		h.checkpoints = append(h.checkpoints, resp.GetCheckpoint())
	}
	return resp.GetCheckpoint(), nil
}

// Next implements Source. Cancelling ctx ends the replay: later calls
// fail.
func (h *HubSource) Next(ctx context.Context) (*Entry, error) {
	if h.stream == nil {
		return nil, errors.New("replay: Next before Start")
	}
	if ctx.Done() != nil {
		defer context.AfterFunc(ctx, h.cancel)()
	}
	resp, err := h.stream.Recv()
	if err == io.EOF {
		h.cancel()
		return nil, io.EOF
	}
	if status.Code(err) == codes.DataLoss {
		next := h.got + 1
		return nil, &Failure{Sequence: next, Range: [2]uint64{next, max(next, h.last)}, Err: ErrGap, Cause: err,
			Reason: fmt.Sprintf("the hub ended the replay after sequence %d with DATA_LOSS: sequence %d was not delivered (the replay announced %d)", h.got, next, h.last)}
	}
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	e, err := entryOfReplay(resp)
	if err == nil {
		h.got = e.Sequence
	}
	return e, err
}

// Warnings returns what the hub reported that did not stop the audit.
func (h *HubSource) Warnings() []string { return h.warnings }

func entryOfReplay(resp *headsupv1.ReplayResponse) (*Entry, error) {
	switch ev := resp.GetEvent().(type) {
	case *headsupv1.ReplayResponse_Entry:
		e := ev.Entry
		return &Entry{Sequence: e.GetSequence(), StoredAt: e.GetStoredAt().AsTime(), Envelope: e.GetEnvelope()}, nil
	case *headsupv1.ReplayResponse_Redacted:
		e := ev.Redacted
		return &Entry{Sequence: e.GetSequence(), StoredAt: e.GetStoredAt().AsTime(), RedactedJWS: e.GetJws()}, nil
	case *headsupv1.ReplayResponse_Directory:
		e := ev.Directory
		return &Entry{Sequence: e.GetSequence(), StoredAt: e.GetStoredAt().AsTime(),
			Directory: &DirectoryVersion{Serial: e.GetSerial(), Signed: e.GetSignedDirectory()}}, nil
	case *headsupv1.ReplayResponse_Start:
		return nil, errors.New("replay: a second start event")
	default:
		// A oneof this client does not know (a newer hub): refusing it is
		// safer than skipping an entry that counts toward the tree.
		return nil, fmt.Errorf("replay: unknown event %T", ev)
	}
}
