package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/bus"
)

// endToEndTarget: p50 at most 1.5 times the bare pipeline's.
const endToEndTarget = 1 / 1.5

// endToEndCustomers is the customer list's size; notice i names customer
// i mod endToEndCustomers, so every notice matches exactly one customer
// and raises its own alert.
const endToEndCustomers = 1000

// endToEnd measures publish → durable alert (the agent's JSON-lines sink
// has written and fsynced it) on an open-loop schedule, latency counted
// from each notice's scheduled send time, against the same path with no
// headsup code (pipe).
func (e *env) endToEnd(ctx context.Context) ([]Row, error) {
	var rows []Row
	for _, mode := range e.o.Fsync {
		r, err := e.endToEndWith(ctx, mode)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func (e *env) endToEndWith(ctx context.Context, mode bus.FsyncMode) ([]Row, error) {
	perSec := e.o.Sizes.EndToEndRate
	n := int(float64(perSec) * e.o.Sizes.EndToEndDuration.Seconds())
	fed, err := NewFederation(e.dir("e2e-federation"))
	if err != nil {
		return nil, err
	}
	e.logf("end-to-end (fsync=%s): signing %d envelopes", mode, n*Rounds+1)
	ns, err := fed.Sign(n*Rounds+1, func(i int) string { return CustomerHost(i % endToEndCustomers) })
	if err != nil {
		return nil, err
	}
	index := make(map[string]int, len(ns))
	for i, s := range ns {
		index[s.ID] = i
	}
	arrived := newArrivals(len(ns))
	// Where the time goes: when the agent's store first held each
	// notice's sequence (Committed), against its sink's durable write.
	seqs := make([]atomic.Uint64, len(ns))
	var committed commits

	h, err := StartHub(ctx, e.dir("e2e-hub"), fed.Path, mode)
	if err != nil {
		return nil, err
	}
	defer h.Stop()
	a, err := StartAgent(ctx, AgentConfig{
		Hub: h.Addr, DirectoryPath: fed.Path, StateDir: e.dir("e2e-agent"), Customers: Customers(endToEndCustomers),
		Delivered: func(ev *alert.Event) {
			if ev.Event == alert.EventRaised && ev.Root != nil {
				if i, ok := index[ev.Root.ID]; ok {
					arrived.set(i, time.Now())
				}
			}
		},
		Committed: func(seq uint64) { committed.add(seq, time.Now()) },
	})
	if err != nil {
		return nil, err
	}
	defer a.Stop()
	// The first notice proves the whole path works before measuring.
	probe, ns := ns[0], ns[1:]
	if err := h.WaitReady(ctx, probe.Env); err != nil {
		return nil, err
	}
	if err := arrived.wait(ctx, []int{0}, 60*time.Second); err != nil {
		return nil, fmt.Errorf("the agent raised no alert for the first notice: %w", err)
	}
	pipe, err := startPipe(ctx, e.dir("e2e-pipe"), mode, fed.Pub, ns)
	if err != nil {
		return nil, err
	}
	defer pipe.Close()

	interval := time.Second / time.Duration(perSec)
	var p99s []round
	rounds, err := interleave(func(r int) (float64, error) {
		batch := ns[r*n : (r+1)*n]
		delivered := func(i int) (time.Time, bool) { return arrived.get(1 + r*n + i) }
		lat, start, err := openLoop(ctx, batch, interval, func(s Signed) error {
			resp, err := h.Client.Publish(ctx, &headsupv1.PublishRequest{Envelope: s.Env})
			seqs[index[s.ID]].Store(resp.GetSequence())
			return err
		}, delivered)
		if err != nil {
			return 0, err
		}
		p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
		p99s = append(p99s, round{value: p99})
		toCommit, toSink := stages(start, interval, len(batch), func(i int) (time.Time, bool) {
			return committed.when(seqs[1+r*n+i].Load())
		}, delivered)
		e.logf("end-to-end (fsync=%s) round %d: headsup p50 %.1f ms p99 %.1f ms (p50 to the agent's commit %.2f ms, then to the sink %.2f ms)", mode, r+1, p50, p99, toCommit, toSink)
		return p50, nil
	}, func(r int) (float64, error) {
		batch := ns[r*n : (r+1)*n]
		durable := func(i int) (time.Time, bool) { return pipe.arrived.get(r*n + i) }
		lat, start, err := openLoop(ctx, batch, interval, pipe.Publish, durable)
		if err != nil {
			return 0, err
		}
		p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
		p99s[r].baseline = p99
		toClient, toDisk := stages(start, interval, len(batch), func(i int) (time.Time, bool) { return pipe.received.get(r*n + i) }, durable)
		e.logf("end-to-end (fsync=%s) round %d: bare pipeline p50 %.1f ms p99 %.1f ms (p50 to the client %.2f ms, then verified and on disk %.2f ms)", mode, r+1, p50, p99, toClient, toDisk)
		return p50, nil
	})
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("%d notices/s, fsync=%s", perSec, mode)
	return []Row{
		row("end-to-end", "p50 publish→durable alert, "+what, "ms", lowerIsBetter, endToEndTarget, rounds),
		row("end-to-end", "p99 publish→durable alert, "+what, "ms", lowerIsBetter, 0, p99s),
	}, nil
}

// openLoop sends batch[i] at start + i·interval whatever the previous
// sends' progress (an open loop: a slow system does not slow the
// schedule), then waits for every arrival and returns the latencies in
// milliseconds from each scheduled time, and start.
func openLoop(ctx context.Context, batch []Signed, interval time.Duration, send func(Signed) error, arrival func(i int) (time.Time, bool)) ([]float64, time.Time, error) {
	start := time.Now().Add(10 * time.Millisecond)
	errs := make(chan error, len(batch))
	var wg sync.WaitGroup
	for i, s := range batch {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() {
			if err := send(s); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, start, fmt.Errorf("send: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	lat := make([]float64, len(batch))
	for i := range batch {
		for {
			t, ok := arrival(i)
			if ok {
				lat[i] = float64(t.Sub(start.Add(time.Duration(i)*interval))) / float64(time.Millisecond)
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, start, fmt.Errorf("notice %d of %d: %w (60 s after the last send)", i, len(batch), errMissing)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return lat, start, nil
}

// stages splits the latency of n notices scheduled from start at interval
// at a point on their way (mid): the medians, in milliseconds, from the
// schedule to mid and from mid to the end. Notices without both times
// are left out.
func stages(start time.Time, interval time.Duration, n int, mid, end func(i int) (time.Time, bool)) (toMid, midToEnd float64) {
	var a, b []float64
	for i := range n {
		m, ok1 := mid(i)
		d, ok2 := end(i)
		if !ok1 || !ok2 {
			continue
		}
		a = append(a, float64(m.Sub(start.Add(time.Duration(i)*interval)))/float64(time.Millisecond))
		b = append(b, float64(d.Sub(m))/float64(time.Millisecond))
	}
	return percentile(a, 0.5), percentile(b, 0.5)
}

// commits records when the agent's store first held each sequence, from
// its Committed callback (the cursor after each commit).
type commits struct {
	mu  sync.Mutex
	seq []uint64
	at  []time.Time
}

func (c *commits) add(seq uint64, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seq) == 0 || seq > c.seq[len(c.seq)-1] {
		c.seq, c.at = append(c.seq, seq), append(c.at, t)
	}
}

// when returns when seq was first committed: by the first commit whose
// cursor reached it.
func (c *commits) when(seq uint64) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, _ := slices.BinarySearch(c.seq, seq)
	if seq == 0 || i == len(c.seq) {
		return time.Time{}, false
	}
	return c.at[i], true
}

// percentile returns the q-quantile of xs (nearest rank).
func percentile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// arrivals records when each notice arrived.
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func newArrivals(n int) *arrivals { return &arrivals{at: make([]time.Time, n)} }

func (a *arrivals) set(i int, t time.Time) {
	a.mu.Lock()
	if a.at[i].IsZero() {
		a.at[i] = t
	}
	a.mu.Unlock()
}

func (a *arrivals) get(i int) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.at[i], !a.at[i].IsZero()
}

func (a *arrivals) wait(ctx context.Context, is []int, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for _, i := range is {
		for {
			if _, ok := a.get(i); ok {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return errMissing
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// pipe is the end-to-end baseline: the same path with no headsup code. A
// gRPC unary call carries the envelope to a server that checks its
// Ed25519 signature and publishes it to JetStream (same stream settings,
// headers and fsync mode, in-process connection); a gRPC server stream
// carries each stored message to a client that checks the signature
// again, appends a line to a file and fsyncs (once per group of lines
// already received, as a sink that never waits would) before the notice
// counts as arrived.
type pipe struct {
	raw     *RawStream
	srv     *grpc.Server
	conn    *grpc.ClientConn
	pub     ed25519.PublicKey
	index   map[string]int // JWS → position in the scenario's batches
	arrived *arrivals      // durable in the client's file
	// received is when the client's stream delivered each notice.
	received *arrivals
	cancel   context.CancelFunc
	done     chan error
}

type pipeService interface{}

// startPipe starts the pipe; ns are the notices whose arrivals it records,
// by position.
func startPipe(ctx context.Context, dir string, mode bus.FsyncMode, pub ed25519.PublicKey, ns []Signed) (*pipe, error) {
	raw, err := StartRawStream(ctx, filepath.Join(dir, "nats"), mode)
	if err != nil {
		return nil, err
	}
	p := &pipe{raw: raw, pub: pub, index: make(map[string]int, len(ns)), arrived: newArrivals(len(ns)), received: newArrivals(len(ns))}
	for i, s := range ns {
		p.index[s.Env.GetJws()] = i
	}
	desc := grpc.ServiceDesc{
		ServiceName: "headsup.bench.Pipe",
		HandlerType: (*pipeService)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Publish", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			env := &headsupv1.Envelope{}
			if err := dec(env); err != nil {
				return nil, err
			}
			return &emptypb.Empty{}, p.store(ctx, env)
		}}},
		Streams: []grpc.StreamDesc{{StreamName: "Follow", ServerStreams: true, Handler: func(_ any, stream grpc.ServerStream) error {
			if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
				return err
			}
			return p.follow(stream)
		}}},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		raw.Close()
		return nil, err
	}
	p.srv = grpc.NewServer()
	p.srv.RegisterService(&desc, struct{}{})
	go func() { _ = p.srv.Serve(lis) }()
	if p.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		p.Close()
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "alerts.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.Close()
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	p.cancel, p.done = cancel, make(chan error, 1)
	stream, err := p.conn.NewStream(cctx, &desc.Streams[0], "/headsup.bench.Pipe/Follow")
	if err == nil {
		err = stream.SendMsg(&emptypb.Empty{})
	}
	if err == nil {
		err = stream.CloseSend()
	}
	if err != nil {
		cancel()
		f.Close()
		p.Close()
		return nil, err
	}
	go func() { p.done <- p.consume(stream, f) }()
	return p, nil
}

func (p *pipe) store(ctx context.Context, env *headsupv1.Envelope) error {
	input, sig, err := splitJWS(env.GetJws())
	if err != nil || !ed25519.Verify(p.pub, input, sig) {
		return errors.New("pipe: signature invalid")
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	id := hex.EncodeToString(sum[:])
	_, err = p.raw.JS.PublishMsg(ctx, &nats.Msg{Subject: bus.SubjectPrefix + Publisher + "." + id, Data: body},
		jetstream.WithMsgID(id), jetstream.WithExpectLastSequencePerSubject(0))
	return err
}

// follow sends every message stored from now on down the stream.
func (p *pipe) follow(stream grpc.ServerStream) error {
	ctx := stream.Context()
	s, err := p.raw.JS.Stream(ctx, bus.StreamName)
	if err != nil {
		return err
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(32))
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		if err := stream.SendMsg(wrapperspb.Bytes(m.Data())); err != nil {
			return err
		}
	}
}

// consume is the receiving client: verify, append, fsync, arrived.
func (p *pipe) consume(stream grpc.ClientStream, f *os.File) error {
	defer f.Close()
	got := make(chan *headsupv1.Envelope, 1024)
	recvErr := make(chan error, 1)
	go func() {
		defer close(got)
		for {
			m := &wrapperspb.BytesValue{}
			if err := stream.RecvMsg(m); err != nil {
				recvErr <- err
				return
			}
			at := time.Now()
			env := &headsupv1.Envelope{}
			if err := proto.Unmarshal(m.GetValue(), env); err != nil {
				recvErr <- err
				return
			}
			if i, ok := p.index[env.GetJws()]; ok {
				p.received.set(i, at)
			}
			input, sig, err := splitJWS(env.GetJws())
			if err != nil || !ed25519.Verify(p.pub, input, sig) {
				recvErr <- errors.New("pipe client: signature invalid")
				return
			}
			got <- env
		}
	}()
	for env := range got {
		group := []*headsupv1.Envelope{env}
	drain:
		for {
			select {
			case more, ok := <-got:
				if !ok {
					break drain
				}
				group = append(group, more)
			default:
				break drain
			}
		}
		for _, env := range group {
			if _, err := f.WriteString(env.GetJws() + "\n"); err != nil {
				return err
			}
		}
		if err := f.Sync(); err != nil {
			return err
		}
		now := time.Now()
		for _, env := range group {
			if i, ok := p.index[env.GetJws()]; ok {
				p.arrived.set(i, now)
			}
		}
	}
	return <-recvErr
}

// Publish sends s through the pipe.
func (p *pipe) Publish(s Signed) error {
	return p.conn.Invoke(context.Background(), "/headsup.bench.Pipe/Publish", s.Env, &emptypb.Empty{})
}

// Close stops everything the pipe started.
func (p *pipe) Close() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	if p.conn != nil {
		p.conn.Close()
	}
	p.srv.Stop()
	p.raw.Close()
}
