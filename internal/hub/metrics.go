package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// DefaultMetricsListen is headsupd's default metrics address: loopback, so
// that the metrics (member ids, rates) reach only a local scraper or a
// proxy until the operator says otherwise.
const DefaultMetricsListen = "127.0.0.1:9463"

// metrics are the hub's Prometheus metrics, on a registry of their own (no
// global state: two hubs in one process, as in tests, count apart). Every
// method is safe on a nil *metrics, so code paths that run without them
// (tests that build a service by hand) need no checks.
type metrics struct {
	reg *prometheus.Registry

	publishes      *prometheus.CounterVec // result, code
	verifyFailures *prometheus.CounterVec // stage, error
	storeSeconds   prometheus.Histogram
	deliveries     prometheus.Counter
	openStreams    *prometheus.GaugeVec // method
	subscribers    *subscriberSet
	natsConnected  prometheus.Gauge
	natsDisconnect prometheus.Counter
	replayChecks   *prometheus.CounterVec // result
	replayUp       prometheus.Gauge

	// stored and duplicate are publishes' two successful series, resolved
	// once: every accepted Publish counts in one, and a label lookup per
	// call hashes both values under the vector's lock.
	stored, duplicate prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headsup_hub_publishes_total",
			Help: "Publish calls by result (stored, duplicate, refused) and gRPC code, call-token refusals included.",
		}, []string{"result", "code"}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headsup_hub_verification_failures_total",
			Help: "Refusals by what failed: stage envelope (a published notice's signature and claims) or call (the call token or mTLS key), and the error.",
		}, []string{"stage", "error"}),
		storeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "headsup_hub_store_seconds",
			Help: "Time to append a verified envelope to the log (JetStream publish and acknowledgement), failures included.",
			// 0.5 ms (memory, interval fsync) to 8 s (a raft election).
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "headsup_hub_deliveries_total",
			Help: "Entries (full, redacted or directory) handed to subscribers.",
		}),
		openStreams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "headsup_hub_open_streams",
			Help: "Open server streams by method (Subscribe, Replay).",
		}, []string{"method"}),
		subscribers: newSubscriberSet(),
		natsConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "headsup_hub_nats_connected",
			Help: "1 while the hub's NATS connection is up, 0 while it is down (gRPC health then says NOT_SERVING).",
		}),
		natsDisconnect: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "headsup_hub_nats_disconnects_total",
			Help: "Times the hub's NATS connection went down.",
		}),
		replayChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headsup_hub_replay_store_checks_total",
			Help: "Call-token jti checks against the replay store by result: accepted, replayed, or failed (store unreachable: the call is refused).",
		}, []string{"result"}),
		replayUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "headsup_hub_replay_store_up",
			Help: "1 when the last replay-store check got an answer, 0 when it failed (calls with tokens fail closed).",
		}),
	}
	m.reg.MustRegister(
		m.publishes, m.verifyFailures, m.storeSeconds, m.deliveries, m.openStreams,
		m.subscribers, m.natsConnected, m.natsDisconnect,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Zero series exist from the start, so a rate() over them works
	// before the first event.
	m.stored = m.publishes.WithLabelValues("stored", "OK")
	m.duplicate = m.publishes.WithLabelValues("duplicate", "OK")
	for _, method := range []string{"Subscribe", "Replay"} {
		m.openStreams.WithLabelValues(method)
	}
	return m
}

// serve runs the metrics listener until ctx is done. It serves /metrics
// only: no pprof, no health (gRPC health is on the gRPC port, where load
// balancers probe).
func (m *metrics) serve(ctx context.Context, addr string, ready func(net.Addr), logger *slog.Logger) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// A scrape is cheap; more than a few at once is a misconfiguration
		// or an attack, and waits rather than piling up.
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	logger.Info("metrics serving", "listen", lis.Addr().String())
	if ready != nil {
		ready(lis.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	select {
	case err := <-done:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	<-done
	return nil
}

// unaryInterceptor counts Publish calls by result and code. It runs first
// in the chain, so a publish refused for its call token is counted too.
func (m *metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if m != nil && info.FullMethod == headsupv1.HubService_Publish_FullMethodName {
		if r, ok := resp.(*headsupv1.PublishResponse); ok && err == nil {
			if r.GetDuplicate() {
				m.duplicate.Inc()
			} else {
				m.stored.Inc()
			}
			m.logHead(r.GetSequence())
		} else {
			m.publishes.WithLabelValues("refused", status.Code(err).String()).Inc()
		}
	}
	return resp, err
}

// streamInterceptor counts open server streams by method. It runs after
// authentication, so a stream refused for its token is never open.
func (m *metrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if m == nil || probe(info.FullMethod) {
		return handler(srv, ss)
	}
	g := m.openStreams.WithLabelValues(info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:])
	g.Inc()
	defer g.Dec()
	return handler(srv, ss)
}

// callStatus wraps the function that turns a call-token failure into a
// status, counting the failure by its error first: once it is a status,
// the sentinel is gone.
func (m *metrics) callStatus(toStatus func(error) error) func(error) error {
	return func(err error) error {
		if m != nil && err != nil {
			m.verifyFailures.WithLabelValues("call", errorLabel(err, callErrors)).Inc()
		}
		return toStatus(err)
	}
}

// verified counts a Publish refused because its envelope did not verify
// (or was not the caller's to publish); any other outcome is not counted.
func (m *metrics) verified(err error) {
	if m == nil || err == nil {
		return
	}
	if label := errorLabel(err, envelopeErrors); label != "other" {
		m.verifyFailures.WithLabelValues("envelope", label).Inc()
	}
}

// timeStore runs store (Publish's append) and records how long it took.
func (m *metrics) timeStore(store func() (bus.Appended, error)) (bus.Appended, error) {
	start := time.Now()
	a, err := store()
	if m != nil {
		m.storeSeconds.Observe(time.Since(start).Seconds())
	}
	return a, err
}

type labelledError struct {
	err   error
	label string
}

// envelopeErrors are the verification failures of a published envelope,
// each with its metric label; the label set is fixed, so the metric's
// cardinality is too.
var envelopeErrors = []labelledError{
	{envelope.ErrMalformed, "malformed"},
	{envelope.ErrHeader, "header"},
	{envelope.ErrUnknownKey, "unknown_key"},
	{envelope.ErrKeyNotIssuers, "key_not_issuers"},
	{envelope.ErrKeyUse, "key_use"},
	{envelope.ErrSignature, "signature"},
	{envelope.ErrClaims, "claims"},
	{envelope.ErrDigest, "digest"},
	{envelope.ErrClaimsMismatch, "claims_mismatch"},
	{envelope.ErrKeyNotValid, "key_not_valid"},
	{ErrIssuedAtWindow, "issued_at_window"},
	{ErrNotCaller, "not_caller"},
	{ErrNotPublisher, "not_publisher"},
}

// callErrors are the call-token and mTLS failures.
var callErrors = []labelledError{
	{calltoken.ErrMissing, "missing"},
	{calltoken.ErrTwoCredentials, "two_credentials"},
	{calltoken.ErrUnpinned, "unpinned"},
	{calltoken.ErrIdentitiesDisagree, "identities_disagree"},
	{calltoken.ErrMalformed, "malformed"},
	{calltoken.ErrHeader, "header"},
	{calltoken.ErrUnknownKey, "unknown_key"},
	{calltoken.ErrKeyNotIssuers, "key_not_issuers"},
	{calltoken.ErrKeyUse, "key_use"},
	{calltoken.ErrSignature, "signature"},
	{calltoken.ErrClaims, "claims"},
	{calltoken.ErrAudience, "audience"},
	{calltoken.ErrLifetime, "lifetime"},
	{calltoken.ErrExpired, "expired"},
	{calltoken.ErrNotYetValid, "not_yet_valid"},
	{calltoken.ErrMethod, "method"},
	{calltoken.ErrKeyNotValid, "key_not_valid"},
	{calltoken.ErrReplayed, "replayed"},
	{calltoken.ErrRateLimited, "rate_limited"},
	{calltoken.ErrReplayStoreUnavailable, "replay_store_unavailable"},
	{calltoken.ErrNoDirectory, "no_directory"},
}

func errorLabel(err error, table []labelledError) string {
	for _, row := range table {
		if errors.Is(err, row.err) {
			return row.label
		}
	}
	return "other"
}

// replayStore wraps the call tokens' replay store to count its answers and
// say whether it is reachable.
func (m *metrics) replayStore(next calltoken.ReplayStore) calltoken.ReplayStore {
	if m == nil {
		return next
	}
	m.reg.MustRegister(m.replayChecks, m.replayUp)
	for _, r := range []string{"accepted", "replayed", "failed"} {
		m.replayChecks.WithLabelValues(r)
	}
	m.replayUp.Set(1)
	return &meteredReplay{next: next, m: m}
}

type meteredReplay struct {
	next calltoken.ReplayStore
	m    *metrics
}

func (r *meteredReplay) Remember(ctx context.Context, key string, ttl time.Duration) error {
	err := r.next.Remember(ctx, key, ttl)
	switch {
	case err == nil:
		r.m.replayChecks.WithLabelValues("accepted").Inc()
		r.m.replayUp.Set(1)
	case errors.Is(err, calltoken.ErrReplayed):
		r.m.replayChecks.WithLabelValues("replayed").Inc()
		r.m.replayUp.Set(1)
	case ctx.Err() != nil:
		// The caller went away: says nothing about the store.
	default:
		r.m.replayChecks.WithLabelValues("failed").Inc()
		r.m.replayUp.Set(0)
	}
	return err
}

// hubServices are the health services that follow NATS: nothing can be
// published or read while it is down. LogService keeps its own status (it
// turns NOT_SERVING when the tree disagrees with the stream).
var hubServices = []string{"", headsupv1.HubService_ServiceDesc.ServiceName}

// watchNATS keeps the NATS gauge and the hub's gRPC health in step with
// nc's connection until ctx is done: NOT_SERVING while disconnected, so a
// load balancer sends clients to a replica that can serve them. It listens
// with StatusChanged rather than the connection's handlers, which are
// single slots other code (the embedded server's shutdown) already uses.
// Each event is only a wake-up: the status is read from nc, so a dropped
// event (the listener's buffer is bounded) never leaves a stale state.
func (m *metrics) watchNATS(ctx context.Context, nc *nats.Conn, hs *health.Server, logger *slog.Logger) error {
	events := nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	defer nc.RemoveStatusListener(events)
	up := true
	apply := func() {
		now := nc.IsConnected()
		if now == up {
			return
		}
		up = now
		serving := healthpb.HealthCheckResponse_SERVING
		if up {
			logger.Info("NATS connected: serving", "server", nc.ConnectedUrlRedacted())
		} else {
			serving = healthpb.HealthCheckResponse_NOT_SERVING
			logger.Error("NATS disconnected: not serving until it is back", "status", nc.Status().String(), "err", nc.LastError())
			if m != nil {
				m.natsDisconnect.Inc()
			}
		}
		if m != nil {
			m.natsConnected.Set(b2f(up))
		}
		for _, svc := range hubServices {
			hs.SetServingStatus(svc, serving)
		}
	}
	if m != nil {
		m.natsConnected.Set(1)
	}
	apply()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				return nil
			}
			apply()
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// subscriberSet reports each member's largest subscriber lag at scrape
// time. The delivery path only stores numbers in atomics; the grouping is
// done when Prometheus asks.
type subscriberSet struct {
	desc *prometheus.Desc
	// head is the highest sequence this hub knows the log holds: raised by
	// its own publishes and by the delivery path as it reads the log.
	head atomic.Uint64
	mu   sync.Mutex
	subs map[*subscriberMetrics]struct{}
}

func newSubscriberSet() *subscriberSet {
	return &subscriberSet{
		desc: prometheus.NewDesc("headsup_hub_subscriber_lag_entries",
			"Largest lag among the member's open subscriptions: entries between the last one sent to the subscriber and the highest sequence this hub knows of.",
			[]string{"member"}, nil),
		subs: map[*subscriberMetrics]struct{}{},
	}
}

func (s *subscriberSet) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *subscriberSet) Collect(ch chan<- prometheus.Metric) {
	head := s.head.Load()
	s.mu.Lock()
	lag := map[string]uint64{}
	for sub := range s.subs {
		var l uint64
		if sent := sub.last.Load(); head > sent {
			l = head - sent
		}
		lag[sub.member] = max(lag[sub.member], l)
	}
	s.mu.Unlock()
	for member, l := range lag {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, float64(l), member)
	}
}

// logHead tells the metrics that the log holds seq: the delivery path calls
// it for each entry it reads from the log (entries other replicas stored
// included); the hub's own publishes raise it already.
func (m *metrics) logHead(seq uint64) {
	if m == nil {
		return
	}
	for {
		h := m.subscribers.head.Load()
		if seq <= h || m.subscribers.head.CompareAndSwap(h, seq) {
			return
		}
	}
}

// subscriberMetrics is one subscription's handle on the metrics. The
// delivery path takes one when a subscription starts (subscriber), calls
// sent for every entry it hands to gRPC and close when the subscription
// ends. All its methods are safe on nil.
type subscriberMetrics struct {
	m      *metrics
	member string
	last   atomic.Uint64 // the last sequence sent
}

// anonymous names the subscriptions of callers without a call token (a hub
// with --open) in the lag metric.
const anonymous = "anonymous"

// subscriber registers a subscription of member ("" for anonymous) that
// starts after sequence after.
func (m *metrics) subscriber(member string, after uint64) *subscriberMetrics {
	if m == nil {
		return nil
	}
	if member == "" {
		member = anonymous
	}
	s := &subscriberMetrics{m: m, member: member}
	s.last.Store(after)
	m.subscribers.mu.Lock()
	m.subscribers.subs[s] = struct{}{}
	m.subscribers.mu.Unlock()
	return s
}

// sent records that the entry at seq (a notice, redacted or not, or a
// directory version; not a heartbeat) was handed to gRPC for the
// subscriber.
func (s *subscriberMetrics) sent(seq uint64) {
	if s == nil {
		return
	}
	s.m.deliveries.Inc()
	s.last.Store(seq)
	s.m.logHead(seq)
}

// close unregisters the subscription.
func (s *subscriberMetrics) close() {
	if s == nil {
		return
	}
	s.m.subscribers.mu.Lock()
	delete(s.m.subscribers.subs, s)
	s.m.subscribers.mu.Unlock()
}
