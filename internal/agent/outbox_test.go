package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
)

// TestTakeHanded: the deliverer uses handed events only when they continue
// what it offered without a gap; anything else sends it to the store,
// which holds every event.
func TestTakeHanded(t *testing.T) {
	items := func(ids ...int64) []outboxItem {
		var out []outboxItem
		for _, id := range ids {
			out = append(out, outboxItem{ID: id})
		}
		return out
	}
	tests := []struct {
		name       string
		offered    int64
		hands      [][]outboxItem
		reread     bool // passed with the last hand
		wantIDs    []int64
		wantReread bool
	}{
		{name: "continues offered", offered: 4, hands: [][]outboxItem{items(5), items(6, 7)}, wantIDs: []int64{5, 6, 7}},
		{name: "already read from the store", offered: 6, hands: [][]outboxItem{items(5, 6, 7)}, wantIDs: []int64{7}},
		{name: "gap before the first", offered: 4, hands: [][]outboxItem{items(6)}, wantReread: true},
		{name: "gap after the first", offered: 4, hands: [][]outboxItem{items(5), items(7)}, wantIDs: []int64{5}, wantReread: true},
		{name: "woken by someone else", offered: 4, hands: [][]outboxItem{items(5)}, reread: true, wantIDs: []int64{5}, wantReread: true},
		{name: "nothing handed", offered: 4, wantReread: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := newOutlet(Output{Sink: nopSink{}})
			if err != nil {
				t.Fatal(err)
			}
			o.offered = tt.offered
			for i, h := range tt.hands {
				o.hand(h, tt.reread && i == len(tt.hands)-1)
			}
			if len(tt.hands) > 0 {
				select {
				case <-o.wake:
				default:
					t.Fatal("hand did not wake the deliverer")
				}
			}
			got, reread := o.takeHanded()
			var ids []int64
			for _, it := range got {
				ids = append(ids, it.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) || reread != tt.wantReread {
				t.Fatalf("takeHanded = %v, reread %v; want %v, %v", ids, reread, tt.wantIDs, tt.wantReread)
			}
			if more, again := o.takeHanded(); len(more) > 0 || again {
				t.Fatalf("a second take returned %d events, reread %v: the first must take everything", len(more), again)
			}
		})
	}
}

// TestHandBounded: past handMax waiting events the outlet keeps no more
// in memory and reads the store instead.
func TestHandBounded(t *testing.T) {
	o, err := newOutlet(Output{Sink: nopSink{}})
	if err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= handMax; id++ {
		o.hand([]outboxItem{{ID: id}}, false)
	}
	o.hand([]outboxItem{{ID: handMax + 1}}, false)
	got, reread := o.takeHanded()
	if len(got) != handMax || !reread {
		t.Fatalf("after %d handed events: took %d, reread %v; want %d, true", handMax+1, len(got), reread, handMax)
	}
}

// nopSink is a sink the outlet never calls in these tests.
type nopSink struct{}

func (nopSink) Name() string { return "nop" }

func (nopSink) Deliver(context.Context, *alert.Event, []byte) error { return nil }

// TestStoreTriaged: a restarted agent skips the triage queries only when
// the desk never acknowledged or suppressed anything.
func TestStoreTriaged(t *testing.T) {
	tests := []struct {
		name string
		stmt string
		want bool
	}{
		{name: "nothing", want: false},
		{name: "an acknowledgement", stmt: `INSERT INTO acks(alert_id, actor, at) VALUES ('a', 'alice', 1)`, want: true},
		{name: "a suppression, even lifted", stmt: `INSERT INTO suppressions(alert_id, actor, created_at, lifted_at) VALUES ('a', 'alice', 1, 2)`, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := openStore(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if tt.stmt != "" {
				if _, err := st.db.ExecContext(ctx, tt.stmt); err != nil {
					t.Fatal(err)
				}
			}
			got, err := st.triaged(ctx)
			if err != nil || got != tt.want {
				t.Fatalf("triaged = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestQueueAlertOnce: a revision reaches the outbox with its first
// history row only; queueing it again is refused (and a silenced one is
// kept from the outbox), so an (alert_id, revision) never names two
// contents although the outbox has no index saying so.
func TestQueueAlertOnce(t *testing.T) {
	ctx := context.Background()
	st, err := openStore(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	queue := func(rev uint64, body string, n revisionNote) (bool, error) {
		tx, err := st.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		ev := &alert.Event{AlertID: "a1", Revision: rev, Event: alert.EventRaised, At: time.Unix(1, 0)}
		_, ok, err := queueAlert(ctx, tx, alertRow{AlertID: "a1", Revision: rev, State: stateActive, Type: alert.TypeMatch, Event: body}, ev, time.Unix(1, 0), n)
		if err == nil {
			err = tx.Commit()
		}
		return ok, err
	}
	if ok, err := queue(1, `{"v":1}`, revisionNote{}); err != nil || !ok {
		t.Fatalf("first revision 1: queued %v, %v", ok, err)
	}
	if ok, err := queue(1, `{"v":2}`, revisionNote{}); err == nil || ok {
		t.Fatalf("revision 1 again: queued %v, %v; want refused", ok, err)
	}
	if ok, err := queue(2, `{"v":3}`, revisionNote{Silenced: true}); err != nil || ok {
		t.Fatalf("silenced revision 2: queued %v, %v; want stored, not queued", ok, err)
	}
	var bodies []string
	rows, err := st.db.QueryContext(ctx, `SELECT body FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	if len(bodies) != 1 || bodies[0] != `{"v":1}` {
		t.Fatalf("outbox = %q, want only the first revision 1", bodies)
	}
}

// TestStoreCursor: the cursor is the log recorded with the first entry
// and the last entry stored, whatever an older agent left in meta.
func TestStoreCursor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := openStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := st.cursor(ctx); err != nil || c != (cursor{}) {
		t.Fatalf("empty store: cursor %+v, %v", c, err)
	}
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := setLogID(ctx, tx, "HEADSUP@1"); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{1, 2, 7} {
		if err := putEntry(ctx, tx, entryRow{Seq: seq, Status: statusVerified, JWS: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	// An older agent kept the cursor in meta; it must not be read.
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('cursor', '3')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if c, err := st.cursor(ctx); err != nil || c != (cursor{LogID: "HEADSUP@1", Seq: 7}) {
		t.Fatalf("cursor %+v, %v; want HEADSUP@1 at 7", c, err)
	}
	st.Close()
	// Reopened: the old meta row is dropped, the cursor the same.
	if st, err = openStore(ctx, dir); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM meta WHERE key = 'cursor'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("meta cursor rows after reopen: %d, %v", n, err)
	}
	if c, err := st.cursor(ctx); err != nil || c != (cursor{LogID: "HEADSUP@1", Seq: 7}) {
		t.Fatalf("reopened: cursor %+v, %v; want HEADSUP@1 at 7", c, err)
	}
}
