package customers

import (
	"bytes"
	"time"

	"github.com/headsup-dev/headsup/internal/match"
)

// SetPollOnly makes the file source poll every d and ignore change events,
// so a test sees the poll alone; call before Run.
func SetPollOnly(f *File, d time.Duration) {
	f.pollInterval = d
	f.noNotify = true
}

// Reads counts how often the file's content was read.
func Reads(f *File) int64 { return f.reads.Load() }

// Loads counts the full and incremental queries run.
func Loads(p *Postgres) (full, incremental int64) {
	return p.fullLoads.Load(), p.incrementalLoads.Load()
}

// SetLastSuccess backdates the last successful refresh, for Health.
func SetLastSuccess(p *Postgres, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastSuccess = t
}

// Parse reads b as a CSV (jsonl false) or JSON lines customer list.
func Parse(source string, jsonl bool, b []byte, link string) ([]match.Row, error) {
	f := formatCSV
	if jsonl {
		f = formatJSONL
	}
	return parse(source, f, bytes.NewReader(b), link)
}
