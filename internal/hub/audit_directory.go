package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/directory"
)

// directorySyncEvery is how often the hub looks for a directory version to
// append when no call asked for the directory in between.
const directorySyncEvery = time.Second

// directoryLog puts directory versions in the log before they are in
// force, when the hub keeps a signed log. The version in force is always
// one the log holds (so the key state at any position of history comes
// from the log itself), and the log's highest serial is a floor: a file
// with a lower serial is refused, after a restart too. A version that
// names another log key than the hub's is refused as well: the hub could
// not sign checkpoints its members verify.
type directoryLog struct {
	log    *bus.Log
	vkey   string // governance verifier key
	key    *logKey
	logger *slog.Logger
	// loaded is the file's version as the watcher holds it.
	loaded func() *directory.Directory
	// kick asks run to look at the file's version now; capacity 1.
	kick chan struct{}

	logged  atomic.Pointer[directory.Directory] // in force; nil before the first
	refused atomic.Pointer[directory.Directory] // last refused, said once

	mu       sync.Mutex // guards floor, hasFloor; serialises installs
	floor    uint64     // highest serial the log holds
	hasFloor bool
}

// open reads the log's latest directory version (the floor), checks the
// hub's log key against the newest version it would put in force, and
// appends the file's version when it is newer, before the hub serves.
func (l *directoryLog) open(ctx context.Context) error {
	m, err := l.log.LatestDirectory(ctx)
	switch {
	case errors.Is(err, bus.ErrNotFound):
	case err != nil:
		return fmt.Errorf("directory in the log: %w", err)
	default:
		serial, ok := bus.DirectorySerial(m.Subject)
		if !ok {
			return fmt.Errorf("directory in the log: sequence %d: subject %q", m.Seq, m.Subject)
		}
		l.floor, l.hasFloor = serial, true
		d, err := directory.Open(m.Body, l.vkey)
		if err != nil {
			// Governance may have changed keys since; the serial floor
			// holds all the same.
			l.logger.Error("the log's latest directory version does not open with the pinned governance key; "+
				"only a newer signed version can be put in force", "serial", serial, "sequence", m.Seq, "err", err)
		} else {
			l.logged.Store(d)
		}
	}
	newest := l.logged.Load()
	if f := l.loaded(); f != nil && (!l.hasFloor || f.Serial > l.floor) {
		newest = f
	}
	if newest == nil {
		l.logger.Warn("no directory yet to check the log key against; checkpoints are signed, and the first version must name this log key",
			"origin", l.key.origin(), "verifier_key", l.key.vkey)
		return nil
	}
	if err := l.key.matches(newest); err != nil {
		return fmt.Errorf("log key: %w", err)
	}
	l.sync(ctx)
	return nil
}

// inForce is the directory the hub uses, given the file's version f: the
// latest version in the log. A newer file version is appended by run
// first; asking wakes it.
func (l *directoryLog) inForce(f *directory.Directory) *directory.Directory {
	cur := l.logged.Load()
	if f != nil && f != cur && f != l.refused.Load() {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return cur
}

// run appends new versions of the file until ctx is done.
func (l *directoryLog) run(ctx context.Context) {
	t := time.NewTicker(directorySyncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		case <-t.C:
		}
		l.sync(ctx)
	}
}

// sync appends the file's version to the log if the log does not hold it
// yet, then puts it in force, or refuses it (once, logged) and keeps the
// version in force.
func (l *directoryLog) sync(ctx context.Context) {
	f := l.loaded()
	cur := l.logged.Load()
	if f == nil || f == cur || f == l.refused.Load() {
		return
	}
	l.mu.Lock()
	floor, hasFloor := l.floor, l.hasFloor
	l.mu.Unlock()
	switch {
	case hasFloor && f.Serial < floor:
		l.refuse(f, cur, fmt.Errorf("%w: serial %d, the log holds serial %d", directory.ErrOlderSerial, f.Serial, floor))
		return
	case cur != nil && f.Serial == cur.Serial && bytes.Equal(f.SignedNote(), cur.SignedNote()):
		l.install(f)
		return
	case f.SignedNote() == nil:
		l.refuse(f, cur, errors.New("not a signed directory"))
		return
	}
	if err := l.key.matches(f); err != nil {
		l.refuse(f, cur, err)
		return
	}
	a, err := l.log.AppendDirectory(ctx, f.Serial, f.SignedNote())
	var conflict *bus.ConflictError
	switch {
	case errors.As(err, &conflict):
		// Another hub appended this serial with other bytes first: the
		// log's version is the one in force, everywhere.
		if m, gerr := l.log.Get(ctx, conflict.Seq); gerr == nil {
			if d, oerr := directory.Open(m.Body, l.vkey); oerr == nil && l.key.matches(d) == nil {
				l.install(d)
			}
		}
		l.refuse(f, l.logged.Load(), fmt.Errorf("%w: serial %d is in the log at sequence %d with other bytes", directory.ErrSerialReused, f.Serial, conflict.Seq))
		return
	case errors.Is(err, bus.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		l.logger.Warn("directory version not appended to the log yet; the previous version stays in force, retrying",
			"serial", f.Serial, "err", err)
		return
	case err != nil:
		// Not going to change by retrying (a version larger than the
		// stream's message limit, say): said once.
		l.refuse(f, cur, fmt.Errorf("append to the log: %w", err))
		return
	}
	l.install(f)
	if !a.Duplicate {
		l.logger.Info("directory version appended to the log", "serial", f.Serial, "sequence", a.Seq, "members", len(f.Members))
	}
}

// install puts d in force unless a higher serial already is.
func (l *directoryLog) install(d *directory.Directory) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur := l.logged.Load(); cur == nil || d.Serial >= cur.Serial {
		l.logged.Store(d)
	}
	if !l.hasFloor || d.Serial > l.floor {
		l.floor, l.hasFloor = d.Serial, true
	}
}

func (l *directoryLog) refuse(f, cur *directory.Directory, err error) {
	l.refused.Store(f)
	inForce := "none"
	if cur != nil {
		inForce = fmt.Sprint(cur.Serial)
	}
	l.logger.Error("member directory refused; keeping the version the log holds", "serial", f.Serial, "in_force", inForce, "err", err)
}

// seen takes note of a directory version the tree met in the stream,
// appended by this hub or by another replica: it raises the floor and, if
// it opens and names this log key, puts it in force.
func (l *directoryLog) seen(serial uint64, signed []byte) {
	l.mu.Lock()
	stale := l.hasFloor && serial <= l.floor
	l.mu.Unlock()
	if stale {
		return
	}
	d, err := directory.Open(signed, l.vkey)
	if err == nil {
		err = l.key.matches(d)
	}
	if err != nil {
		l.mu.Lock()
		l.floor, l.hasFloor = max(l.floor, serial), true
		l.mu.Unlock()
		l.logger.Error("directory version in the log not put in force", "serial", serial, "err", err)
		return
	}
	l.install(d)
}
