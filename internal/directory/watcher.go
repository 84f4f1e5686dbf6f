package directory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

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
	// verifier, when set, is the pinned governance key every version
	// must be signed by; nil is the unsigned mode.
	verifier note.Verifier

	current atomic.Pointer[Directory]

	mu       sync.Mutex // guards lastHash and changed; serialises reloads
	lastHash [sha256.Size]byte
	changed  chan struct{}
}

// WatcherOption configures NewWatcher.
type WatcherOption func(*watcherOptions)

type watcherOptions struct {
	vkey    string
	withKey bool
}

// WithVerifier pins the federation's governance verifier key
// ("name+hash+base64"): the file must then be a signed directory (see
// Sign), and every version, the first included, is refused unless signed
// by that key (ErrUnsigned, ErrBadSignature), older than the current one
// (ErrOlderSerial) or, under the current serial, different from it
// (ErrSerialReused). Production must pin a key: without one the file is
// plain YAML that anyone who can write it can change. An empty or
// malformed vkey makes NewWatcher fail rather than fall back to no check.
func WithVerifier(vkey string) WatcherOption {
	return func(o *watcherOptions) {
		o.vkey = vkey
		o.withKey = true
	}
}

// NewWatcher loads the directory at path; it fails when that first load
// does. A nil logger discards. Without WithVerifier the file is unsigned
// YAML (development, tests).
func NewWatcher(path string, logger *slog.Logger, opts ...WatcherOption) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o watcherOptions
	for _, opt := range opts {
		opt(&o)
	}
	w := &Watcher{
		path:         path,
		logger:       logger,
		pollInterval: defaultPollInterval,
		changed:      make(chan struct{}),
	}
	if o.withKey {
		v, err := newVerifier(o.vkey)
		if err != nil {
			return nil, err
		}
		w.verifier = v
	}
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	d, err := w.decode(b)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", path, err)
	}
	w.lastHash = sha256.Sum256(b)
	w.current.Store(d)
	return w, nil
}

// decode parses one version of the file: a signed directory when a
// verifier is pinned, plain YAML otherwise.
func (w *Watcher) decode(b []byte) (*Directory, error) {
	if w.verifier == nil {
		return Parse(b)
	}
	return open(b, w.verifier)
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

// Reload reads the file and installs it if it is valid (and, with a pinned
// verifier, signed by it) and its serial is not lower than the current one. On any error the current directory stays,
// and the reason is logged and returned.
func (w *Watcher) Reload() error {
	return w.reload(true)
}

// Refresh reads the file now and installs a new valid version, as the
// watch would a moment later; content identical to the last read costs a
// read and a hash. A verifier that meets a key it does not know calls it
// before refusing, so that a version written an instant ago (a newcomer
// pasting the quickstart) is not refused for the watch's delay.
func (w *Watcher) Refresh() error {
	return w.reload(false)
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
	d, err := w.decode(b)
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
	case d.Serial == cur.Serial && w.verifier != nil:
		if bytes.Equal(d.text, cur.text) {
			// The same version, perhaps with other cosignatures.
			return nil
		}
		err := fmt.Errorf("directory %s: serial %d: content differs from the installed version: %w", w.path, d.Serial, ErrSerialReused)
		w.logger.Error("member directory refused; keeping the last good one",
			"path", w.path, "serial", cur.Serial, "err", err)
		return err
	case d.Serial == cur.Serial && force && sameContent(d, cur):
		return nil
	case d.Serial == cur.Serial:
		// Every version is appended to the log under its serial, so two
		// contents under one serial are ambiguous history. Unsigned, it
		// is installed all the same (a hand edit should take effect), but
		// said loudly; signed, it is refused above.
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
