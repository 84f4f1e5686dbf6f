package bus

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Append reports each entry's log time: JetStream's store time, which
// neither the hub nor a publisher sets. The publish acknowledgement does
// not carry it, and reading every entry back for it (a stream message GET
// per append) cost more than the append itself: nats-server serves those
// requests one at a time, isolated from writes, and each one encodes the
// whole body as JSON base64 both ways. So a Log that appends also follows
// the stream with one headers-only ordered consumer, whose deliveries
// carry each entry's stream sequence, subject and store time in their
// metadata (the same server clock a GET reports) and no body, and Append
// takes the time from there. Whenever the stamp is not there in time (the
// consumer not running, restarting, or far behind), Append falls back to
// the read-back, so the answer never depends on the watcher being healthy.

// stampRing is how many recent stamps are kept, so that a stamp delivered
// before its Append looks for it (the consumer often beats the
// acknowledgement) is still found.
const stampRing = 4096

// stampWait is how long Append waits for a stamp before reading the entry
// back instead. Stamps normally arrive within a millisecond of the
// acknowledgement.
const stampWait = 250 * time.Millisecond

// stampRetry is the pause before a watcher that failed or missed a stamp
// is started again; meanwhile every Append reads back.
const stampRetry = 5 * time.Second

// stamp is what the watcher learned about one entry.
type stamp struct {
	seq     uint64
	stored  time.Time
	subject string
}

// stamps is a Log's watcher of store times. The zero value is stopped and
// starts on first use.
type stamps struct {
	mu       sync.Mutex
	starting bool
	closed   bool
	retryAt  time.Time
	// gen counts the consumers started; an Append uses a stamp only from
	// the consumer that ran when it published (ready), since a later one
	// starts after its entry and never delivers it.
	gen     uint64
	cons    jetstream.Consumer
	cc      jetstream.ConsumeContext // nil while no consumer runs
	ring    []stamp
	waiters map[uint64]chan stamp
}

// start makes sure a consumer runs, so that the entries of the appends that
// follow are among those it delivers. It returns at once when one runs, is
// being started by another append, or failed recently; a failure is left
// for the next retry (Append reads back meanwhile).
func (s *stamps) start(ctx context.Context, stream jetstream.Stream) {
	s.mu.Lock()
	if s.cc != nil || s.starting || s.closed || time.Now().Before(s.retryAt) {
		s.mu.Unlock()
		return
	}
	s.starting = true
	// The ring is ready before the first delivery can arrive.
	s.ring = make([]stamp, stampRing)
	s.waiters = map[uint64]chan stamp{}
	s.mu.Unlock()

	cons, cc, err := s.consume(ctx, stream)

	s.mu.Lock()
	s.starting = false
	if err == nil && !s.closed {
		s.gen++
		s.cons, s.cc = cons, cc
		s.mu.Unlock()
		return
	}
	s.retryAt = time.Now().Add(stampRetry)
	s.mu.Unlock()
	if cc != nil {
		cc.Stop()
		deleteConsumer(stream, cons)
	}
}

// consume starts the headers-only ordered consumer from the next entry.
func (s *stamps) consume(ctx context.Context, stream jetstream.Stream) (jetstream.Consumer, jetstream.ConsumeContext, error) {
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy,
		HeadersOnly:   true,
		// Only bounds how long a consumer outlives a hub that vanished;
		// a running watcher always has a pull pending.
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return nil, nil, err
	}
	cc, err := cons.Consume(s.seen)
	return cons, cc, err
}

// ready returns the generation of the consumer running now, 0 when none
// does; an Append asks before it publishes.
func (s *stamps) ready() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cc == nil {
		return 0
	}
	return s.gen
}

// storedAt returns the store time of the entry at seq, which must be under
// subject, once consumer gen (ready before the entry was published) has
// delivered it; ok is false when it does not within stampWait (or ctx),
// and the caller reads the entry back.
func (s *stamps) storedAt(ctx context.Context, stream jetstream.Stream, gen, seq uint64, subject string) (stored time.Time, ok bool) {
	s.mu.Lock()
	if gen == 0 || gen != s.gen || s.cc == nil {
		s.mu.Unlock()
		return time.Time{}, false
	}
	if st := s.ring[seq%stampRing]; st.seq == seq {
		s.mu.Unlock()
		return st.stored, st.subject == subject
	}
	w := make(chan stamp, 1)
	s.waiters[seq] = w
	s.mu.Unlock()

	t := time.NewTimer(stampWait)
	defer t.Stop()
	select {
	case st, open := <-w:
		return st.stored, open && st.subject == subject
	case <-t.C:
		// A stamp this late means the consumer is stuck or far behind:
		// replace it rather than make every Append wait for it.
		s.restart(stream, gen, seq)
	case <-ctx.Done():
	}
	s.mu.Lock()
	delete(s.waiters, seq)
	s.mu.Unlock()
	return time.Time{}, false
}

// seen records one delivery and hands it to the Append waiting for it.
func (s *stamps) seen(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	st := stamp{seq: md.Sequence.Stream, stored: md.Timestamp.UTC(), subject: m.Subject()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring == nil {
		return
	}
	s.ring[st.seq%stampRing] = st
	if w, ok := s.waiters[st.seq]; ok {
		w <- st
		delete(s.waiters, st.seq)
	}
}

// restart stops consumer gen, which missed the stamp of seq, unless
// another Append already did; the first append after stampRetry starts a
// new one.
func (s *stamps) restart(stream jetstream.Stream, gen, seq uint64) {
	s.mu.Lock()
	if _, waiting := s.waiters[seq]; !waiting || gen != s.gen || s.cc == nil {
		s.mu.Unlock()
		return
	}
	s.retryAt = time.Now().Add(stampRetry)
	s.stopLocked(stream)
}

// stop ends the watcher for good (Log.Close).
func (s *stamps) stop(stream jetstream.Stream) {
	s.mu.Lock()
	s.closed = true
	if s.cc == nil {
		s.mu.Unlock()
		return
	}
	s.stopLocked(stream)
}

// stopLocked stops the consumer, wakes every waiting Append with nothing
// (each reads back) and unlocks s.mu. The consumer is stopped outside the
// lock, which its delivery goroutine may be waiting for.
func (s *stamps) stopLocked(stream jetstream.Stream) {
	cons, cc := s.cons, s.cc
	s.cons, s.cc = nil, nil
	for seq, w := range s.waiters {
		close(w)
		delete(s.waiters, seq)
	}
	s.mu.Unlock()
	cc.Stop()
	deleteConsumer(stream, cons)
}

// deleteConsumer frees a stopped consumer's server state now rather than
// after its InactiveThreshold; best effort.
func deleteConsumer(stream jetstream.Stream, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = stream.DeleteConsumer(ctx, info.Name)
}
