package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"google.golang.org/grpc"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// DefaultCheckListen is where headsup-agent serves its local API
// (AgentService) unless configured otherwise. DefaultConfig leaves
// Config.CheckListen empty (off), so that agents embedded in tests and in
// `headsup demo` never compete for the port; the headsup-agent command
// sets it.
const DefaultCheckListen = "127.0.0.1:7444"

// ErrNotLoopback: the local API was configured on an address other than
// loopback. It answers without authentication, so it must not be
// reachable from another machine.
var ErrNotLoopback = errors.New("the local API answers without authentication and listens on loopback only (127.0.0.1, ::1 or localhost)")

// localStopGrace bounds a graceful stop: local calls are short, and a
// stuck client must not hold the agent's shutdown.
const localStopGrace = 5 * time.Second

// listenLocal opens the local API's listener, or returns nil when addr is
// empty (disabled). Listening before anything else starts makes a taken
// port or a non-loopback address a start-up error, not a log line.
func listenLocal(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: check_listen %q: %w", addr, err)
	}
	return l, nil
}

// checkLoopback accepts "localhost" and loopback IP literals only: an
// empty host ("":7444) would listen on every interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("agent: check_listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() && ip.Zone() == "" {
		return nil
	}
	return fmt.Errorf("agent: check_listen %q: %w", addr, ErrNotLoopback)
}

// localServer is the agent's local API. It reads only what the loop
// goroutine publishes through atomic pointers, never the model itself.
type localServer struct {
	headsupv1.UnimplementedAgentServiceServer
	a *agent
}

// serveLocal serves the local API on l until ctx is done, then stops
// gracefully (bounded by localStopGrace).
func (a *agent) serveLocal(ctx context.Context, l net.Listener) error {
	srv := grpc.NewServer()
	headsupv1.RegisterAgentServiceServer(srv, &localServer{a: a})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	if a.cfg.CheckReady != nil {
		a.cfg.CheckReady(l.Addr())
	}
	select {
	case err := <-served:
		// Serve returns early only when the listener fails.
		return fmt.Errorf("agent: local API: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(localStopGrace):
		srv.Stop()
		<-stopped
	}
	<-served
	return nil
}
