package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/audit/audittest"
)

// auditTarget is issue 9's target for audit: 0.75 of the bound.
const auditTarget = 0.75

// auditVerify measures entries/s of audit.Verify over the archive of a synthetic
// history (audittest.Synthetic) against audittest.Bound: 1/(1/V + 1/H +
// 1/D), V bare ed25519.Verify of each JWS on all cores, H SHA-256 of the
// notice, its leaf and one tree node, D reading the export. Both read the
// archive from memory.
func (e *env) auditVerify(ctx context.Context) ([]Row, error) {
	n := e.o.Sizes.Audit
	e.logf("audit: building a %d-entry history", n)
	var (
		archive []byte
		bound   *audittest.Bound
		cfg     audit.Config
	)
	err := withHistoryTB(func(tb *historyTB) {
		h := audittest.Synthetic(tb, n)
		archive = h.Source().Archive(tb)
		bound = h.Bound(archive)
		cfg = audit.Config{GovernanceVerifierKey: h.GovernanceKey, Now: h.Clock}
	})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	e.logf("audit: archive of %d entries, %d MB", n, len(archive)>>20)

	rounds, err := interleave(func(r int) (float64, error) {
		start := time.Now()
		rep, err := audit.Verify(ctx, cfg, audit.NewArchiveSource(bytes.NewReader(archive)))
		if err != nil {
			return 0, err
		}
		d := time.Since(start)
		if rep.Entries != uint64(n) {
			return 0, fmt.Errorf("audit verify: %d entries verified, the archive holds %d", rep.Entries, n)
		}
		got := rate(n, d)
		e.logf("audit round %d: audit verify %.0f entries/s", r+1, got)
		return got, nil
	}, func(r int) (float64, error) {
		t, err := bound.Measure(ctx, allCores())
		if err != nil {
			return 0, err
		}
		e.logf("audit round %d: V %.0f/s H %.0f/s D %.0f/s bound %.0f/s", r+1, t.VerifyRate(), t.HashRate(), t.ReadRate(), t.Rate())
		return t.Rate(), nil
	})
	if err != nil {
		return nil, err
	}
	return []Row{row("audit", fmt.Sprintf("entries/s of audit verify over %s entries", sizeName(n)), "entries/s", higherIsBetter, auditTarget, rounds)}, nil
}

// historyTB is the audittest.TB a command gives a history: Fatal and
// Fatalf panic with a historyFailure, which withHistoryTB recovers and
// returns as an error; Cleanup's functions run when withHistoryTB returns.
// Helper does nothing (there is no test log to trim).
type historyTB struct{ cleanups []func() }

// historyFailure is what historyTB panics with.
type historyFailure struct{ err error }

func (*historyTB) Helper() {}

func (*historyTB) Fatal(args ...any) { panic(historyFailure{errors.New(fmt.Sprint(args...))}) }

func (*historyTB) Fatalf(format string, args ...any) {
	panic(historyFailure{fmt.Errorf(format, args...)})
}

func (tb *historyTB) Cleanup(f func()) { tb.cleanups = append(tb.cleanups, f) }

// withHistoryTB runs build with a historyTB and returns the failure it
// reported, if any, after running its cleanups, last registered first.
// Any other panic goes on.
func withHistoryTB(build func(tb *historyTB)) (err error) {
	tb := &historyTB{}
	defer func() {
		for _, f := range slices.Backward(tb.cleanups) {
			f()
		}
	}()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		f, ok := r.(historyFailure)
		if !ok {
			panic(r)
		}
		err = f.err
	}()
	build(tb)
	return nil
}
