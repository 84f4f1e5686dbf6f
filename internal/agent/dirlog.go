package agent

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/headsup-dev/headsup/internal/directory"
)

// Directory versions in the log (DESIGN.md, Directory of members).
//
// The hub appends every new directory version to the log, and the agent
// meets them in its subscription as DirectoryEntry events at their
// sequences. Each is an entry like any other: it moves the cursor and is
// stored (table entries, kind "directory", the signed note as its jws
// column: its Merkle leaf is those bytes, so the agent can prove its
// inclusion like a notice's). It is verified with the governance key the
// agent pins (directory_verifier), never with anything from the hub.
//
// The directory in force:
//
//   - The agent's own copy (its file, reloaded on change) is in force,
//     unless the log delivered a valid version with a higher serial: that
//     version is then the agent's directory from its position on (the
//     entries after it are verified under it, every alert is evaluated
//     again), and stays so across restarts (it is in the store), until
//     the file copy reaches a higher serial.
//   - Never a lower serial than the floor, the highest serial the agent
//     ever had in force (meta directory_floor). A valid version below the
//     serial in force is stored as history and not taken. At start, a
//     directory below the floor (a file copy rolled back, with no stored
//     version from the log reaching it) is refused: a rollback could
//     bring back a revoked key.
//   - A version that does not verify under the pinned key, whose signed
//     serial is not the serial the hub announced, or that reuses the
//     serial in force with other content, is an integrity alert (kind
//     directory, raised once) and never taken.
//   - Without a pinned key (unsigned development mode) versions are
//     stored unchecked and never taken.

// kindDirectory is the kind column of a directory entry.
const kindDirectory = "directory"

// statusDirectory is a directory entry that verified (or, unpinned, was
// stored unchecked).
const statusDirectory = "directory"

// errDirectoryBelowFloor: the directory in force at start has a lower
// serial than one the agent already used.
var errDirectoryBelowFloor = errors.New("directory serial below the floor")

// directory returns the directory in force: the agent's own copy, or the
// newer version the log delivered.
func (a *agent) directory() *directory.Directory {
	own := a.dirs.Current()
	if d := a.logDir.Load(); d != nil && d.Serial > own.Serial {
		return d
	}
	return own
}

// verifyDirectory checks a directory entry against cur, the directory in
// force at its position. It returns the stored row and, when the version
// is valid and newer than cur, the directory to take.
func (a *agent) verifyDirectory(r received, cur *directory.Directory) (entryRow, *directory.Directory) {
	e := entryRow{Seq: r.seq, StoredAt: r.storedAt, LogTime: r.at, Kind: kindDirectory, ID: strconv.FormatUint(r.dirSerial, 10), JWS: string(r.dirNote)}
	if !r.storedAt.IsZero() && r.storedAt.Before(e.LogTime) {
		e.LogTime = r.storedAt
	}
	if a.cfg.DirectoryVerifier == "" {
		e.Status, e.Error = statusDirectory, "not checked: no directory_verifier pinned"
		return e, nil
	}
	d, err := directory.Open(r.dirNote, a.cfg.DirectoryVerifier)
	switch {
	case err != nil:
		e.Status, e.Error = statusInvalid, fmt.Sprintf("directory version (serial %d as the hub says) does not verify under the pinned governance key: %v", r.dirSerial, err)
	case d.Serial != r.dirSerial:
		e.Status, e.Error = statusInvalid, fmt.Sprintf("directory version signed with serial %d, delivered as serial %d", d.Serial, r.dirSerial)
	case d.Serial == cur.Serial && cur.SignedNote() != nil && !bytes.Equal(noteText(d.SignedNote()), noteText(cur.SignedNote())):
		e.Status, e.Error = statusInvalid, fmt.Sprintf("directory serial %d: %v", d.Serial, directory.ErrSerialReused)
	default:
		e.Status = statusDirectory
		if d.Serial > cur.Serial {
			return e, d
		}
		return e, nil
	}
	a.log.Error("directory version in the log refused", "sequence", r.seq, "serial", r.dirSerial, "err", e.Error)
	return e, nil
}

// noteText is a signed note's text: everything before the blank line that
// starts its signatures.
func noteText(signed []byte) []byte {
	if i := bytes.Index(signed, []byte("\n\n")); i >= 0 {
		return signed[:i+1]
	}
	return signed
}

// loadDirectories takes, at start, the newest valid directory version the
// log delivered, and checks the directory in force against the floor.
func (a *agent) loadDirectories(ctx context.Context) error {
	floor, err := metaUint(ctx, a.store.db, "directory_floor")
	if err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	if a.cfg.DirectoryVerifier != "" {
		stored, err := a.store.entries(ctx, statusDirectory)
		if err != nil {
			return fmt.Errorf("agent: state: %w", err)
		}
		var best *directory.Directory
		for _, e := range stored {
			d, err := directory.Open([]byte(e.JWS), a.cfg.DirectoryVerifier)
			if err != nil {
				continue // stored unchecked, or under another pinned key
			}
			if best == nil || d.Serial > best.Serial {
				best = d
			}
		}
		if best != nil {
			a.logDir.Store(best)
		}
	}
	if in := a.directory().Serial; in < floor {
		return fmt.Errorf("agent: directory: serial %d, but this agent already used serial %d: a rollback could bring back a revoked key; install a copy at least that new: %w",
			in, floor, errDirectoryBelowFloor)
	}
	a.dirFloor = floor
	return nil
}

// raiseFloor stores the serial in force as the floor when it rose.
func (a *agent) raiseFloor(ctx context.Context, tx *sql.Tx, dir *directory.Directory) error {
	if dir.Serial <= a.dirFloor {
		return nil
	}
	return setMeta(ctx, tx, "directory_floor", strconv.FormatUint(dir.Serial, 10))
}

// metaUint reads a number from meta; 0 when absent.
func metaUint(ctx context.Context, q *sql.DB, key string) (uint64, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(v, 10, 64)
}

// execer is a *sql.DB, a *sql.Tx or a cachedTx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func setMeta(ctx context.Context, x execer, key, value string) error {
	_, err := x.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
