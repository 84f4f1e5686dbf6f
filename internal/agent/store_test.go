package agent

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestPutEntries: entries stored in multi-row statements and the single
// rows after them read back as stored, whatever the count.
func TestPutEntries(t *testing.T) {
	for _, n := range []int{0, 1, entriesPerInsert - 1, entriesPerInsert, entriesPerInsert + 1, 2*entriesPerInsert + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := context.Background()
			st, err := openStore(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			at := time.Unix(1700000000, 0)
			var want []entryRow
			for i := range n {
				want = append(want, entryRow{Seq: uint64(i + 1), Status: statusVerified, Issuer: "edgeshield", ID: fmt.Sprintf("id-%d", i),
					Kind: "customer_suspended", Kid: "k1", Notice: []byte{byte(i), 1, 2}, JWS: fmt.Sprintf("jws-%d", i), StoredAt: at, LogTime: at.Add(time.Duration(i) * time.Second)})
			}
			tx, err := st.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := putEntries(ctx, st.cached(tx), want); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			got, err := st.entries(ctx, statusVerified)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("read back %d entries, want %d", len(got), n)
			}
			for i := range got {
				g, w := got[i], want[i]
				if g.Seq != w.Seq || g.ID != w.ID || string(g.Notice) != string(w.Notice) || g.JWS != w.JWS || !g.LogTime.Equal(w.LogTime) || !g.StoredAt.Equal(w.StoredAt) || g.Kid != w.Kid || g.Kind != w.Kind {
					t.Fatalf("entry %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
