package directory_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/directory"
)

// syncBuffer is a log sink the watcher's goroutine and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeAtomic replaces path by renaming a new file over it, as editors do.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func withSerial(t *testing.T, serial string) string {
	t.Helper()
	return strings.Replace(validYAML(t), "serial: 7", "serial: "+serial, 1)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // a poll step, not a wait for an event
	}
}

func newWatcher(t *testing.T) (*directory.Watcher, string, *syncBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "directory.yaml")
	writeAtomic(t, path, validYAML(t))
	logs := &syncBuffer{}
	w, err := directory.NewWatcher(path, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Current().Serial; got != 7 {
		t.Fatalf("initial serial %d, want 7", got)
	}
	return w, path, logs
}

func TestNewWatcherNeedsAGoodFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := directory.NewWatcher(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Error("NewWatcher on a missing file succeeded")
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeAtomic(t, bad, "serial: 1\nbogus: true\n")
	if _, err := directory.NewWatcher(bad, nil); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("NewWatcher on a bad file: %v", err)
	}
}

func TestWatcherReload(t *testing.T) {
	w, path, logs := newWatcher(t)
	first := w.Current()
	changed := w.Changed()

	// Unchanged content: nothing new is installed.
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if w.Current() != first {
		t.Error("Reload of identical content installed a new directory")
	}

	// A good edit.
	writeAtomic(t, path, withSerial(t, "8"))
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := w.Current().Serial; got != 8 {
		t.Fatalf("serial after good reload %d, want 8", got)
	}
	select {
	case <-changed:
	default:
		t.Error("Changed() not closed after a reload")
	}
	good := w.Current()

	// A bad edit keeps the last good directory and says why.
	writeAtomic(t, path, strings.Replace(withSerial(t, "9"), "use: notice", "use: nonsense", 1))
	err := w.Reload()
	if err == nil || !strings.Contains(err.Error(), `"nonsense" is not a key use`) {
		t.Fatalf("Reload of a bad edit: %v", err)
	}
	if w.Current() != good {
		t.Error("a bad edit replaced the directory")
	}
	if !strings.Contains(logs.String(), "nonsense") {
		t.Errorf("the refusal was not logged with its reason:\n%s", logs)
	}

	// A lower serial is a rollback.
	writeAtomic(t, path, withSerial(t, "3"))
	if err := w.Reload(); !errors.Is(err, directory.ErrOlderSerial) {
		t.Fatalf("Reload of a lower serial: %v, want ErrOlderSerial", err)
	}
	if w.Current() != good {
		t.Error("a lower serial replaced the directory")
	}

	// A missing file keeps the last good one too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); err == nil {
		t.Error("Reload of a missing file succeeded")
	}
	if w.Current() != good {
		t.Error("a missing file replaced the directory")
	}
}

func TestWatcherRun(t *testing.T) {
	w, path, logs := newWatcher(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	})

	writeAtomic(t, path, withSerial(t, "8"))
	eventually(t, "serial 8 to be loaded", func() bool { return w.Current().Serial == 8 })
	good := w.Current()

	writeAtomic(t, path, withSerial(t, "9")+"  - nonsense\n")
	eventually(t, "the bad edit to be refused", func() bool { return strings.Contains(logs.String(), "member directory refused") })
	if w.Current() != good {
		t.Error("a bad edit replaced the directory")
	}

	writeAtomic(t, path, withSerial(t, "2"))
	eventually(t, "the lower serial to be refused", func() bool { return strings.Contains(logs.String(), "new_serial=2") })
	if w.Current() != good {
		t.Error("a lower serial replaced the directory")
	}

	// An in-place write (no rename) is seen as well.
	if err := os.WriteFile(path, []byte(withSerial(t, "10")), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "serial 10 to be loaded", func() bool { return w.Current().Serial == 10 })
}

// TestWatcherPoll covers file systems without change events: the poll
// alone must pick up an edit.
func TestWatcherPoll(t *testing.T) {
	w, path, _ := newWatcher(t)
	directory.SetPollOnly(w, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	writeAtomic(t, path, withSerial(t, "11"))
	eventually(t, "serial 11 to be loaded", func() bool { return w.Current().Serial == 11 })
}
