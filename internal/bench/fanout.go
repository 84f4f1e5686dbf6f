package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
)

// fanOutTarget: at most 1.5 times the CPU of one JetStream ordered
// consumer per subscriber.
const fanOutTarget = 1 / 1.5

// fanOut measures process CPU per delivered notice while the hub delivers
// the same stored notices to N subscribers at once (each a gRPC Subscribe
// that does nothing with what it reads), against N JetStream ordered
// consumers reading the same entries over the in-process connection. Both
// sides include their readers' own CPU, since every reader runs in this
// process; nothing else runs meanwhile.
func (e *env) fanOut(ctx context.Context) ([]Row, error) {
	m := e.o.Sizes.FanOutNotices
	mode := e.o.Fsync[0]
	fed, err := NewFederation(e.dir("fanout-federation"))
	if err != nil {
		return nil, err
	}
	e.logf("fan-out: signing %d envelopes", m+1)
	ns, err := fed.Sign(m+1, func(i int) string { return fmt.Sprintf("f%d.example", i) })
	if err != nil {
		return nil, err
	}
	probe, ns := ns[0], ns[1:]
	h, err := StartHub(ctx, e.dir("fanout-hub"), fed.Path, mode)
	if err != nil {
		return nil, err
	}
	defer h.Stop()
	if err := h.WaitReady(ctx, probe.Env); err != nil {
		return nil, err
	}
	if _, err := Parallel(len(ns), e.o.Sizes.PublishConcurrency, func(i int) error {
		_, err := h.Client.Publish(ctx, &headsupv1.PublishRequest{Envelope: ns[i].Env})
		return err
	}); err != nil {
		return nil, err
	}
	raw, err := StartRawStream(ctx, e.dir("fanout-raw"), mode)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	if err := Seed(ctx, raw.JS, ns); err != nil {
		return nil, err
	}
	stream, err := raw.JS.Stream(ctx, bus.StreamName)
	if err != nil {
		return nil, err
	}

	var rows []Row
	for _, subs := range e.o.Sizes.FanOutSubscribers {
		var cuts atomic.Int64
		rounds, err := interleave(func(r int) (float64, error) {
			cpu, err := processCPU(func() error {
				_, err := Parallel(subs, subs, func(int) error {
					// The probe is sequence 1: the notices are 2..m+1.
					c, err := drain(ctx, h.Client, 1, uint64(m+1))
					cuts.Add(int64(c))
					return err
				})
				return err
			})
			per := perDelivery(cpu, subs*m)
			e.logf("fan-out %d round %d: hub %.1f µs CPU per delivered notice (%d cut-offs so far)", subs, r+1, per, cuts.Load())
			return per, err
		}, func(r int) (float64, error) {
			cpu, err := processCPU(func() error {
				_, err := Parallel(subs, subs, func(int) error { return consumeAll(ctx, stream, m) })
				return err
			})
			per := perDelivery(cpu, subs*m)
			e.logf("fan-out %d round %d: ordered consumers %.1f µs CPU per delivered notice", subs, r+1, per)
			return per, err
		})
		if err != nil {
			return rows, err
		}
		rows = append(rows, row("fan-out", fmt.Sprintf("CPU per delivered notice, %d subscribers", subs), "µs", lowerIsBetter, fanOutTarget, rounds))
	}
	return rows, nil
}

// consumeAll reads the stream's first m entries with one ordered consumer,
// pulling in the batches the hub's own reader uses.
func consumeAll(ctx context.Context, s jetstream.Stream, m int) error {
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(32))
	if err != nil {
		return err
	}
	defer it.Stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for range m {
		if _, err := it.Next(jetstream.NextContext(ctx)); err != nil {
			return err
		}
	}
	return nil
}

// processCPU returns the user and system CPU time this process spent
// while f ran.
func processCPU(f func() error) (time.Duration, error) {
	before, err := cpuTime()
	if err != nil {
		return 0, err
	}
	if err := f(); err != nil {
		return 0, err
	}
	after, err := cpuTime()
	return after - before, err
}

func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// perDelivery is microseconds of CPU per delivered notice.
func perDelivery(cpu time.Duration, deliveries int) float64 {
	return float64(cpu.Microseconds()) / float64(deliveries)
}
