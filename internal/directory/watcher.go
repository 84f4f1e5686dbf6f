package directory

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/headsup-dev/headsup/internal/filewatch"
)

// ErrOlderSerial: a new version of the directory has a lower serial than
// the current one. A rollback could resurrect a revoked key, so it is
// refused.
var ErrOlderSerial = errors.New("directory serial lower than the current one")

const (
	// defaultPollInterval is the fallback for file systems where change
	// events never arrive (network mounts, some container volumes).
	defaultPollInterval = 5 * time.Second
)

// Watcher keeps the current directory of a file. Current is safe for
// concurrent use; reloads are serialised.
type Watcher struct {
	path         string
	logger       *slog.Logger
	pollInterval time.Duration
	noNotify     bool // tests: exercise the poll alone

	current atomic.Pointer[Directory]

	mu       sync.Mutex // guards lastHash and changed; serialises reloads
	lastHash [sha256.Size]byte
	changed  chan struct{}
}

// NewWatcher loads the directory at path; it fails when that first load
// does. A nil logger discards.
func NewWatcher(path string, logger *slog.Logger) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	d, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", path, err)
	}
	w := &Watcher{
		path:         path,
		logger:       logger,
		pollInterval: defaultPollInterval,
		lastHash:     sha256.Sum256(b),
		changed:      make(chan struct{}),
	}
	w.current.Store(d)
	return w, nil
}

// Current returns the last good directory. Never nil.
func (w *Watcher) Current() *Directory {
	return w.current.Load()
}

// Changed returns a channel that is closed when the next new directory
// is installed; call it again afterwards for the one after. Agents use it
// to verify parked notices again after a reload.
func (w *Watcher) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// Reload reads the file and installs it if it is valid and its serial is
// not lower than the current one. On any error the current directory stays,
// and the reason is logged and returned.
func (w *Watcher) Reload() error {
	return w.reload(true)
}

// reload does the work; with force false, content identical to the last
// content read (good or bad) is skipped, so a bad version is logged once,
// not on every poll.
func (w *Watcher) reload(force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := readFile(w.path)
	if err != nil {
		w.logger.Error("member directory unreadable; keeping the last good one",
			"path", w.path, "serial", w.Current().Serial, "err", err)
		return err
	}
	h := sha256.Sum256(b)
	if !force && h == w.lastHash {
		return nil
	}
	w.lastHash = h
	d, err := Parse(b)
	if err != nil {
		err = fmt.Errorf("directory %s: %w", w.path, err)
		w.logger.Error("member directory refused; keeping the last good one",
			"path", w.path, "serial", w.Current().Serial, "err", err)
		return err
	}
	cur := w.Current()
	switch {
	case d.Serial < cur.Serial:
		err := fmt.Errorf("directory %s: serial %d, current %d: %w", w.path, d.Serial, cur.Serial, ErrOlderSerial)
		w.logger.Error("member directory refused; keeping the last good one",
			"path", w.path, "serial", cur.Serial, "new_serial", d.Serial, "err", err)
		return err
	case d.Serial == cur.Serial && force && sameContent(d, cur):
		return nil
	case d.Serial == cur.Serial:
		// Every version is appended to the log under its serial, so two
		// contents under one serial are ambiguous history. Installed
		// all the same (a hand edit should take effect), but said loudly.
		w.logger.Warn("member directory changed without a new serial; bump serial on every edit",
			"path", w.path, "serial", d.Serial)
	default:
		w.logger.Info("member directory reloaded", "path", w.path,
			"serial", d.Serial, "previous_serial", cur.Serial, "members", len(d.Members))
	}
	w.current.Store(d)
	close(w.changed)
	w.changed = make(chan struct{})
	return nil
}

func sameContent(a, b *Directory) bool {
	x, err1 := Marshal(a)
	y, err2 := Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// Run watches the file until ctx is done and returns nil then. It watches
// the parent directory, not the file, because editors and config
// management replace a file by renaming a new one over it, which ends a
// watch on the old inode; and it polls every few seconds as well, for
// file systems that send no events. Reload errors are logged, never
// returned: the last good directory stays in force.
func (w *Watcher) Run(ctx context.Context) error {
	return filewatch.Run(ctx, w.path, filewatch.Options{Poll: w.pollInterval, NoNotify: w.noNotify, Logger: w.logger, What: "member directory"},
		func(bool) { _ = w.reload(false) })
}
