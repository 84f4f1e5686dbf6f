package customers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/headsup-dev/headsup/internal/filewatch"
	"github.com/headsup-dev/headsup/internal/match"
)

const (
	// defaultPollInterval is the fallback for file systems where change
	// events never arrive (network mounts, some container volumes). A poll
	// costs one stat unless the file changed.
	defaultPollInterval = 5 * time.Second
)

// Snapshot is one complete, valid customer list. Rows and the snapshot are
// never modified after they are handed out.
type Snapshot struct {
	Rows     []match.Row
	Source   string    // the file path, or the database without credentials
	LoadedAt time.Time // when this version was read
	// Version identifies the content: "sha256:<hex>" of the file bytes,
	// or of the rows in canonical order for PostgreSQL. Equal versions mean
	// equal lists.
	Version string
}

// File is a customer list in a CSV or JSON lines file, chosen by the
// extension (.csv; .jsonl or .ndjson).
type File struct {
	path         string
	link         string
	logger       *slog.Logger
	pollInterval time.Duration
	noNotify     bool         // tests: exercise the poll alone
	reads        atomic.Int64 // content reads, for tests

	mu       sync.Mutex // serialises reloads; guards the fields below
	lastHash string     // content hash of the last version read, good or bad
	lastStat os.FileInfo
}

// NewFile returns the customer list at path. linkTemplate is the desk's
// customer page with {customer_id} where the id goes (empty: no link). A
// nil logger discards. Nothing is read until Load or Run.
func NewFile(path string, linkTemplate string, logger *slog.Logger) *File {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &File{
		path:         path,
		link:         linkTemplate,
		logger:       logger,
		pollInterval: defaultPollInterval,
	}
}

func (f *File) format() (format, error) {
	switch strings.ToLower(filepath.Ext(f.path)) {
	case ".csv":
		return formatCSV, nil
	case ".jsonl", ".ndjson":
		return formatJSONL, nil
	}
	return 0, fmt.Errorf("customer list %s: %w: extension must be .csv, .jsonl or .ndjson", f.path, ErrFormat)
}

// Load reads and validates the whole file. Any bad row refuses the whole
// file with a *RowError naming the line, the field and the value.
func (f *File) Load(ctx context.Context) (Snapshot, error) {
	s, _, err := f.load(ctx)
	return s, err
}

// load also returns the content hash, which is known even when the content
// is refused (so that a bad version is reported once, not on every poll).
func (f *File) load(ctx context.Context) (Snapshot, string, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, "", err
	}
	form, err := f.format()
	if err != nil {
		return Snapshot{}, "", err
	}
	f.reads.Add(1)
	fh, err := os.Open(f.path)
	if err != nil {
		return Snapshot{}, "", fmt.Errorf("customer list: %w", err)
	}
	defer fh.Close()
	h := sha256.New()
	rows, perr := parse(f.path, form, io.TeeReader(fh, h), f.link)
	// Hash the rest too: on a refusal the parser stops early, and the
	// version must name the whole content.
	if _, err := io.Copy(h, fh); err != nil && perr == nil {
		perr = fmt.Errorf("customer list: %w", err)
	}
	version := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if perr != nil {
		return Snapshot{}, version, perr
	}
	return Snapshot{Rows: rows, Source: f.path, LoadedAt: time.Now(), Version: version}, version, nil
}

// Run loads the file, calls onChange with it, then reloads it whenever it
// changes and calls onChange with each new good version, from Run's
// goroutine, one call at a time. A version with a bad row is logged once
// with the reason and onChange is not called: the last good list stays in
// force. If the first load fails, Run returns that error (a customer list
// that is bad at start is a configuration error to fix, not to wait out).
// Otherwise it returns nil when ctx is done.
//
// It watches the parent directory, not the file, because editors and
// export jobs replace a file by renaming a new one over it, which ends a
// watch on the old inode; and it polls as well, for file systems that send
// no events.
func (f *File) Run(ctx context.Context, onChange func(Snapshot)) error {
	f.mu.Lock()
	fi, _ := os.Stat(f.path)
	s, hash, err := f.load(ctx)
	f.lastHash, f.lastStat = hash, fi
	f.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	onChange(s)

	return filewatch.Run(ctx, f.path, filewatch.Options{Poll: f.pollInterval, NoNotify: f.noNotify, Logger: f.logger, What: "customer list"},
		func(polled bool) { f.reload(ctx, polled, onChange) })
}

// reload reads the file if it changed. With statFirst (the poll), an
// unchanged size, modification time and inode skip the read, so a poll of
// a large list costs one stat; a change event always reads and compares
// the content hash. Content equal to the last content read, good or bad,
// is skipped, so a bad version is logged once.
func (f *File) reload(ctx context.Context, statFirst bool, onChange func(Snapshot)) {
	f.mu.Lock()
	fi, statErr := os.Stat(f.path)
	if statErr != nil {
		if f.lastStat != nil { // log the disappearance once
			f.logger.Error("customer list unreadable; keeping the last good one", "path", f.path, "err", statErr)
		}
		f.lastStat = nil
		f.mu.Unlock()
		return
	}
	if statFirst && sameStat(fi, f.lastStat) {
		f.mu.Unlock()
		return
	}
	s, hash, err := f.load(ctx)
	if err != nil && hash == "" { // unreadable: try again on the next event or poll
		if ctx.Err() == nil {
			f.logger.Error("customer list unreadable; keeping the last good one", "path", f.path, "err", err)
		}
		f.mu.Unlock()
		return
	}
	f.lastStat = fi
	if hash == f.lastHash {
		f.mu.Unlock()
		return
	}
	f.lastHash = hash
	f.mu.Unlock()
	if err != nil {
		f.logger.Error("customer list refused; keeping the last good one",
			"path", f.path, "version", hash, "err", err)
		return
	}
	f.logger.Info("customer list reloaded", "path", f.path, "version", hash, "rows", len(s.Rows))
	onChange(s)
}

func sameStat(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) &&
		a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
