package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/notice"
)

// service implements headsupv1.HubServiceServer over a log.
type service struct {
	headsupv1.UnimplementedHubServiceServer

	cfg Config
	log *bus.Log
	dir func() *directory.Directory
	// refreshDir rereads the directory file at once; a notice whose kid
	// the current directory lacks is looked up once more in its result.
	refreshDir func() *directory.Directory
	logs       *slog.Logger
	// stopping is closed when shutdown begins: every subscription then ends
	// with UNAVAILABLE so that clients resume from their cursor elsewhere.
	stopping <-chan struct{}
	// subscribers counts open subscriptions, for logs and tests.
	subscribers atomic.Int64
	// limits bounds what each identified member may do.
	limits *memberLimits
	// metrics counts what Prometheus scrapes; nil-safe (see metrics.go).
	metrics *metrics
	// feed is the shared reader every live subscription reads from, and
	// queued what catch-up readers hold in their queues (fanout.go).
	feed   feed
	queued atomic.Int64
}

func (s *service) Publish(ctx context.Context, req *headsupv1.PublishRequest) (*headsupv1.PublishResponse, error) {
	res, err := s.publish(ctx, req)
	s.metrics.verified(err)
	if err != nil {
		s.refused("publish", err)
		return nil, Status(err)
	}
	return res, nil
}

func (s *service) publish(ctx context.Context, req *headsupv1.PublishRequest) (*headsupv1.PublishResponse, error) {
	env := req.GetEnvelope()
	if env == nil {
		return nil, fmt.Errorf("%w: envelope: missing", ErrBadRequest)
	}
	// Sizes are checked before any parsing or signature work, so an
	// oversized request costs the hub nothing.
	if n := len(env.GetNotice()); n > notice.MaxNoticeBytes {
		return nil, fmt.Errorf("%w: envelope.notice: %d bytes, the limit is %d", envelope.ErrTooLarge, n, notice.MaxNoticeBytes)
	}
	if n := len(env.GetNotice()) + len(env.GetJws()); n > envelope.MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: envelope: %d bytes, the limit is %d", envelope.ErrTooLarge, n, envelope.MaxEnvelopeBytes)
	}
	// A flood is refused before it costs a signature check.
	if caller, ok := calltoken.CallerFrom(ctx); ok {
		if err := s.limits.publish(caller.Member.ID); err != nil {
			return nil, err
		}
	}
	dir := s.dir()
	if dir == nil && s.refreshDir != nil {
		dir = s.refreshDir()
	}
	if dir == nil {
		return nil, fmt.Errorf("%w: put one at %s", ErrNoDirectory, s.cfg.DirectoryPath)
	}
	// The body is the envelope message. Marshalling this two-field wrapper
	// is deterministic, so a retry of the same envelope yields the same
	// body and the same Nats-Msg-Id; the notice bytes inside are carried
	// as received, never re-marshalled.
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&headsupv1.Envelope{Notice: env.GetNotice(), Jws: env.GetJws()})
	if err != nil {
		return nil, fmt.Errorf("marshal envelope: %w", err)
	}
	now := s.cfg.Now()
	// The hub's clock bounds the log time: an entry is logged no earlier
	// than now, so a key revoked before now cannot sign it.
	v, err := envelope.Verify(env, dir, now)
	if errors.Is(err, envelope.ErrUnknownKey) && s.refreshDir != nil {
		// A key added moments ago: the directory file may be newer than
		// the copy in memory. Verify reached the key lookup, so every
		// check before it passed and gives the same answer again.
		if fresh := s.refreshDir(); fresh != nil && fresh != dir {
			dir = fresh
			v, err = envelope.Verify(env, dir, now)
		}
	}
	if err == nil {
		if skew := v.Claims.IssuedAt.Sub(now); skew > s.cfg.IssuedAtWindow || -skew > s.cfg.IssuedAtWindow {
			err = fmt.Errorf("%w: issued_at %s is %s from the hub's clock %s (window ±%s)",
				ErrIssuedAtWindow, v.Claims.IssuedAt.UTC().Format(time.RFC3339), skew.Round(time.Second),
				now.UTC().Format(time.RFC3339), s.cfg.IssuedAtWindow)
		}
	}
	if err != nil {
		// A retry of an envelope stored earlier is answered with its
		// sequence forever, even once its time window has passed or its
		// key was rotated out: it was verified when it was stored.
		if dup, ok := s.storedCopy(ctx, env.GetJws(), body); ok {
			return dup, nil
		}
		return nil, err
	}
	// With call tokens, a member publishes only as itself: a validly
	// signed envelope of another member, replayed by a third, is refused.
	if caller, ok := calltoken.CallerFrom(ctx); ok && caller.Member.ID != v.Claims.Issuer {
		return nil, fmt.Errorf("%w: envelope of %q published by %q", ErrNotCaller, v.Claims.Issuer, caller.Member.ID)
	}
	if !v.Member.HasRole(directory.RolePublish) {
		return nil, fmt.Errorf("%w: member %q has no %q role in directory serial %d",
			ErrNotPublisher, v.Member.ID, directory.RolePublish, dir.Serial)
	}
	if err := notice.CheckOwnSpace(v.Notice, v.Member.Prefixes); err != nil {
		return nil, err
	}
	if err := s.checkSupersedes(ctx, v); err != nil {
		return nil, err
	}
	a, err := s.metrics.timeStore(func() (bus.Appended, error) { return s.log.Append(ctx, v.Claims.Issuer, v.Claims.ID, body) })
	if err != nil {
		var conflict *bus.ConflictError
		if errors.As(err, &conflict) {
			return nil, fmt.Errorf("%w: notice %s/%s is stored at sequence %d with other content",
				bus.ErrConflict, v.Claims.Issuer, v.Claims.ID, conflict.Seq)
		}
		return nil, err
	}
	if !a.Duplicate && s.cfg.Logger.Enabled(ctx, slog.LevelInfo) {
		s.cfg.Logger.Info("notice stored", "issuer", v.Claims.Issuer, "id", v.Claims.ID,
			"kind", v.Notice.GetKind().String(), "sequence", a.Seq, "kid", v.Key.ID)
	}
	return &headsupv1.PublishResponse{
		Sequence:  a.Seq,
		Duplicate: a.Duplicate,
		StoredAt:  timestamppb.New(a.Stored),
		LogId:     s.log.ID(),
	}, nil
}

// storedCopy answers a publish whose envelope is already stored byte for
// byte with the original sequence, marked duplicate. The claims are read
// unverified only to find the entry: the bytes must be identical.
func (s *service) storedCopy(ctx context.Context, jws string, body []byte) (*headsupv1.PublishResponse, bool) {
	c, err := envelope.PeekClaims(jws)
	if err != nil {
		return nil, false
	}
	m, err := s.log.Lookup(ctx, c.Issuer, c.ID)
	if err != nil || !bytes.Equal(m.Body, body) {
		return nil, false
	}
	return &headsupv1.PublishResponse{Sequence: m.Seq, Duplicate: true, StoredAt: timestamppb.New(m.Stored), LogId: s.log.ID()}, true
}

// checkSupersedes makes sure a notice that supersedes or retracts another
// replaces one the log holds, and reaches at least everyone who could read
// that one: otherwise a member would keep acting on a notice whose
// withdrawal it never sees.
func (s *service) checkSupersedes(ctx context.Context, v *envelope.Verified) error {
	id := v.Notice.GetSupersedes()
	if id == "" {
		return nil
	}
	m, err := s.log.Lookup(ctx, v.Claims.Issuer, id)
	if errors.Is(err, bus.ErrNotFound) {
		// Only the issuer may replace its notices: naming another
		// member's is refused as such, not as a missing notice.
		if other, err := s.log.LookupID(ctx, id); err == nil {
			return fmt.Errorf("%w: supersedes: %s is a notice of another member (%s), not of %s",
				ErrNotYours, id, strings.TrimPrefix(strings.TrimSuffix(other.Subject, "."+id), bus.SubjectPrefix), v.Claims.Issuer)
		}
		return fmt.Errorf("%w: supersedes: %s/%s is not in the log", ErrSupersedesUnknown, v.Claims.Issuer, id)
	}
	if err != nil {
		return err
	}
	old := &headsupv1.Envelope{}
	if err := proto.Unmarshal(m.Body, old); err != nil {
		return fmt.Errorf("%w: sequence %d: %v", ErrCorruptEntry, m.Seq, err)
	}
	// The stored envelope was verified before it was stored; reading its
	// claims again needs no second verification.
	oldClaims, err := envelope.PeekClaims(old.GetJws())
	if err != nil {
		return fmt.Errorf("%w: sequence %d: %v", ErrCorruptEntry, m.Seq, err)
	}
	if len(v.Claims.Audience) == 0 {
		return nil // every member
	}
	if len(oldClaims.Audience) == 0 {
		return fmt.Errorf("%w: audience: %s/%s (sequence %d) went to every member; its successor must too",
			ErrAudienceNarrowed, v.Claims.Issuer, id, m.Seq)
	}
	for _, member := range oldClaims.Audience {
		if !slices.Contains(v.Claims.Audience, member) {
			return fmt.Errorf("%w: audience: %q could read %s/%s (sequence %d) and must be able to read its successor",
				ErrAudienceNarrowed, member, v.Claims.Issuer, id, m.Seq)
		}
	}
	return nil
}

func (s *service) Subscribe(req *headsupv1.SubscribeRequest, stream headsupv1.HubService_SubscribeServer) error {
	err := s.subscribe(req, stream)
	if err != nil && !errors.Is(err, context.Canceled) {
		s.refused("subscribe", err)
	}
	return Status(err)
}

func (s *service) subscribe(req *headsupv1.SubscribeRequest, stream headsupv1.HubService_SubscribeServer) error {
	ctx := stream.Context()
	redactFor, release, err := s.readAccess(ctx)
	if err != nil {
		return err
	}
	defer release()
	if want := req.GetLogId(); want != "" && want != s.log.ID() {
		return fmt.Errorf("%w: log_id %q: this hub serves %q; your cursor belongs to another log", bus.ErrLogMismatch, want, s.log.ID())
	}
	first, last, err := s.log.Bounds(ctx)
	if err != nil {
		return err
	}
	var after uint64
	switch start := req.GetStart().(type) {
	case nil:
	case *headsupv1.SubscribeRequest_AfterSequence:
		after = start.AfterSequence
	case *headsupv1.SubscribeRequest_NewOnly:
		after = last
	case *headsupv1.SubscribeRequest_Since:
		if err := start.Since.CheckValid(); err != nil {
			return fmt.Errorf("%w: since: %v", ErrBadRequest, err)
		}
		if after, err = s.log.SeqForTime(ctx, start.Since.AsTime()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: start: unknown variant %T", ErrBadRequest, start)
	}
	if after > last {
		return fmt.Errorf("%w: after_sequence %d is beyond the last sequence %d", bus.ErrOutOfRange, after, last)
	}
	if first > 0 && after+1 < first {
		return fmt.Errorf("%w: after_sequence %d is before the first retained sequence %d", bus.ErrOutOfRange, after, first)
	}
	if err := stream.Send(&headsupv1.SubscribeResponse{Event: &headsupv1.SubscribeResponse_Start{Start: &headsupv1.SubscribeStart{
		LogId: s.log.ID(), FirstSequence: first, LastSequence: last, AfterSequence: after,
	}}}); err != nil {
		return err
	}
	s.subscribers.Add(1)
	defer s.subscribers.Add(-1)
	return s.deliver(ctx, after, redactFor, stream)
}

// readAccess decides what the caller of a reading stream (Subscribe,
// Replay) sees and holds one of its stream slots until release. With call
// tokens, the caller's roles decide: the audit role the whole history, the
// subscribe role the notices addressed to it and, for the others, redacted
// entries (sequence and JWS); redactFor is then its member id. Without
// call tokens everyone sees everything.
func (s *service) readAccess(ctx context.Context) (redactFor string, release func(), err error) {
	caller, ok := calltoken.CallerFrom(ctx)
	if !ok {
		return "", func() {}, nil
	}
	switch m := caller.Member; {
	case m.HasRole(directory.RoleAudit):
	case m.HasRole(directory.RoleSubscribe):
		redactFor = m.ID
	default:
		return "", nil, fmt.Errorf("%w: member %q has neither the %q nor the %q role", ErrNoRole, m.ID, directory.RoleSubscribe, directory.RoleAudit)
	}
	release, err = s.limits.openStream(caller.Member.ID)
	if err != nil {
		return "", nil, err
	}
	return redactFor, release, nil
}

// subscription is one Subscribe's delivery state, shared by its sender,
// its catch-up readers and deliver.
type subscription struct {
	stream    headsupv1.HubService_SubscribeServer
	redactFor string
	// metrics counts deliveries and reports the subscriber's lag; nil
	// without metrics.
	metrics *subscriberMetrics
	// sent is the last sequence handed to gRPC: the cursor.
	sent atomic.Uint64
	// readerErr carries the error that ended a catch-up reader (a slow
	// subscriber, a gap, the log unavailable) to deliver.
	readerErr chan error

	mu      sync.Mutex // guards closed and readers.Add
	closed  bool
	readers sync.WaitGroup
}

// markSent records that the entry at seq was handed to gRPC.
func (sub *subscription) markSent(seq uint64) {
	sub.sent.Store(seq)
	sub.metrics.sent(seq)
}

// goRead runs a catch-up reader that deliver waits for; false once the
// subscription ends.
func (sub *subscription) goRead(read func()) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed {
		return false
	}
	sub.readers.Add(1)
	go func() {
		defer sub.readers.Done()
		read()
	}()
	return true
}

// endReaders starts no more readers and waits for those running (their
// context is already cancelled): each owns a consumer.
func (sub *subscription) endReaders() {
	sub.mu.Lock()
	sub.closed = true
	sub.mu.Unlock()
	sub.readers.Wait()
}

// deliver streams the log after the cursor to one subscriber. Its sender
// reads from the hub's shared feed when the cursor lies in the feed's
// window, and otherwise catches up with a reader of its own until it
// does (see send and fanout.go, which also states the memory bound).
// deliver itself watches: a subscriber with at least SubscriberBuffer
// entries waiting for it that takes none for SlowSubscriberGrace has
// stopped reading and is cut off (a subscriber catching up is slow but
// takes entries, so it is not mistaken for one that stopped); the
// caller's key and role, every second; and the hub's shutdown.
func (s *service) deliver(ctx context.Context, after uint64, redactFor string, stream headsupv1.HubService_SubscribeServer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	member := ""
	if c, ok := calltoken.CallerFrom(ctx); ok {
		member = c.Member.ID
	}
	sub := &subscription{stream: stream, redactFor: redactFor, readerErr: make(chan error, 1), metrics: s.metrics.subscriber(member, after)}
	defer sub.metrics.close()
	sub.sent.Store(after)

	// The sender may be blocked in Send on a subscriber that stopped
	// reading. Only the end of this handler unblocks it (gRPC cancels the
	// stream), so the handler does not wait for the sender; the sender
	// sends nothing once ctx is done.
	senderDone := make(chan error, 1)
	go func() { senderDone <- s.send(ctx, sub) }()

	// A caller whose key is revoked or whose role is removed loses its
	// open stream within a second of the directory saying so.
	recheck := time.NewTicker(time.Second)
	defer recheck.Stop()
	stall := time.NewTicker(max(min(s.cfg.SlowSubscriberGrace/4, time.Second), 10*time.Millisecond))
	defer stall.Stop()
	progress, since := after, time.Now()
	caller, authed := calltoken.CallerFrom(ctx)
	var err error
wait:
	for {
		select {
		case err = <-sub.readerErr:
			break wait
		case err = <-senderDone:
			break wait
		case <-s.stopping:
			err = fmt.Errorf("%w: resume from your cursor (last sequence sent %d)", ErrShuttingDown, sub.sent.Load())
			break wait
		case <-recheck.C:
			if authed {
				if err = s.stillAllowed(caller, redactFor == ""); err != nil {
					break wait
				}
			}
		case now := <-stall.C:
			tail := s.feed.tail()
			if cur := sub.sent.Load(); cur != progress || tail < cur+uint64(s.cfg.SubscriberBuffer) {
				progress, since = cur, now
			} else if now.Sub(since) >= s.cfg.SlowSubscriberGrace {
				err = ErrSlowSubscriber
				break wait
			}
		}
	}
	cancel()
	sub.endReaders()
	if errors.Is(err, ErrSlowSubscriber) {
		// Read only now: the sender stops at cancel, so this is the last
		// sequence handed to gRPC, or lower if a Send is still completing
		// (the subscriber then drops what it gets twice).
		err = fmt.Errorf("%w: %d or more entries waiting; last sequence sent %d: resume after it",
			ErrSlowSubscriber, s.cfg.SubscriberBuffer, sub.sent.Load())
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// stillAllowed checks an open stream's caller against the directory now
// in force: its key still known, its own and valid now, and a role that
// lets it read.
func (s *service) stillAllowed(c *calltoken.Caller, audit bool) error {
	dir := s.dir()
	if dir == nil {
		return nil
	}
	member, err := c.StillAllowed(dir, s.cfg.Now())
	switch {
	case err != nil:
		return err
	case audit && !member.HasRole(directory.RoleAudit):
		return fmt.Errorf("%w: member %q no longer has the %q role: subscribe again", ErrNoRole, member.ID, directory.RoleAudit)
	case !member.HasRole(directory.RoleSubscribe) && !member.HasRole(directory.RoleAudit):
		return fmt.Errorf("%w: member %q no longer has the %q role", ErrNoRole, member.ID, directory.RoleSubscribe)
	}
	return nil
}

// send writes entries and periodic heartbeats to the stream; it is the
// only goroutine that calls stream.Send. It reads from the shared feed
// while the cursor is in the feed's window, and catches up with its own
// reader while it is not. The switch-over is at the cursor: the feed
// continues with the entry after the last one sent, so nothing is
// skipped, and what the catch-up reader read beyond it is dropped.
func (s *service) send(ctx context.Context, sub *subscription) error {
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		err := s.sendFromFeed(ctx, sub, heartbeat.C)
		if !errors.Is(err, errBehind) {
			return err
		}
		if err := s.catchUp(ctx, sub, heartbeat.C); err != nil {
			return err
		}
	}
}

// sendFromFeed sends from the shared feed until the cursor falls out of
// its window (errBehind), the feed fails or ctx is done.
func (s *service) sendFromFeed(ctx context.Context, sub *subscription, heartbeat <-chan time.Time) error {
	for {
		e, wake, err := s.feed.next(sub.sent.Load())
		if err != nil {
			return err
		}
		if e == nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wake:
			case <-heartbeat:
				if err := s.heartbeat(ctx, sub.stream); err != nil {
					return err
				}
			}
			continue
		}
		msg, err := e.prepared(sub.stream, sub.redactFor)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := sub.stream.SendMsg(msg); err != nil {
			return err
		}
		sub.markSent(e.msg.Seq)
		select {
		case <-heartbeat:
			if err := s.heartbeat(ctx, sub.stream); err != nil {
				return err
			}
		default:
		}
	}
}

// catchUp sends from a reader of the subscription's own, from the cursor
// on, until the feed can continue from the cursor (it then returns nil and
// the reader stops) or the subscription ends. The reader hands entries
// over through a queue of SubscriberBuffer entries; when it stays full
// for SlowSubscriberGrace the subscriber is cut off.
func (s *service) catchUp(ctx context.Context, sub *subscription, heartbeat <-chan time.Time) error {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	queue := make(chan bus.Message, s.cfg.SubscriberBuffer)
	after := sub.sent.Load()
	if !sub.goRead(func() { s.read(rctx, sub, after, queue) }) {
		return ctx.Err()
	}
	for {
		if s.feed.joinable(sub.sent.Load()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-queue:
			s.queued.Add(-int64(len(m.Body)))
			if s.feed.joinable(sub.sent.Load()) {
				return nil
			}
			ev, err := entryOf(m, sub.redactFor)
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := sub.stream.Send(ev); err != nil {
				return err
			}
			sub.markSent(m.Seq)
		case <-heartbeat:
			if err := s.heartbeat(ctx, sub.stream); err != nil {
				return err
			}
		}
	}
}

// read is a catch-up reader: it follows the log after after into queue
// until ctx is done; any other end is reported to deliver.
func (s *service) read(ctx context.Context, sub *subscription, after uint64, queue chan bus.Message) {
	err := s.log.Follow(ctx, after, func(m bus.Message) error {
		n := int64(len(m.Body))
		s.queued.Add(n)
		select {
		case queue <- m:
			return nil
		default:
		}
		grace := time.NewTimer(s.cfg.SlowSubscriberGrace)
		defer grace.Stop()
		select {
		case queue <- m:
			return nil
		case <-grace.C:
			s.queued.Add(-n)
			return ErrSlowSubscriber
		case <-ctx.Done():
			s.queued.Add(-n)
			return ctx.Err()
		}
	})
	// What the sender did not take is no longer held for it.
	for drained := false; !drained; {
		select {
		case m := <-queue:
			s.queued.Add(-int64(len(m.Body)))
		default:
			drained = true
		}
	}
	if err != nil && ctx.Err() == nil {
		select {
		case sub.readerErr <- err:
		default:
		}
	}
}

// heartbeat sends the log's last sequence and the hub's time.
func (s *service) heartbeat(ctx context.Context, stream headsupv1.HubService_SubscribeServer) error {
	_, last, err := s.log.Bounds(ctx)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return stream.Send(&headsupv1.SubscribeResponse{Event: &headsupv1.SubscribeResponse_Heartbeat{Heartbeat: &headsupv1.Heartbeat{
		LastSequence: last, Time: timestamppb.New(s.cfg.Now()),
	}}})
}

// runFeed runs the hub's shared subscription feed until ctx is done.
func (s *service) runFeed(ctx context.Context) error {
	s.feed.onEntry = s.metrics.logHead
	return s.feed.run(ctx, s.log, s.cfg.Logger)
}

// bufferedBytes is what the hub holds for subscribers: the feed's window
// and the catch-up queues (gRPC's own buffers and the consumers' are
// bounded per stream; see fanout.go).
func (s *service) bufferedBytes() int64 {
	return s.feed.windowBytes() + s.queued.Load()
}

// entryOf turns a stored message back into an entry: a directory version
// (headsup.directory.<serial>) or a notice. The body was written
// by Publish after verification; a body that does not parse means the
// stream was written by someone else, which the subscriber must learn.
//
// For a subscriber (redactFor, its member id) a notice whose signed
// audience excludes it becomes a redacted entry: its position and JWS,
// which the subscriber verifies itself, so that the hub cannot withhold a
// notice by calling it redacted.
func entryOf(m bus.Message, redactFor string) (*headsupv1.SubscribeResponse, error) {
	full, jws, err := decodeEntry(m)
	if err != nil || redactFor == "" || jws == "" {
		return full, err
	}
	audience, err := audienceOf(m.Seq, jws)
	if err != nil {
		return nil, err
	}
	if len(audience) > 0 && !slices.Contains(audience, redactFor) {
		return redactedOf(m, jws), nil
	}
	return full, nil
}

// decodeEntry returns the entry every reader of the whole log sees, and
// for a notice its JWS (empty for a directory version: it is for every
// member, the key state each one verifies the entries after it with).
func decodeEntry(m bus.Message) (*headsupv1.SubscribeResponse, string, error) {
	if serial, ok := bus.DirectorySerial(m.Subject); ok {
		return &headsupv1.SubscribeResponse{Event: &headsupv1.SubscribeResponse_Directory{Directory: &headsupv1.DirectoryEntry{
			Sequence: m.Seq, StoredAt: timestamppb.New(m.Stored), Serial: serial, SignedDirectory: m.Body,
		}}}, "", nil
	}
	env := &headsupv1.Envelope{}
	if err := proto.Unmarshal(m.Body, env); err != nil {
		return nil, "", fmt.Errorf("%w: sequence %d: stored body is not an envelope: %v", ErrCorruptEntry, m.Seq, err)
	}
	return &headsupv1.SubscribeResponse{Event: &headsupv1.SubscribeResponse_Entry{Entry: &headsupv1.Entry{
		Sequence: m.Seq, StoredAt: timestamppb.New(m.Stored), Envelope: env,
	}}}, env.GetJws(), nil
}

// audienceOf returns a stored notice's signed audience (empty: every
// member). It was verified when stored: reading the audience again needs
// no second verification.
func audienceOf(seq uint64, jws string) ([]string, error) {
	c, err := envelope.PeekClaims(jws)
	if err != nil {
		return nil, fmt.Errorf("%w: sequence %d: %v", ErrCorruptEntry, seq, err)
	}
	return c.Audience, nil
}

// redactedOf is a notice as a subscriber outside its audience sees it.
func redactedOf(m bus.Message, jws string) *headsupv1.SubscribeResponse {
	return &headsupv1.SubscribeResponse{Event: &headsupv1.SubscribeResponse_Redacted{Redacted: &headsupv1.RedactedEntry{
		Sequence: m.Seq, StoredAt: timestamppb.New(m.Stored), Jws: jws,
	}}}
}

// refused logs a decision: why a call was refused. Client-side mistakes are
// logged at info, the hub's own failures at error.
func (s *service) refused(call string, err error) {
	if errors.Is(err, ErrShuttingDown) {
		return
	}
	switch Code(err) {
	case codes.Internal, codes.DataLoss, codes.Unavailable:
		s.cfg.Logger.Error(call+" failed", "err", err)
	case codes.Canceled:
	default:
		s.cfg.Logger.Info(call+" refused", "code", Code(err).String(), "err", err)
	}
}
