package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// FsyncMode says when the embedded server syncs the stream to disk.
type FsyncMode int

const (
	// FsyncAlways syncs every write before it is acknowledged: an
	// acknowledged notice survives a power failure. The default.
	FsyncAlways FsyncMode = iota
	// FsyncInterval syncs every EmbeddedConfig.SyncInterval: a power failure
	// (not a process crash) loses the notices acknowledged since the last
	// sync, and the hub then refuses to start (ErrStreamLost) if its
	// persisted state had seen them.
	FsyncInterval
)

func (m FsyncMode) String() string {
	switch m {
	case FsyncAlways:
		return "always"
	case FsyncInterval:
		return "interval"
	}
	return fmt.Sprintf("FsyncMode(%d)", int(m))
}

// EmbeddedConfig configures StartEmbedded.
type EmbeddedConfig struct {
	// Dir is the hub's data directory. It is created if missing; the
	// stream lives in Dir/jetstream and the lock file is Dir/LOCK.
	Dir string
	// Fsync is FsyncAlways (default) or FsyncInterval.
	Fsync FsyncMode
	// SyncInterval applies to FsyncInterval; 0 leaves nats-server's default
	// (2 minutes).
	SyncInterval time.Duration
	// ReadyTimeout bounds the wait for the server to come up; 0 means 10 s.
	ReadyTimeout time.Duration
	// Logger receives nats-server's log lines; nil discards them.
	Logger *slog.Logger
}

// Embedded is a nats-server with JetStream running inside the hub process,
// reachable only through an in-process connection.
type Embedded struct {
	srv  *server.Server
	nc   *nats.Conn
	lock *flock.Flock
	log  *slog.Logger
	once sync.Once
}

// StartEmbedded takes an exclusive lock on cfg.Dir, starts nats-server with
// JetStream on it and connects in process. It fails with ErrLocked when
// another process holds the directory: nats-server takes no lock itself, and
// two servers on one store directory corrupt it.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded nats: Dir is empty")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	lockPath := filepath.Join(cfg.Dir, "LOCK")
	lock := flock.New(lockPath)
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("embedded nats: lock %s: %w", lockPath, err)
	}
	if !ok {
		return nil, fmt.Errorf("embedded nats: %s: %w", lockPath, ErrLocked)
	}
	fail := func(err error) (*Embedded, error) {
		_ = lock.Unlock()
		return nil, err
	}

	opts := &server.Options{
		ServerName: "headsupd-embedded",
		// NoSigs: nats-server would otherwise install its own signal
		// handlers and exit the process on SIGTERM, skipping the hub's
		// orderly shutdown.
		NoSigs: true,
		// DontListen: the only path into the stream is the hub's
		// in-process connection, so nothing bypasses verification.
		DontListen: true,
		JetStream:  true,
		StoreDir:   cfg.Dir, // nats-server adds its own "jetstream" directory
	}
	switch cfg.Fsync {
	case FsyncAlways:
		opts.SyncAlways = true
	case FsyncInterval:
		opts.SyncInterval = cfg.SyncInterval
	default:
		return fail(fmt.Errorf("embedded nats: fsync mode %v unknown", cfg.Fsync))
	}

	srv, err := server.NewServer(opts)
	if err != nil {
		return fail(fmt.Errorf("embedded nats: %w", err))
	}
	debug := logger.Enabled(ctx, slog.LevelDebug)
	srv.SetLoggerV2(&slogAdapter{l: logger.With("component", "nats-server")}, debug, false, false)
	srv.Start()

	ready := cfg.ReadyTimeout
	if ready <= 0 {
		ready = 10 * time.Second
	}
	if !srv.ReadyForConnections(ready) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fail(fmt.Errorf("embedded nats: %w: not ready after %v", ErrUnavailable, ready))
	}
	if err := ctx.Err(); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fail(err)
	}

	nc, err := nats.Connect("",
		nats.InProcessServer(srv),
		nats.Name("headsupd"),
		// No reconnect buffering: while the server is unreachable a
		// publish fails at once (Unavailable) instead of queueing a notice
		// whose outcome the caller can't learn.
		nats.ReconnectBufSize(-1),
		nats.DrainTimeout(5*time.Second),
		nats.ErrorHandler(AsyncErrorLogger(logger)),
	)
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fail(fmt.Errorf("embedded nats: connect in process: %w", err))
	}
	return &Embedded{srv: srv, nc: nc, lock: lock, log: logger}, nil
}

// AsyncErrorLogger reports a NATS connection's asynchronous errors to
// logger, where nats.go's default writes them to stderr. The one seen in
// practice is a slow consumer: an ordered consumer whose delivery channel
// was full dropped a message; it notices the gap and recreates itself from
// its last sequence, so nothing is lost, but a reader stalls while it does.
func AsyncErrorLogger(logger *slog.Logger) nats.ErrHandler {
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		logger.Warn("nats: asynchronous error", "subject", subject, "err", err)
	}
}

// Conn returns the in-process connection.
func (e *Embedded) Conn() *nats.Conn { return e.nc }

// Shutdown drains the connection, stops the server, waits for it to finish
// writing and releases the directory lock. Close every Log on Conn first.
// Calls after the first do nothing.
func (e *Embedded) Shutdown() { e.once.Do(e.shutdown) }

func (e *Embedded) shutdown() {
	closed := make(chan struct{})
	e.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := e.nc.Drain(); err != nil {
		e.nc.Close()
	}
	// Drain is asynchronous; its own timeout (DrainTimeout) bounds this.
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		e.nc.Close()
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	if err := e.lock.Unlock(); err != nil {
		e.log.Error("release data directory lock", "path", e.lock.Path(), "err", err)
	}
}

// slogAdapter routes nats-server's printf-style log into slog.
type slogAdapter struct{ l *slog.Logger }

// Noticef is nats-server's chatter (banner, start-up steps): debug, so the
// hub's own log stays readable; warnings and errors keep their level.
func (a *slogAdapter) Noticef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Tracef(format string, v ...any) {
	a.l.Log(context.Background(), slog.LevelDebug-4, fmt.Sprintf(format, v...))
}

// Fatalf is logged, not acted on: nats-server's own logger would exit the
// process, and the hub decides that itself from the server's state.
func (a *slogAdapter) Fatalf(format string, v ...any) {
	a.l.Error(fmt.Sprintf(format, v...), "fatal", true)
}
