// Package filewatch says when a configuration file may have changed, so
// that its owner reloads it: the member directory, a customer list.
//
// It watches the parent directory, not the file, because editors, export
// jobs and config management replace a file by renaming a new one over it,
// which ends a watch on the old inode (and Kubernetes swaps a symlink in
// the directory). A change event is followed by a short settle delay, so
// an editor that truncates, writes and renames is read once, complete. It
// also polls, for file systems that send no events. The owner decides what
// changed: filewatch only says when to look.
package filewatch

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// SettleDelay is how long after the last change event the owner is told.
const SettleDelay = 100 * time.Millisecond

// Options configures Run.
type Options struct {
	// Poll is the polling interval; required.
	Poll time.Duration
	// NoNotify turns change events off (tests of the poll alone).
	NoNotify bool
	// Logger receives the reasons events are unavailable; What names the
	// file for people ("member directory", "customer list").
	Logger *slog.Logger
	What   string
}

// Run calls changed until ctx is done: after the settle delay that
// follows a change event in the file's directory (polled false), and on
// every poll tick (polled true, so the owner may compare a cheap stat
// first). Calls come from Run's goroutine, one at a time. It returns nil
// when ctx is done.
func Run(ctx context.Context, path string, o Options, changed func(polled bool)) error {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	fw, err := (*fsnotify.Watcher)(nil), errors.New("disabled")
	if !o.NoNotify {
		fw, err = fsnotify.NewWatcher()
	}
	if err == nil {
		defer fw.Close()
		if err = fw.Add(filepath.Dir(path)); err == nil {
			events, errs = fw.Events, fw.Errors
		}
	}
	if err != nil {
		logger.Warn(o.What+": change notification unavailable; polling only", "path", path, "interval", o.Poll, "err", err)
	}

	// A change between the owner's first read and the watch above would
	// otherwise wait for the first poll: look once now.
	changed(true)

	poll := time.NewTicker(o.Poll)
	defer poll.Stop()
	settle := time.NewTimer(SettleDelay)
	settle.Stop()
	defer settle.Stop()

	base := filepath.Base(path)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// The file itself, or a rename/create in its directory.
			if filepath.Base(ev.Name) == base || ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) {
				settle.Reset(SettleDelay)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			logger.Warn(o.What+": change notification error; polling continues", "path", path, "err", err)
		case <-settle.C:
			changed(false)
		case <-poll.C:
			changed(true)
		}
	}
}
