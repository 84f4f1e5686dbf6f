package bus

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/uuid"
)

func stampsLog(t *testing.T) *Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	e, err := StartEmbedded(ctx, EmbeddedConfig{Dir: t.TempDir(), Fsync: FsyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	l, err := Open(ctx, e.Conn(), LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// appendN appends n notices and checks each reported store time against
// the entry read back: the watcher's time is the server's store time.
func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		b := make([]byte, 300)
		_, _ = rand.Read(b)
		id, err := uuid.NewV7()
		if err != nil {
			t.Fatal(err)
		}
		a, err := l.Append(t.Context(), "edgeshield", id.String(), b)
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		m, err := l.Get(t.Context(), a.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Stored.Equal(m.Stored) || a.Stored.Location() != time.UTC || a.Duplicate {
			t.Fatalf("Append %d = %+v; the entry was stored at %v", i, a, m.Stored)
		}
	}
}

func TestStampsReportStoreTime(t *testing.T) {
	l := stampsLog(t)
	appendN(t, l, 20)
	l.stamps.mu.Lock()
	gen, running := l.stamps.gen, l.stamps.cc != nil
	var seen int
	for _, st := range l.stamps.ring {
		if st.seq != 0 {
			seen++
		}
	}
	l.stamps.mu.Unlock()
	if gen != 1 || !running || seen != 20 {
		t.Fatalf("watcher gen %d running %v saw %d entries; want one watcher that saw all 20", gen, running, seen)
	}
}

// A stamp that does not come in time stops the watcher; appends read back
// until it is started again after stampRetry, and report the same times.
func TestStampsLateStampFallsBack(t *testing.T) {
	l := stampsLog(t)
	appendN(t, l, 1)
	gen := l.stamps.ready()
	if gen == 0 {
		t.Fatal("watcher not running after an append")
	}
	const never = 1 << 40
	if _, ok := l.stamps.storedAt(t.Context(), l.stream, gen, never, "headsup.notice.x.y"); ok {
		t.Fatal("storedAt of an entry never delivered reported a time")
	}
	if g := l.stamps.ready(); g != 0 {
		t.Fatalf("watcher still running (gen %d) after missing a stamp", g)
	}
	appendN(t, l, 3) // read back: the retry pause has not passed
	if g := l.stamps.ready(); g != 0 {
		t.Fatalf("watcher restarted (gen %d) within the retry pause", g)
	}
	// After the pause the next append starts a new consumer.
	l.stamps.mu.Lock()
	l.stamps.retryAt = time.Time{}
	l.stamps.mu.Unlock()
	appendN(t, l, 3)
	if g := l.stamps.ready(); g != gen+1 {
		t.Fatalf("watcher gen %d after the retry pause, want %d", g, gen+1)
	}
	// A stamp of an earlier consumer's generation is never waited for.
	if _, ok := l.stamps.storedAt(t.Context(), l.stream, gen, 1, "headsup.notice.x.y"); ok {
		t.Fatal("storedAt for a stopped generation reported a time")
	}
}

// A subject that differs from the delivered one is not a stamp for it.
func TestStampsSubjectMustMatch(t *testing.T) {
	l := stampsLog(t)
	appendN(t, l, 1)
	gen := l.stamps.ready()
	if _, ok := l.stamps.storedAt(t.Context(), l.stream, gen, 1, "headsup.notice.other.id"); ok {
		t.Fatal("storedAt under another subject reported a time")
	}
}

func TestStampsStopReleasesWaiters(t *testing.T) {
	l := stampsLog(t)
	appendN(t, l, 1)
	gen := l.stamps.ready()
	done := make(chan bool)
	go func() {
		_, ok := l.stamps.storedAt(context.Background(), l.stream, gen, 1<<40, "headsup.notice.x.y")
		done <- ok
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.stamps.mu.Lock()
		n := len(l.stamps.waiters)
		l.stamps.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiter never registered")
		}
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if <-done {
		t.Fatal("a released waiter reported a time")
	}
	if l.stamps.ready() != 0 {
		t.Fatal("watcher running after Close")
	}
	info, err := l.stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Consumers; n != 0 {
		t.Fatalf("%d consumers left after Close", n)
	}
}
