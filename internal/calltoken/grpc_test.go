package calltoken_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
)

const (
	checkMethod = "/grpc.health.v1.Health/Check"
	watchMethod = "/grpc.health.v1.Health/Watch"
)

// rpcServer is a gRPC server on loopback behind the interceptors; it records
// the caller every call that got through saw.
type rpcServer struct {
	addr    string
	mu      sync.Mutex
	callers []*calltoken.Caller
}

func (s *rpcServer) record(ctx context.Context) {
	c, _ := calltoken.CallerFrom(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callers = append(s.callers, c)
}

func (s *rpcServer) seen() []*calltoken.Caller {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*calltoken.Caller(nil), s.callers...)
}

func startServer(t *testing.T) *rpcServer {
	t.Helper()
	dir := testDirectory(t, true)
	cfg := calltoken.DefaultVerifierConfig(hubA, func() *directory.Directory { return dir }, calltoken.NewMemoryReplayStore())
	v, err := calltoken.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rpcServer{addr: lis.Addr().String()}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(calltoken.UnaryInterceptor(v, toStatus),
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				s.record(ctx)
				return h(ctx, req)
			}),
		grpc.ChainStreamInterceptor(calltoken.StreamInterceptor(v, toStatus),
			func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				s.record(ss.Context())
				return h(srv, ss)
			}),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return s
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// fixedToken sends the same token on every call, as a thief replaying a
// captured one would.
type fixedToken string

func (f fixedToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(f)}, nil
}

func (fixedToken) RequireTransportSecurity() bool { return false }

func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), msg) {
		t.Fatalf("error %v, want %s containing %q", err, code, msg)
	}
}

// TestGRPC runs real calls over loopback through the interceptors with
// Credentials minting a token per call.
func TestGRPC(t *testing.T) {
	srv := startServer(t)
	ctx := t.Context()
	creds, err := calltoken.NewCredentials(keyAlpha.priv, "alpha", hubA, calltoken.AllowInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	good := dial(t, srv.addr, grpc.WithPerRPCCredentials(creds))
	bare := dial(t, srv.addr)

	// A fresh token per call: three unary calls and a stream all pass.
	for range 3 {
		if _, err := good.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	stream, err := good.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	callers := srv.seen()
	if len(callers) != 4 {
		t.Fatalf("%d calls reached the handlers, want 4", len(callers))
	}
	for i, c := range callers {
		if c == nil || c.Member.ID != "alpha" || c.KeyID != keyAlpha.kid || c.ExpiresAt.IsZero() {
			t.Fatalf("call %d: caller %+v, want alpha with kid %s", i, c, keyAlpha.kid)
		}
	}

	// No credentials.
	_, err = bare.Check(ctx, &healthpb.HealthCheckRequest{})
	wantCode(t, err, codes.Unauthenticated, "no call credentials")

	// The same token twice: the second is a replay.
	tok, err := calltoken.Mint(keyAlpha.priv, "alpha", hubA, checkMethod, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.PerRPCCredentials(fixedToken(tok))); err != nil {
		t.Fatalf("first use of the token: %v", err)
	}
	_, err = bare.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.PerRPCCredentials(fixedToken(tok)))
	wantCode(t, err, codes.Unauthenticated, "replayed")

	// A token made for Check does not open Watch.
	tok, err = calltoken.Mint(keyAlpha.priv, "alpha", hubA, checkMethod, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stream, err = bare.Watch(ctx, &healthpb.HealthCheckRequest{}, grpc.PerRPCCredentials(fixedToken(tok)))
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.Unauthenticated, "another method")

	// Connection credentials plus call credentials: two authorization
	// values.
	_, err = good.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.PerRPCCredentials(fixedToken(tok)))
	wantCode(t, err, codes.Unauthenticated, "more than one")

	if n := len(srv.seen()); n != 5 {
		t.Fatalf("%d calls reached the handlers, want 5", n)
	}
}

// TestCredentialsNeedTLS: without AllowInsecureLoopback the credentials are
// never sent over plaintext, not even to loopback.
func TestCredentialsNeedTLS(t *testing.T) {
	srv := startServer(t)
	creds, err := calltoken.NewCredentials(keyAlpha.priv, "alpha", hubA)
	if err != nil {
		t.Fatal(err)
	}
	if !creds.RequireTransportSecurity() {
		t.Fatal("RequireTransportSecurity is false by default")
	}
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
	if err == nil {
		t.Cleanup(func() { _ = conn.Close() })
		_, err = healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	}
	if err == nil {
		t.Fatal("a token went over plaintext without AllowInsecureLoopback")
	}
	t.Logf("refused: %v", err)
	if n := len(srv.seen()); n != 0 {
		t.Fatalf("%d calls reached the handlers", n)
	}
}

// authInfo is a connection's security as gRPC reports it.
type authInfo struct{ credentials.CommonAuthInfo }

func (authInfo) AuthType() string { return "test" }

// TestCredentialsLoopbackOnly: with AllowInsecureLoopback, a plaintext
// connection gets a token only when it goes to a loopback address; a TLS
// one always does. The token is bound to the call's method.
func TestCredentialsLoopbackOnly(t *testing.T) {
	creds, err := calltoken.NewCredentials(keyAlpha.priv, "alpha", hubA, calltoken.AllowInsecureLoopback(),
		calltoken.WithClock(func() time.Time { return t0 }), calltoken.WithLifetime(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	plain := authInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}
	tls := authInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	for _, tt := range []struct {
		uri  string
		ai   credentials.AuthInfo
		want bool
	}{
		{"https://127.0.0.1:7000/headsup.v1.Hub", plain, true},
		{"https://[::1]:7000/headsup.v1.Hub", plain, true},
		{"https://localhost:7000/headsup.v1.Hub", plain, true},
		{"https://hub-a.example/headsup.v1.Hub", plain, false},
		{"https://192.0.2.1:7000/headsup.v1.Hub", plain, false},
		{"https://hub-a.example/headsup.v1.Hub", tls, true},
	} {
		ctx := credentials.NewContextWithRequestInfo(t.Context(), credentials.RequestInfo{Method: subscribe, AuthInfo: tt.ai})
		md, err := creds.GetRequestMetadata(ctx, tt.uri)
		if (err == nil) != tt.want {
			t.Fatalf("%s: metadata %v, error %v; want sent: %v", tt.uri, md, err, tt.want)
		}
		if !tt.want {
			continue
		}
		v, _ := newVerifier(t, testDirectory(t, true), nil)
		tok, ok := strings.CutPrefix(md["authorization"], "Bearer ")
		if !ok {
			t.Fatalf("authorization %q", md["authorization"])
		}
		c, _, err := v.Verify(t.Context(), tok, subscribe)
		if err != nil {
			t.Fatalf("%s: minted token refused: %v", tt.uri, err)
		}
		if c.ExpiresAt.Sub(c.IssuedAt) != 2*time.Minute {
			t.Fatalf("lifetime %s, want 2m", c.ExpiresAt.Sub(c.IssuedAt))
		}
	}
	if _, err := creds.GetRequestMetadata(t.Context(), "https://127.0.0.1/x"); err == nil {
		t.Fatal("minted without a method in the context")
	}
}

func TestNewCredentialsRefuses(t *testing.T) {
	if _, err := calltoken.NewCredentials(keyAlpha.priv, "alpha", hubA, calltoken.WithLifetime(time.Hour)); err == nil {
		t.Fatal("accepted a lifetime over MaxLifetime")
	}
	if _, err := calltoken.NewCredentials(nil, "alpha", hubA); err == nil {
		t.Fatal("accepted no key")
	}
}
