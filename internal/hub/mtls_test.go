package hub_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/transport"
)

// mtlsWorld is a TLS hub with access control on, and client certificates:
// edgeshield's and voxhost's keys are pinned, stray's is pinned by nobody.
type mtlsWorld struct {
	h                *testHub
	dirPath, certDir string
	roots            *x509.CertPool
	edge, vox        *caller
	edgeCert         tls.Certificate
	voxCert          tls.Certificate
	strayCert        tls.Certificate
}

const mtlsOrigin = "hub.mtls.test"

func newMTLSWorld(t *testing.T) *mtlsWorld {
	t.Helper()
	dir := t.TempDir()
	w := &mtlsWorld{dirPath: filepath.Join(dir, "directory.yaml"), certDir: filepath.Join(dir, "certs")}
	if err := transport.DevCertificates(w.certDir, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(w.certDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	w.roots = x509.NewCertPool()
	w.roots.AppendCertsFromPEM(pem)
	client := func(member string) (tls.Certificate, [32]byte) {
		pin, err := transport.DevClientCertificate(w.certDir, member, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.LoadX509KeyPair(filepath.Join(w.certDir, member+".client.pem"), filepath.Join(w.certDir, member+".client.key"))
		if err != nil {
			t.Fatal(err)
		}
		return c, pin
	}
	w.edge = newCaller(t, "edgeshield", directory.RolePublish, directory.RoleSubscribe)
	w.vox = newCaller(t, "voxhost", directory.RoleSubscribe)
	var edgePin, voxPin [32]byte
	w.edgeCert, edgePin = client("edgeshield")
	w.voxCert, voxPin = client("voxhost")
	w.strayCert, _ = client("stray")
	w.edge.dir.TLSPins = [][32]byte{edgePin}
	w.vox.dir.TLSPins = [][32]byte{voxPin}
	writeDirectory(t, w.dirPath, 1, w.edge.member, w.vox.member)
	w.h = startHub(t, filepath.Join(dir, "data"), w.dirPath, func(c *hub.Config) {
		c.Origin = mtlsOrigin
		c.TLS = transport.ServerConfig{CertFile: filepath.Join(w.certDir, "hub.pem"), KeyFile: filepath.Join(w.certDir, "hub.key")}
	})
	return w
}

// conn dials the hub over TLS with cert (none when zero), sessions cached
// in cache (none when nil), and per-call tokens of tok (none when nil).
func (w *mtlsWorld) conn(t *testing.T, cert tls.Certificate, cache tls.ClientSessionCache, tok *caller) headsupv1.HubServiceClient {
	t.Helper()
	cfg := &tls.Config{RootCAs: w.roots, MinVersion: tls.VersionTLS13, ClientSessionCache: cache}
	if cert.Certificate != nil {
		cfg.Certificates = []tls.Certificate{cert}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if tok != nil {
		creds, err := calltoken.NewCredentials(tok.call, tok.id, mtlsOrigin)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(creds))
	}
	conn, err := grpc.NewClient(w.h.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return headsupv1.NewHubServiceClient(conn)
}

func (w *mtlsWorld) publish(t *testing.T, cl headsupv1.HubServiceClient, by *member, opts ...grpc.CallOption) (*headsupv1.PublishResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return cl.Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, by, suspended(t, by.id, "mtls.example"))}, opts...)
}

// waitServing publishes as edgeshield over mTLS until the hub has loaded
// the directory.
func (w *mtlsWorld) waitServing(t *testing.T) uint64 {
	t.Helper()
	cl := w.conn(t, w.edgeCert, nil, nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := w.publish(t, cl, w.edge.member)
		if err == nil {
			return r.Sequence
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub never served edgeshield over mTLS: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMTLSThreats: the mTLS rows of issue 6's threat table. Each refused
// call is followed by a check that the log did not grow.
func TestMTLSThreats(t *testing.T) {
	w := newMTLSWorld(t)
	last := w.waitServing(t)
	grew := func(t *testing.T) {
		t.Helper()
		r, err := w.publish(t, w.conn(t, w.edgeCert, nil, nil), w.edge.member)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sequence != last+1 {
			t.Fatalf("the log grew by %d entries during the attack", r.Sequence-last-1)
		}
		last = r.Sequence
	}

	rows := []struct {
		name   string
		attack func(t *testing.T) error
		want   codes.Code
		says   string
	}{
		{"no credentials over TLS", func(t *testing.T) error {
			_, err := w.publish(t, w.conn(t, tls.Certificate{}, nil, nil), w.edge.member)
			return err
		}, codes.Unauthenticated, "no authorization metadata"},
		{"client key pinned by nobody", func(t *testing.T) error {
			_, err := w.publish(t, w.conn(t, w.strayCert, nil, nil), w.edge.member)
			return err
		}, codes.Unavailable, ""}, // the handshake itself is refused
		{"another member's envelope under one's own pinned key", func(t *testing.T) error {
			_, err := w.publish(t, w.conn(t, w.voxCert, nil, nil), w.edge.member)
			return err
		}, codes.PermissionDenied, ""},
		{"token and TLS key of two members", func(t *testing.T) error {
			_, err := w.publish(t, w.conn(t, w.edgeCert, nil, w.vox), w.edge.member)
			return err
		}, codes.Unauthenticated, "name different members"},
		{"two authorization values beside a pinned key", func(t *testing.T) error {
			ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer a", "authorization", "Bearer b")
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := w.conn(t, w.edgeCert, nil, nil).Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, w.edge.member, suspended(t, w.edge.id, "two.example"))})
			return err
		}, codes.Unauthenticated, "2 authorization values"},
		{"publish without the role over mTLS", func(t *testing.T) error {
			_, err := w.publish(t, w.conn(t, w.voxCert, nil, nil), w.vox.member)
			return err
		}, codes.PermissionDenied, "publish"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			err := r.attack(t)
			if status.Code(err) != r.want || !strings.Contains(status.Convert(err).Message(), r.says) {
				t.Fatalf("got %v, want %v saying %q", err, r.want, r.says)
			}
			grew(t)
		})
	}

	t.Run("token and TLS key of the same member", func(t *testing.T) {
		if _, err := w.publish(t, w.conn(t, w.edgeCert, nil, w.edge), w.edge.member); err != nil {
			t.Fatal(err)
		}
		last++
	})
}

// TestMTLSPinRemoval: removing a member's pin ends its open stream, stops
// the next call on a connection opened before, and refuses a resumed TLS
// session (Go runs VerifyConnection on resumption too), while before the
// removal the same session cache does resume.
func TestMTLSPinRemoval(t *testing.T) {
	w := newMTLSWorld(t)
	w.waitServing(t)

	cache := tls.NewLRUClientSessionCache(8)
	// First connection: a full handshake; its session ticket lands in the
	// cache once a response has been read.
	if _, err := w.publish(t, w.conn(t, w.edgeCert, cache, nil), w.edge.member); err != nil {
		t.Fatal(err)
	}
	// Second connection with the same cache: resumed, and accepted.
	var p peer.Peer
	if _, err := w.publish(t, w.conn(t, w.edgeCert, cache, nil), w.edge.member, grpc.Peer(&p)); err != nil {
		t.Fatal(err)
	}
	if info, ok := p.AuthInfo.(credentials.TLSInfo); !ok || !info.State.DidResume {
		t.Fatalf("the second connection did not resume its TLS session (%T): the resumption row would prove nothing", p.AuthInfo)
	}

	// voxhost holds a stream open and a connection with a finished call.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	voxConn := w.conn(t, w.voxCert, nil, nil)
	st, err := voxConn.Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("voxhost's subscription over mTLS: %v", err)
	}

	// The directory drops both pins.
	w.edge.dir.TLSPins, w.vox.dir.TLSPins = nil, nil
	writeDirectory(t, w.dirPath, 2, w.edge.member, w.vox.member)

	for {
		_, err := st.Recv()
		if err == nil {
			continue // heartbeats
		}
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "no longer pinned") {
			t.Fatalf("open stream ended with %v, want Unauthenticated: no longer pinned", err)
		}
		break
	}
	// A call on voxhost's existing connection (its handshake predates the
	// removal) is refused by the per-call check.
	if err := refusedStream(t, voxConn, &headsupv1.SubscribeRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a call on a connection made before the removal: %v, want Unauthenticated", err)
	}
	// A resumed session with edgeshield's cached ticket is refused at the
	// handshake.
	if _, err := w.publish(t, w.conn(t, w.edgeCert, cache, nil), w.edge.member); status.Code(err) != codes.Unavailable {
		t.Fatalf("resumed session after the pin was removed: %v, want Unavailable (handshake refused)", err)
	}
}
