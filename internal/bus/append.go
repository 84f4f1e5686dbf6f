package bus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readBackWindow is how long Append keeps looking for the entry that made
// JetStream refuse a write: on a replicated stream the refusal can come
// from an in-flight proposal that is not yet readable.
const readBackWindow = time.Second

// readBackPause is the pause between read-back attempts.
const readBackPause = 20 * time.Millisecond

// conflictCodes are the JetStream answers meaning "this subject already has
// (or is about to have) an entry". Which one arrives depends on
// replication and timing, so they are treated alike: read the entry back.
var conflictCodes = map[jetstream.ErrorCode]bool{
	jetstream.JSErrCodeStreamWrongLastSequence:         true, // 10071, R1: expected last subject sequence 0 failed
	jetstream.JSErrCodeStreamWrongLastSequenceConstant: true, // 10164, R>1: same check before proposing
	10077: true, // store failed: maximum messages per subject, when two proposals passed the check
	10158: true, // R>1: the same Nats-Msg-Id is in flight, not yet stored
}

// Store-failure descriptions (10077) that mean the log is full or the
// message too large, not a conflict. nats-server sends its store error's
// text as the description.
const (
	descMaxMsgs     = "maximum messages exceeded"
	descMaxBytes    = "maximum bytes exceeded"
	descMsgTooBig   = "message too large"
	codeStoreFailed = 10077
)

// Appended is the outcome of a successful Append.
type Appended struct {
	// Seq is the entry's position in the log.
	Seq uint64
	// Stored is when the log stored it.
	Stored time.Time
	// Duplicate is true when these exact bytes were already stored under
	// the subject; Seq and Stored are then the original ones.
	Duplicate bool
}

// Append stores body as the notice id of issuer, once. A retry of the same
// bytes returns the original sequence with Duplicate set, however late it
// comes; other bytes under the same (issuer, id) fail with *ConflictError
// and store nothing. ErrUnavailable means nothing was decided (retry the
// same body); context.DeadlineExceeded means the outcome is unknown (retry
// the same body, which is safe).
func (l *Log) Append(ctx context.Context, issuer, id string, body []byte) (Appended, error) {
	subj, err := Subject(issuer, id)
	if err != nil {
		return Appended{}, err
	}
	return l.appendOnce(ctx, subj, body)
}

// AppendDirectory stores signed, a signed directory version, as the entry
// of serial (headsup.directory.<serial>), once, with Append's rules: the
// same bytes again (another hub replica appending the version it also
// loaded) return the original sequence with Duplicate set; other bytes
// under the same serial are a *ConflictError naming the stored entry.
func (l *Log) AppendDirectory(ctx context.Context, serial uint64, signed []byte) (Appended, error) {
	if len(signed) == 0 {
		return Appended{}, fmt.Errorf("append directory serial %d: empty signed note", serial)
	}
	return l.appendOnce(ctx, DirectorySubject(serial), signed)
}

// appendOnce writes body as the only entry of subj (see Append).
func (l *Log) appendOnce(ctx context.Context, subj string, body []byte) (Appended, error) {
	if !l.nc.IsConnected() {
		return Appended{}, fmt.Errorf("append %s: %w: nats connection %s", subj, ErrUnavailable, l.nc.Status())
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.PublishTimeout)
	defer cancel()

	// The message id is the body's digest, never the notice id: JetStream
	// then answers a retry of the same bytes as a duplicate, and other
	// bytes meet the per-subject check instead.
	sum := sha256.Sum256(body)
	msg := &nats.Msg{Subject: subj, Data: body}
	// The store-time watcher must run before the write for its
	// consumer to deliver this entry (stamps.go).
	l.stamps.start(ctx, l.stream)
	gen := l.stamps.ready()
	ack, err := l.js.PublishMsg(ctx, msg,
		jetstream.WithMsgID(hex.EncodeToString(sum[:])),
		jetstream.WithExpectLastSequencePerSubject(0),
	)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			switch {
			case apiErr.ErrorCode == codeStoreFailed && (apiErr.Description == descMaxMsgs || apiErr.Description == descMaxBytes):
				return Appended{}, fmt.Errorf("append %s: %w: %s", subj, ErrLogFull, apiErr.Description)
			case apiErr.ErrorCode == codeStoreFailed && apiErr.Description == descMsgTooBig:
				return Appended{}, fmt.Errorf("append %s: %d bytes: %w", subj, len(body), err)
			case conflictCodes[apiErr.ErrorCode]:
				l.cfg.Logger.Debug("append refused, reading back", "subject", subj, "err_code", int(apiErr.ErrorCode))
				return l.readBack(ctx, subj, body)
			}
		}
		return Appended{}, l.callErr(ctx, "append "+subj, err)
	}
	l.observe(ack.Sequence)
	// The ack carries no store time. A fresh write's entry is ours (the
	// subject was empty and the server stored the message at ack.Sequence),
	// so its time comes from the watcher, which reports the server's store
	// time and the subject.
	if !ack.Duplicate {
		if stored, ok := l.stamps.storedAt(ctx, l.stream, gen, ack.Sequence, subj); ok {
			return Appended{Seq: ack.Sequence, Stored: stored}, nil
		}
	}
	// Otherwise read the entry back: the caller reports the same time
	// every subscriber will see, and a duplicate ack is confirmed to point
	// at these bytes under this subject.
	m, err := l.stream.GetMsg(ctx, ack.Sequence)
	if err != nil {
		return Appended{}, l.callErr(ctx, fmt.Sprintf("append %s: read back sequence %d", subj, ack.Sequence), err)
	}
	if m.Subject != subj || !bytes.Equal(m.Data, body) {
		// Only reachable when one body is appended under two subjects,
		// which a hub that derives the subject from the entry never does.
		return Appended{}, fmt.Errorf("append %s: body already stored at sequence %d under %s", subj, ack.Sequence, m.Subject)
	}
	return Appended{Seq: ack.Sequence, Stored: m.Time.UTC(), Duplicate: ack.Duplicate}, nil
}

// readBack resolves a refused write by reading the subject's entry: the
// same bytes are a duplicate, other bytes a conflict. The entry may not be
// readable at once on a replicated stream, so it polls for readBackWindow.
func (l *Log) readBack(ctx context.Context, subj string, body []byte) (Appended, error) {
	deadline := time.Now().Add(readBackWindow)
	var lastErr error
	for {
		m, err := l.stream.GetLastMsgForSubject(ctx, subj)
		if err == nil {
			l.observe(m.Sequence)
			if bytes.Equal(m.Data, body) {
				return Appended{Seq: m.Sequence, Stored: m.Time.UTC(), Duplicate: true}, nil
			}
			return Appended{}, &ConflictError{Subject: subj, Seq: m.Sequence}
		}
		if ctx.Err() != nil {
			return Appended{}, l.callErr(ctx, "append "+subj+": read back", err)
		}
		lastErr = err
		if time.Now().After(deadline) {
			return Appended{}, fmt.Errorf("append %s: refused as a conflict but no entry readable after %v: %w: %w", subj, readBackWindow, ErrUnavailable, lastErr)
		}
		t := time.NewTimer(readBackPause)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// callErr maps a failed call: a spent context stays a context error (the
// outcome is unknown), a connectivity failure becomes ErrUnavailable.
func (l *Log) callErr(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: outcome unknown: %w", what, cerr)
	}
	return fmt.Errorf("%s: %w", what, unavailable(err))
}

// unavailable wraps err with ErrUnavailable when it says NATS or JetStream
// could not be reached or could not answer, and returns it unchanged
// otherwise.
func unavailable(err error) error {
	transient := []error{
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting,
		nats.ErrReconnectBufExceeded, nats.ErrDisconnected, nats.ErrNoResponders, nats.ErrTimeout,
		nats.ErrNoServers, jetstream.ErrNoStreamResponse, jetstream.ErrJetStreamNotEnabled,
		jetstream.ErrJetStreamNotEnabledForAccount,
	}
	for _, t := range transient {
		if errors.Is(err, t) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
