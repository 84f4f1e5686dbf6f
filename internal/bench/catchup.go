package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
)

// catchUpTarget is issue 9's target for catch-up: 0.75 of the bound.
const catchUpTarget = 0.75

// catchUpMatchEvery: one notice in this many names a customer, the others
// name hosts nobody holds.
const catchUpMatchEvery = 100

// catchUp measures notices/s the agent verifies, matches and commits while
// replaying notices seeded straight into JetStream, a third per round,
// against 1/(1/V + 1/D): V bare ed25519.Verify of the same notices on all
// cores, D the hub's Subscribe delivery of the same entries to a client
// that does nothing.
func (e *env) catchUp(ctx context.Context) ([]Row, error) {
	n := e.o.Sizes.CatchUp
	mode := e.o.Fsync[0]
	fed, err := NewFederation(e.dir("catchup-federation"))
	if err != nil {
		return nil, err
	}
	e.logf("catch-up: signing %d envelopes", n+1)
	ns, err := fed.Sign(n+1, func(i int) string {
		if i%catchUpMatchEvery == 0 {
			return CustomerHost(i / catchUpMatchEvery % endToEndCustomers)
		}
		return fmt.Sprintf("n%d.example", i)
	})
	if err != nil {
		return nil, err
	}
	probe, ns := ns[n], ns[:n]

	// Seeded with fsync=interval: only the replay is measured, and
	// syncing every seeded write would only make the run longer.
	hubDir := e.dir("catchup-hub")
	e.logf("catch-up: seeding %d notices into JetStream", n)
	raw, err := StartRawStream(ctx, hubDir, bus.FsyncInterval)
	if err != nil {
		return nil, err
	}
	err = Seed(ctx, raw.JS, ns)
	if cerr := raw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	h, err := StartHub(ctx, hubDir, fed.Path, mode)
	if err != nil {
		return nil, err
	}
	defer h.Stop()
	if err := h.WaitReady(ctx, probe.Env); err != nil {
		return nil, err
	}

	stateDir := e.dir("catchup-agent")
	var committed atomic.Uint64
	var firstCommit atomic.Int64 // unix nanoseconds of the round's first commit
	agentCfg := AgentConfig{
		Hub: h.Addr, DirectoryPath: fed.Path, StateDir: stateDir, Customers: Customers(endToEndCustomers),
		Committed: func(seq uint64) {
			committed.Store(seq)
			firstCommit.CompareAndSwap(0, time.Now().UnixNano())
		},
	}
	seg := func(r int) (from, to int) { return r * n / Rounds, (r + 1) * n / Rounds }
	rounds, err := interleave(func(r int) (float64, error) {
		_, to := seg(r)
		firstCommit.Store(0)
		a, err := StartAgent(ctx, agentCfg)
		if err != nil {
			return 0, err
		}
		// The clock starts at the agent's first commit (its state loaded,
		// its customer list read), so a restart's setup is not counted.
		deadline := time.Now().Add(e.o.Sizes.CatchUpRoundLimit)
		for firstCommit.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		start, from := time.Unix(0, firstCommit.Load()), committed.Load()
		// The agent commits in batches and may have run past this
		// round's third: it then replays at least half a third more.
		to = min(max(to, int(from)+n/(2*Rounds)), n+1)
		deadline = start.Add(e.o.Sizes.CatchUpRoundLimit)
		for committed.Load() < uint64(to) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		end, upto := time.Now(), committed.Load()
		if err := a.Stop(); err != nil {
			return 0, fmt.Errorf("agent: %w", err)
		}
		if upto <= from {
			return 0, fmt.Errorf("the agent committed nothing in %s (cursor %d)", e.o.Sizes.CatchUpRoundLimit, from)
		}
		note := ""
		if upto < uint64(to) {
			note = fmt.Sprintf(" (stopped by the %s bound at %d of %d)", e.o.Sizes.CatchUpRoundLimit, upto, to)
		}
		got := rate(int(upto-from), end.Sub(start))
		e.logf("catch-up round %d: agent %.0f notices/s over sequences %d..%d%s", r+1, got, from+1, upto, note)
		return got, nil
	}, func(r int) (float64, error) {
		from, to := seg(r)
		v, err := VerifyRate(fed.Pub, ns[from:to], allCores())
		if err != nil {
			return 0, err
		}
		start := time.Now()
		cut, err := drain(ctx, h.Client, uint64(from), uint64(to))
		if err != nil {
			return 0, fmt.Errorf("subscribe: %w", err)
		}
		d := rate(to-from, time.Since(start))
		bound := 1 / (1/v + 1/d)
		e.logf("catch-up round %d: V %.0f/s D %.0f/s (%d cut-offs) bound %.0f/s", r+1, v, d, cut, bound)
		return bound, nil
	})
	if err != nil {
		return nil, err
	}
	return []Row{row("catch-up", fmt.Sprintf("notices/s verified, matched, committed; %s replayed", sizeName(n)), "notices/s", higherIsBetter, catchUpTarget, rounds)}, nil
}

// drain subscribes after sequence after and reads entries up to and
// including until, doing nothing with them. A subscription the hub cuts
// off (a slow subscriber, RESOURCE_EXHAUSTED; or UNAVAILABLE) is resumed
// from the last entry received, as an agent does but without its backoff;
// drain returns how many times that happened.
func drain(ctx context.Context, client headsupv1.HubServiceClient, after, until uint64) (cutoffs int, err error) {
	for after < until {
		err := func() error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			st, err := client.Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: after}})
			if err != nil {
				return err
			}
			for after < until {
				ev, err := st.Recv()
				if err != nil {
					return err
				}
				if e := ev.GetEntry(); e != nil {
					after = e.GetSequence()
				}
			}
			return nil
		}()
		switch status.Code(err) {
		case codes.OK:
		case codes.ResourceExhausted, codes.Unavailable:
			cutoffs++
		default:
			return cutoffs, err
		}
	}
	return cutoffs, nil
}
