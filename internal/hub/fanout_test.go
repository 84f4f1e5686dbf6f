package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/directory"
)

// fanOutHub is a hub's delivery path alone: the service over an embedded
// log, served on loopback, with its shared feed running. Entries are
// appended to the log directly (Publish is tested elsewhere).
type fanOutHub struct {
	svc  *service
	log  *bus.Log
	addr string
}

func startFanOutHub(t *testing.T, windowBytes int64, tweak func(*Config)) *fanOutHub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	emb, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Dir: t.TempDir(), Fsync: bus.FsyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	l, err := bus.Open(ctx, emb.Conn(), bus.LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	tweak(&cfg)
	cfg.withDefaults()
	stopping := make(chan struct{})
	svc := &service{cfg: cfg, log: l, dir: func() *directory.Directory { return nil }, logs: cfg.Logger,
		stopping: stopping, limits: newMemberLimits(cfg)}
	svc.feed.maxBytes = windowBytes
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	headsupv1.RegisterHubServiceServer(srv, svc)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(lis) }()
	go func() { defer wg.Done(); _ = svc.runFeed(ctx) }()
	t.Cleanup(func() {
		close(stopping)
		srv.Stop()
		cancel()
		wg.Wait()
		_ = l.Close()
		emb.Shutdown()
	})
	return &fanOutHub{svc: svc, log: l, addr: lis.Addr().String()}
}

// appendN appends n entries of about size bytes each and returns the last
// sequence.
func (h *fanOutHub) appendN(t *testing.T, n, size int) uint64 {
	t.Helper()
	var last uint64
	for range n {
		id, err := uuid.NewV7()
		if err != nil {
			t.Fatal(err)
		}
		body, err := proto.Marshal(&headsupv1.Envelope{Notice: make([]byte, size), Jws: "jws-" + id.String()})
		if err != nil {
			t.Fatal(err)
		}
		a, err := h.log.Append(context.Background(), "edgeshield", id.String(), body)
		if err != nil {
			t.Fatal(err)
		}
		last = a.Seq
	}
	return last
}

// dial connects with a fixed 64 KiB flow-control window (no BDP growth),
// so that the hub's sends block as soon as this client stops reading.
func (h *fanOutHub) dial(t *testing.T) headsupv1.HubServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return headsupv1.NewHubServiceClient(conn)
}

func (h *fanOutHub) waitSubscribers(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for h.svc.subscribers.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", h.svc.subscribers.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readUntil receives entries after the start event until last, checking
// that they run on from after without a gap or a repeat.
func readUntil(st headsupv1.HubService_SubscribeClient, after, last uint64) error {
	for after < last {
		ev, err := st.Recv()
		if err != nil {
			return fmt.Errorf("after %d: %w", after, err)
		}
		if e := ev.GetEntry(); e != nil {
			if e.Sequence != after+1 {
				return fmt.Errorf("entry %d after %d", e.Sequence, after)
			}
			after = e.Sequence
		}
	}
	return nil
}

func subscribeAfter(t *testing.T, ctx context.Context, c headsupv1.HubServiceClient, after uint64) headsupv1.HubService_SubscribeClient {
	t.Helper()
	st, err := c.Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: after}})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := st.Recv(); err != nil || ev.GetStart() == nil {
		t.Fatalf("start: %v %v", ev, err)
	}
	return st
}

func TestSlowSubscriberCutOffWhileOthersReceiveEverything(t *testing.T) {
	const (
		readers   = 10
		entries   = 600
		entrySize = 4 << 10
		window    = 512 << 10 // about 30 entries: far less than what is published
		buffer    = 8
	)
	h := startFanOutHub(t, window, func(c *Config) {
		c.SubscriberBuffer = buffer
		c.SlowSubscriberGrace = 300 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	slow := subscribeAfter(t, ctx, h.dial(t), 0)
	streams := make([]headsupv1.HubService_SubscribeClient, readers)
	for i := range streams {
		streams[i] = subscribeAfter(t, ctx, h.dial(t), 0)
	}
	h.waitSubscribers(t, readers+1)

	// What the hub buffers may never exceed the window plus a catch-up
	// queue per subscription, however far behind the slow one falls.
	bound := int64(window) + (readers+1)*buffer*(entrySize+64)
	var peak atomic.Int64
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), h.svc.bufferedBytes()))
			select {
			case <-stopSampling:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	errs := make(chan error, readers)
	for _, st := range streams {
		go func() { errs <- readUntil(st, 0, entries) }()
	}
	last := h.appendN(t, entries, entrySize)
	for range readers {
		if err := <-errs; err != nil {
			t.Fatalf("a reading subscriber: %v", err)
		}
	}
	// The slow subscriber's handler ends when it is cut off.
	h.waitSubscribers(t, readers)
	close(stopSampling)
	<-sampled
	if p := peak.Load(); p > bound {
		t.Errorf("the hub buffered %d bytes, over its bound of %d", p, bound)
	}
	if p := peak.Load(); p == 0 {
		t.Error("the hub never buffered anything: the test measured nothing")
	}

	// What gRPC already held arrives in order, then the cut-off naming
	// the last sequence sent, from which the subscriber resumes.
	var got uint64
	for {
		ev, err := slow.Recv()
		if err != nil {
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("slow stream ended with %v, want ResourceExhausted", err)
			}
			m := regexp.MustCompile(`last sequence sent (\d+)`).FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("cut-off %q names no last sequence", err)
			}
			named, _ := strconv.ParseUint(m[1], 10, 64)
			if named == 0 || named > got || got-named > 1 {
				t.Fatalf("cut-off names sequence %d; received up to %d", named, got)
			}
			break
		}
		if e := ev.GetEntry(); e != nil {
			if e.Sequence != got+1 {
				t.Fatalf("slow subscriber: entry %d after %d", e.Sequence, got)
			}
			got = e.Sequence
		}
	}
	if got >= last {
		t.Fatalf("the slow subscriber received all %d entries; it was never cut off", last)
	}
}

func TestCatchUpJoinsSharedFeedWithoutGapOrRepeat(t *testing.T) {
	// A window of a few entries: a subscriber from the start catches up
	// with its own reader, then joins the feed for what follows.
	h := startFanOutHub(t, 64<<10, func(*Config) {})
	before := h.appendN(t, 60, 2<<10)
	deadline := time.Now().Add(20 * time.Second)
	for h.svc.feed.tail() < before {
		if time.Now().After(deadline) {
			t.Fatalf("feed at %d, want %d", h.svc.feed.tail(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if h.svc.feed.joinable(0) {
		t.Fatal("the window still reaches back to the start; the test would not catch up")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := h.dial(t)
	tests := []struct {
		name  string
		after func(end uint64) uint64
	}{
		{"from the start", func(uint64) uint64 { return 0 }},
		{"from inside the window", func(end uint64) uint64 { return end - 2 }},
		{"from the end", func(end uint64) uint64 { return end }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := tt.after(before)
			st := subscribeAfter(t, ctx, c, after)
			done := make(chan error, 1)
			go func() { done <- readUntil(st, after, before+20) }()
			// Entries arrive while it reads: they come from the feed.
			before = h.appendN(t, 20, 2<<10)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
	// Every catch-up reader stopped at the switch-over and gave back what
	// it held.
	for h.svc.queued.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still counted in catch-up queues", h.svc.queued.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFeedStallCheck: the feed's reader is replaced only when its tail
// stayed put between two ticks while the log is longer; the log's head is
// asked only then.
func TestFeedStallCheck(t *testing.T) {
	type tick struct {
		tail, head uint64
		ok         bool // the head could be read
		stalled    bool
		asked      bool // the head was asked for
	}
	for _, tc := range []struct {
		name  string
		ticks []tick
	}{
		{"first tick only records", []tick{{tail: 5, head: 9, ok: true}}},
		{"behind and not moving", []tick{{tail: 5, head: 9, ok: true}, {tail: 5, head: 9, ok: true, stalled: true, asked: true}}},
		{"moving", []tick{{tail: 5, head: 90, ok: true}, {tail: 6, head: 90, ok: true}, {tail: 7, head: 90, ok: true}}},
		{"at the end and idle", []tick{{tail: 5, head: 5, ok: true}, {tail: 5, head: 5, ok: true, asked: true}, {tail: 5, head: 5, ok: true, asked: true}}},
		{"head unreadable", []tick{{tail: 5}, {tail: 5, asked: true}}},
		{"moves, then stops behind", []tick{{tail: 5, head: 9, ok: true}, {tail: 7, head: 9, ok: true}, {tail: 7, head: 9, ok: true, stalled: true, asked: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c stallCheck
			for i, tk := range tc.ticks {
				asked := false
				got := c.stalled(tk.tail, func() (uint64, bool) { asked = true; return tk.head, tk.ok })
				if got != tk.stalled || asked != tk.asked {
					t.Fatalf("tick %d: stalled %v asked %v, want %v %v", i, got, asked, tk.stalled, tk.asked)
				}
			}
		})
	}
}

// TestFeedWatchCancelsAStalledReader: wired to a feed that reads nothing
// while the log is longer, watch cancels the reader with errFeedStalled.
func TestFeedWatchCancelsAStalledReader(t *testing.T) {
	f := &feed{}
	f.start(10)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ticks := make(chan time.Time)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.watch(ctx, ticks, func(context.Context) (uint64, error) { return 20, nil }, cancel)
	}()
	for {
		select {
		case ticks <- time.Time{}:
			continue
		case <-done:
		}
		break
	}
	if err := context.Cause(ctx); !errors.Is(err, errFeedStalled) {
		t.Fatalf("cause %v, want errFeedStalled", err)
	}
}
