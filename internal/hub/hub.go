package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/calltoken/kvreplay"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/transport"
)

// maxRecvMsgSize leaves room for the envelope limit plus protobuf framing;
// anything bigger is refused by gRPC before the hub reads it.
const maxRecvMsgSize = envelope.MaxEnvelopeBytes + 4<<10

// replayBucket is the key-value bucket where every accepted call token's
// (issuer, jti) is remembered until it expires, shared by all replicas.
const replayBucket = "HEADSUP_CALLS"

const (
	maxStreamsPerConn = 256
	maxHeaderBytes    = 16 << 10
)

// streamWorkers is how many long-lived goroutines serve calls. Without
// them gRPC starts a goroutine per call, whose 2 KiB stack is grown and
// copied several times on every Publish (Ed25519 verification needs a
// deep one): about a fifth of a verification's CPU. A worker's stack grows
// once. Enough workers for every publisher in flight on a busy hub; a call
// that finds them all busy gets its own goroutine as before.
const streamWorkers = 128

// Run serves the hub until ctx is done, then shuts down in the order
// DESIGN.md's Delivery section gives: mark not serving, end every
// subscription with UNAVAILABLE, stop gRPC within ShutdownTimeout, close
// the log, drain NATS and release the data directory lock.
func Run(ctx context.Context, cfg Config) error {
	cfg.withDefaults()
	logger := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	nc, closeNATS, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeNATS()

	log, err := bus.Open(ctx, nc, bus.LogConfig{
		Replicas: cfg.Replicas,
		StateDir: cfg.DataDir,
		Logger:   logger,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := log.Close(); err != nil {
			logger.Error("closing the log", "err", err)
		}
	}()

	metrics := newMetrics()
	stopping := make(chan struct{})
	dirs := &directorySource{path: cfg.DirectoryPath, vkey: cfg.DirectoryVerifier, logger: logger}
	audit, err := openAuditor(ctx, cfg, log, dirs)
	if err != nil {
		return err
	}
	if audit != nil {
		defer audit.close()
		dirs.logged.Store(audit.dirs)
	}
	svc := &service{cfg: cfg, log: log, dir: dirs.Current, refreshDir: dirs.Refresh, logs: logger, stopping: stopping, limits: newMemberLimits(cfg), metrics: metrics}

	tlsCfg := cfg.TLS
	if cfg.Origin != "" {
		// With access control on, a pinned mTLS client key is the
		// alternative to call tokens.
		tlsCfg.VerifyClient = calltoken.VerifyPinnedClient(dirs.Current)
	}
	creds, err := transport.ServerCredentials(cfg.Listen, tlsCfg)
	if err != nil {
		return err
	}
	if creds == nil && !transport.IsLoopback(cfg.Listen) {
		logger.Warn("INSECURE: serving plaintext gRPC off loopback (--insecure); only behind a TLS-terminating proxy", "listen", cfg.Listen)
	}
	var auth []grpc.ServerOption
	if cfg.Origin != "" {
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("call tokens: %w", err)
		}
		replay, err := kvreplay.Open(ctx, js, replayBucket, kvreplay.DefaultTTL)
		if err != nil {
			return fmt.Errorf("call tokens: replay store: %w", err)
		}
		vcfg := calltoken.DefaultVerifierConfig(cfg.Origin, dirs.Current, metrics.replayStore(replay))
		vcfg.Refresh = dirs.Refresh
		v, err := calltoken.NewVerifier(vcfg)
		if err != nil {
			return fmt.Errorf("call tokens: %w", err)
		}
		auth = []grpc.ServerOption{
			grpc.ChainUnaryInterceptor(exemptProbes(calltoken.UnaryInterceptor(v, metrics.callStatus(Status)))),
			grpc.ChainStreamInterceptor(exemptProbeStreams(calltoken.StreamInterceptor(v, metrics.callStatus(Status)))),
		}
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}

	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		// Bounds per connection: streams (a subscriber needs one) and
		// header bytes (a call token is well under 2 KiB).
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		grpc.MaxHeaderListSize(maxHeaderBytes),
		grpc.NumStreamWorkers(streamWorkers),
	}
	opts = append(opts, cfg.Keepalive.ServerOptions()...)
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	// Publishes are counted before authentication (a refused token is a
	// refused publish), open streams after it.
	opts = append(opts, grpc.ChainUnaryInterceptor(metrics.unaryInterceptor))
	opts = append(opts, auth...)
	opts = append(opts, grpc.ChainStreamInterceptor(metrics.streamInterceptor))
	srv := grpc.NewServer(opts...)
	headsupv1.RegisterHubServiceServer(srv, svc)
	headsupv1.RegisterLogServiceServer(srv, &logService{hub: svc, audit: audit})
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	reflection.Register(srv)
	healthSrv.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthSrv.SetServingStatus(headsupv1.HubService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	audit.serveHealth(healthSrv)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return dirs.run(gctx) })
	g.Go(func() error { return svc.runFeed(gctx) })
	g.Go(func() error { return audit.run(gctx) })
	g.Go(func() error { return metrics.watchNATS(gctx, nc, healthSrv, logger) })
	if cfg.MetricsListen != "" {
		g.Go(func() error { return metrics.serve(gctx, cfg.MetricsListen, cfg.MetricsReady, logger) })
	}
	g.Go(func() error {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc: %w", err)
		}
		return nil
	})
	logger.Info("hub serving", "listen", lis.Addr().String(), "log_id", log.ID(),
		"data", cfg.DataDir, "nats", natsMode(cfg), "directory", cfg.DirectoryPath)
	if cfg.Ready != nil {
		cfg.Ready(lis.Addr())
	}
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("hub stopping")
		healthSrv.Shutdown()
		close(stopping)
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		// GracefulStop waits for every open stream; subscriptions end on
		// `stopping`, but a stuck handler must not hold the process.
		select {
		case <-stopped:
		case <-time.After(cfg.ShutdownTimeout):
			logger.Warn("graceful stop timed out; closing remaining connections")
			srv.Stop()
			<-stopped
		}
		return nil
	})
	return g.Wait()
}

// connect returns the NATS connection: an embedded server in DataDir, or the
// configured external one.
func connect(ctx context.Context, cfg Config) (*nats.Conn, func(), error) {
	if cfg.NATSURL != "" {
		auth, err := cfg.NATS.options()
		if err != nil {
			return nil, nil, err
		}
		opts := append([]nats.Option{
			nats.Name("headsupd"),
			// Fail fast while NATS is unreachable instead of buffering
			// publishes the client believes stored.
			nats.ReconnectBufSize(-1),
			nats.MaxReconnects(-1),
			// A server that vanished without closing the connection (a
			// partition, a power cut) is noticed within a minute, and
			// health turns NOT_SERVING, not after the default four.
			nats.PingInterval(20 * time.Second),
			nats.MaxPingsOutstanding(3),
			nats.ErrorHandler(bus.AsyncErrorLogger(cfg.Logger)),
		}, auth...)
		nc, err := nats.Connect(cfg.NATSURL, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to NATS %s: %w", redactURLs(cfg.NATSURL), err)
		}
		return nc, func() {
			if err := nc.Drain(); err != nil {
				nc.Close()
			}
		}, nil
	}
	emb, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{
		Dir:    cfg.DataDir,
		Fsync:  cfg.Fsync,
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, nil, err
	}
	return emb.Conn(), emb.Shutdown, nil
}

func natsMode(cfg Config) string {
	if cfg.NATSURL != "" {
		return redactURLs(cfg.NATSURL)
	}
	return "embedded"
}

// redactURLs hides passwords in a comma-separated URL list, for logs.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// Start runs the hub in the background and returns once it serves (or
// failed to start): its address and a stop function that shuts it down and
// returns Run's result. For the demo, tests and tools that embed a hub;
// cfg.Ready is replaced.
func Start(ctx context.Context, cfg Config) (addr net.Addr, stop func() error, err error) {
	ctx, cancel := context.WithCancel(ctx)
	ready, done := make(chan net.Addr, 1), make(chan error, 1)
	cfg.Ready = func(a net.Addr) { ready <- a }
	go func() { done <- Run(ctx, cfg) }()
	select {
	case a := <-ready:
		var once sync.Once
		var result error
		return a, func() error {
			once.Do(func() { cancel(); result = <-done })
			return result
		}, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("hub stopped before it served")
		}
		return nil, nil, err
	}
}

// exemptProbes lets health checks and reflection through without a call
// token (load balancers and operators probe without a member key); every
// headsup method needs one.
func exemptProbes(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if probe(info.FullMethod) {
			return handler(ctx, req)
		}
		return next(ctx, req, info, handler)
	}
}

func exemptProbeStreams(next grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if probe(info.FullMethod) {
			return handler(srv, ss)
		}
		return next(srv, ss, info, handler)
	}
}

func probe(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") || strings.HasPrefix(fullMethod, "/grpc.reflection.")
}
