package bench

import (
	"context"
	"errors"
	"fmt"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
)

// publishTarget is issue 9's target for publish: 0.75 of the bound.
const publishTarget = 0.75

// publish measures notices/s through the hub's Publish (64 concurrent
// publishers on one connection, envelopes signed in advance) against
// 1/(1/V + 1/S + 1/G) at the same concurrency: V bare ed25519.Verify of
// the same signing inputs, S raw JetStream publish of the same bodies and
// headers to the same stream settings over the same in-process
// connection, G a gRPC call over loopback TCP of the same request size.
func (e *env) publish(ctx context.Context) ([]Row, error) {
	var rows []Row
	for _, mode := range e.o.Fsync {
		r, err := e.publishWith(ctx, mode)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (e *env) publishWith(ctx context.Context, mode bus.FsyncMode) (Row, error) {
	n, workers := e.o.Sizes.PublishPerRound, e.o.Sizes.PublishConcurrency
	fed, err := NewFederation(e.dir("publish-federation"))
	if err != nil {
		return Row{}, err
	}
	e.logf("publish (fsync=%s): signing %d envelopes", mode, n*Rounds+1)
	ns, err := fed.Sign(n*Rounds+1, func(i int) string { return fmt.Sprintf("p%d.example", i) })
	if err != nil {
		return Row{}, err
	}
	probe, ns := ns[0], ns[1:]
	h, err := StartHub(ctx, e.dir("publish-hub"), fed.Path, mode)
	if err != nil {
		return Row{}, err
	}
	defer h.Stop()
	if err := h.WaitReady(ctx, probe.Env); err != nil {
		return Row{}, err
	}
	raw, err := StartRawStream(ctx, e.dir("publish-raw"), mode)
	if err != nil {
		return Row{}, err
	}
	defer raw.Close()
	echo, err := StartEcho()
	if err != nil {
		return Row{}, err
	}
	defer echo.Close()

	rounds, err := interleave(func(r int) (float64, error) {
		batch := ns[r*n : (r+1)*n]
		d, err := Parallel(n, workers, func(i int) error {
			_, err := h.Client.Publish(ctx, &headsupv1.PublishRequest{Envelope: batch[i].Env})
			return err
		})
		e.logf("publish (fsync=%s) round %d: hub %.0f/s", mode, r+1, rate(n, d))
		return rate(n, d), err
	}, func(r int) (float64, error) {
		batch := ns[r*n : (r+1)*n]
		v, err := VerifyRate(fed.Pub, batch, workers)
		if err != nil {
			return 0, err
		}
		ds, err := Parallel(n, workers, func(i int) error { return raw.Publish(ctx, batch[i]) })
		if err != nil {
			return 0, fmt.Errorf("raw JetStream: %w", err)
		}
		dg, err := Parallel(n, workers, func(i int) error { return echo.Call(ctx, batch[i].Body) })
		if err != nil {
			return 0, fmt.Errorf("gRPC echo: %w", err)
		}
		s, g := rate(n, ds), rate(n, dg)
		bound := 1 / (1/v + 1/s + 1/g)
		e.logf("publish (fsync=%s) round %d: V %.0f/s S %.0f/s G %.0f/s bound %.0f/s", mode, r+1, v, s, g, bound)
		return bound, nil
	})
	if err != nil {
		return Row{}, err
	}
	if ctx.Err() != nil {
		return Row{}, errors.Join(ctx.Err(), err)
	}
	return row("publish", fmt.Sprintf("notices/s, %d publishers, fsync=%s", workers, mode), "notices/s", higherIsBetter, publishTarget, rounds), nil
}
