package agent_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/story"
)

// gatedSource holds a customer source back until the gate opens: the
// agent receives entries but cannot match (or commit) them.
type gatedSource struct {
	inner agent.CustomerSource
	gate  <-chan struct{}
}

func (g gatedSource) Run(ctx context.Context, onChange func(customers.Snapshot)) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.inner.Run(ctx, onChange)
}

// scrape reads the metrics endpoint with the Prometheus text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mfs
}

// metric returns the value of the series of name with the given label
// pairs; ok is false when there is none.
func metric(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// eventually scrapes until cond holds, failing after a deadline with
// what the last scrape said.
func eventually(t *testing.T, addr, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mfs := scrape(t, addr)
		if cond(mfs) {
			return mfs
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for name, mf := range mfs {
				if strings.HasPrefix(name, "headsup_") {
					for _, m := range mf.GetMetric() {
						b.WriteString(name + " " + m.String() + "\n")
					}
				}
			}
			t.Fatalf("metrics never showed %s:\n%s", what, b.String())
		}
		time.Sleep(10 * time.Millisecond) // polling, with a deadline
	}
}

// TestMetrics scrapes the agent's endpoint while it cannot match (its
// customer list is held back: entries pile up, lag grows, the list alarm
// fires), once it has caught up, and after the hub stopped (time since
// the hub's last word grows, the disconnection alarm fires, /healthz
// says why).
func TestMetrics(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	ready := make(chan net.Addr, 1)
	f := newFed(t, fedOptions{configure: func(c *agent.Config) {
		c.Customers[0] = gatedSource{inner: c.Customers[0], gate: gate}
		c.MetricsListen = "127.0.0.1:0"
		c.MetricsReady = func(a net.Addr) { ready <- a }
		c.AlarmAfter = 300 * time.Millisecond
	}})
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case <-time.After(30 * time.Second):
		t.Fatal("the metrics endpoint did not listen")
	}

	s := f.prepare("edgeshield", story.Suspended())
	f.publish("edgeshield", s)
	f.publish("researcher", story.Sighted(s))
	last := f.publish("researcher", story.Reseller())

	// Held back: every entry is received, none matched.
	eventually(t, addr, "lag while the customer list is held back, and its alarm", func(m map[string]*dto.MetricFamily) bool {
		hub, _ := metric(m, "headsup_agent_hub_last_sequence")
		cursor, _ := metric(m, "headsup_agent_cursor")
		lag, _ := metric(m, "headsup_agent_cursor_lag")
		stale, _ := metric(m, "headsup_agent_alarm", "kind", alert.AlarmCustomerListStale)
		return hub >= float64(last) && cursor == 0 && lag == hub-cursor && stale == 1
	})
	if code, why := healthz(t, addr); code != http.StatusServiceUnavailable || !strings.Contains(why, alert.AlarmCustomerListStale) {
		t.Fatalf("/healthz = %d %q, want 503 naming the customer list alarm", code, why)
	}

	// The list comes: the agent catches up and the alarm clears.
	close(gate)
	f.settle(last)
	caughtUp := eventually(t, addr, "no lag, the alarm cleared, the alert counted", func(m map[string]*dto.MetricFamily) bool {
		lag, _ := metric(m, "headsup_agent_cursor_lag")
		cursor, _ := metric(m, "headsup_agent_cursor")
		stale, _ := metric(m, "headsup_agent_alarm", "kind", alert.AlarmCustomerListStale)
		critical, _ := metric(m, "headsup_agent_alerts", "state", "active", "severity", alert.SeverityCritical)
		return lag == 0 && cursor == float64(last) && stale == 0 && critical == 1
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"headsup_agent_hub_connected", nil, 1},
		{"headsup_agent_customers", nil, 2},
		{"headsup_agent_customer_list_rows", []string{"source", "0"}, 5},
		{"headsup_agent_alarm", []string{"kind", alert.AlarmHubDisconnected}, 0},
		{"headsup_agent_outbox_max", nil, agent.DefaultOutboxMax},
		{"headsup_agent_verification_failures_total", []string{"error", "signature"}, 0},
		{"headsup_agent_sink_errors_total", []string{"sink", "collect", "kind", "retry"}, 0},
	} {
		if got, ok := metric(caughtUp, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := metric(caughtUp, "headsup_agent_outbox_depth", "sink", "collect"); !ok {
		t.Error("no outbox depth for the sink")
	}
	if code, why := healthz(t, addr); code != http.StatusOK {
		t.Fatalf("/healthz = %d %q, want 200 once connected and current", code, why)
	}
	quiet, _ := metric(caughtUp, "headsup_agent_seconds_since_hub_contact")

	// The hub goes away.
	if err := f.stopHub(); err != nil {
		t.Fatalf("stopping the hub: %v", err)
	}
	down := eventually(t, addr, "the disconnection and its alarm", func(m map[string]*dto.MetricFamily) bool {
		connected, _ := metric(m, "headsup_agent_hub_connected")
		alarm, _ := metric(m, "headsup_agent_alarm", "kind", alert.AlarmHubDisconnected)
		since, _ := metric(m, "headsup_agent_seconds_since_hub_contact")
		beat, _ := metric(m, "headsup_agent_seconds_since_last_heartbeat")
		return connected == 0 && alarm == 1 && since > quiet && beat > 0
	})
	lag, _ := metric(down, "headsup_agent_cursor_lag")
	if lag != 0 {
		t.Errorf("lag %v after the hub stopped with everything matched, want 0", lag)
	}
	if code, why := healthz(t, addr); code != http.StatusServiceUnavailable || !strings.Contains(why, "not connected to the hub") {
		t.Fatalf("/healthz = %d %q, want 503 saying the hub is gone", code, why)
	}

	// Each alarm reached the sink as an alert event.
	raised := waitFor(t, f.sink, "the hub alarm", func(e alert.Event) bool {
		return e.Type == alert.TypeAlarm && e.Alarm.Kind == alert.AlarmHubDisconnected && e.Event == alert.EventRaised
	})
	if raised.Severity != alert.SeverityHigh || !strings.Contains(raised.Headline, "disconnected from the hub") {
		t.Errorf("hub alarm %+v", raised)
	}
	waitFor(t, f.sink, "the list alarm's end", func(e alert.Event) bool {
		return e.Type == alert.TypeAlarm && e.Alarm.Kind == alert.AlarmCustomerListStale && e.Event == alert.EventWithdrawn &&
			e.Withdrawn.Reason == alert.WithdrawResolved
	})
}
