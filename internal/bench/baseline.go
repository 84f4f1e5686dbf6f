package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/headsup-dev/headsup/internal/bus"
)

// Parallel runs f for indices 0..n-1 on workers goroutines and returns
// the wall time, or the first error.
func Parallel(n, workers int, f func(i int) error) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for first.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err := first.Load(); err != nil {
		return d, *err
	}
	return d, nil
}

// rate is n per second over d.
func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// VerifyRate is V: bare ed25519.Verify of the notices' signing inputs per
// second, on workers goroutines.
func VerifyRate(pub ed25519.PublicKey, ns []Signed, workers int) (float64, error) {
	d, err := Parallel(len(ns), workers, func(i int) error {
		if !ed25519.Verify(pub, ns[i].Input, ns[i].Sig) {
			return fmt.Errorf("bare verify of notice %s failed", ns[i].ID)
		}
		return nil
	})
	return rate(len(ns), d), err
}

// allCores is the worker count that keeps every core busy.
func allCores() int { return runtime.GOMAXPROCS(0) }

// RawStream is JetStream without headsup: an embedded server with the
// hub's stream (created by internal/bus with the same settings and fsync
// mode), reached over the same in-process connection, written with the
// same headers as the hub's appends.
type RawStream struct {
	emb *bus.Embedded
	log *bus.Log
	JS  jetstream.JetStream
}

// StartRawStream starts an embedded server in dir with the hub's stream.
func StartRawStream(ctx context.Context, dir string, fsync bus.FsyncMode) (*RawStream, error) {
	e, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Dir: dir, Fsync: fsync})
	if err != nil {
		return nil, err
	}
	l, err := bus.Open(ctx, e.Conn(), bus.LogConfig{StateDir: dir})
	if err != nil {
		e.Shutdown()
		return nil, err
	}
	js, err := jetstream.New(e.Conn())
	if err != nil {
		_ = l.Close()
		e.Shutdown()
		return nil, err
	}
	return &RawStream{emb: e, log: l, JS: js}, nil
}

// Close closes the log and stops the server.
func (r *RawStream) Close() error {
	err := r.log.Close()
	r.emb.Shutdown()
	return err
}

// Msg is the message the hub appends for s: its subject and body, with
// Nats-Msg-Id the body's SHA-256 and the expected last subject sequence 0.
func Msg(s Signed) (*nats.Msg, []jetstream.PublishOpt, error) {
	subj, err := bus.Subject(Publisher, s.ID)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(s.Body)
	return &nats.Msg{Subject: subj, Data: s.Body},
		[]jetstream.PublishOpt{jetstream.WithMsgID(hex.EncodeToString(sum[:])), jetstream.WithExpectLastSequencePerSubject(0)}, nil
}

// Publish appends s synchronously, as the hub does (without learning the
// store time, which the hub takes from its stamp consumer: headsup's own
// cost).
func (r *RawStream) Publish(ctx context.Context, s Signed) error {
	m, opts, err := Msg(s)
	if err != nil {
		return err
	}
	_, err = r.JS.PublishMsg(ctx, m, opts...)
	return err
}

// Seed appends every notice asynchronously (to fill a stream fast; no
// measurement runs while seeding).
func Seed(ctx context.Context, js jetstream.JetStream, ns []Signed) error {
	const window = 4096
	for i := 0; i < len(ns); i += window {
		var acks []jetstream.PubAckFuture
		for _, s := range ns[i:min(i+window, len(ns))] {
			m, opts, err := Msg(s)
			if err != nil {
				return err
			}
			f, err := js.PublishMsgAsync(m, opts...)
			if err != nil {
				return err
			}
			acks = append(acks, f)
		}
		for _, f := range acks {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("seed %s: %w", f.Msg().Subject, err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// Echo is a gRPC server on loopback TCP whose one unary method takes
// bytes and answers with a fixed small reply: G, a gRPC call of a
// Publish's request size and response size, with nothing done.
type Echo struct {
	srv  *grpc.Server
	conn *grpc.ClientConn
}

type echoService interface{}

// echoReply has the size of a PublishResponse (sequence, store time, log
// id), so G carries what Publish carries both ways.
var echoReply = make([]byte, 64)

var echoDesc = grpc.ServiceDesc{
	ServiceName: "headsup.bench.Echo",
	HandlerType: (*echoService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := &wrapperspb.BytesValue{}
			if err := dec(in); err != nil {
				return nil, err
			}
			return wrapperspb.Bytes(echoReply), nil
		},
	}},
}

// StartEcho serves Echo on a free loopback port and connects to it.
func StartEcho() (*Echo, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	srv.RegisterService(&echoDesc, struct{}{})
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		return nil, err
	}
	return &Echo{srv: srv, conn: conn}, nil
}

// Call sends body and waits for the reply.
func (e *Echo) Call(ctx context.Context, body []byte) error {
	return e.conn.Invoke(ctx, "/headsup.bench.Echo/Echo", wrapperspb.Bytes(body), &wrapperspb.BytesValue{})
}

// Close stops the server.
func (e *Echo) Close() {
	e.conn.Close()
	e.srv.Stop()
}

// errMissing marks a measurement that did not see everything it waited
// for within its bound.
var errMissing = errors.New("not everything arrived in time")
