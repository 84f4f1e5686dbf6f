package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// freePorts reserves n loopback ports by listening and closing: each
// server's routes must name every peer's port before any of them starts.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startCluster starts three JetStream servers clustered over loopback on
// random ports. Unlike the embedded mode they listen, since peers must
// reach each other.
func startCluster(t *testing.T) []*server.Server {
	t.Helper()
	ports := freePorts(t, 3)
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	var srvs []*server.Server
	for i, p := range ports {
		opts := &server.Options{
			ServerName: fmt.Sprintf("hub-%d", i),
			Host:       "127.0.0.1",
			Port:       -1,
			NoSigs:     true,
			NoLog:      true,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			SyncAlways: true,
			Cluster:    server.ClusterOpts{Name: "headsup-test", Host: "127.0.0.1", Port: p},
			Routes:     routes,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
		srvs = append(srvs, s)
	}
	for _, s := range srvs {
		// Generous: three servers electing a meta leader on two busy cores.
		if !s.ReadyForConnections(60 * time.Second) {
			t.Fatalf("%s not ready", s.Name())
		}
	}
	return srvs
}

// TestR3Append runs the Append contract on a stream replicated over three
// servers, where JetStream reports conflicts with other codes (10164,
// 10077, 10158) and the loser's read-back may briefly find nothing.
func TestR3Append(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	srvs := startCluster(t)
	nc, err := nats.Connect(srvs[0].ClientURL(), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	// The meta group elects a leader after the routes form; until then
	// API requests go unanswered. Poll Open, each try with a short
	// deadline, until the cluster can place an R3 stream.
	var l *bus.Log
	var logs syncBuffer
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		l, err = bus.Open(ctx, nc, bus.LogConfig{Replicas: 3, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		cancel()
		if err == nil {
			break
		}
		if errors.Is(err, bus.ErrStreamConfig) || time.Now().After(deadline) {
			t.Fatalf("Open R3: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not a wait for an event
	}
	t.Cleanup(func() { _ = l.Close() })

	for i := range 3 {
		if a := mustAppend(t, l, "edgeshield", newID(t), body(t, 100)); a.Seq != uint64(i+1) || a.Duplicate {
			t.Fatalf("append %d = %+v", i, a)
		}
	}
	id, b := newID(t), body(t, 100)
	first := mustAppend(t, l, "edgeshield", id, b)
	if a := mustAppend(t, l, "edgeshield", id, b); a.Seq != first.Seq || !a.Duplicate || !a.Stored.Equal(first.Stored) {
		t.Fatalf("retry = %+v, want %+v as duplicate", a, first)
	}
	_, err = l.Append(testCtx(t), "edgeshield", id, body(t, 100))
	if got := conflictSeq(t, err); got != first.Seq {
		t.Fatalf("conflict names %d, want %d", got, first.Seq)
	}
	if _, last := bounds(t, l); last != 4 {
		t.Fatalf("last = %d, want 4", last)
	}
	testReadBackPath(t, nc, l)
	testAppendRace(t, l)
	for _, code := range []string{"err_code=10071", "err_code=10164", "err_code=10077", "err_code=10158"} {
		t.Logf("%s seen %d times", code, strings.Count(logs.String(), code))
	}
}
