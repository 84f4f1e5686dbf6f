package hub

import (
	"maps"
	"strings"
	"testing"
)

func lags(t *testing.T, m *metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "headsup_hub_subscriber_lag_entries" {
			continue
		}
		for _, s := range mf.GetMetric() {
			got[s.GetLabel()[0].GetValue()] = s.GetGauge().GetValue()
		}
	}
	return got
}

func deliveries(t *testing.T, m *metrics) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "headsup_hub_deliveries_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestSubscriberLag: the lag metric is each member's largest distance
// between the highest sequence the hub knows and the last one sent, and a
// closed subscription leaves it.
func TestSubscriberLag(t *testing.T) {
	m := newMetrics()
	a1, a2 := m.subscriber("edgeshield", 0), m.subscriber("edgeshield", 5)
	anon := m.subscriber("", 0)
	m.logHead(10)
	a1.sent(9)
	a2.sent(6)
	anon.sent(10)
	m.logHead(8) // never lowers the head
	if got, want := lags(t, m), map[string]float64{"anonymous": 0, "edgeshield": 4}; !maps.Equal(got, want) {
		t.Fatalf("lag %v, want %v", got, want)
	}
	if got := deliveries(t, m); got != 3 {
		t.Fatalf("deliveries %v, want 3", got)
	}
	a2.close()
	anon.close()
	if got, want := lags(t, m), map[string]float64{"edgeshield": 1}; !maps.Equal(got, want) {
		t.Fatalf("lag after closing %v, want %v", got, want)
	}
	// A hub without metrics: every hook is a no-op.
	var none *metrics
	none.subscriber("x", 0).sent(1)
	none.logHead(3)
	none.verified(ErrNotCaller)
}

func TestNATSClientOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    NATSClient
		n    int
		err  string
	}{
		{name: "none", n: 0},
		{name: "creds and TLS", c: NATSClient{CredsFile: "x.creds", CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "c.key"}, n: 3},
		{name: "user", c: NATSClient{User: "u", Password: "p"}, n: 1},
		{name: "two identities", c: NATSClient{CredsFile: "x", User: "u", Password: "p"}, err: "choose one"},
		{name: "password alone", c: NATSClient{Password: "p"}, err: "a password without a user"},
		{name: "user alone", c: NATSClient{User: "u"}, err: `user "u" without a password`},
		{name: "key without cert", c: NATSClient{KeyFile: "k"}, err: "give both or neither"},
		{name: "missing seed", c: NATSClient{NKeySeedFile: "/nonexistent/seed"}, err: "NATS nkey seed /nonexistent/seed"},
	} {
		opts, err := tc.c.options()
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		case tc.err == "" && (err != nil || len(opts) != tc.n):
			t.Errorf("%s: %d options, %v; want %d", tc.name, len(opts), err, tc.n)
		}
	}
}
