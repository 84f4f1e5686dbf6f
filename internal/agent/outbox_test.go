package agent

import (
	"context"
	"slices"
	"testing"

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
