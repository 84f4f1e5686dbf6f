package agent

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/match"
	"github.com/headsup-dev/headsup/internal/notice"
)

// The agent's hot paths, for benchstat: an entry verified as the
// workers do (verifyRecord), and entries committed with the alerts they
// raise (commit: one SQLite transaction per batch, synchronous=FULL).
// Every notice names a customer, so every committed entry raises an alert.

const benchCustomers = 1000

// benchAgent is an agent with its store, directory and customer list,
// and nothing running.
func benchAgent(b *testing.B) (*agent, ed25519.PrivateKey) {
	b.Helper()
	dirDoc := &directory.Directory{Serial: 1, TestNetwork: true}
	var priv ed25519.PrivateKey
	for _, id := range []string{"edgeshield", "voxhost"} {
		k, p, err := directory.NewKey(directory.UseNotice)
		if err != nil {
			b.Fatal(err)
		}
		if id == "edgeshield" {
			priv = p
		}
		dirDoc.Members = append(dirDoc.Members, &directory.Member{ID: id, Name: id, AbuseContact: "abuse@" + id + ".example",
			Roles: []directory.Role{directory.RolePublish, directory.RoleSubscribe}, Keys: []*directory.Key{k}})
	}
	body, err := directory.Marshal(dirDoc)
	if err != nil {
		b.Fatal(err)
	}
	state := b.TempDir()
	dirPath := filepath.Join(state, "directory.yaml")
	if err := os.WriteFile(dirPath, body, 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Member, cfg.DirectoryPath, cfg.StateDir = "voxhost", dirPath, state
	cfg.withDefaults()
	st, err := openStore(context.Background(), state)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	dirs, err := directory.NewWatcher(dirPath, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	a := &agent{cfg: cfg, log: cfg.Logger, store: st, model: newModel(), dirs: dirs, health: newHealth(cfg.Now())}
	if a.logw, err = newLogWatch(cfg); err != nil {
		b.Fatal(err)
	}
	a.metrics = newMetrics(a)
	rows := make([]match.Row, benchCustomers)
	for k := range rows {
		rows[k] = match.Row{Owner: fmt.Sprintf("c%d", k), Name: fmt.Sprintf("Customer %d", k), Type: match.TypeHost,
			Value: benchHost(k), Source: "bench", Line: k + 2}
	}
	a.custIndex, _ = match.Build(rows, a.matchConfig())
	return a, priv
}

func benchHost(k int) string { return fmt.Sprintf("cust-%d.example", k) }

// benchEntries are n received entries of suspension notices, entry i at
// sequence first+i naming customer (first+i) mod benchCustomers.
func benchEntries(b *testing.B, priv ed25519.PrivateKey, first, n int) []received {
	return benchEntriesMatching(b, priv, first, n, 1)
}

// benchEntriesMatching is benchEntries with one entry in every naming a
// customer, and the others hosts nobody holds (a catch-up's mix).
func benchEntriesMatching(b *testing.B, priv ed25519.PrivateKey, first, n, every int) []received {
	b.Helper()
	now := time.Now()
	out := make([]received, n)
	for i := range out {
		host := benchHost((first + i) % benchCustomers)
		if (first+i)%every != 0 {
			host = fmt.Sprintf("nobody-%d.example", first+i)
		}
		nt := &headsupv1.Notice{
			Issuer:     "edgeshield",
			Kind:       headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
			Subject:    &headsupv1.Entity{Label: host, Identifiers: []*headsupv1.Identifier{{Value: &headsupv1.Identifier_Host{Host: host}}}},
			Reason:     "abusive-content:violence",
			Summary:    "terminated for inciting violence",
			Tlp:        headsupv1.Tlp_TLP_GREEN,
			LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE, Reference: "AUP 4.2"},
		}
		if err := notice.Fill(nt, now); err != nil {
			b.Fatal(err)
		}
		if err := notice.Normalize(nt, notice.Options{TestNetwork: true}); err != nil {
			b.Fatal(err)
		}
		env, err := envelope.Seal(nt, priv)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = received{logID: "bench", seq: uint64(first + i), storedAt: now, at: now, env: env}
	}
	return out
}

// BenchmarkVerifyEntry is one verification worker's work for one entry:
// envelope.Verify and the record it becomes.
func BenchmarkVerifyEntry(b *testing.B) {
	a, priv := benchAgent(b)
	entries := benchEntries(b, priv, 1, 256)
	dir := a.directory()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if e, _ := a.verifyRecord(entries[i%len(entries)], dir); e.Status != statusVerified {
			b.Fatalf("entry %d: %s %s", e.Seq, e.Status, e.Error)
		}
	}
}

// BenchmarkCommit commits batches of entries already verified (as the
// workers hand them to the loop), each raising one alert: entries, alert,
// history and outbox rows, the cursor, and the SQLite commit. ns/op is
// per entry.
func BenchmarkCommit(b *testing.B) {
	for _, bc := range []struct{ size, every int }{{1, 1}, {100, 1}, {1000, 100}} {
		size := bc.size
		name := fmt.Sprintf("batch=%d", size)
		if bc.every > 1 {
			name += fmt.Sprintf("/one_in_%d_matching", bc.every)
		}
		b.Run(name, func(b *testing.B) {
			a, priv := benchAgent(b)
			ctx := context.Background()
			if err := a.commit(ctx, nil, true); err != nil {
				b.Fatal(err)
			}
			// Prepared outside the timer: signing costs more than what is
			// measured.
			pool := benchEntriesMatching(b, priv, 1, b.N, bc.every)
			dir := a.directory()
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				b.StopTimer()
				n := min(size, b.N-done)
				batch := make([]received, n)
				for i := range batch {
					r := pool[done+i]
					c := &checked{done: make(chan struct{}), dir: dir}
					c.entry, c.rec = a.verifyRecord(r, dir)
					close(c.done)
					r.checked = c
					batch[i] = r
				}
				b.StartTimer()
				if err := a.commit(ctx, batch, false); err != nil {
					b.Fatal(err)
				}
				done += n
			}
		})
	}
}

// BenchmarkCommitFrames reports the WAL frames (4 KiB pages) one
// single-alert commit writes: each is two writes, and most of a commit's
// cost beside the fsync. Checkpoints are off while it runs, so the WAL
// holds every frame written.
func BenchmarkCommitFrames(b *testing.B) {
	a, priv := benchAgent(b)
	ctx := context.Background()
	if err := a.commit(ctx, nil, true); err != nil {
		b.Fatal(err)
	}
	if _, err := a.store.db.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
		b.Fatal(err)
	}
	pool := benchEntries(b, priv, 1, b.N)
	dir := a.directory()
	wal := filepath.Join(a.cfg.StateDir, "agent.db-wal")
	before, err := os.Stat(wal)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for _, r := range pool {
		c := &checked{done: make(chan struct{}), dir: dir}
		c.entry, c.rec = a.verifyRecord(r, dir)
		close(c.done)
		r.checked = c
		if err := a.commit(ctx, []received{r}, false); err != nil {
			b.Fatal(err)
		}
	}
	after, err := os.Stat(wal)
	if err != nil {
		b.Fatal(err)
	}
	const frame = 24 + 4096
	b.ReportMetric(float64(after.Size()-before.Size())/frame/float64(b.N), "frames/commit")
}
