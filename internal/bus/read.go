package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// followBuffer and FollowMaxBytes bound what one Follow holds in memory:
// the ordered consumer pulls at most followBuffer messages and at most
// FollowMaxBytes bytes at a time (the server honours both), so a follower
// buffers at most FollowMaxBytes plus one message however many entries
// wait for it.
const (
	followBuffer   = 32
	FollowMaxBytes = 256 << 10
)

// msgGetSubject is the JetStream API for a stream read by the leader. It is
// used directly because nats.go's GetMsg does not expose start_time.
const msgGetSubject = "$JS.API.STREAM.MSG.GET." + StreamName

// Message is one log entry.
type Message struct {
	Seq uint64
	// Stored is the entry's log time: when JetStream stored it.
	Stored time.Time
	// Subject says what the entry is: a notice
	// (headsup.notice.<issuer>.<id>, Body an envelope) or a directory
	// version (headsup.directory.<serial>, Body the signed note; see
	// DirectorySerial).
	Subject string
	Body    []byte
}

// rawMessage is a message read by sequence or subject as an entry. Its
// log time is JetStream's store time: the server's clock, which neither
// the hub nor a publisher sets, so nobody can choose when an entry was
// logged (key validity is judged at that time).
func rawMessage(m *jetstream.RawStreamMsg) *Message {
	return &Message{Seq: m.Sequence, Stored: m.Time.UTC(), Subject: m.Subject, Body: m.Data}
}

// Bounds returns the first retained and the last sequence; 0, 0 when nothing
// was ever stored. When retention removed every entry, first is last+1.
func (l *Log) Bounds(ctx context.Context) (first, last uint64, err error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("log bounds: %w", unavailable(err))
	}
	if info.State.LastSeq == 0 {
		return 0, 0, nil
	}
	l.observe(info.State.LastSeq)
	return max(info.State.FirstSeq, 1), info.State.LastSeq, nil
}

// SeqForTime returns the last sequence stored before t, so that "since t"
// means the entries after it. Store times follow the leader's clock, so this
// is approximate where that clock stepped back; an error in it only
// delivers entries twice (delivery is at least once).
func (l *Log) SeqForTime(ctx context.Context, t time.Time) (uint64, error) {
	// The last sequence is taken first: if no entry at or after t exists
	// when the server looks, everything up to at least this one was stored
	// before t.
	_, last, err := l.Bounds(ctx)
	if err != nil {
		return 0, err
	}
	req, err := json.Marshal(struct {
		StartTime time.Time `json:"start_time"`
		NoHeaders bool      `json:"no_hdr"`
	}{t.UTC(), true})
	if err != nil {
		return 0, fmt.Errorf("seq for time %v: %w", t, err)
	}
	reply, err := l.nc.RequestWithContext(ctx, msgGetSubject, req)
	if err != nil {
		return 0, fmt.Errorf("seq for time %v: %w", t, unavailable(err))
	}
	var resp struct {
		Error   *jetstream.APIError `json:"error"`
		Message *struct {
			Seq uint64 `json:"seq"`
		} `json:"message"`
	}
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return 0, fmt.Errorf("seq for time %v: bad response: %w", t, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return last, nil
	case resp.Error != nil:
		return 0, fmt.Errorf("seq for time %v: %w", t, unavailable(resp.Error))
	case resp.Message == nil || resp.Message.Seq == 0:
		return 0, fmt.Errorf("seq for time %v: response without a message", t)
	}
	return resp.Message.Seq - 1, nil
}

// Get returns the entry at seq; a sequence outside the log is ErrOutOfRange.
func (l *Log) Get(ctx context.Context, seq uint64) (*Message, error) {
	if seq == 0 {
		return nil, fmt.Errorf("get: %w: sequence 0", ErrOutOfRange)
	}
	m, err := l.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("get: %w: no entry at sequence %d", ErrOutOfRange, seq)
	}
	if err != nil {
		return nil, fmt.Errorf("get sequence %d: %w", seq, unavailable(err))
	}
	l.observe(m.Sequence)
	return rawMessage(m), nil
}

// checkCursor refuses a cursor the log cannot continue from: beyond its end,
// or before entries that retention removed.
func checkCursor(after, first, last uint64) error {
	if after > last {
		return fmt.Errorf("%w: cursor %d is beyond the last sequence %d", ErrOutOfRange, after, last)
	}
	if first > 0 && after+1 < first {
		return fmt.Errorf("%w: cursor %d is before the first retained sequence %d", ErrOutOfRange, after, first)
	}
	return nil
}

// Follow calls fn with every entry after sequence after, in order, then
// with each new one as it is stored, until ctx is done (it then returns
// ctx.Err()) or fn returns an error (returned as is). It checks density:
// any sequence other than the next one ends it with ErrGap, so no entry is
// ever skipped silently. fn runs on Follow's goroutine; while it blocks, at
// most followBuffer entries and FollowMaxBytes are buffered.
func (l *Log) Follow(ctx context.Context, after uint64, fn func(Message) error) error {
	first, last, err := l.Bounds(ctx)
	if err != nil {
		return err
	}
	if err := checkCursor(after, first, last); err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// The consumer is deleted when Follow returns; this only bounds
		// how long one outlives a follower that lost its connection. An
		// active follower always has a pull pending, so it is never idle.
		InactiveThreshold: time.Minute,
	}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	cons, err := l.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return l.callErr(ctx, "follow", err)
	}
	// Consume, not the Messages iterator: the iterator delivers into a
	// channel as deep as the pull and drops what does not fit (nats.go's
	// ChanSubscription), so a follower slower than the log lost a
	// message now and then, and the ordered consumer recreated itself
	// from its last sequence to fill the gap. Consume hands messages to a
	// callback, which hands each one over and waits until fn is done with
	// the previous one: a slow fn slows the pulls instead, and what waits
	// is only what the pull brought (nats.go's queue), as before.
	msgs := make(chan jetstream.Msg)
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-done:
		}
	}, jetstream.PullMaxMessagesWithBytesLimit(followBuffer, FollowMaxBytes))
	if err != nil {
		return l.callErr(ctx, "follow", err)
	}
	closed := cc.Closed()
	defer func() {
		close(done)
		cc.Stop()
		// Best effort: server-side state of a finished follower is freed
		// now rather than after InactiveThreshold.
		dctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if info := cons.CachedInfo(); info != nil {
			_ = l.stream.DeleteConsumer(dctx, info.Name)
		}
	}()

	next := after + 1
	for {
		var msg jetstream.Msg
		select {
		case msg = <-msgs:
		case <-ctx.Done():
			// The ordered consumer retries for ever after losing its
			// server; a follower, and a hub shutting down, return anyway.
			return ctx.Err()
		case <-closed:
			err := ErrUnavailable
			if l.nc.IsClosed() {
				err = fmt.Errorf("%w: %w", ErrUnavailable, nats.ErrConnectionClosed)
			}
			return fmt.Errorf("follow after %d: consumer stopped: %w", next-1, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("follow after %d: %w", next-1, err)
		}
		seq := md.Sequence.Stream
		if seq != next {
			// Retention may have removed the next entry since the check
			// above: that is a cursor out of range, not lost data.
			if seq > next {
				if first, _, berr := l.Bounds(ctx); berr == nil && first > next {
					return fmt.Errorf("follow: %w: sequence %d was removed, first retained sequence is %d", ErrOutOfRange, next, first)
				}
			}
			return fmt.Errorf("follow: %w: expected sequence %d, got %d", ErrGap, next, seq)
		}
		l.observe(seq)
		if err := fn(Message{Seq: seq, Stored: md.Timestamp.UTC(), Subject: msg.Subject(), Body: msg.Data()}); err != nil {
			return err
		}
		next++
	}
}

// Lookup returns the entry of the notice (issuer, id), or an error wrapping
// ErrNotFound when the log holds none.
func (l *Log) Lookup(ctx context.Context, issuer, id string) (*Message, error) {
	subj, err := Subject(issuer, id)
	if err != nil {
		return nil, err
	}
	m, err := l.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: notice %s/%s", ErrNotFound, issuer, id)
	}
	if err != nil {
		return nil, l.callErr(ctx, "lookup "+subj, err)
	}
	return rawMessage(m), nil
}

// LookupID returns the entry of a notice id under any issuer, or an error
// wrapping ErrNotFound. Ids are chosen by issuers, so two issuers may use
// one; the last stored wins. Used to tell "another member's notice" from
// "no such notice".
func (l *Log) LookupID(ctx context.Context, id string) (*Message, error) {
	if _, err := Subject("x", id); err != nil {
		return nil, err
	}
	m, err := l.stream.GetLastMsgForSubject(ctx, SubjectPrefix+"*."+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: notice id %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, l.callErr(ctx, "lookup id "+id, err)
	}
	return rawMessage(m), nil
}

// LatestDirectory returns the directory version stored last, or an error
// wrapping ErrNotFound when the log holds none. Hubs append versions in
// rising serial order (never one below what the log holds), so this is
// the highest serial in the log: the floor below which a hub refuses a
// directory file, across restarts.
func (l *Log) LatestDirectory(ctx context.Context) (*Message, error) {
	m, err := l.stream.GetLastMsgForSubject(ctx, directorySubjects)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: no directory version", ErrNotFound)
	}
	if err != nil {
		return nil, l.callErr(ctx, "latest directory", err)
	}
	return rawMessage(m), nil
}
