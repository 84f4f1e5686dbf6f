package hub_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/hub"
)

// externalNATS is a nats-server outside the hub, as in production, that a
// test can stop and start again on the same port and store.
type externalNATS struct {
	t     *testing.T
	opts  func() *server.Options
	srv   *server.Server
	port  int
	store string
}

// startExternalNATS starts a JetStream server on a random loopback port;
// tweak, when given, adjusts the fresh options of every (re)start.
func startExternalNATS(t *testing.T, tweak func(*server.Options)) *externalNATS {
	t.Helper()
	n := &externalNATS{t: t, store: t.TempDir(), port: -1}
	n.opts = func() *server.Options {
		o := &server.Options{Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.store, NoSigs: true, NoLog: true}
		if tweak != nil {
			tweak(o)
		}
		return o
	}
	n.start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.stop)
	return n
}

func (n *externalNATS) start() {
	n.t.Helper()
	srv, err := server.NewServer(n.opts())
	if err != nil {
		n.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats-server not ready")
	}
	n.srv = srv
}

func (n *externalNATS) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *externalNATS) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// withMetrics turns the hub's metrics listener on at a free loopback port
// and returns a function that gives its address once the hub serves.
func withMetrics(t *testing.T) (func(*hub.Config), func() string) {
	t.Helper()
	addr := make(chan string, 1)
	return func(c *hub.Config) {
			c.MetricsListen = "127.0.0.1:0"
			c.MetricsReady = func(a net.Addr) { addr <- a.String() }
		}, func() string {
			t.Helper()
			select {
			case a := <-addr:
				addr <- a
				return a
			case <-time.After(10 * time.Second):
				t.Fatal("metrics listener never ready")
				return ""
			}
		}
}

// scrape reads the hub's /metrics the way Prometheus does.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", res.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

// value is the value of the series of family name whose labels include
// labels ("k=v" pairs); 0 when there is none.
func value(mf map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := mf[name]
	if f == nil {
		return 0
	}
	var sum float64
series:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsAndHealthFollowNATS: the metrics listener counts publishes by
// result and code, envelope verification failures, store latency and open
// streams; gRPC health and the NATS gauge turn NOT_SERVING / 0 when the
// external NATS server goes away and back when it returns.
func TestMetricsAndHealthFollowNATS(t *testing.T) {
	ns := startExternalNATS(t, nil)
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish, directory.RoleSubscribe)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge)
	metricsOn, metricsAddr := withMetrics(t)
	h := startHub(t, filepath.Join(dir, "state"), dirPath, metricsOn, func(c *hub.Config) { c.NATSURL = ns.url() })
	waitDirectory(t, h, edge) // one stored publish (or more, while loading)
	addr := metricsAddr()
	before := scrape(t, addr)
	if got := value(before, "headsup_hub_nats_connected"); got != 1 {
		t.Fatalf("headsup_hub_nats_connected = %v, want 1", got)
	}

	env := seal(t, edge, suspended(t, edge.id, "metrics.example"))
	if _, err := publish(t, h, env); err != nil {
		t.Fatal(err)
	}
	if r, err := publish(t, h, env); err != nil || !r.Duplicate {
		t.Fatalf("republish: %v %v, want duplicate", r, err)
	}
	forged := proto.Clone(seal(t, edge, suspended(t, edge.id, "forged.example"))).(*headsupv1.Envelope)
	forged.Jws = flipSignature(forged.Jws)
	if _, err := publish(t, h, forged); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("forged publish: %v, want Unauthenticated", err)
	}

	after := scrape(t, addr)
	for _, c := range []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"headsup_hub_publishes_total", []string{"result=stored", "code=OK"}, 1},
		{"headsup_hub_publishes_total", []string{"result=duplicate", "code=OK"}, 1},
		{"headsup_hub_publishes_total", []string{"result=refused", "code=Unauthenticated"}, 1},
		{"headsup_hub_verification_failures_total", []string{"stage=envelope", "error=signature"}, 1},
		{"headsup_hub_store_seconds", nil, 1}, // the duplicate is answered by JetStream's dedup, through Append too
	} {
		got := value(after, c.name, c.labels...) - value(before, c.name, c.labels...)
		if got < c.delta {
			t.Errorf("%s%v moved by %v, want at least %v", c.name, c.labels, got, c.delta)
		}
	}

	// An open subscription is counted while it lasts.
	ctx, cancel := context.WithCancel(context.Background())
	st, err := h.client.Subscribe(ctx, &headsupv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	end := first.GetStart().GetLastSequence()
	eventually(t, "open Subscribe stream counted", func() bool {
		return value(scrape(t, addr), "headsup_hub_open_streams", "method=Subscribe") == 1
	})
	// What the subscriber is sent is counted, and once it has the whole
	// log its lag is zero.
	var last uint64
	for last < end {
		ev, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e := ev.GetEntry(); e != nil {
			last = e.Sequence
		}
	}
	if end == 0 {
		t.Fatal("the log is empty: nothing to deliver")
	}
	eventually(t, "deliveries counted and lag zero", func() bool {
		m := scrape(t, addr)
		return value(m, "headsup_hub_deliveries_total")-value(before, "headsup_hub_deliveries_total") >= float64(last) &&
			value(m, "headsup_hub_subscriber_lag_entries", "member=anonymous") == 0
	})
	cancel()
	eventually(t, "closed Subscribe stream uncounted", func() bool {
		return value(scrape(t, addr), "headsup_hub_open_streams", "method=Subscribe") == 0
	})

	healthOf := func() healthpb.HealthCheckResponse_ServingStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := healthpb.NewHealthClient(h.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: headsupv1.HubService_ServiceDesc.ServiceName})
		if err != nil {
			t.Fatalf("health check: %v", err)
		}
		return res.Status
	}
	if s := healthOf(); s != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health with NATS up: %v", s)
	}

	ns.stop()
	eventually(t, "NOT_SERVING while NATS is down", func() bool { return healthOf() == healthpb.HealthCheckResponse_NOT_SERVING })
	down := scrape(t, addr)
	if got := value(down, "headsup_hub_nats_connected"); got != 0 {
		t.Errorf("headsup_hub_nats_connected = %v while down, want 0", got)
	}
	if got := value(down, "headsup_hub_nats_disconnects_total"); got != 1 {
		t.Errorf("headsup_hub_nats_disconnects_total = %v, want 1", got)
	}

	ns.start()
	eventually(t, "SERVING once NATS is back", func() bool { return healthOf() == healthpb.HealthCheckResponse_SERVING })
	if got := value(scrape(t, addr), "headsup_hub_nats_connected"); got != 1 {
		t.Errorf("headsup_hub_nats_connected = %v after reconnecting, want 1", got)
	}
	eventually(t, "publish after NATS returned", func() bool {
		_, err := publish(t, h, seal(t, edge, suspended(t, edge.id, "back.example")))
		return err == nil
	})
}

// flipSignature changes one character in the middle of a compact JWS's
// signature, so that it decodes to other bytes.
func flipSignature(jws string) string {
	i := strings.LastIndexByte(jws, '.') + 10
	b := []byte(jws)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
