package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/flood"
)

// DefaultMetricsListen is where headsup-agent serves its Prometheus
// metrics and /healthz unless configured otherwise (9464: the port
// Prometheus exporters commonly take). DefaultConfig leaves
// Config.MetricsListen empty (off), as it does the local API.
const DefaultMetricsListen = "127.0.0.1:9464"

// httpStopGrace bounds the shutdown of the agent's HTTP listeners (metrics,
// witness).
const httpStopGrace = 2 * time.Second

// metrics are the agent's Prometheus metrics, in a registry of its own
// (never the global one): two agents in one process, as in tests, do not
// share them.
type metrics struct {
	reg *prometheus.Registry
	// verifyFailures counts entries that failed verification, by the
	// envelope error (sentinel) that refused them.
	verifyFailures *prometheus.CounterVec
	// sinkErrors counts failed deliveries by sink and kind (retry,
	// permanent).
	sinkErrors *prometheus.CounterVec
	// outboxSkipped counts events skipped for a sink whose backlog
	// reached the bound.
	outboxSkipped *prometheus.CounterVec
	// rechecks counts live re-checks by result.
	rechecks *prometheus.CounterVec
}

func newMetrics(a *agent) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headsup_agent_verification_failures_total",
			Help: "Entries that failed verification, by error: unknown_key (parked: directory stale?) or a failure against a known key (integrity)."}, []string{"error"}),
		sinkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headsup_agent_sink_errors_total",
			Help: "Failed deliveries to a sink, by sink and kind (retry: tried again later; permanent: skipped)."}, []string{"sink", "kind"}),
		outboxSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headsup_agent_outbox_skipped_total",
			Help: "Events skipped for a sink because its backlog reached the outbox bound (the store keeps them)."}, []string{"sink"}),
		rechecks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headsup_agent_rechecks_total",
			Help: "Live re-checks of sightings (verify_sightings), by result: confirmed, not_confirmed, not_checked."}, []string{"result"}),
	}
	m.reg.MustRegister(m.verifyFailures, m.sinkErrors, m.outboxSkipped, m.rechecks, &stateCollector{a: a},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	for _, s := range a.cfg.Outputs {
		for _, kind := range []string{"retry", "permanent"} {
			m.sinkErrors.WithLabelValues(s.Sink.Name(), kind)
		}
		m.outboxSkipped.WithLabelValues(s.Sink.Name())
	}
	for _, v := range verifyErrors {
		m.verifyFailures.WithLabelValues(v.label)
	}
	return m
}

// verifyErrors are the envelope errors a failure is counted under, most
// specific first, with their labels.
var verifyErrors = []struct {
	err   error
	label string
}{
	{envelope.ErrUnknownKey, "unknown_key"},
	{envelope.ErrKeyNotIssuers, "key_not_issuers"},
	{envelope.ErrKeyUse, "key_use"},
	{envelope.ErrKeyNotValid, "key_not_valid"},
	{envelope.ErrSignature, "signature"},
	{envelope.ErrDigest, "digest"},
	{envelope.ErrClaimsMismatch, "claims_mismatch"},
	{envelope.ErrClaims, "claims"},
	{envelope.ErrSchema, "schema"},
	{envelope.ErrHeader, "header"},
	{envelope.ErrMalformed, "malformed"},
	{envelope.ErrTooLarge, "too_large"},
}

// withheldLabel counts a redacted entry whose signed audience includes
// the member: the hub withheld it.
const withheldLabel = "withheld"

// verifyFailureLabel names why an entry did not verify. The entry keeps
// the error's text only (it is stored), and every envelope error wraps
// its sentinel, so the sentinel's text is in it.
func verifyFailureLabel(e entryRow) string {
	if e.Status == statusParked {
		return "unknown_key"
	}
	for _, v := range verifyErrors {
		if strings.Contains(e.Error, v.err.Error()) {
			return v.label
		}
	}
	if strings.Contains(e.Error, "withheld") {
		return withheldLabel
	}
	return "other"
}

// stateCollector reports what is read at scrape time: the connection, the
// cursor, the customer list, the alerts, the outbox and flood control.
type stateCollector struct{ a *agent }

var (
	descConnected      = prometheus.NewDesc("headsup_agent_hub_connected", "1 while the agent holds a subscription to the hub.", nil, nil)
	descHubLast        = prometheus.NewDesc("headsup_agent_hub_last_sequence", "The hub's last sequence, from the stream's start, its entries and heartbeats.", nil, nil)
	descCursor         = prometheus.NewDesc("headsup_agent_cursor", "The last sequence whose effects the agent committed.", nil, nil)
	descLag            = prometheus.NewDesc("headsup_agent_cursor_lag", "The hub's last sequence minus the committed cursor: entries not yet matched.", nil, nil)
	descSinceEntry     = prometheus.NewDesc("headsup_agent_seconds_since_last_entry", "Seconds since the last entry arrived (since the agent started, when none has).", nil, nil)
	descSinceHeartbeat = prometheus.NewDesc("headsup_agent_seconds_since_last_heartbeat", "Seconds since the hub's last heartbeat (since the agent started, when none has come).", nil, nil)
	descSinceContact   = prometheus.NewDesc("headsup_agent_seconds_since_hub_contact", "Seconds since the hub last said anything (start, entry or heartbeat).", nil, nil)
	descCustomers      = prometheus.NewDesc("headsup_agent_customers", "Distinct customers in the merged customer list.", nil, nil)
	descSourceRows     = prometheus.NewDesc("headsup_agent_customer_list_rows", "Rows of a customer source's current list.", []string{"source"}, nil)
	descSourceAge      = prometheus.NewDesc("headsup_agent_customer_list_age_seconds", "Seconds since a customer source last delivered or confirmed its list (PostgreSQL: last successful refresh; a watched file: last load).", []string{"source"}, nil)
	descAlerts         = prometheus.NewDesc("headsup_agent_alerts", "Alerts in the store by lifecycle state and severity (alarms included).", []string{"state", "severity"}, nil)
	descOutboxDepth    = prometheus.NewDesc("headsup_agent_outbox_depth", "Events waiting for a sink: in the outbox, held by flood control, or being delivered.", []string{"sink"}, nil)
	descOutboxMax      = prometheus.NewDesc("headsup_agent_outbox_max", "The bound of each sink's backlog.", nil, nil)
	descAlarm          = prometheus.NewDesc("headsup_agent_alarm", "1 while an alarm fires: hub_disconnected, customer_list_stale, outbox_full (per sink).", []string{"kind", "sink"}, nil)
	descFloodHeld      = prometheus.NewDesc("headsup_agent_flood_held", "Revisions and alerts flood control holds for a sink now.", []string{"sink"}, nil)
	descFloodTracked   = prometheus.NewDesc("headsup_agent_flood_tracked", "What counts against flood control's bound for a sink now.", []string{"sink"}, nil)
	descFloodEmitted   = prometheus.NewDesc("headsup_agent_flood_emissions_total", "Flood control's emissions for a sink by kind (pass, coalesced, digest, integrity_summary).", []string{"sink", "kind"}, nil)
	descLogSize        = prometheus.NewDesc("headsup_agent_log_checkpoint_size", "Size of the last checkpoint the agent verified (log signature, consistency with the one before).", nil, nil)
	descQuorumHave     = prometheus.NewDesc("headsup_agent_log_quorum_cosigners", "Members other than the hub's operator that validly cosigned the last checkpoint counted.", nil, nil)
	descQuorumNeed     = prometheus.NewDesc("headsup_agent_log_quorum_needed", "The witness quorum the directory asks for.", nil, nil)
	descSinceQuorum    = prometheus.NewDesc("headsup_agent_log_seconds_since_quorum", "Seconds since a checkpoint last reached its witness quorum, by the witnesses' clocks (since the agent started, when none has).", nil, nil)
	descQuorumStale    = prometheus.NewDesc("headsup_agent_log_quorum_stale", "1 while the quorum_stale integrity alert is active: no checkpoint reached its quorum for longer than quorum_freshness.", nil, nil)
	descWitnessSize    = prometheus.NewDesc("headsup_agent_witness_cosigned_size", "Size of the last checkpoint this member's witness cosigned (0: not witnessing, or none yet).", nil, nil)
	descLogFailures    = prometheus.NewDesc("headsup_agent_log_integrity_alerts_total", "Log integrity alerts raised since start, by kind (checkpoint_signature, inconsistent, fork, inclusion, quorum_stale).", []string{"kind"}, nil)
	descFloodOverflow  = prometheus.NewDesc("headsup_agent_flood_overflowed_total", "Alerts flood control released before their window's end because its bound was reached.", []string{"sink"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descHubLast, descCursor, descLag, descSinceEntry, descSinceHeartbeat, descSinceContact,
		descCustomers, descSourceRows, descSourceAge, descAlerts, descOutboxDepth, descOutboxMax, descAlarm,
		descFloodHeld, descFloodTracked, descFloodEmitted, descFloodOverflow,
		descLogSize, descQuorumHave, descQuorumNeed, descSinceQuorum, descQuorumStale, descWitnessSize, descLogFailures} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	now := a.cfg.Now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	since := func(t time.Time) float64 { return max(now.Sub(t), 0).Seconds() }

	h := a.health
	h.mu.Lock()
	connected := 0.0
	if h.connected {
		connected = 1
	}
	gauge(descConnected, connected)
	gauge(descHubLast, float64(h.hubLast))
	gauge(descCursor, float64(h.cursor))
	lag := uint64(0)
	if h.hubLast > h.cursor {
		lag = h.hubLast - h.cursor
	}
	gauge(descLag, float64(lag))
	gauge(descSinceEntry, since(later(h.lastEntry, h.started)))
	gauge(descSinceHeartbeat, since(later(h.lastBeat, h.started)))
	gauge(descSinceContact, since(later(h.lastRecv, h.started)))
	gauge(descCustomers, float64(h.customers))
	for i := range a.cfg.Customers {
		src := fmt.Sprint(i)
		gauge(descSourceRows, float64(h.sourceRows[i]), src)
		fresh := h.sourceFresh[i]
		if fresh.IsZero() {
			fresh = h.started
		}
		gauge(descSourceAge, since(fresh), src)
	}
	for _, kind := range []string{alert.AlarmHubDisconnected, alert.AlarmCustomerListStale} {
		gauge(descAlarm, boolGauge(h.alarms[alarmKey{kind: kind}]), kind, "")
	}
	for _, o := range a.cfg.Outputs {
		name := o.Sink.Name()
		gauge(descAlarm, boolGauge(h.alarms[alarmKey{alert.AlarmOutboxFull, name}]), alert.AlarmOutboxFull, name)
		gauge(descOutboxDepth, float64(h.outboxDepth[name]), name)
	}
	h.mu.Unlock()
	gauge(descOutboxMax, float64(a.cfg.OutboxMax))

	lw := a.logw
	lw.mu.Lock()
	if lw.last != nil {
		gauge(descLogSize, float64(lw.last.Size))
	} else {
		gauge(descLogSize, 0)
	}
	gauge(descQuorumHave, float64(len(lw.quorum.Cosigners)))
	need := 0
	if l := a.directory().Log; l != nil {
		need = l.Quorum
	}
	gauge(descQuorumNeed, float64(need))
	gauge(descQuorumStale, boolGauge(lw.stale))
	gauge(descWitnessSize, float64(lw.cosigned))
	for _, kind := range []string{alert.LogCheckpointSignature, alert.LogInconsistent, alert.LogFork, alert.LogInclusion, alert.LogQuorumStale} {
		counter(descLogFailures, lw.failures[kind], kind)
	}
	lw.mu.Unlock()
	gauge(descSinceQuorum, since(lw.fresh.Last()))

	for _, o := range a.outlets {
		if o.shaper == nil {
			continue
		}
		st := o.shaper.Stats()
		name := o.out.Sink.Name()
		gauge(descFloodHeld, float64(st.Held), name)
		gauge(descFloodTracked, float64(st.Tracked), name)
		counter(descFloodEmitted, st.Passed, name, flood.KindPass.String())
		counter(descFloodEmitted, st.Coalesced, name, flood.KindCoalesced.String())
		counter(descFloodEmitted, st.Digests, name, flood.KindDigest.String())
		counter(descFloodEmitted, st.IntegritySummaries, name, flood.KindIntegritySummary.String())
		counter(descFloodOverflow, st.Overflowed, name)
	}

	// Alerts by state and severity, read from the store: a scrape waits
	// for the transaction in progress at most (one connection).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := a.store.db.QueryContext(ctx, `SELECT state, COALESCE(json_extract(event, '$.severity'), ''), COUNT(*) FROM alerts GROUP BY 1, 2`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descAlerts, err)
		return
	}
	defer rows.Close()
	counts := map[[2]string]int{}
	for rows.Next() {
		var state, sev string
		var n int
		if err := rows.Scan(&state, &sev, &n); err != nil {
			ch <- prometheus.NewInvalidMetric(descAlerts, err)
			return
		}
		counts[[2]string{state, sev}] = n
	}
	// Every combination, zeros too, so a dashboard never sees a series
	// vanish when the last alert of a kind goes.
	for _, state := range []string{stateActive, stateWithdrawn} {
		for _, sev := range []string{alert.SeverityCritical, alert.SeverityHigh, alert.SeverityMedium, alert.SeverityLow} {
			gauge(descAlerts, float64(counts[[2]string{state, sev}]), state, sev)
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// listenMetrics opens the metrics listener, or returns nil when addr is
// empty. A non-loopback address is refused unless allowed: the metrics
// tell anyone who reads them the size of the customer list and how busy
// the desk is.
func listenMetrics(addr string, allowNonLoopback bool) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("agent: metrics_listen %q: %w", addr, err)
	}
	if !allowNonLoopback && checkLoopback(addr) != nil {
		return nil, fmt.Errorf("agent: metrics_listen %q (set metrics_allow_remote to serve it beyond loopback): %w", addr, ErrNotLoopback)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: metrics_listen %q: %w", addr, err)
	}
	return l, nil
}

// serveMetrics serves /metrics and /healthz on l until ctx is done.
func (a *agent) serveMetrics(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{Registry: a.metrics.reg, ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := a.health.healthz(a.cfg.Now())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	return serveHTTP(ctx, l, mux, a.cfg.MetricsReady, "metrics")
}

// serveHTTP serves h on l until ctx is done, then shuts down within
// httpStopGrace; ready, when set, learns the address once it serves.
func serveHTTP(ctx context.Context, l net.Listener, h http.Handler, ready func(net.Addr), what string) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	if ready != nil {
		ready(l.Addr())
	}
	select {
	case err := <-served:
		return fmt.Errorf("agent: %s: %w", what, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), httpStopGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	<-served
	return nil
}

// sourceLoaded records a customer source's new list for the metrics.
func (h *health) sourceLoaded(i, rows int, loadedAt time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sourceRows[i] = rows
	if loadedAt.After(h.sourceFresh[i]) {
		h.sourceFresh[i] = loadedAt
	}
}

func (h *health) setCustomers(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.customers = n
}
