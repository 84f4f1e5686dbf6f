package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// syncBuffer is a bytes.Buffer safe for the server's logging goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEmbeddedOpenAndLock(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	ctx := testCtx(t)
	e, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{
		Dir:    dir,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	if !strings.Contains(logs.String(), "nats-server") {
		t.Errorf("nats-server log not routed into slog; got %q", logs.String())
	}

	l := openLog(t, e.Conn(), bus.LogConfig{StateDir: dir})
	if !strings.HasPrefix(l.ID(), bus.StreamName+"@") {
		t.Errorf("ID() = %q, want %s@<created>", l.ID(), bus.StreamName)
	}
	if err := l.CheckID(l.ID()); err != nil {
		t.Errorf("CheckID(own id): %v", err)
	}
	if err := l.CheckID(bus.StreamName + "@2001-01-01T00:00:00Z"); !errors.Is(err, bus.ErrLogMismatch) {
		t.Errorf("CheckID(other) = %v, want ErrLogMismatch", err)
	}
	js, err := jetstream.New(e.Conn())
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, bus.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Storage != jetstream.FileStorage || !cfg.DenyDelete || !cfg.DenyPurge || cfg.AllowDirect ||
		cfg.MaxMsgsPerSubject != 1 || !cfg.DiscardNewPerSubject || cfg.Discard != jetstream.DiscardNew {
		t.Errorf("created stream config = %+v", cfg)
	}
	if first, last := bounds(t, l); first != 0 || last != 0 {
		t.Errorf("Bounds of empty log = %d, %d, want 0, 0", first, last)
	}

	_, err = bus.StartEmbedded(ctx, bus.EmbeddedConfig{Dir: dir})
	if !errors.Is(err, bus.ErrLocked) || !strings.Contains(err.Error(), filepath.Join(dir, "LOCK")) {
		t.Fatalf("second StartEmbedded = %v, want ErrLocked naming the lock file", err)
	}
}

func TestAppend(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	l := openLog(t, e.Conn(), bus.LogConfig{})
	ctx := testCtx(t)

	ids := make([]string, 5)
	bodies := make([][]byte, 5)
	var stored []time.Time
	for i := range ids {
		ids[i], bodies[i] = newID(t), body(t, 1000)
		a := mustAppend(t, l, "edgeshield", ids[i], bodies[i])
		if a.Seq != uint64(i+1) || a.Duplicate {
			t.Fatalf("append %d = %+v, want Seq %d, not duplicate", i, a, i+1)
		}
		stored = append(stored, a.Stored)
	}

	// A retry of the identical body: the original sequence and store time.
	a, err := l.Append(ctx, "edgeshield", ids[2], bodies[2])
	if err != nil || a.Seq != 3 || !a.Duplicate || !a.Stored.Equal(stored[2]) {
		t.Fatalf("retry = %+v, %v; want Seq 3, Duplicate, Stored %v", a, err, stored[2])
	}

	// Other bytes under a stored (issuer, id): conflict, nothing stored.
	_, err = l.Append(ctx, "edgeshield", ids[1], body(t, 1000))
	if got := conflictSeq(t, err); got != 2 {
		t.Fatalf("conflict names sequence %d, want 2", got)
	}
	if first, last := bounds(t, l); first != 1 || last != 5 {
		t.Fatalf("Bounds after conflict = %d, %d, want 1, 5", first, last)
	}

	// Same id, another issuer: another notice.
	if a := mustAppend(t, l, "voxhost", ids[1], body(t, 1000)); a.Seq != 6 || a.Duplicate {
		t.Fatalf("append under other issuer = %+v, want Seq 6", a)
	}
	// Bytes already stored under another subject are never reported as
	// stored under this one.
	if a, err := l.Append(ctx, "voxhost", ids[2], bodies[2]); err == nil {
		t.Fatalf("append of another subject's body = %+v, want error", a)
	}

	m, err := l.Get(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantSubj, _ := bus.Subject("edgeshield", ids[2])
	if m.Seq != 3 || m.Subject != wantSubj || !bytes.Equal(m.Body, bodies[2]) || !m.Stored.Equal(stored[2]) {
		t.Fatalf("Get(3) = %+v", m)
	}
	if _, err := l.Get(ctx, 99); !errors.Is(err, bus.ErrOutOfRange) {
		t.Fatalf("Get(99) = %v, want ErrOutOfRange", err)
	}
	if _, err := l.Append(ctx, "Edge", ids[0], bodies[0]); !errors.Is(err, bus.ErrInvalidSubject) {
		t.Fatalf("Append with bad issuer = %v, want ErrInvalidSubject", err)
	}
}

// TestAppendReadBackPath shows that a retry is recognised without
// JetStream's deduplication window: the entry is written without a
// Nats-Msg-Id, as if the window had long passed, so only the per-subject
// check refuses the retry and the read-back must find the identical body.
func TestAppendReadBackPath(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	l := openLog(t, e.Conn(), bus.LogConfig{})
	testReadBackPath(t, e.Conn(), l)
}

func testReadBackPath(t *testing.T, nc *nats.Conn, l *bus.Log) {
	t.Helper()
	ctx := testCtx(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_, before := bounds(t, l)
	id, b := newID(t), body(t, 500)
	subj, _ := bus.Subject("edgeshield", id)
	ack, err := js.Publish(ctx, subj, b)
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Append(ctx, "edgeshield", id, b)
	if err != nil || a.Seq != ack.Sequence || !a.Duplicate {
		t.Fatalf("Append after the dedup window = %+v, %v; want Seq %d, Duplicate", a, err, ack.Sequence)
	}
	_, err = l.Append(ctx, "edgeshield", id, body(t, 500))
	if got := conflictSeq(t, err); got != ack.Sequence {
		t.Fatalf("conflict names %d, want %d", got, ack.Sequence)
	}
	if _, last := bounds(t, l); last != before+1 {
		t.Fatalf("last = %d, want %d", last, before+1)
	}
}

// TestAppendDedupWindowExpired lets a tiny deduplication window pass: the
// retry must still return the original sequence.
func TestAppendDedupWindowExpired(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	ctx := testCtx(t)
	js, err := jetstream.New(e.Conn())
	if err != nil {
		t.Fatal(err)
	}
	cfg := bus.RequiredStreamConfig(bus.LogConfig{})
	cfg.Duplicates = 100 * time.Millisecond
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, e.Conn(), bus.LogConfig{})
	id, b := newID(t), body(t, 200)
	first := mustAppend(t, l, "edgeshield", id, b)
	// Poll until the window has surely passed by the server's own clock:
	// a message with a probe id is deduplicated only while it lasts.
	probe := nats.NewMsg("headsup.directory.probe")
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		probe.Subject = fmt.Sprintf("headsup.directory.probe%d", i)
		ack, err := js.PublishMsg(ctx, probe, jetstream.WithMsgID("probe"))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && !ack.Duplicate {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deduplication window never expired")
		}
	}
	a, err := l.Append(ctx, "edgeshield", id, b)
	if err != nil || a.Seq != first.Seq || !a.Duplicate || !a.Stored.Equal(first.Stored) {
		t.Fatalf("retry after window = %+v, %v; want %+v as duplicate", a, err, first)
	}
}

func TestAppendRace(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	l := openLog(t, e.Conn(), bus.LogConfig{})
	testAppendRace(t, l)
}

// testAppendRace races many appends of one (issuer, id): first with
// different bodies (exactly one stored, every other a conflict naming it),
// then with one body (all get the same sequence, one not a duplicate).
func testAppendRace(t *testing.T, l *bus.Log) {
	t.Helper()
	const n = 16
	ctx := testCtx(t)
	_, before := bounds(t, l)

	race := func(id string, bodyFor func(i int) []byte) ([]bus.Appended, []error) {
		out := make([]bus.Appended, n)
		errs := make([]error, n)
		bodies := make([][]byte, n)
		for i := range bodies {
			bodies[i] = bodyFor(i)
		}
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range n {
			wg.Go(func() {
				start.Wait()
				out[i], errs[i] = l.Append(ctx, "edgeshield", id, bodies[i])
			})
		}
		start.Done()
		wg.Wait()
		return out, errs
	}

	out, errs := race(newID(t), func(int) []byte { return body(t, 300) })
	var winner uint64
	for i, err := range errs {
		if err == nil {
			if winner != 0 || out[i].Duplicate {
				t.Fatalf("second success or duplicate among different bodies: %+v", out)
			}
			winner = out[i].Seq
		}
	}
	if winner == 0 {
		t.Fatalf("no append won: %v", errs)
	}
	for _, err := range errs {
		if err != nil {
			if got := conflictSeq(t, err); got != winner {
				t.Fatalf("conflict names %d, want winner %d", got, winner)
			}
		}
	}

	same := body(t, 300)
	out, errs = race(newID(t), func(int) []byte { return same })
	fresh := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("identical racing append %d: %v", i, err)
		}
		if out[i].Seq != out[0].Seq {
			t.Fatalf("identical appends got sequences %d and %d", out[0].Seq, out[i].Seq)
		}
		if !out[i].Duplicate {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d identical appends reported as new, want 1", fresh)
	}
	if _, last := bounds(t, l); last != before+2 {
		t.Fatalf("last = %d after two races from %d, want %d", last, before, before+2)
	}
}

func TestAppendUnavailable(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	openLog(t, e.Conn(), bus.LogConfig{})
	nc, err := nats.Connect("", nats.InProcessServer(e.Server()), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, nc, bus.LogConfig{})
	nc.Close()
	_, err = l.Append(testCtx(t), "edgeshield", newID(t), body(t, 10))
	if !errors.Is(err, bus.ErrUnavailable) {
		t.Fatalf("Append on closed connection = %v, want ErrUnavailable", err)
	}
	if _, _, err := l.Bounds(testCtx(t)); !errors.Is(err, bus.ErrUnavailable) {
		t.Fatalf("Bounds on closed connection = %v, want ErrUnavailable", err)
	}
}

func TestAppendDeadline(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	l := openLog(t, e.Conn(), bus.LogConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := l.Append(ctx, "edgeshield", newID(t), body(t, 10))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with done context = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = l.Append(ctx, "edgeshield", newID(t), body(t, 10))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append past deadline = %v, want context.DeadlineExceeded", err)
	}
}

func TestOpenRefusesStreamConfig(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	ctx := testCtx(t)
	js, err := jetstream.New(e.Conn())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*jetstream.StreamConfig)
		fields []string
	}{
		{"direct reads", func(c *jetstream.StreamConfig) { c.AllowDirect = true }, []string{"allow_direct want false got true"}},
		{"many per subject", func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = -1; c.DiscardNewPerSubject = false },
			[]string{"max_msgs_per_subject want 1 got -1", "discard_new_per_subject want true got false"}},
		{"memory", func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }, []string{"storage want"}},
		{"deletable", func(c *jetstream.StreamConfig) { c.DenyDelete, c.DenyPurge = false, false },
			[]string{"deny_delete want true got false", "deny_purge want true got false"}},
		{"rollup", func(c *jetstream.StreamConfig) { c.AllowRollup, c.DenyPurge = true, false },
			[]string{"allow_rollup_hdrs want false got true", "deny_purge"}},
		{"ttl", func(c *jetstream.StreamConfig) { c.AllowMsgTTL = true; c.SubjectDeleteMarkerTTL = time.Minute },
			[]string{"allow_msg_ttl", "subject_delete_marker_ttl"}},
		{"schedules", func(c *jetstream.StreamConfig) {
			c.AllowMsgSchedules, c.Discard, c.DiscardNewPerSubject = true, jetstream.DiscardOld, false
		}, []string{"allow_msg_schedules want false got true", "discard want"}},
		{"age limit", func(c *jetstream.StreamConfig) { c.MaxAge = time.Hour }, []string{"max_age want 0s got 1h0m0s"}},
		{"small messages", func(c *jetstream.StreamConfig) { c.MaxMsgSize = 1024 }, []string{"max_msg_size"}},
		{"subjects", func(c *jetstream.StreamConfig) { c.Subjects = []string{"headsup.>"} }, []string{"subjects want"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := bus.RequiredStreamConfig(bus.LogConfig{})
			tt.change(&cfg)
			if _, err := js.CreateStream(ctx, cfg); err != nil {
				t.Fatalf("create look-alike stream: %v", err)
			}
			t.Cleanup(func() {
				if err := js.DeleteStream(context.Background(), bus.StreamName); err != nil {
					t.Errorf("delete stream: %v", err)
				}
			})
			l, err := bus.Open(ctx, e.Conn(), bus.LogConfig{})
			if err == nil {
				l.Close()
				t.Fatal("Open accepted a stream with other settings")
			}
			if !errors.Is(err, bus.ErrStreamConfig) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Open = %v, want one-line ErrStreamConfig", err)
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %q", err, f)
				}
			}
		})
	}
}

func TestOpenStreamLost(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	ctx := testCtx(t)
	js, err := jetstream.New(e.Conn())
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	l, err := bus.Open(ctx, e.Conn(), bus.LogConfig{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustAppend(t, l, "edgeshield", newID(t), body(t, 10))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stateBytes, err := os.ReadFile(filepath.Join(state, bus.StateFile))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("shorter", func(t *testing.T) {
		shorter := t.TempDir()
		st := strings.Replace(string(stateBytes), `"high_seq":3`, `"high_seq":4`, 1)
		if st == string(stateBytes) {
			t.Fatalf("state %s does not record high_seq 3", stateBytes)
		}
		if err := os.WriteFile(filepath.Join(shorter, bus.StateFile), []byte(st), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := bus.Open(ctx, e.Conn(), bus.LogConfig{StateDir: shorter})
		if !errors.Is(err, bus.ErrStreamLost) || !strings.Contains(err.Error(), "ends at sequence 3") {
			t.Fatalf("Open on shorter stream = %v, want ErrStreamLost", err)
		}
	})

	if err := js.DeleteStream(ctx, bus.StreamName); err != nil {
		t.Fatal(err)
	}
	_, err = bus.Open(ctx, e.Conn(), bus.LogConfig{StateDir: state})
	if !errors.Is(err, bus.ErrStreamLost) {
		t.Fatalf("Open with state and no stream = %v, want ErrStreamLost", err)
	}
	if _, err := js.Stream(ctx, bus.StreamName); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("Open recreated the stream: %v", err)
	}

	// A stream recreated by someone else is another log.
	if _, err := js.CreateStream(ctx, bus.RequiredStreamConfig(bus.LogConfig{})); err != nil {
		t.Fatal(err)
	}
	_, err = bus.Open(ctx, e.Conn(), bus.LogConfig{StateDir: state})
	if !errors.Is(err, bus.ErrStreamLost) {
		t.Fatalf("Open with state and recreated stream = %v, want ErrStreamLost", err)
	}
}

func TestRestart(t *testing.T) {
	for _, mode := range []bus.FsyncMode{bus.FsyncAlways, bus.FsyncInterval} {
		t.Run(mode.String(), func(t *testing.T) { testRestart(t, mode) })
	}
}

// testRestart shuts the hub down and starts it again on the same directory:
// the lock was released, the log id is the same and sequences continue.
func testRestart(t *testing.T, mode bus.FsyncMode) {
	dir := t.TempDir()
	e, err := bus.StartEmbedded(testCtx(t), bus.EmbeddedConfig{Dir: dir, Fsync: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	l, err := bus.Open(testCtx(t), e.Conn(), bus.LogConfig{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id := l.ID()
	for range 3 {
		mustAppend(t, l, "edgeshield", newID(t), body(t, 10))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	e.Shutdown()

	e = startEmbedded(t, dir)
	l = openLog(t, e.Conn(), bus.LogConfig{StateDir: dir})
	if l.ID() != id {
		t.Fatalf("log id after restart = %s, want %s", l.ID(), id)
	}
	if a := mustAppend(t, l, "edgeshield", newID(t), body(t, 10)); a.Seq != 4 {
		t.Fatalf("first append after restart = %d, want 4", a.Seq)
	}
}

func TestFollow(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	l := openLog(t, e.Conn(), bus.LogConfig{})
	ctx := testCtx(t)

	// An empty log: Follow(0) waits for the first entry.
	var bodies [][]byte
	appendN := func(n int) {
		for range n {
			b := body(t, 100)
			bodies = append(bodies, b)
			mustAppend(t, l, "edgeshield", newID(t), b)
		}
	}

	errStop := errors.New("stop")
	follow := func(after uint64, until uint64, whileFollowing func()) []bus.Message {
		t.Helper()
		var got []bus.Message
		var once sync.Once
		err := l.Follow(ctx, after, func(m bus.Message) error {
			got = append(got, m)
			if whileFollowing != nil {
				once.Do(whileFollowing)
			}
			if m.Seq == until {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("Follow(%d) = %v, want the callback's error", after, err)
		}
		for i, m := range got {
			if m.Seq != after+uint64(i)+1 || !bytes.Equal(m.Body, bodies[m.Seq-1]) || m.Stored.IsZero() ||
				!strings.HasPrefix(m.Subject, bus.SubjectPrefix+"edgeshield.") {
				t.Fatalf("Follow(%d) entry %d = %+v", after, i, m)
			}
		}
		return got
	}

	// Consumers before any follower: the appends' store-time watcher.
	js, err := jetstream.New(e.Conn())
	if err != nil {
		t.Fatal(err)
	}
	consumers := func() int {
		t.Helper()
		s, err := js.Stream(ctx, bus.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().State.Consumers
	}
	appendN(5)
	watchers := consumers()
	if got := follow(0, 5, nil); len(got) != 5 {
		t.Fatalf("Follow(0) gave %d entries, want 5", len(got))
	}
	if got := follow(3, 5, nil); len(got) != 2 {
		t.Fatalf("Follow(3) gave %d entries, want 2", len(got))
	}
	// Live: entries appended while following arrive in order.
	if got := follow(4, 8, func() { appendN(3) }); len(got) != 4 {
		t.Fatalf("live Follow(4) gave %d entries, want 4", len(got))
	}

	err = l.Follow(ctx, 9, func(bus.Message) error { return nil })
	if !errors.Is(err, bus.ErrOutOfRange) || !strings.Contains(err.Error(), "last sequence 8") {
		t.Fatalf("Follow(9) = %v, want ErrOutOfRange naming last sequence 8", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Follow(cctx, 8, func(bus.Message) error { return nil }) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow after cancel = %v, want context.Canceled", err)
	}

	// Finished followers leave no consumer behind.
	if n := consumers(); n != watchers {
		t.Fatalf("%d consumers left after Follow returned, %d before any follower", n-watchers, watchers)
	}
}

func TestSeqForTime(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	l := openLog(t, e.Conn(), bus.LogConfig{})
	ctx := testCtx(t)

	if seq, err := l.SeqForTime(ctx, time.Now()); err != nil || seq != 0 {
		t.Fatalf("SeqForTime on empty log = %d, %v; want 0", seq, err)
	}
	var stored []time.Time
	for range 4 {
		stored = append(stored, mustAppend(t, l, "edgeshield", newID(t), body(t, 10)).Stored)
	}
	tests := []struct {
		at   time.Time
		want uint64
	}{
		{stored[0].Add(-time.Hour), 0},
		{stored[0], 0},
		{stored[3].Add(time.Hour), 4},
	}
	// Sequences with strictly later store times than their predecessor
	// have a sharp boundary at their own time.
	for i := 1; i < len(stored); i++ {
		if stored[i].After(stored[i-1]) {
			tests = append(tests, struct {
				at   time.Time
				want uint64
			}{stored[i], uint64(i)})
		}
	}
	for _, tt := range tests {
		got, err := l.SeqForTime(ctx, tt.at)
		if err != nil || got != tt.want {
			t.Errorf("SeqForTime(%v) = %d, %v; want %d", tt.at, got, err, tt.want)
		}
	}
}
