package hub_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/directory"
)

// benchConcurrency is the number of concurrent publishers.
const benchConcurrency = 64

// BenchmarkPublishAgainstBound measures hub Publish (verify, append with
// every write synced, answer over gRPC) against the combined bound of its
// unavoidable costs measured in the same run and interleaved with it:
// V (bare ed25519.Verify of the same signing inputs), S (raw JetStream
// publish of the same bodies with the same headers to a stream with the
// same settings over the same kind of connection) and G (a gRPC echo of the
// same size), all at the same concurrency. bound = 1/(1/V + 1/S + 1/G);
// ratio = hub / bound, higher is better.
func BenchmarkPublishAgainstBound(b *testing.B) {
	const perRound, rounds = 600, 3
	dir := b.TempDir()
	edge := newMember(b, "edgeshield", directory.RolePublish)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(b, dirPath, 1, edge)
	h := startHub(b, filepath.Join(dir, "hub"), dirPath)
	waitDirectory(b, h, edge)

	total := perRound * rounds * b.N
	envs := make([]*headsupv1.Envelope, total)
	bodies := make([][]byte, total)
	for i := range envs {
		envs[i] = seal(b, edge, suspended(b, edge.id, fmt.Sprintf("host%d.example", i)))
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(envs[i])
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	raw := newRawStream(b, filepath.Join(dir, "raw"))
	echo := newEcho(b)
	pub := edge.key.Public().(ed25519.PublicKey)

	var hubT, vT, sT, gT time.Duration
	b.ResetTimer()
	for r := range rounds * b.N {
		batch := envs[r*perRound : (r+1)*perRound]
		batchBodies := bodies[r*perRound : (r+1)*perRound]
		hubT += parallel(b, len(batch), func(i int) error {
			_, err := h.client.Publish(context.Background(), &headsupv1.PublishRequest{Envelope: batch[i]})
			return err
		})
		vT += parallel(b, len(batch), func(i int) error {
			input, sig := splitJWS(batch[i].Jws)
			if !ed25519.Verify(pub, input, sig) {
				return fmt.Errorf("bare verify failed")
			}
			return nil
		})
		sT += parallel(b, len(batch), func(i int) error { return raw.publish(batchBodies[i]) })
		gT += parallel(b, len(batch), func(i int) error { return echo.call(batchBodies[i]) })
	}
	b.StopTimer()
	n := float64(total)
	rate := func(d time.Duration) float64 { return n / d.Seconds() }
	bound := 1 / (1/rate(vT) + 1/rate(sT) + 1/rate(gT))
	b.ReportMetric(rate(hubT), "hub-notices/s")
	b.ReportMetric(rate(vT), "V-verify/s")
	b.ReportMetric(rate(sT), "S-jetstream/s")
	b.ReportMetric(rate(gT), "G-grpc-echo/s")
	b.ReportMetric(bound, "bound/s")
	b.ReportMetric(rate(hubT)/bound, "ratio")
}

// parallel runs f for indices 0..n-1 on benchConcurrency goroutines and
// returns the wall time.
func parallel(b *testing.B, n int, f func(i int) error) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range benchConcurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err, ok := firstErr.Load().(error); ok {
		b.Fatal(err)
	}
	return d
}

func splitJWS(jws string) (input, sig []byte) {
	i := strings.LastIndexByte(jws, '.')
	sig, _ = base64.RawURLEncoding.DecodeString(jws[i+1:])
	return []byte(jws[:i]), sig
}

// rawStream is JetStream without the hub: the same stream settings (the
// bus package creates it), an in-process connection, the same headers.
type rawStream struct {
	js  jetstream.JetStream
	seq atomic.Int64
}

func newRawStream(b *testing.B, dir string) *rawStream {
	b.Helper()
	e, err := bus.StartEmbedded(context.Background(), bus.EmbeddedConfig{Dir: dir, Fsync: bus.FsyncAlways})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Shutdown)
	l, err := bus.Open(context.Background(), e.Conn(), bus.LogConfig{StateDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	js, err := jetstream.New(e.Conn())
	if err != nil {
		b.Fatal(err)
	}
	return &rawStream{js: js}
}

func (r *rawStream) publish(body []byte) error {
	// Distinct subjects as the hub's notices have; the id only has to be a
	// valid subject token here.
	subj := fmt.Sprintf("headsup.notice.edgeshield.%d", r.seq.Add(1))
	sum := sha256.Sum256(body)
	_, err := r.js.PublishMsg(context.Background(), &nats.Msg{Subject: subj, Data: body},
		jetstream.WithMsgID(hex.EncodeToString(sum[:])), jetstream.WithExpectLastSequencePerSubject(0))
	return err
}

// echo is a gRPC unary echo over loopback TCP, as Publish travels.
type echo struct{ conn *grpc.ClientConn }

type echoServer interface{}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "bench.Echo",
	HandlerType: (*echoServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := &wrapperspb.BytesValue{}
			if err := dec(in); err != nil {
				return nil, err
			}
			return in, nil
		},
	}},
}

func newEcho(b *testing.B) *echo {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&echoDesc, struct{}{})
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return &echo{conn: conn}
}

func (e *echo) call(body []byte) error {
	out := &wrapperspb.BytesValue{}
	return e.conn.Invoke(context.Background(), "/bench.Echo/Echo", wrapperspb.Bytes(body), out)
}
