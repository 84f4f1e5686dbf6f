package hub

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/headsup-dev/headsup/internal/directory"
)

// directorySource gives the hub its current directory. A hub may start
// before any directory exists (a newcomer's first run): it then waits for
// the file to appear, and from then on the directory watcher reloads it on
// change and keeps the last good version when an edit is bad.
type directorySource struct {
	path    string
	vkey    string // governance verifier key; "" accepts unsigned files
	logger  *slog.Logger
	watcher atomic.Pointer[directory.Watcher]
	// logged, set when the hub keeps a signed log, puts a version in
	// force only once the log holds it (see directoryLog).
	logged atomic.Pointer[directoryLog]
	// lastRefresh is when Refresh last reread the file (Unix ns).
	lastRefresh atomic.Int64
}

// refreshEvery bounds how often a miss rereads the directory file, so
// that calls naming unknown keys cannot turn into a file read each.
const refreshEvery = 100 * time.Millisecond

// Refresh rereads the directory file at once (at most every refreshEvery)
// and returns the directory then in force. Lookups that miss (an unknown
// kid or pin) call it before refusing.
func (d *directorySource) Refresh() *directory.Directory {
	if w := d.watcher.Load(); w != nil {
		now := time.Now().UnixNano()
		last := d.lastRefresh.Load()
		if now-last >= int64(refreshEvery) && d.lastRefresh.CompareAndSwap(last, now) {
			_ = w.Refresh() // a bad version is logged, and the last good stays
		}
	}
	return d.Current()
}

// Current is the directory in force.
func (d *directorySource) Current() *directory.Directory {
	if l := d.logged.Load(); l != nil {
		return l.inForce(d.loaded())
	}
	return d.loaded()
}

// loaded is the file's last good version.
func (d *directorySource) loaded() *directory.Directory {
	if w := d.watcher.Load(); w != nil {
		return w.Current()
	}
	// Until the watcher starts, a call loads the file itself: a newcomer
	// publishes right after writing it, before the next poll.
	load := directory.Load
	if d.vkey != "" {
		load = func(path string) (*directory.Directory, error) { return directory.LoadSigned(path, d.vkey) }
	}
	if dir, err := load(d.path); err == nil {
		return dir
	}
	return nil
}

// run waits for the directory file, then watches it until ctx is done.
func (d *directorySource) run(ctx context.Context) error {
	const pollMissing = time.Second
	var lastErr string
	for {
		var opts []directory.WatcherOption
		if d.vkey != "" {
			opts = append(opts, directory.WithVerifier(d.vkey))
		}
		w, err := directory.NewWatcher(d.path, d.logger, opts...)
		if err == nil {
			d.watcher.Store(w)
			dir := w.Current()
			d.logger.Info("member directory loaded", "path", d.path, "serial", dir.Serial, "members", len(dir.Members))
			return w.Run(ctx)
		}
		// Say it once per distinct reason, not every poll.
		if err.Error() != lastErr {
			lastErr = err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				d.logger.Warn("no member directory yet: publishing is refused until one exists; "+
					"make keys and entries with `headsup keygen --member ID --out keys --add-to FILE`",
					"path", d.path)
			} else {
				d.logger.Error("member directory refused; publishing stays off until it loads", "path", d.path, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pollMissing):
		}
	}
}
