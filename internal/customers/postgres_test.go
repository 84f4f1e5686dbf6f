// The PostgreSQL tests need a real server. Locally, run them with
//
//	source .ci/postgres.sh && go test ./internal/customers/...
//
// which starts a throwaway server on a loopback port (installing
// PostgreSQL when it is absent, as root) and exports
// HEADSUP_TEST_POSTGRES_URL; any server works if that variable points at
// it. Without it they skip, except under CI=true, where they fail.

package customers_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/headsup-dev/headsup/internal/customers"
)

// testDB is one test's own schema on the shared test server, so that
// tests run in parallel without seeing each other.
type testDB struct {
	url    string // with application_name set to the schema
	schema string
	conn   *pgx.Conn // the test's own connection, for setup and changes
}

func newTestDB(t *testing.T) *testDB {
	t.Helper()
	raw := os.Getenv("HEADSUP_TEST_POSTGRES_URL")
	if raw == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HEADSUP_TEST_POSTGRES_URL is not set: CI must provide PostgreSQL: .ci/postgres.sh")
		}
		t.Skip("no PostgreSQL: run `source .ci/postgres.sh && go test ./internal/customers/...`")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := &testDB{schema: "headsup_" + hex.EncodeToString(b)}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("HEADSUP_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("application_name", db.schema)
	u.RawQuery = q.Encode()
	db.url = u.String()

	ctx := context.Background()
	db.conn, err = pgx.Connect(ctx, raw)
	if err != nil {
		t.Fatalf("connect to HEADSUP_TEST_POSTGRES_URL: %v", err)
	}
	t.Cleanup(func() {
		db.conn.Exec(ctx, "DROP SCHEMA "+db.schema+" CASCADE")
		db.conn.Close(ctx)
	})
	db.exec(t, `CREATE SCHEMA `+db.schema)
	db.exec(t, `CREATE TABLE `+db.schema+`.customers (
		customer_id  text NOT NULL,
		display_name text NOT NULL,
		type         text NOT NULL,
		value        text NOT NULL,
		member_id    text,
		valid_from   timestamptz,
		updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
		deleted      boolean NOT NULL DEFAULT false,
		PRIMARY KEY (customer_id, type, value))`)
	return db
}

func (db *testDB) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := db.conn.Exec(context.Background(), strings.ReplaceAll(sql, "$schema", db.schema), args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// fullQuery and incrementalQuery read the test's table.
func (db *testDB) fullQuery() string {
	return `SELECT customer_id, display_name, type, value, member_id, valid_from, updated_at
		FROM ` + db.schema + `.customers WHERE NOT deleted`
}

func (db *testDB) incrementalQuery() string {
	return `SELECT customer_id, display_name, type, value, member_id, valid_from, updated_at, deleted
		FROM ` + db.schema + `.customers WHERE updated_at > $1`
}

// config returns a configuration that refreshes only on NOTIFY, so that
// every refresh in a test is one the test caused.
func (db *testDB) config(logs *syncBuffer) customers.PostgresConfig {
	return customers.PostgresConfig{
		URL:          db.url,
		Query:        db.fullQuery(),
		Interval:     time.Hour,
		Channel:      db.schema,
		Debounce:     50 * time.Millisecond,
		LinkTemplate: link,
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
	}
}

func (db *testDB) notify(t *testing.T) {
	t.Helper()
	db.exec(t, "SELECT pg_notify($1, 'changed')", db.schema)
}

func runPostgres(t *testing.T, cfg customers.PostgresConfig) (*customers.Postgres, *recorder) {
	t.Helper()
	p, err := customers.NewPostgres(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, rec.onChange) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	return p, rec
}

func TestPostgresLoad(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value, member_id, valid_from) VALUES
		('c-2', 'Vox', 'asn', '64500', NULL, NULL),
		('c-1', 'Epiq Hosting', 'domain', 'Epiq.Example.', 'epiq', '2024-05-01T10:00:00+02:00'),
		('c-1', 'Epiq Hosting', 'ip', '192.0.2.0/24', 'epiq', NULL)`)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value, deleted) VALUES
		('c-3', 'Gone', 'host', 'gone.example', true)`)
	p, err := customers.NewPostgres(customers.PostgresConfig{URL: db.url, LinkTemplate: link,
		Query: `SELECT customer_id, display_name, type, value, member_id, valid_from, deleted FROM ` + db.schema + `.customers`})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Canonical order; the tombstone returned by the query is skipped.
	if got, want := keys(s.Rows), "c-1 host epiq.example\nc-1 prefix 192.0.2.0/24\nc-2 asn AS64500\n"; got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	r := s.Rows[0]
	if r.Name != "Epiq Hosting" || r.Member != "epiq" || !r.ValidFrom.Equal(time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)) ||
		r.Link != "https://crm.example/customers/c-1?tab=abuse" || r.Source != s.Source {
		t.Errorf("row %+v", r)
	}
	if strings.Contains(s.Source, "@") || !strings.HasPrefix(s.Source, "postgres://127.0.0.1:") {
		t.Errorf("source %q: want the server without credentials", s.Source)
	}
	again, err := p.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Version, "sha256:") || again.Version != s.Version {
		t.Errorf("versions %q and %q of one content", s.Version, again.Version)
	}
}

func TestPostgresLoadRefuses(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES
		('c-1', 'Epiq', 'host', 'epiq.example'), ('c-9', 'Bad', 'dommain', 'x.example')`)
	base := `SELECT customer_id, display_name, type, value FROM ` + db.schema + `.customers`
	tests := []struct {
		name, query string
		want        error
		msg         []string
	}{
		{"bad row", base + " ORDER BY customer_id", customers.ErrUnknownType, []string{`customer "c-9"`, `:2: type "dommain"`}},
		{"missing column", `SELECT customer_id, type, value FROM ` + db.schema + `.customers`, customers.ErrQueryColumns, []string{`"display_name"`}},
		{"unknown column", `SELECT *, 1 AS note FROM ` + db.schema + `.customers`, customers.ErrQueryColumns, []string{`"note"`}},
		{"wrong column type", `SELECT customer_id, display_name, type, value, 1.5 AS member_id FROM ` + db.schema + `.customers`, customers.ErrInvalidValue, []string{`member_id "1.5"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := customers.NewPostgres(customers.PostgresConfig{URL: db.url, Query: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Load(t.Context())
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
}

func TestNewPostgresRefusesBadConfig(t *testing.T) {
	for _, cfg := range []customers.PostgresConfig{
		{Query: "SELECT 1"},
		{URL: "postgres://u:secret@127.0.0.1:5432/db"},
		{URL: "postgres://u:secret@127.0.0.1:notaport/db", Query: "SELECT 1"},
		{URL: "postgres://127.0.0.1/db", Query: "SELECT 1", Interval: -time.Second},
		{URL: "postgres://127.0.0.1/db", Query: "SELECT 1", Channel: strings.Repeat("c", 64)},
	} {
		_, err := customers.NewPostgres(cfg)
		if err == nil {
			t.Errorf("%+v: accepted", cfg)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func TestPostgresNotifyIsDebounced(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES ('c-1', 'Epiq', 'host', 'epiq.example')`)
	logs := &syncBuffer{}
	cfg := db.config(logs)
	cfg.Debounce = 300 * time.Millisecond
	p, rec := runPostgres(t, cfg)
	rec.waitCount(t, 1)

	// Five notifications in one transaction arrive together (distinct
	// payloads, so PostgreSQL does not fold them): one refresh.
	tx, err := db.conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `INSERT INTO `+db.schema+`.customers (customer_id, display_name, type, value) VALUES ('c-2', 'Vox', 'asn', '64500')`); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := tx.Exec(t.Context(), "SELECT pg_notify($1, $2)", db.schema, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := keys(rec.waitCount(t, 2).Rows); got != "c-1 host epiq.example\nc-2 asn AS64500\n" {
		t.Fatalf("after notify:\n%s", got)
	}
	// One more change and notification. Refreshes are sequential, so had
	// the five caused more than one, the count would now exceed three.
	db.exec(t, `DELETE FROM $schema.customers WHERE customer_id = 'c-1'`)
	db.notify(t)
	if got := keys(rec.waitCount(t, 3).Rows); got != "c-2 asn AS64500\n" {
		t.Fatalf("after second notify:\n%s", got)
	}
	if full, inc := customers.Loads(p); full != 3 || inc != 0 {
		t.Errorf("%d full and %d incremental queries, want 3 and 0 (initial, one per notification burst)", full, inc)
	}
	if h := p.Health(); !h.OK || h.Stale || h.LastError != nil || h.LastSuccess.IsZero() {
		t.Errorf("health %+v", h)
	}
}

func TestPostgresIncremental(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES
		('c-1', 'Epiq', 'host', 'epiq.example'),
		('c-1', 'Epiq', 'asn', 'AS64500'),
		('c-2', 'Vox', 'host', 'vox.example')`)
	logs := &syncBuffer{}
	cfg := db.config(logs)
	cfg.IncrementalQuery = db.incrementalQuery()
	p, rec := runPostgres(t, cfg)
	first := rec.waitCount(t, 1)

	// Upserts: a changed name, a new row.
	db.exec(t, `UPDATE $schema.customers SET display_name = 'Vox Ltd', updated_at = clock_timestamp() WHERE customer_id = 'c-2'`)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES ('c-3', 'Newco', 'email', 'abuse@newco.example')`)
	db.notify(t)
	s := rec.waitCount(t, 2)
	if got, want := keys(s.Rows), "c-1 asn AS64500\nc-1 host epiq.example\nc-2 host vox.example\nc-3 email abuse@newco.example\n"; got != want {
		t.Fatalf("after upserts:\n%s\nwant:\n%s", got, want)
	}
	if s.Rows[2].Name != "Vox Ltd" {
		t.Errorf("renamed row %+v", s.Rows[2])
	}
	if first.Rows[2].Name != "Vox" {
		t.Errorf("the first snapshot changed: %+v", first.Rows[2])
	}

	// Tombstones, one of them spelt differently from the row it removes
	// (they meet in normal form).
	db.exec(t, `UPDATE $schema.customers SET deleted = true, updated_at = clock_timestamp() WHERE customer_id = 'c-3'`)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value, deleted) VALUES ('c-1', 'Epiq', 'domain', 'EPIQ.example.', true)`)
	db.notify(t)
	if got, want := keys(rec.waitCount(t, 3).Rows), "c-1 asn AS64500\nc-2 host vox.example\n"; got != want {
		t.Fatalf("after tombstones:\n%s\nwant:\n%s", got, want)
	}

	// A refresh that changes nothing (the overlap reads rows again) calls
	// nobody.
	_, inc := customers.Loads(p)
	db.notify(t)
	eventually(t, "idle refresh", func() bool { _, n := customers.Loads(p); return n > inc })
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES ('c-4', 'Four', 'host', 'four.example')`)
	db.notify(t)
	rec.waitCount(t, 4)
	if full, _ := customers.Loads(p); full != 1 {
		t.Errorf("%d full queries, want only the first", full)
	}
}

func TestPostgresFailureKeepsLastList(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES ('c-1', 'Epiq', 'host', 'epiq.example')`)
	logs := &syncBuffer{}
	p, rec := runPostgres(t, db.config(logs))
	rec.waitCount(t, 1)

	// The query fails: Health says so, the list stays, nobody is called.
	db.exec(t, `ALTER TABLE $schema.customers RENAME TO customers_moved`)
	db.notify(t)
	eventually(t, "health not OK", func() bool { return !p.Health().OK })
	if h := p.Health(); h.LastError == nil || !strings.Contains(h.LastError.Error(), "does not exist") || h.LastSuccess.IsZero() {
		t.Errorf("health %+v", h)
	}
	db.exec(t, `ALTER TABLE $schema.customers_moved RENAME TO customers`)
	eventually(t, "health OK again (retry after backoff)", func() bool { return p.Health().OK })

	// A bad row: refused whole, named, the last list stays.
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES ('c-9', 'Bad', 'host', 'not a host')`)
	db.notify(t)
	eventually(t, "bad row refused", func() bool { return !p.Health().OK })
	h := p.Health()
	var re *customers.RowError
	if !errors.As(h.LastError, &re) || re.Field != "value" || re.Value != "not a host" || !strings.Contains(h.LastError.Error(), `customer "c-9"`) {
		t.Errorf("last error %v, want a RowError naming customer c-9's value", h.LastError)
	}
	if n := rec.count(); n != 1 {
		t.Errorf("%d snapshots delivered, want only the first", n)
	}
	if n := strings.Count(logs.String(), "refresh failed"); n != 2 {
		t.Errorf("failures logged %d times, want 2 (the missing table once, the bad row once):\n%s", n, logs.String())
	}
	db.exec(t, `DELETE FROM $schema.customers WHERE customer_id = 'c-9'`)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES ('c-2', 'Vox', 'asn', '64500')`)
	db.notify(t)
	if got := keys(rec.waitCount(t, 2).Rows); got != "c-1 host epiq.example\nc-2 asn AS64500\n" {
		t.Errorf("after the fix:\n%s", got)
	}
	if !p.Health().OK {
		t.Errorf("health %+v after the fix", p.Health())
	}
}

func TestPostgresReconnects(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES ('c-1', 'Epiq', 'host', 'epiq.example')`)
	cfg := db.config(&syncBuffer{})
	cfg.IncrementalQuery = db.incrementalQuery()
	p, rec := runPostgres(t, cfg)
	rec.waitCount(t, 1)

	// A change without a notification, then the connection is killed:
	// only the full reload after reconnecting can bring the change in.
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES ('c-2', 'Vox', 'asn', '64500')`)
	db.exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, db.schema)
	if got := keys(rec.waitCount(t, 2).Rows); got != "c-1 host epiq.example\nc-2 asn AS64500\n" {
		t.Fatalf("after reconnect:\n%s", got)
	}
	eventually(t, "health OK", func() bool { return p.Health().OK })
	if full, _ := customers.Loads(p); full != 2 {
		t.Errorf("%d full queries, want 2 (start, reconnect)", full)
	}
	// And it listens again.
	db.exec(t, `INSERT INTO $schema.customers (customer_id, display_name, type, value) VALUES ('c-3', 'Newco', 'host', 'newco.example')`)
	db.notify(t)
	rec.waitCount(t, 3)
}

func TestPostgresHealthBeforeSuccessAndStale(t *testing.T) {
	t.Parallel()
	p, err := customers.NewPostgres(customers.PostgresConfig{URL: "postgres://127.0.0.1:1/none", Query: "SELECT 1", Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if h := p.Health(); h.OK || !h.Stale {
		t.Errorf("health before any refresh %+v, want not OK and stale", h)
	}
	customers.SetLastSuccess(p, time.Now().Add(-2*time.Minute))
	if h := p.Health(); !h.OK || h.Stale {
		t.Errorf("health two intervals after success %+v, want OK and fresh", h)
	}
	customers.SetLastSuccess(p, time.Now().Add(-4*time.Minute))
	if h := p.Health(); !h.Stale {
		t.Errorf("health four intervals after success %+v, want stale", h)
	}
}

func TestPostgresRunWaitsForTheDatabase(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: Run keeps trying, Health says why, and
	// cancelling ends it with nil.
	p, err := customers.NewPostgres(customers.PostgresConfig{URL: "postgres://u@127.0.0.1:1/none?connect_timeout=2", Query: "SELECT 1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, func(customers.Snapshot) { t.Error("onChange called") }) }()
	eventually(t, "connection failure in health", func() bool { return p.Health().LastError != nil })
	if h := p.Health(); h.OK || !strings.Contains(h.LastError.Error(), "connect") {
		t.Errorf("health %+v", h)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after cancel, want nil", err)
	}
}
