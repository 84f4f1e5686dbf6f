package customers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/headsup-dev/headsup/internal/match"
)

// Defaults of PostgresConfig.
const (
	DefaultInterval = 5 * time.Minute
	DefaultDebounce = 2 * time.Second
	// DefaultOverlap is how far before the newest updated_at seen an
	// incremental query starts again. A writer's transaction stamps
	// updated_at when it starts but becomes visible when it commits; rows
	// of a transaction that commits after a refresh read a newer row would
	// otherwise be missed. Upserts and tombstones are idempotent, so
	// reading a row twice costs nothing but the read.
	DefaultOverlap = time.Minute
	// minQueryTimeout bounds a refresh query from below; above it the
	// interval bounds it (a refresh slower than the interval is useless).
	minQueryTimeout = time.Minute
	// maxBackoff bounds the wait between attempts after a failure.
	maxBackoff = 30 * time.Second
	// staleIntervals: Health says Stale when the last success is older
	// than this many intervals.
	staleIntervals = 3
)

// ErrQueryColumns: a query does not return the columns this package needs.
var ErrQueryColumns = errors.New("query columns")

// PostgresConfig configures a customer list read from PostgreSQL.
type PostgresConfig struct {
	// URL is a libpq connection string or postgres:// URL.
	URL string
	// Query returns customer_id, display_name, type and value, and
	// optionally member_id, valid_from (timestamptz or RFC 3339 text),
	// updated_at and deleted (rows with deleted true are skipped). Other
	// columns are refused. Required.
	Query string
	// Interval between refreshes; DefaultInterval when zero.
	Interval time.Duration
	// Channel, when set, is LISTENed on; a NOTIFY on it triggers a
	// refresh after Debounce, however many arrive in that window.
	Channel string
	// Debounce; DefaultDebounce when zero.
	Debounce time.Duration
	// IncrementalQuery, when set, is used for every refresh after the
	// first full load of a connection: it takes $1 (timestamptz) and
	// returns the rows with updated_at > $1, including tombstones (deleted
	// true), with the columns of Query plus updated_at. Query must then
	// return updated_at as well. Tombstones must be kept for longer than
	// Overlap; a reconnect reloads the whole list, so an outage longer
	// than their retention loses nothing.
	IncrementalQuery string
	// Overlap; DefaultOverlap when zero.
	Overlap time.Duration
	// LinkTemplate is the desk's customer page with {customer_id} where
	// the id goes; empty for no link.
	LinkTemplate string
	// Logger; nil discards.
	Logger *slog.Logger
}

// Health is the state of a PostgreSQL customer list, for the agent's
// alarm: it raises one when !OK or Stale.
type Health struct {
	OK          bool      // the last refresh succeeded
	LastSuccess time.Time // zero before the first success
	LastError   error     // the last refresh's error, nil when it succeeded
	Stale       bool      // no success for three intervals (or ever)
}

// Postgres is a customer list read from PostgreSQL.
type Postgres struct {
	cfg        PostgresConfig
	conn       *pgx.ConnConfig
	source     string
	logger     *slog.Logger
	minBackoff time.Duration

	fullLoads, incrementalLoads atomic.Int64 // queries run, for tests

	mu          sync.Mutex // guards the fields below
	lastSuccess time.Time
	lastErr     error
	loggedErr   string // the last error logged, so a persisting one is logged once
}

// NewPostgres checks cfg and returns the source; it does not connect.
func NewPostgres(cfg PostgresConfig) (*Postgres, error) {
	if cfg.URL == "" {
		// libpq would read PGHOST and friends: a customer list must say
		// where it comes from.
		return nil, errors.New("customer list: PostgreSQL URL is empty")
	}
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		// pgx's error may quote the URL and its password: say less.
		return nil, errors.New("customer list: PostgreSQL URL does not parse")
	}
	switch {
	case cfg.Query == "":
		return nil, errors.New("customer list: PostgreSQL query is empty")
	case cfg.Interval < 0, cfg.Debounce < 0, cfg.Overlap < 0:
		return nil, errors.New("customer list: PostgreSQL interval, debounce and overlap must not be negative")
	case len(cfg.Channel) > 63:
		return nil, fmt.Errorf("customer list: channel %q longer than 63 bytes", cfg.Channel)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Overlap == 0 {
		cfg.Overlap = DefaultOverlap
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Postgres{
		cfg:        cfg,
		conn:       cc,
		source:     "postgres://" + net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))) + "/" + cc.Database,
		logger:     cfg.Logger,
		minBackoff: 500 * time.Millisecond,
	}, nil
}

// Load connects, runs the full query and returns the list. Any bad row
// refuses the whole result with an error naming the row and its customer.
func (p *Postgres) Load(ctx context.Context) (Snapshot, error) {
	conn, err := pgx.ConnectConfig(ctx, p.conn)
	if err != nil {
		return Snapshot{}, fmt.Errorf("customer list %s: connect: %w", p.source, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var st pgState
	if err := p.full(ctx, conn, &st); err != nil {
		return Snapshot{}, err
	}
	return st.snap, nil
}

// Health reports the outcome of Run's refreshes.
func (p *Postgres) Health() Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Health{
		OK:          p.lastErr == nil && !p.lastSuccess.IsZero(),
		LastSuccess: p.lastSuccess,
		LastError:   p.lastErr,
		Stale:       p.lastSuccess.IsZero() || time.Since(p.lastSuccess) > staleIntervals*p.cfg.Interval,
	}
}

// Run keeps the list current until ctx is done, then returns nil. It
// connects, LISTENs on Channel when set, loads the whole list and calls
// onChange; then it refreshes every Interval and Debounce after a NOTIFY,
// with IncrementalQuery when set, and calls onChange (from Run's
// goroutine, one call at a time) whenever the list's content changes. A
// failed refresh or a bad row keeps the last good list and shows in
// Health; it is logged once until it changes. A lost connection is
// re-established with backoff, and reloads the whole list, because
// notifications sent meanwhile are lost. Run never gives up: a database
// that is down at start is waited for, and Health says so.
func (p *Postgres) Run(ctx context.Context, onChange func(Snapshot)) error {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	var st pgState
	backoff := p.minBackoff
	var due, pending time.Time // next refresh; debounced refresh after a NOTIFY (zero: none)
	needFull := true
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for ctx.Err() == nil {
		if conn == nil {
			c, err := p.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				p.failed(err)
				if !wait(backoff) {
					return nil
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			conn, needFull, due, pending = c, true, time.Now(), time.Time{}
		}

		next := due
		if !pending.IsZero() && pending.Before(next) {
			next = pending
		}
		if now := time.Now(); !now.Before(next) {
			prev := st.snap.Version
			var err error
			// An empty list has no watermark yet: reading it whole is as
			// cheap as reading its changes.
			if needFull || p.cfg.IncrementalQuery == "" || st.watermark.IsZero() {
				err = p.full(ctx, conn, &st)
			} else {
				err = p.incremental(ctx, conn, &st)
			}
			pending = time.Time{}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				p.failed(err)
				if !isServerError(err) { // the connection may be broken or mid-query
					conn.Close(context.WithoutCancel(ctx))
					conn = nil
					if !wait(backoff) {
						return nil
					}
				} else {
					due = time.Now().Add(backoff)
				}
				backoff = min(2*backoff, maxBackoff, p.cfg.Interval)
				continue
			}
			needFull, backoff = false, p.minBackoff
			due = time.Now().Add(p.cfg.Interval)
			p.succeeded(len(st.snap.Rows), st.snap.Version)
			if st.snap.Version != prev {
				onChange(st.snap)
			}
			continue
		}

		if p.cfg.Channel == "" {
			if !wait(time.Until(next)) {
				return nil
			}
			continue
		}
		// Wait for a notification until the next refresh is due. pgx keeps
		// notifications that arrive during a query and returns them here.
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && wctx.Err() != nil && !conn.IsClosed():
			// Deadline: time for the next refresh.
		case err != nil:
			p.failed(fmt.Errorf("customer list %s: listen: %w", p.source, err))
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
		case n != nil && pending.IsZero():
			// The window opens at the first notification and is not
			// extended by later ones, so a steady stream of NOTIFYs
			// cannot postpone the refresh forever.
			pending = time.Now().Add(p.cfg.Debounce)
		}
	}
	return nil
}

func (p *Postgres) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, maxBackoff)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, p.conn)
	if err != nil {
		return nil, fmt.Errorf("customer list %s: connect: %w", p.source, err)
	}
	if p.cfg.Channel != "" {
		if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{p.cfg.Channel}.Sanitize()); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("customer list %s: listen %q: %w", p.source, p.cfg.Channel, err)
		}
	}
	return conn, nil
}

// isServerError: the server answered with an error (bad SQL, missing
// table, permission) or a row was refused; the connection is still usable.
func isServerError(err error) bool {
	var pe *pgconn.PgError
	var re *RowError
	return errors.As(err, &pe) || errors.As(err, &re) || errors.Is(err, ErrQueryColumns)
}

func (p *Postgres) failed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr = err
	if msg := err.Error(); msg != p.loggedErr {
		p.loggedErr = msg
		p.logger.Error("customer list refresh failed; keeping the last good one",
			"source", p.source, "last_success", p.lastSuccess, "err", err)
	}
}

func (p *Postgres) succeeded(rows int, version string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastErr != nil {
		p.logger.Info("customer list refresh recovered", "source", p.source, "rows", rows, "version", version)
	}
	p.lastErr, p.loggedErr, p.lastSuccess = nil, "", time.Now()
}

// rowKey identifies a row for incremental updates. The value is in normal
// form, so a tombstone spelt differently still removes its row.
type rowKey struct {
	owner string
	typ   match.Type
	value string
}

// pgState is Run's copy of the list: the rows by key, the snapshot made of
// them, and the newest updated_at seen.
type pgState struct {
	rows      map[rowKey]match.Row
	snap      Snapshot
	watermark time.Time
}

// pgRow is one row of a result.
type pgRow struct {
	row       match.Row
	ok        bool // false: a tombstone whose identifier does not normalise (it cannot be in the list)
	updatedAt time.Time
	deleted   bool
}

// full replaces st with the result of Query. On error st is unchanged.
func (p *Postgres) full(ctx context.Context, conn *pgx.Conn, st *pgState) error {
	res, err := p.query(ctx, conn, p.cfg.Query, false)
	if err != nil {
		return err
	}
	rows := make(map[rowKey]match.Row, len(res))
	var wm time.Time
	for _, r := range res {
		if r.updatedAt.After(wm) {
			wm = r.updatedAt
		}
		if r.ok && !r.deleted {
			rows[keyOf(r.row)] = r.row
		}
	}
	st.rows, st.watermark = rows, wm
	st.snap = p.snapshot(rows)
	return nil
}

// incremental applies the rows changed since the watermark (less the
// overlap) to st. On error st is unchanged.
func (p *Postgres) incremental(ctx context.Context, conn *pgx.Conn, st *pgState) error {
	res, err := p.query(ctx, conn, p.cfg.IncrementalQuery, true, st.watermark.Add(-p.cfg.Overlap))
	if err != nil {
		return err
	}
	// In updated_at order, so that of two versions of one row the later
	// one wins.
	slices.SortStableFunc(res, func(a, b pgRow) int { return a.updatedAt.Compare(b.updatedAt) })
	var rows map[rowKey]match.Row // copied on the first change: snapshots already handed out stay intact
	wm := st.watermark
	for _, r := range res {
		if r.updatedAt.After(wm) {
			wm = r.updatedAt
		}
		if !r.ok {
			continue
		}
		k := keyOf(r.row)
		old, had := st.rows[k]
		if rows != nil {
			old, had = rows[k]
		}
		if r.deleted && !had || !r.deleted && had && old == r.row {
			continue
		}
		if rows == nil {
			rows = make(map[rowKey]match.Row, len(st.rows)+len(res))
			for k, v := range st.rows {
				rows[k] = v
			}
		}
		if r.deleted {
			delete(rows, k)
		} else {
			rows[k] = r.row
		}
	}
	st.watermark = wm
	if rows != nil {
		st.rows = rows
		st.snap = p.snapshot(rows)
	}
	return nil
}

// snapshot orders the rows canonically and names the content by its hash,
// so that equal lists have equal versions however the rows arrived.
func (p *Postgres) snapshot(rows map[rowKey]match.Row) Snapshot {
	list := make([]match.Row, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	slices.SortFunc(list, func(a, b match.Row) int {
		return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Value, b.Value))
	})
	h := sha256.New()
	for _, r := range list {
		vf := ""
		if !r.ValidFrom.IsZero() {
			vf = r.ValidFrom.Format(time.RFC3339Nano)
		}
		for _, s := range []string{r.Owner, r.Name, string(r.Type), r.Value, r.Member, vf, r.Link} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
	}
	return Snapshot{Rows: list, Source: p.source, LoadedAt: time.Now(), Version: "sha256:" + hex.EncodeToString(h.Sum(nil))}
}

func keyOf(r match.Row) rowKey { return rowKey{r.Owner, r.Type, r.Value} }

// query runs sql and validates every row; the first bad row refuses the
// whole result.
func (p *Postgres) query(ctx context.Context, conn *pgx.Conn, sql string, incremental bool, args ...any) ([]pgRow, error) {
	if incremental {
		p.incrementalLoads.Add(1)
	} else {
		p.fullLoads.Add(1)
	}
	qctx, cancel := context.WithTimeout(ctx, max(p.cfg.Interval, minQueryTimeout))
	defer cancel()
	which := "query"
	if incremental {
		which = "incremental query"
	}
	rs, err := conn.Query(qctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("customer list %s: %s: %w", p.source, which, err)
	}
	defer rs.Close()

	// A server error during execution surfaces only when the rows are
	// read; report it rather than the columns it left empty.
	columnsErr := func(format string, a ...any) ([]pgRow, error) {
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, fmt.Errorf("customer list %s: %s: %w", p.source, which, err)
		}
		return nil, fmt.Errorf("customer list %s: %s: %w: "+format, append([]any{p.source, which, ErrQueryColumns}, a...)...)
	}
	col := map[string]int{}
	var names []string
	for i, fd := range rs.FieldDescriptions() {
		names = append(names, fd.Name)
		switch fd.Name {
		case ColCustomerID, ColDisplayName, ColType, ColValue, ColMemberID, ColValidFrom, ColUpdatedAt, ColDeleted:
		default:
			return columnsErr("unknown column %q", fd.Name)
		}
		if _, dup := col[fd.Name]; dup {
			return columnsErr("column %q twice", fd.Name)
		}
		col[fd.Name] = i
	}
	need := requiredColumns[:]
	if p.cfg.IncrementalQuery != "" {
		need = append(need, ColUpdatedAt)
	}
	for _, name := range need {
		if _, ok := col[name]; !ok {
			return columnsErr("no column %q", name)
		}
	}

	var out []pgRow
	line := 0
	for rs.Next() {
		line++
		vals, err := rs.Values()
		if err != nil {
			return nil, fmt.Errorf("customer list %s: %s: row %d: %w", p.source, which, line, err)
		}
		r, err := p.decode(line, names, vals)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("customer list %s: %s: %w", p.source, which, err)
	}
	return out, nil
}

// decode validates one result row. Line is the row's number in the result;
// rows in a snapshot have Line 0, since a database row is named by its
// customer_id, type and value, not by a position.
func (p *Postgres) decode(line int, names []string, vals []any) (pgRow, error) {
	bad := func(field string, v any, err error) (pgRow, error) {
		s, _ := text(v)
		if s == "" && v != nil {
			if dv, ok := v.(driver.Valuer); ok { // pgtype values print as structs
				if x, err := dv.Value(); err == nil {
					v = x
				}
			}
			s = fmt.Sprint(v)
		}
		return pgRow{}, &RowError{Source: p.source, Line: line, Field: field, Value: s, Err: err}
	}
	var f rowFields
	var r pgRow
	for i, name := range names { // in column order, so the first bad field is always the same
		v := vals[i]
		switch name {
		case ColUpdatedAt:
			switch t := v.(type) {
			case nil: // never picked up by an incremental query, but not wrong
			case time.Time:
				r.updatedAt = t
			default:
				return bad(name, v, fmt.Errorf("%w: want a timestamptz", ErrInvalidValue))
			}
			continue
		case ColDeleted:
			switch d := v.(type) {
			case nil:
			case bool:
				r.deleted = d
			default:
				return bad(name, v, fmt.Errorf("%w: want a boolean", ErrInvalidValue))
			}
			continue
		case ColValidFrom:
			if t, ok := v.(time.Time); ok {
				f.validFromTime = t
				continue
			}
		}
		s, ok := text(v)
		if !ok {
			return bad(name, v, fmt.Errorf("%w: want text (cast it in the query)", ErrInvalidValue))
		}
		f.set(name, s)
	}
	row, err := buildRow(p.source, line, f, p.cfg.LinkTemplate)
	if err != nil {
		if r.deleted {
			// A tombstone for a row that could never have been loaded.
			return r, nil
		}
		return pgRow{}, fmt.Errorf("customer %q: %w", f.customerID, err)
	}
	row.Line = 0
	r.row, r.ok = row, true
	return r, nil
}

// text converts the column types a customer id or name plausibly has.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case []byte:
		return string(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int16:
		return strconv.FormatInt(int64(x), 10), true
	case [16]byte: // uuid
		b := hex.EncodeToString(x[:])
		return b[:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:], true
	}
	return "", false
}
