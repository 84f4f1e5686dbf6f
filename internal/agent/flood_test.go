package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/flood"
	"github.com/headsup-dev/headsup/internal/story"
)

// namedSink is a collecting sink with a name of its own, so that one
// agent can feed several.
type namedSink struct {
	*collect
	name string
}

func (s namedSink) Name() string { return s.name }

// floodCustomers: epiq (behind mitigatr) and an unrelated forum.
const floodCustomers = story.Customers + "cus-7007,Forum Hosting,host,forum.example\n"

// TestFloodDigest is issue 5's flood test: a RESELLER_IDENTIFIED notice
// joins 300 active suspensions to one customer. Each of two sinks emits
// the first few alerts, then one digest for the window listing all 300;
// the store holds all 300 alerts and resolves the digest's id; and an
// unrelated critical alert raised in the same minute reaches each sink
// at once, before the digest.
func TestFloodDigest(t *testing.T) {
	t.Parallel()
	const (
		shops     = 300
		threshold = 5
	)
	// The digest window is long enough that every one of the 300 alerts
	// (raised by one commit) falls into it even on a slow machine; the
	// group window so long that nothing is coalesced during the test.
	shaping := &flood.Config{GroupWindow: time.Hour, DigestThreshold: threshold, DigestWindow: 4 * time.Second, IntegrityWindow: time.Hour}
	sinks := []namedSink{{&collect{}, "desk-a"}, {&collect{}, "desk-b"}}
	ready := make(chan net.Addr, 1)
	f := newFed(t, fedOptions{customers: floodCustomers, configure: func(c *agent.Config) {
		c.Outputs = nil
		for _, s := range sinks {
			c.Outputs = append(c.Outputs, agent.Output{Sink: s, Flood: shaping})
		}
		c.CheckListen = "127.0.0.1:0"
		c.CheckReady = func(a net.Addr) { ready <- a }
	}})

	// 300 phishing suspensions, and one sighting that says every one of
	// them now answers from mitigatr. Nothing reaches a customer yet.
	var about []*headsupv1.NoticeRef
	var hosts []*headsupv1.Identifier
	for i := range shops {
		host := fmt.Sprintf("shop-%03d.example", i)
		s := f.prepare("edgeshield", &headsupv1.Notice{
			Kind:       headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
			Subject:    &headsupv1.Entity{Label: host, Identifiers: []*headsupv1.Identifier{story.Host(host)}},
			Reason:     "fraud:phishing",
			Tlp:        headsupv1.Tlp_TLP_GREEN,
			LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE},
		})
		f.publish("edgeshield", s)
		about = append(about, &headsupv1.NoticeRef{Issuer: s.GetIssuer(), Id: s.GetId()})
		hosts = append(hosts, story.Host(host))
	}
	seen := timestamppb.New(time.Now().Add(-time.Hour).Truncate(time.Second))
	f.publish("edgeshield", &headsupv1.Notice{
		Kind:    headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED,
		Subject: &headsupv1.Entity{Label: "300 phishing shops", Identifiers: hosts},
		Sighting: &headsupv1.Sighting{
			Host: &headsupv1.Entity{Label: "mitigatr", Member: "mitigatr", Identifiers: []*headsupv1.Identifier{{
				Value:       &headsupv1.Identifier_Host{Host: "mitigatr.example"},
				Observation: &headsupv1.Observation{ObservedAt: seen, Method: headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS},
			}}},
			About: about,
		},
		Reason: "fraud:phishing",
		Tlp:    headsupv1.Tlp_TLP_GREEN,
	})

	// The reseller notice joins them all to epiq; in the same minute, an
	// unrelated customer's critical alert.
	f.publish("edgeshield", story.Reseller())
	critical := f.prepare("edgeshield", &headsupv1.Notice{
		Kind:       headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject:    &headsupv1.Entity{Label: "forum.example", Identifiers: []*headsupv1.Identifier{story.Host("forum.example")}},
		Reason:     "abusive-content:violence",
		Tlp:        headsupv1.Tlp_TLP_GREEN,
		LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE},
	})
	last := f.publish("edgeshield", critical)
	criticalID := alert.ID("voxhost", "cus-7007", "edgeshield", critical.GetId())

	// Every alert is in the store.
	deadline := time.Now().Add(30 * time.Second)
	var epiq []string
	for {
		for f.cursor.Load() < last && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // polling, with a deadline
		}
		all, err := agent.Alerts(context.Background(), f.state)
		if err != nil {
			t.Fatal(err)
		}
		epiq = epiq[:0]
		for _, e := range all {
			if e.Customer != nil && e.Customer.ID == "cus-1001" && e.State == alert.StateActive {
				epiq = append(epiq, e.AlertID)
				if e.Severity != alert.SeverityHigh {
					t.Fatalf("alert %s is %s, want high (phishing, strong, one issuer)", e.AlertID, e.Severity)
				}
			}
		}
		if len(epiq) == shops {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store holds %d active alerts for epiq, want %d", len(epiq), shops)
		}
		time.Sleep(5 * time.Millisecond)
	}
	slices.Sort(epiq)

	for _, s := range sinks {
		// Wait for the digest: it comes at the end of the window.
		var got []alert.Event
		var digest *alert.Event
		for digest == nil {
			got = s.all()
			for i := range got {
				if got[i].Type == alert.TypeDigest {
					digest = &got[i]
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("sink %s received no digest; it has %d events", s.name, len(got))
			}
			time.Sleep(5 * time.Millisecond)
		}
		var individual []string
		criticalAt, digestAt, digests := -1, -1, 0
		for i, e := range got {
			if err := alert.Validate(mustJSON(t, e)); err != nil {
				t.Fatalf("sink %s: event %d does not validate: %v", s.name, i, err)
			}
			switch {
			case e.Type == alert.TypeDigest:
				digests++
				digestAt = i
			case e.AlertID == criticalID:
				criticalAt = i
			case e.Customer != nil && e.Customer.ID == "cus-1001":
				individual = append(individual, e.AlertID)
			}
		}
		if digests != 1 {
			t.Errorf("sink %s received %d digests, want 1 for the window", s.name, digests)
		}
		if len(individual) != threshold {
			t.Errorf("sink %s received %d of epiq's alerts one by one, want the first %d", s.name, len(individual), threshold)
		}
		d := digest.Digest
		if digest.Customer == nil || digest.Customer.ID != "cus-1001" || d.Count != shops || d.Withheld != shops-threshold || d.Sink != s.name ||
			!slices.Equal(d.AlertIDs, epiq) || digest.Revision != 1 || digest.Event != alert.EventRaised {
			t.Errorf("sink %s: digest customer %+v, count %d, withheld %d, sink %s, %d ids (all 300: %v), revision %d %s",
				s.name, digest.Customer, d.Count, d.Withheld, d.Sink, len(d.AlertIDs), slices.Equal(d.AlertIDs, epiq), digest.Revision, digest.Event)
		}
		for _, id := range individual {
			if _, ok := slices.BinarySearch(epiq, id); !ok {
				t.Errorf("sink %s: individual alert %s is not one of epiq's", s.name, id)
			}
		}
		// The critical alert did not wait for the window.
		if criticalAt < 0 || criticalAt > digestAt {
			t.Errorf("sink %s: the critical alert came at %d, the digest at %d: want it before the digest", s.name, criticalAt, digestAt)
		}
	}

	// `headsup alerts show <digest id>`: the agent answers for the id,
	// with every alert it stands for.
	var addr net.Addr
	select {
	case addr = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the local API did not listen")
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var digestID string
	for _, e := range sinks[0].all() {
		if e.Type == alert.TypeDigest {
			digestID = e.AlertID
		}
	}
	resp, err := headsupv1.NewAgentServiceClient(conn).GetAlert(context.Background(), &headsupv1.GetAlertRequest{AlertId: digestID[:12]})
	if err != nil {
		t.Fatalf("GetAlert(digest): %v", err)
	}
	var shown alert.Event
	if err := json.Unmarshal([]byte(resp.GetEventJson()), &shown); err != nil {
		t.Fatal(err)
	}
	if resp.GetAlert().GetType() != alert.TypeDigest || shown.Digest == nil || !slices.Equal(shown.Digest.AlertIDs, epiq) {
		t.Fatalf("GetAlert(digest) = %v", resp.GetAlert())
	}
}

// stuckSink fails every delivery with a retryable error until opened.
type stuckSink struct {
	*collect
	open chan struct{}
}

func (s stuckSink) Deliver(ctx context.Context, e *alert.Event, body []byte) error {
	select {
	case <-s.open:
		return s.collect.Deliver(ctx, e, body)
	default:
		return errors.New("receiver down")
	}
}

// TestOutboxBound: a sink whose receiver is down fills its backlog; at
// the bound its oldest events are skipped and the outbox_full alarm is
// raised; once the receiver is back and the backlog drained, the alarm
// is withdrawn as resolved. The store keeps every alert.
func TestOutboxBound(t *testing.T) {
	t.Parallel()
	const shops = 12
	csv := "customer_id,display_name,type,value\n"
	for i := range shops {
		csv += fmt.Sprintf("cus-%d,Shop %d,host,shop-%d.example\n", i, i, i)
	}
	stuck := stuckSink{&collect{}, make(chan struct{})}
	f := newFed(t, fedOptions{customers: csv, configure: func(c *agent.Config) {
		c.Outputs = []agent.Output{{Sink: stuck}}
		c.OutboxMax = 6
	}})
	var last uint64
	for i := range shops {
		last = f.publish("edgeshield", &headsupv1.Notice{
			Kind:       headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
			Subject:    &headsupv1.Entity{Label: fmt.Sprintf("shop-%d.example", i), Identifiers: []*headsupv1.Identifier{story.Host(fmt.Sprintf("shop-%d.example", i))}},
			Reason:     "fraud:phishing",
			Tlp:        headsupv1.Tlp_TLP_GREEN,
			LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE},
		})
	}
	alarmState := func() (string, int) {
		all, err := agent.Alerts(context.Background(), f.state)
		if err != nil {
			t.Fatal(err)
		}
		state, matches := "", 0
		for _, e := range all {
			switch {
			case e.Type == alert.TypeAlarm && e.Alarm.Kind == alert.AlarmOutboxFull:
				state = e.State
			case e.Type == alert.TypeMatch:
				matches++
			}
		}
		return state, matches
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		state, matches := alarmState()
		if state == alert.StateActive && matches == shops && f.cursor.Load() >= last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox_full alarm %q with %d alerts in the store, want it active with %d", state, matches, shops)
		}
		time.Sleep(10 * time.Millisecond) // polling, with a deadline
	}
	close(stuck.open)
	got := waitFor(t, stuck.collect, "the alarm's end", func(e alert.Event) bool {
		return e.Type == alert.TypeAlarm && e.Event == alert.EventWithdrawn
	})
	if got.Withdrawn.Reason != alert.WithdrawResolved || got.Alarm.Sink != "collect" {
		t.Fatalf("alarm end %+v", got)
	}
	// The receiver got at most the bound's worth of the backlog: the
	// oldest were skipped, the newest and the alarm delivered.
	n := 0
	for _, e := range stuck.all() {
		if e.Type == alert.TypeMatch {
			n++
		}
	}
	if n == 0 || n >= shops {
		t.Fatalf("the sink received %d of %d alerts, want some skipped and the newest delivered", n, shops)
	}
}
