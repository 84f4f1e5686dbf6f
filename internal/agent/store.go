package agent

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"github.com/headsup-dev/headsup/internal/alert"
)

// schema is the agent's state: one SQLite file a desk can open with the
// sqlite3 shell. The cursor moves in the same transaction as the notices it
// covers and the alert events they caused, so a kill at any instant loses
// and duplicates nothing.
const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
-- The cursor's sequence is the last stored entry's (entries): a meta row
-- for it cost a page write per commit. Agents before kept it here.
DELETE FROM meta WHERE key = 'cursor';
-- Every entry received: verified notices (with their bytes), and what was
-- parked (unknown kid), redacted or refused, so the history is complete.
CREATE TABLE IF NOT EXISTS entries (
	seq         INTEGER PRIMARY KEY,
	status      TEXT NOT NULL,  -- verified | parked | redacted | invalid
	issuer      TEXT NOT NULL,
	id          TEXT NOT NULL,
	kind        TEXT NOT NULL,
	kid         TEXT NOT NULL,
	notice      BLOB,
	jws         TEXT NOT NULL,
	stored_at   INTEGER NOT NULL, -- unix seconds, the hub's store time
	log_time    INTEGER NOT NULL, -- the bound used for key validity
	error       TEXT NOT NULL DEFAULT ''
);
-- Only entries still to settle (parked, invalid; redacted and directory
-- ones, few) are looked up by status: verified ones, nearly all, stay out
-- of the index, so that storing one writes no index page. (Agents before
-- this index had entries_status over every entry.)
DROP INDEX IF EXISTS entries_status;
CREATE INDEX IF NOT EXISTS entries_unsettled ON entries(status) WHERE status != 'verified';
-- The last event of every alert the agent ever raised.
CREATE TABLE IF NOT EXISTS alerts (
	alert_id    TEXT PRIMARY KEY,
	revision    INTEGER NOT NULL,
	state       TEXT NOT NULL,  -- active | withdrawn
	type        TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	root        TEXT NOT NULL,  -- "issuer/id" of the root; '' for integrity and directory_stale
	fingerprint TEXT NOT NULL,
	event       TEXT NOT NULL,  -- headsup.alert.v1 JSON
	updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_root ON alerts(root);
-- Events waiting for, or delivered to, each sink.
-- Rows are never deleted, so ids only grow without AUTOINCREMENT (whose
-- counter costs a page write per event). An (alert_id, revision) is here
-- at most once: it is queued only with its history row, whose key it is
-- (queueAlert); an index saying so again cost a page write per event.
-- (Older agents' outboxes have the counter and a UNIQUE index.)
CREATE TABLE IF NOT EXISTS outbox (
	id         INTEGER PRIMARY KEY,
	alert_id   TEXT NOT NULL,
	revision   INTEGER NOT NULL,
	body       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
-- Every revision of every alert, with who made it and whether it was
-- kept from the sinks (suppressed): the history GetAlert shows. Kept
-- apart from the outbox, which holds only what the sinks receive.
CREATE TABLE IF NOT EXISTS history (
	alert_id  TEXT NOT NULL,
	revision  INTEGER NOT NULL,
	event     TEXT NOT NULL,
	at        INTEGER NOT NULL,
	state     TEXT NOT NULL,
	severity  TEXT NOT NULL,
	strength  TEXT NOT NULL,
	actor     TEXT NOT NULL DEFAULT '',
	note      TEXT NOT NULL DEFAULT '',
	silenced  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (alert_id, revision)
) WITHOUT ROWID; -- its rows are small (the event is in the outbox unless silenced): one b-tree, not a table and its key's index, to write per revision (older agents' history has both)
-- The desk's triage, apart from the lifecycle: acknowledgements, and
-- suppression rules with the alerts they hold. Durable across restarts.
CREATE TABLE IF NOT EXISTS acks (
	alert_id TEXT PRIMARY KEY,
	actor    TEXT NOT NULL,
	at       INTEGER NOT NULL,
	note     TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS suppressions (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	alert_id      TEXT NOT NULL DEFAULT '',
	customer_id   TEXT NOT NULL DEFAULT '',
	subject       TEXT NOT NULL DEFAULT '',
	root          TEXT NOT NULL DEFAULT '',
	reason_prefix TEXT NOT NULL DEFAULT '',
	until_at      INTEGER NOT NULL DEFAULT 0,  -- unix seconds; 0: until lifted
	actor         TEXT NOT NULL,
	note          TEXT NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	lifted_at     INTEGER NOT NULL DEFAULT 0,
	lifted_by     TEXT NOT NULL DEFAULT '',
	lifted_why    TEXT NOT NULL DEFAULT ''
);
-- held: which alerts a suppression holds, with the severity and strength
-- they had when it took them (an alert that rises above them comes
-- back), their group and root (an alert about a new root in the same
-- group brings them back). released_at is 0 while the hold lasts.
CREATE TABLE IF NOT EXISTS held (
	suppression_id INTEGER NOT NULL,
	alert_id       TEXT NOT NULL,
	severity       TEXT NOT NULL,
	strength       TEXT NOT NULL,
	group_key      TEXT NOT NULL,
	root           TEXT NOT NULL,
	released_at    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (suppression_id, alert_id)
);
CREATE INDEX IF NOT EXISTS held_alert ON held(alert_id);
CREATE TABLE IF NOT EXISTS deliveries (
	outbox_id    INTEGER NOT NULL,
	sink         TEXT NOT NULL,
	delivered_at INTEGER NOT NULL,
	PRIMARY KEY (outbox_id, sink)
);
-- Digests a sink's flood control emitted. Each stands for the alerts its
-- event lists; GetAlert answers for its id. Not alerts: they have no
-- lifecycle, and the alerts they stand for are all in alerts.
CREATE TABLE IF NOT EXISTS digests (
	alert_id    TEXT PRIMARY KEY,
	sink        TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	event       TEXT NOT NULL,
	created_at  INTEGER NOT NULL
);
-- Outbox events skipped for a sink because its backlog reached the bound
-- (OutboxMax): the record of what that sink never received.
CREATE TABLE IF NOT EXISTS outbox_skipped (
	sink     TEXT NOT NULL,
	first_id INTEGER NOT NULL,
	last_id  INTEGER NOT NULL,
	count    INTEGER NOT NULL,
	at       INTEGER NOT NULL
);
-- Notices on alerts' chains whose inclusion the agent proved in the tree
-- of a checkpoint it verified (log.go): size is that checkpoint's.
CREATE TABLE IF NOT EXISTS inclusions (
	seq  INTEGER PRIMARY KEY,
	size INTEGER NOT NULL,
	at   INTEGER NOT NULL
);
-- The latest live re-check of each (host, address) of a sighting
-- (verify_sightings), which evaluation reads: part of the state, so an
-- alert is the same function of it after a restart.
CREATE TABLE IF NOT EXISTS rechecks (
	host       TEXT NOT NULL,
	address    TEXT NOT NULL,
	result     TEXT NOT NULL,  -- alert.Recheck as JSON
	checked_at INTEGER NOT NULL,
	PRIMARY KEY (host, address)
);
`

// store is the agent's SQLite state.
type store struct {
	db *sql.DB
	// read is a read-only pool beside db, the one writer: the outbox
	// deliverers read pending events there (WAL: readers see the last
	// commit and never wait for a writer), so a sink is fed while the loop
	// commits the next batch.
	read *sql.DB
	// stmts are the commit path's statements (cachedQueries), prepared
	// at open; read-only afterwards.
	stmts map[string]*sql.Stmt
}

// cachedQueries are the statements every commit runs, per entry or per
// alert, prepared once at open (cachedTx).
var cachedQueries = []string{insertEntry, insertEntries, selectEntries, selectAlerts, selectAlertsOfRoots, upsertAlert, insertHistory, insertOutbox,
	selectAcks, selectHeld(allHeld), selectDueSuppressions}

// cachedTx runs statements in a transaction, each prepared once on the
// writer's connection and reused by every later transaction: the pure-Go
// driver caches nothing, and preparing a statement cost as much as running
// it. The commit path runs through it (store.cached); anything else may
// use the *sql.Tx as usual.
type cachedTx struct {
	*sql.Tx
	s *store
}

func (s *store) cached(tx *sql.Tx) cachedTx { return cachedTx{tx, s} }

// ExecContext runs query in the transaction, prepared once if it is one
// of cachedQueries: the transaction's statement reuses the preparation
// on the one connection (database/sql keeps it per connection).
func (c cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st, ok := c.s.stmts[query]; ok {
		return c.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return c.Tx.ExecContext(ctx, query, args...)
}

// QueryContext is ExecContext's counterpart for queries.
func (c cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st, ok := c.s.stmts[query]; ok {
		return c.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return c.Tx.QueryContext(ctx, query, args...)
}

func openStore(ctx context.Context, dir string) (*store, error) {
	path := filepath.Join(dir, "agent.db")
	// WAL lets a desk read while the agent writes; synchronous=FULL makes
	// every commit durable before the agent acknowledges anything to a sink.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	// One writer: SQLite serialises writes anyway, and one connection keeps
	// transactions simple.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: schema: %w", path, err)
	}
	read, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	st := &store{db: db, read: read, stmts: map[string]*sql.Stmt{}}
	for _, q := range cachedQueries {
		p, err := db.PrepareContext(ctx, q)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("state %s: %w", path, err)
		}
		st.stmts[q] = p
	}
	return st, nil
}

func (s *store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	return errors.Join(s.read.Close(), s.db.Close())
}

// cursor is where the agent resumes: the log it reads and the last
// sequence whose effects are committed.
type cursor struct {
	LogID string
	Seq   uint64
}

func (s *store) cursor(ctx context.Context) (cursor, error) {
	var c cursor
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'log_id'`).Scan(&c.LogID)
	if errors.Is(err, sql.ErrNoRows) {
		return cursor{}, nil
	}
	if err != nil {
		return cursor{}, err
	}
	// Every entry up to the cursor is stored, in the transaction that
	// moved it, and nothing after it: the cursor is the last one's seq.
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM entries`).Scan(&c.Seq)
	return c, err
}

// setLogID records the log the cursor is in, with the first entry stored
// from it (the log never changes under a cursor: ErrLogChanged).
func setLogID(ctx context.Context, tx execer, logID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('log_id', ?)
	ON CONFLICT(key) DO UPDATE SET value = excluded.value`, logID)
	return err
}

// entryRow is one stored entry.
type entryRow struct {
	Seq      uint64
	Status   string
	Issuer   string
	ID       string
	Kind     string
	Kid      string
	Notice   []byte
	JWS      string
	StoredAt time.Time
	LogTime  time.Time
	Error    string
}

const (
	statusVerified = "verified"
	statusParked   = "parked"
	statusRedacted = "redacted"
	statusInvalid  = "invalid"
)

// insertEntry stores an entry, or a parked one's new status;
// insertEntries stores entriesPerInsert of them in one statement.
const (
	entryInsert     = `INSERT INTO entries(seq, status, issuer, id, kind, kid, notice, jws, stored_at, log_time, error) VALUES `
	entryValues     = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	entryOnConflict = ` ON CONFLICT(seq) DO UPDATE SET status = excluded.status, kind = excluded.kind, error = excluded.error`
	insertEntry     = entryInsert + entryValues + entryOnConflict
)

// entriesPerInsert: a catch-up stores a thousand entries a commit, and
// one statement per entry cost as much again in the driver as storing
// them.
const entriesPerInsert = 32

var insertEntries = entryInsert + strings.Repeat(entryValues+", ", entriesPerInsert-1) + entryValues + entryOnConflict

func putEntry(ctx context.Context, tx execer, e entryRow) error {
	_, err := tx.ExecContext(ctx, insertEntry, entryArgs(nil, e)...)
	return err
}

// putEntries stores es, entriesPerInsert to a statement.
func putEntries(ctx context.Context, tx execer, es []entryRow) error {
	var args []any // only for full statements: a live commit has one entry
	for len(es) >= entriesPerInsert {
		args = args[:0]
		for _, e := range es[:entriesPerInsert] {
			args = entryArgs(args, e)
		}
		if _, err := tx.ExecContext(ctx, insertEntries, args...); err != nil {
			return fmt.Errorf("entries %d to %d: %w", es[0].Seq, es[entriesPerInsert-1].Seq, err)
		}
		es = es[entriesPerInsert:]
	}
	for _, e := range es {
		if err := putEntry(ctx, tx, e); err != nil {
			return fmt.Errorf("entry %d: %w", e.Seq, err)
		}
	}
	return nil
}

func entryArgs(args []any, e entryRow) []any {
	return append(args, e.Seq, e.Status, e.Issuer, e.ID, e.Kind, e.Kid, e.Notice, e.JWS, e.StoredAt.Unix(), e.LogTime.Unix(), e.Error)
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *store) entries(ctx context.Context, status string) ([]entryRow, error) {
	return entriesIn(ctx, s.db, status)
}

// selectEntries reads the entries of one status other than verified
// through the partial index entries_unsettled (the planner uses it only
// when the query says status != 'verified'); selectVerified reads the
// verified ones in table order.
const (
	entryColumns   = `SELECT seq, status, issuer, id, kind, kid, notice, jws, stored_at, log_time, error FROM entries `
	selectEntries  = entryColumns + `WHERE status = ? AND status != 'verified' ORDER BY seq`
	selectVerified = entryColumns + `WHERE status = 'verified' ORDER BY seq`
)

func entriesIn(ctx context.Context, q queryer, status string) ([]entryRow, error) {
	query, args := selectEntries, []any{status}
	if status == statusVerified {
		query, args = selectVerified, nil
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []entryRow
	for rows.Next() {
		var e entryRow
		var stored, logTime int64
		if err := rows.Scan(&e.Seq, &e.Status, &e.Issuer, &e.ID, &e.Kind, &e.Kid, &e.Notice, &e.JWS, &stored, &logTime, &e.Error); err != nil {
			return nil, err
		}
		e.StoredAt, e.LogTime = time.Unix(stored, 0).UTC(), time.Unix(logTime, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// alertRow is the stored state of one alert.
type alertRow struct {
	AlertID     string
	Revision    uint64
	State       string
	Type        string
	CustomerID  string
	Root        string
	Fingerprint string
	Event       string
}

// alertsIn returns the stored alerts of the given roots and every alert
// with no root (integrity, directory stale); all alerts when roots is nil.
const (
	selectAlerts        = `SELECT alert_id, revision, state, type, customer_id, root, fingerprint, event FROM alerts`
	selectAlertsOfRoots = selectAlerts + ` WHERE root = '' OR root IN (SELECT value FROM json_each(?))`
)

func alertsIn(ctx context.Context, q queryer, roots []string) (map[string]alertRow, error) {
	query, args := selectAlerts, []any{}
	if roots != nil {
		list, err := json.Marshal(roots)
		if err != nil {
			return nil, err
		}
		query, args = selectAlertsOfRoots, append(args, string(list))
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]alertRow{}
	for rows.Next() {
		var a alertRow
		if err := rows.Scan(&a.AlertID, &a.Revision, &a.State, &a.Type, &a.CustomerID, &a.Root, &a.Fingerprint, &a.Event); err != nil {
			return nil, err
		}
		out[a.AlertID] = a
	}
	return out, rows.Err()
}

// revisionNote is what the history keeps of a revision besides the
// event: who made it and why (triage changes), and whether the sinks were
// kept from it (the alert is suppressed).
type revisionNote struct {
	By, Note string
	Silenced bool
}

// putAlert stores a revision of an alert: the alert's latest event, its
// history, and, unless silenced, the outbox entry every sink receives.
const (
	upsertAlert = `INSERT INTO alerts(alert_id, revision, state, type, customer_id, root, fingerprint, event, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT(alert_id) DO UPDATE SET revision = excluded.revision, state = excluded.state,
		fingerprint = excluded.fingerprint, event = excluded.event, updated_at = excluded.updated_at`
	insertHistory = `INSERT INTO history(alert_id, revision, event, at, state, severity, strength, actor, note, silenced)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(alert_id, revision) DO NOTHING`
	insertOutbox = `INSERT INTO outbox(alert_id, revision, body, created_at) VALUES (?, ?, ?, ?)`
)

func putAlert(ctx context.Context, tx execer, a alertRow, ev *alert.Event, now time.Time, n revisionNote) error {
	_, _, err := queueAlert(ctx, tx, a, ev, now, n)
	return err
}

// queueAlert is putAlert that also returns the outbox item it queued for
// the sinks (ok false when the revision is silenced), with ev as its
// decoded event: the loop hands it to the deliverers once committed.
func queueAlert(ctx context.Context, tx execer, a alertRow, ev *alert.Event, now time.Time, n revisionNote) (it outboxItem, ok bool, err error) {
	if _, err := tx.ExecContext(ctx, upsertAlert, a.AlertID, a.Revision, a.State, a.Type, a.CustomerID, a.Root, a.Fingerprint, a.Event, now.Unix()); err != nil {
		return outboxItem{}, false, err
	}
	res, err := tx.ExecContext(ctx, insertHistory, a.AlertID, a.Revision, ev.Event, ev.At.Unix(), a.State, ev.Severity, ev.Strength, n.By, n.Note, n.Silenced)
	if err != nil || n.Silenced {
		return outboxItem{}, false, err
	}
	// A revision is queued for the sinks only with its first history row:
	// an (alert_id, revision) never names two contents.
	if added, err := res.RowsAffected(); err != nil || added != 1 {
		return outboxItem{}, false, cmp.Or(err, fmt.Errorf("alert %s revision %d is stored already", a.AlertID, a.Revision))
	}
	res, err = tx.ExecContext(ctx, insertOutbox, a.AlertID, a.Revision, a.Event, now.Unix())
	if err != nil {
		return outboxItem{}, false, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return outboxItem{}, false, err
	}
	return outboxItem{ID: id, AlertID: a.AlertID, Revision: a.Revision, Body: a.Event, event: ev}, true, nil
}

// outboxItem is one event waiting for a sink.
type outboxItem struct {
	ID       int64
	AlertID  string
	Revision uint64
	Body     string
	// event is Body decoded, when the item was handed over by the loop
	// (nil when read from the store). Every outlet, its flood control and
	// its sink share it: nobody changes it once committed.
	event *alert.Event
}

// Alerts returns the latest event of every alert in the agent's state
// directory, active ones first, for the desk's tools and for tests. It
// opens the database read-only alongside a running agent (WAL).
func Alerts(ctx context.Context, stateDir string) ([]alert.Event, error) {
	path := filepath.Join(stateDir, "agent.db")
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT event FROM alerts ORDER BY state = 'withdrawn', updated_at, alert_id`)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	defer rows.Close()
	var out []alert.Event
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var ev alert.Event
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			return nil, fmt.Errorf("state %s: %w", path, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// rootsOfCustomers returns the roots of the active alerts about customers.
func rootsOfCustomers(ctx context.Context, q queryer, customers []string) ([]string, error) {
	list, err := json.Marshal(customers)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT root FROM alerts
		WHERE state = 'active' AND root != '' AND customer_id IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var root string
		if err := rows.Scan(&root); err != nil {
			return nil, err
		}
		out = append(out, root)
	}
	return out, rows.Err()
}
