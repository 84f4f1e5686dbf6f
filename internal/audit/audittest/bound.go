package audittest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// syntheticIssuers publish a synthetic history's notices in turn.
var syntheticIssuers = []string{"edgeshield", "voxhost", "researcher"}

// Synthetic returns a valid history of n entries (n ≥ 1) for benchmarks:
// one directory version, then suspensions by three issuers in turn, one in
// eight redacted, with a checkpoint every 1000 entries and at the end.
func Synthetic(tb TB, n int) *History {
	tb.Helper()
	h := New(tb)
	for i := 1; len(h.Entries) < n; i++ {
		iss := syntheticIssuers[i%len(syntheticIssuers)]
		notice := Suspension(fmt.Sprintf("host-%d.example", i))
		if i%8 == 0 {
			h.PublishRedacted(iss, notice)
		} else {
			h.Publish(iss, notice)
		}
		if len(h.Entries)%1000 == 0 {
			h.Checkpoint()
		}
	}
	if len(h.Entries)%1000 != 0 {
		h.Checkpoint()
	}
	return h
}

// Bound is the unavoidable cost of auditing an archive of a history: what
// any auditor must do for each entry and nothing else (issue 9's
// 1/(1/V + 1/H + 1/D)).
//
//   - D reads the export: the archive decoded by audit.ArchiveSource, on
//     one goroutine, as a stream is read.
//   - V is a bare ed25519.Verify of each notice's JWS (redacted or not),
//     on as many goroutines as Measure is given (issue 9: all cores).
//   - H hashes, on one goroutine (a tree grows in order), each notice's
//     bytes with SHA-256, its leaf (tlog.RecordHash of the JWS) and one
//     interior node, as an RFC 6962 tree amortises to one node per leaf.
//
// Directory entries (one per version) are read but neither verified nor
// hashed: their cost is left out, in the figure's disfavour.
type Bound struct {
	archive []byte
	entries int
	items   []boundItem
}

// boundItem is one notice entry's work, prepared before any measurement.
type boundItem struct {
	pub    ed25519.PublicKey
	input  []byte // the JWS signing input, a prefix of record
	sig    []byte
	notice []byte // nil for a redacted entry
	record []byte // the JWS, the tree's record
}

// Bound prepares the bound of verifying archive, an export of h as it
// stands (h.Source().Archive). Keys are taken from h.Dir.
func (h *History) Bound(archive []byte) *Bound {
	h.tb.Helper()
	b := &Bound{archive: archive, entries: len(h.Entries)}
	for _, e := range h.Entries {
		if e.Directory != nil {
			continue
		}
		jws := e.RedactedJWS
		if e.Envelope != nil {
			jws = e.Envelope.Jws
		}
		claims, err := envelope.PeekClaims(jws)
		must(h.tb, err)
		i := strings.LastIndexByte(jws, '.')
		sig, err := base64.RawURLEncoding.DecodeString(jws[i+1:])
		must(h.tb, err)
		record := []byte(jws)
		it := boundItem{pub: h.Key(claims.Issuer).Public, input: record[:i], sig: sig, record: record}
		if e.Envelope != nil {
			it.notice = e.Envelope.Notice
		}
		b.items = append(b.items, it)
	}
	return b
}

// BoundTimes is one measurement of a Bound.
type BoundTimes struct {
	// Entries is the number of entries in the archive.
	Entries int
	// Read (D), Verify (V) and Hash (H) are the wall times of each part
	// over every entry.
	Read, Verify, Hash time.Duration
}

// Rate is the bound in entries/s: 1/(1/V + 1/H + 1/D), each part's rate
// taken over the same entries.
func (t BoundTimes) Rate() float64 { return perSecond(t.Entries, t.Read+t.Verify+t.Hash) }

// ReadRate is D in entries/s.
func (t BoundTimes) ReadRate() float64 { return perSecond(t.Entries, t.Read) }

// VerifyRate is V in entries/s.
func (t BoundTimes) VerifyRate() float64 { return perSecond(t.Entries, t.Verify) }

// HashRate is H in entries/s.
func (t BoundTimes) HashRate() float64 { return perSecond(t.Entries, t.Hash) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Measure times the bound's three parts, one after the other, V on
// workers goroutines (≤ 0: GOMAXPROCS). It fails when the archive does
// not hold the history's entries or a signature does not verify.
func (b *Bound) Measure(ctx context.Context, workers int) (BoundTimes, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	t := BoundTimes{Entries: b.entries}

	start := time.Now()
	n, err := readArchive(ctx, b.archive)
	if err != nil {
		return t, fmt.Errorf("read the export: %w", err)
	}
	if n != b.entries {
		return t, fmt.Errorf("read the export: %d entries, the history has %d", n, b.entries)
	}
	t.Read = time.Since(start)

	start = time.Now()
	if err := b.verify(workers); err != nil {
		return t, err
	}
	t.Verify = time.Since(start)

	start = time.Now()
	var node, digests tlog.Hash
	for _, it := range b.items {
		digest := sha256.Sum256(it.notice)
		node = tlog.NodeHash(node, tlog.RecordHash(it.record))
		digests[digest[0]%32] ^= digest[1]
	}
	t.Hash = time.Since(start)
	// Used, so that no hashing above is optimised away.
	runtime.KeepAlive(node)
	runtime.KeepAlive(digests)
	return t, nil
}

// readArchive decodes every line of archive and counts the entries.
func readArchive(ctx context.Context, archive []byte) (int, error) {
	src := audit.NewArchiveSource(bytes.NewReader(archive))
	if _, err := src.Start(ctx); err != nil {
		return 0, err
	}
	if _, err := src.Checkpoints(ctx); err != nil {
		return 0, err
	}
	for n := 0; ; n++ {
		_, err := src.Next(ctx)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// verify runs a bare ed25519.Verify of every item on workers goroutines,
// each taking the next item in turn.
func (b *Bound) verify(workers int) error {
	var next atomic.Int64
	var failed atomic.Int64 // 1 + the index of a signature that failed
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for failed.Load() == 0 {
				i := int(next.Add(1)) - 1
				if i >= len(b.items) {
					return
				}
				if it := b.items[i]; !ed25519.Verify(it.pub, it.input, it.sig) {
					failed.CompareAndSwap(0, int64(i)+1)
				}
			}
		})
	}
	wg.Wait()
	if i := failed.Load(); i != 0 {
		return fmt.Errorf("bare ed25519.Verify of notice entry %d failed", i-1)
	}
	return nil
}
