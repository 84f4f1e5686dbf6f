package directory

import "time"

// SetPollOnly makes the watcher poll every d and ignore change events, so
// a test sees the poll alone; call before Run.
func SetPollOnly(w *Watcher, d time.Duration) {
	w.pollInterval = d
	w.noNotify = true
}
