package bus_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/nats-io/nats.go"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startEmbedded starts an embedded server on dir and shuts it down when the
// test ends (Shutdown is idempotent, so tests may also shut it down early).
func startEmbedded(t *testing.T, dir string) *bus.Embedded {
	t.Helper()
	e, err := bus.StartEmbedded(testCtx(t), bus.EmbeddedConfig{Dir: dir, Fsync: bus.FsyncAlways})
	if err != nil {
		t.Fatalf("StartEmbedded(%s): %v", dir, err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func openLog(t *testing.T, nc *nats.Conn, cfg bus.LogConfig) *bus.Log {
	t.Helper()
	l, err := bus.Open(testCtx(t), nc, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func newID(t testing.TB) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func body(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustAppend(t *testing.T, l *bus.Log, issuer, id string, b []byte) bus.Appended {
	t.Helper()
	a, err := l.Append(testCtx(t), issuer, id, b)
	if err != nil {
		t.Fatalf("Append(%s, %s): %v", issuer, id, err)
	}
	return a
}

func bounds(t *testing.T, l *bus.Log) (uint64, uint64) {
	t.Helper()
	first, last, err := l.Bounds(testCtx(t))
	if err != nil {
		t.Fatalf("Bounds: %v", err)
	}
	return first, last
}

// conflictSeq returns the sequence a *bus.ConflictError names, failing the
// test for any other error.
func conflictSeq(t *testing.T, err error) uint64 {
	t.Helper()
	var ce *bus.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("err = %v, want *ConflictError", err)
	}
	return ce.Seq
}
