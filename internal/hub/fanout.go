package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
)

// Fan-out: one shared reader per hub, the feed, follows the log and keeps
// a window of the most recent entries in memory. Every subscription whose
// cursor lies in the window reads from it, so an entry is read from
// JetStream once, decoded once and encoded once per variant (full or
// redacted, each only when some subscriber needs it) however many
// subscribers receive it. A subscription whose cursor lies before the
// window catches up with its own bounded reader and joins the feed as
// soon as its cursor enters the window (see service.send).
//
// Memory: the window holds at most feedWindowBytes (each entry counted at
// four times its body: the body, its decoded envelope and the two encoded
// variants); a subscription holds no copy of it, only a cursor. A
// subscription catching up holds at most SubscriberBuffer entries in its
// queue plus bus.FollowMaxBytes in its consumer. Beyond the hub's buffers,
// gRPC holds per stream at most one flow-control window (64 KiB) and its
// write quota (64 KiB) of sent data. So the hub's delivery memory is at most
// feedWindowBytes + catching-up subscriptions × (SubscriberBuffer × 80 KiB
// + FollowMaxBytes) + all subscriptions × 128 KiB, whatever they read.

// feedWindowBytes bounds the feed's window (see above).
const feedWindowBytes = 32 << 20

// feedPreload is how far before the last entry the feed starts, so that
// subscribers resuming after a hub restart (or a connection-age cycle)
// near the end of the log join it at once.
const feedPreload = 1024

// feedRetry is the pause before the feed reopens its reader after an error.
const feedRetry = time.Second

// entryOverhead is what a window entry costs beyond its body's copies.
const entryOverhead = 512

// errBehind says that a cursor is not in the feed's window (or the feed
// does not run): the subscription catches up with its own reader.
var errBehind = errors.New("cursor outside the shared feed's window")

// feed is the hub's shared reader and its window of recent entries.
// The zero value is a feed that does not run: every cursor is errBehind.
type feed struct {
	mu       sync.Mutex
	running  bool
	base     uint64       // the sequence before entries[0]
	entries  []*feedEntry // sequences base+1 … base+len(entries)
	bytes    int64        // what the entries count for (feedEntry.size)
	maxBytes int64        // 0: feedWindowBytes
	// err is why the reader stopped at the tail; a subscription that
	// reaches the tail ends with it. Cleared when an entry arrives.
	err error
	// wake is closed (and replaced) whenever an entry arrives or err is
	// set, waking every subscription waiting at the tail.
	wake chan struct{}
	// onEntry, when set before run, learns every sequence the feed reads
	// (the metrics' view of the log's head, for subscriber lag).
	onEntry func(seq uint64)
}

// run follows the log from shortly before its end until ctx is done,
// adding every entry to the window; after an error it tells waiting
// subscriptions, pauses and resumes from its tail. It returns nil when ctx
// is done, so that it can live in the hub's errgroup.
func (f *feed) run(ctx context.Context, l *bus.Log, logger *slog.Logger) error {
	for {
		err := f.follow(ctx, l)
		if ctx.Err() != nil {
			return nil
		}
		logger.Error("shared subscription feed stopped; retrying", "err", err, "retry_in", feedRetry)
		f.fail(err)
		t := time.NewTimer(feedRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (f *feed) follow(ctx context.Context, l *bus.Log) error {
	first, last, err := l.Bounds(ctx)
	if err != nil {
		return err
	}
	after := last - min(last, feedPreload)
	if first > 0 {
		after = max(after, first-1)
	}
	after = f.start(after)
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.NewTicker(feedStall)
	defer stall.Stop()
	go f.watch(fctx, stall.C, func(ctx context.Context) (uint64, error) {
		_, last, err := l.Bounds(ctx)
		return last, err
	}, cancel)
	err = l.Follow(fctx, after, func(m bus.Message) error {
		f.add(&feedEntry{msg: m, size: 4*int64(len(m.Body)) + entryOverhead})
		if f.onEntry != nil {
			f.onEntry(m.Seq)
		}
		return nil
	})
	if cause := context.Cause(fctx); ctx.Err() == nil && errors.Is(cause, errFeedStalled) {
		return cause
	}
	return err
}

// errFeedStalled: the log grew but the feed's reader delivered nothing.
var errFeedStalled = errors.New("shared feed stalled")

// feedStall is how long the feed may read nothing while the log holds
// newer entries before its reader is replaced. A JetStream ordered
// consumer that lost its server normally resets itself; one that does not
// must not freeze every subscriber of the hub behind it.
const feedStall = 5 * time.Second

// watch cancels the feed's reader (with errFeedStalled) once its tail has
// not moved between two ticks while head says the log is longer.
func (f *feed) watch(ctx context.Context, ticks <-chan time.Time, head func(context.Context) (uint64, error), cancel context.CancelCauseFunc) {
	var c stallCheck
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		tail := f.tail()
		if c.stalled(tail, func() (uint64, bool) {
			h, err := head(ctx)
			return h, err == nil
		}) {
			cancel(fmt.Errorf("%w: it read up to %d, the log holds more; reopening it", errFeedStalled, tail))
			return
		}
	}
}

// stallCheck remembers the feed's tail at the previous tick.
type stallCheck struct {
	seen bool
	last uint64
}

// stalled reports, at a tick, whether the tail stayed where it was at the
// previous tick while the log's head (asked only then; ok false when it
// could not be read) is beyond it.
func (c *stallCheck) stalled(tail uint64, head func() (uint64, bool)) bool {
	if !c.seen || tail != c.last {
		c.seen, c.last = true, tail
		return false
	}
	h, ok := head()
	return ok && h > tail
}

// start makes the feed run from after, or, when it ran before, from its
// tail again, and forgets the error that stopped it; it returns where the
// reader resumes.
func (f *feed) start(after uint64) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		f.running, f.base, f.wake = true, after, make(chan struct{})
	}
	f.err = nil
	return f.base + uint64(len(f.entries))
}

// add appends e (the next sequence) and evicts the oldest entries beyond
// the window's bound; the newest entry always stays.
func (f *feed) add(e *feedEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, e)
	f.bytes += e.size
	limit := f.maxBytes
	if limit == 0 {
		limit = feedWindowBytes
	}
	for f.bytes > limit && len(f.entries) > 1 {
		f.bytes -= f.entries[0].size
		f.entries[0] = nil // the array's front is freed when append moves it
		f.entries = f.entries[1:]
		f.base++
	}
	f.err = nil
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *feed) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		return
	}
	f.err = err
	close(f.wake)
	f.wake = make(chan struct{})
}

// next returns what follows cursor: the entry after it when the window
// holds it; otherwise, at (or before) the tail, a channel closed when
// something arrives, or the error that stopped the reader. A cursor
// before the window, or any cursor while the feed does not run, is
// errBehind. A cursor beyond the tail waits: the feed reads every entry in
// order, and the subscription skips those at or below its cursor.
func (f *feed) next(cursor uint64) (*feedEntry, <-chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running || cursor < f.base {
		return nil, nil, errBehind
	}
	if i := cursor - f.base; i < uint64(len(f.entries)) {
		return f.entries[i], nil, nil
	}
	if f.err != nil {
		return nil, nil, f.err
	}
	return nil, f.wake, nil
}

// joinable reports whether a subscription at cursor can read from the
// feed.
func (f *feed) joinable(cursor uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running && cursor >= f.base
}

// tail is the last sequence the feed read (0 when it does not run).
func (f *feed) tail() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.base + uint64(len(f.entries))
}

// windowBytes is what the window's entries count for.
func (f *feed) windowBytes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes
}

// feedEntry is one log entry as the feed holds it: the stored message,
// decoded once and encoded once per variant on first need. An entry may
// outlive its place in the window while a subscription still sends it.
type feedEntry struct {
	msg  bus.Message
	size int64

	decodeOnce sync.Once
	full       *headsupv1.SubscribeResponse
	jws        string // the notice's JWS; empty for a directory version
	decodeErr  error

	audienceOnce sync.Once
	audience     []string // the signed audience; empty means every member
	audienceErr  error

	fullOnce    sync.Once
	fullMsg     *grpc.PreparedMsg
	fullErr     error
	redactOnce  sync.Once
	redactedMsg *grpc.PreparedMsg
	redactedErr error
}

// prepared returns the entry encoded as the subscriber redactFor sees it
// (see entryOf), encoding that variant on first use with the codec of
// stream. Every stream shares the proto codec and the hub registers no
// compressor, so what one stream encoded every stream can send.
func (e *feedEntry) prepared(stream grpc.ServerStream, redactFor string) (*grpc.PreparedMsg, error) {
	e.decodeOnce.Do(func() { e.full, e.jws, e.decodeErr = decodeEntry(e.msg) })
	if e.decodeErr != nil {
		return nil, e.decodeErr
	}
	if redactFor != "" && e.jws != "" {
		e.audienceOnce.Do(func() { e.audience, e.audienceErr = audienceOf(e.msg.Seq, e.jws) })
		if e.audienceErr != nil {
			return nil, e.audienceErr
		}
		if len(e.audience) > 0 && !slices.Contains(e.audience, redactFor) {
			e.redactOnce.Do(func() {
				e.redactedMsg = &grpc.PreparedMsg{}
				e.redactedErr = e.redactedMsg.Encode(stream, redactedOf(e.msg, e.jws))
			})
			return e.redactedMsg, e.redactedErr
		}
	}
	e.fullOnce.Do(func() {
		e.fullMsg = &grpc.PreparedMsg{}
		e.fullErr = e.fullMsg.Encode(stream, e.full)
	})
	return e.fullMsg, e.fullErr
}
