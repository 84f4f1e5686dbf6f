package agent_test

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/story"
)

// boardCustomers is a customer list with one customer, board.example, so
// that a suspension of board.example (strong) or of www.board.example
// (weak: the customer is the registrable domain, the notice a host under
// it) alerts directly.
const boardCustomers = "customer_id,display_name,type,value\ncus-3003,Board Hosting,host,board.example\n"

// triageFed is a federation whose agent serves its local API, with a
// clock the test can move.
type triageFed struct {
	*fed
	api    headsupv1.AgentServiceClient
	offset *atomic.Int64 // added to the agent's clock
}

func newTriageFed(t *testing.T) *triageFed {
	t.Helper()
	offset := &atomic.Int64{}
	ready := make(chan net.Addr, 1)
	f := newFed(t, fedOptions{customers: boardCustomers, configure: func(c *agent.Config) {
		c.CheckListen = "127.0.0.1:0"
		c.CheckReady = func(a net.Addr) { ready <- a }
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		c.Reevaluate = 50 * time.Millisecond
	}})
	var addr net.Addr
	select {
	case addr = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent's local API did not listen within 30s")
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &triageFed{fed: f, api: headsupv1.NewAgentServiceClient(conn), offset: offset}
}

// suspend publishes a CUSTOMER_SUSPENDED of host by member for reason,
// labelled board.example (so all such alerts share a group).
func (f *triageFed) suspend(member, host, reason string) *headsupv1.Notice {
	f.t.Helper()
	n := f.prepare(member, &headsupv1.Notice{
		Kind:       headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject:    &headsupv1.Entity{Label: "board.example", Identifiers: []*headsupv1.Identifier{story.Host(host)}},
		Reason:     reason,
		Tlp:        headsupv1.Tlp_TLP_GREEN,
		LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE},
	})
	f.publish(member, n)
	return n
}

// sight publishes member's CUSTOMER_SIGHTED: root's subject now served
// from host.
func (f *triageFed) sight(member string, root *headsupv1.Notice, host string) *headsupv1.Notice {
	f.t.Helper()
	n := f.prepare(member, &headsupv1.Notice{
		Kind:    headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED,
		Subject: &headsupv1.Entity{Label: "board.example", Identifiers: root.GetSubject().GetIdentifiers()},
		Sighting: &headsupv1.Sighting{
			Host: &headsupv1.Entity{Label: host, Identifiers: []*headsupv1.Identifier{{
				Value:       &headsupv1.Identifier_Host{Host: host},
				Observation: &headsupv1.Observation{ObservedAt: timestamppb.New(time.Now().Add(-time.Hour).Truncate(time.Second)), Method: headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS},
			}}},
			About: []*headsupv1.NoticeRef{{Issuer: root.GetIssuer(), Id: root.GetId()}},
		},
		Reason: root.GetReason(),
		Tlp:    headsupv1.Tlp_TLP_GREEN,
	})
	f.publish(member, n)
	return n
}

// events returns what the sink received so far.
func (c *collect) all() []alert.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// waitEvent waits until the sink has received revision rev of alert id
// (any alert when id is empty) with the given event, checks that it is a
// valid headsup.alert.v1 event, and returns it.
func (f *triageFed) waitEvent(id string, rev uint64, event string) alert.Event {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, e := range f.sink.all() {
			if (id == "" || e.AlertID == id) && e.Revision == rev && e.Event == event {
				if err := alert.Validate(mustJSON(f.t, e)); err != nil {
					f.t.Fatalf("%s event does not validate: %v", event, err)
				}
				return e
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the sink never received revision %d (%s) of alert %q; it has %s", rev, event, id, describeEvents(f.sink.all()))
		}
		time.Sleep(5 * time.Millisecond) // polling, with a deadline
	}
}

func describeEvents(evs []alert.Event) string {
	var parts []string
	for _, e := range evs {
		parts = append(parts, e.AlertID[:8]+"#"+string(rune('0'+e.Revision))+":"+e.Event)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// waitHistory waits until the agent's history of alert id has revision
// rev, and returns it.
func (f *triageFed) waitHistory(id string, rev uint64) *headsupv1.GetAlertResponse {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := f.api.GetAlert(context.Background(), &headsupv1.GetAlertRequest{AlertId: id})
		if err != nil {
			f.t.Fatalf("GetAlert: %v", err)
		}
		if resp.GetAlert().GetRevision() >= rev {
			return resp
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("alert %s never reached revision %d (at %d)", id, rev, resp.GetAlert().GetRevision())
		}
		time.Sleep(5 * time.Millisecond) // polling, with a deadline
	}
}

// sent lists the (revision, event) pairs of alert id the sink received.
func (f *triageFed) sent(id string) []string {
	var out []string
	for _, e := range f.sink.all() {
		if e.AlertID == id {
			out = append(out, e.Event)
		}
	}
	return out
}

func wantCode(t *testing.T, err error, code codes.Code, field string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), field) {
		t.Fatalf("error %v, want %s naming %q", err, code, field)
	}
}

func history(resp *headsupv1.GetAlertResponse) []string {
	var out []string
	for _, r := range resp.GetHistory() {
		s := r.GetEvent()
		if r.GetSilenced() {
			s += " (silenced)"
		}
		out = append(out, s)
	}
	return out
}

// TestTriageAckSuppressUnsuppress: the desk acknowledges an alert,
// suppresses it (an update while suppressed is stored, not sent), and
// lifts the suppression by hand (the unsuppressed event carries what the
// sinks missed). Every change is a valid event with the next revision.
func TestTriageAckSuppressUnsuppress(t *testing.T) {
	f := newTriageFed(t)
	ctx := context.Background()
	root := f.suspend("edgeshield", "board.example", "fraud:phishing")
	raised := f.waitEvent("", 1, alert.EventRaised)
	id := raised.AlertID
	if raised.Severity != alert.SeverityHigh || raised.Strength != alert.StrengthStrong || raised.State != alert.StateActive || raised.PeakSeverity != alert.SeverityHigh {
		t.Fatalf("raised: severity %s, strength %s, state %s, peak %s; want a strong active high alert", raised.Severity, raised.Strength, raised.State, raised.PeakSeverity)
	}

	// Bad acknowledgements, each naming what is wrong.
	_, err := f.api.AckAlert(ctx, &headsupv1.AckAlertRequest{AlertId: strings.Repeat("0", 64), By: "alice"})
	wantCode(t, err, codes.NotFound, "no such alert")
	_, err = f.api.AckAlert(ctx, &headsupv1.AckAlertRequest{AlertId: "not-hex!", By: "alice"})
	wantCode(t, err, codes.InvalidArgument, "alert_id")
	_, err = f.api.AckAlert(ctx, &headsupv1.AckAlertRequest{AlertId: id})
	wantCode(t, err, codes.InvalidArgument, "by")

	ackResp, err := f.api.AckAlert(ctx, &headsupv1.AckAlertRequest{AlertId: id[:12], By: "alice", Note: "ticket ABUSE-1"})
	if err != nil || !ackResp.GetChanged() || !ackResp.GetAlert().GetTriage().GetAcked() {
		t.Fatalf("AckAlert = %v, %v", ackResp, err)
	}
	acked := f.waitEvent(id, 2, alert.EventAcked)
	if acked.Desk == nil || acked.Desk.Acked == nil || acked.Desk.Acked.By != "alice" || acked.Desk.Acked.Note != "ticket ABUSE-1" || len(acked.Paths) != 1 {
		t.Fatalf("acked event: %+v", acked.Desk)
	}
	again, err := f.api.AckAlert(ctx, &headsupv1.AckAlertRequest{AlertId: id, By: "bob"})
	if err != nil || again.GetChanged() || again.GetAlert().GetTriage().GetAckedBy() != "alice" {
		t.Fatalf("second AckAlert = %v, %v; want unchanged, acked by alice", again, err)
	}

	// Bad suppressions.
	for _, c := range []struct {
		s     *headsupv1.Suppression
		code  codes.Code
		field string
	}{
		{&headsupv1.Suppression{By: "alice"}, codes.InvalidArgument, "suppression"},
		{&headsupv1.Suppression{CustomerId: "cus-3003"}, codes.InvalidArgument, "suppression.by"},
		{&headsupv1.Suppression{Root: "edgeshield", By: "alice"}, codes.InvalidArgument, "suppression.root"},
		{&headsupv1.Suppression{CustomerId: "cus-3003", ReasonPrefix: "Fraud", By: "alice"}, codes.InvalidArgument, "suppression.reason_prefix"},
		{&headsupv1.Suppression{CustomerId: "cus-3003", Until: timestamppb.New(time.Now().Add(-time.Hour)), By: "alice"}, codes.InvalidArgument, "suppression.until"},
		{&headsupv1.Suppression{CustomerId: "cus-9999", By: "alice"}, codes.FailedPrecondition, "selects no alert"},
		{&headsupv1.Suppression{CustomerId: "cus-3003", ReasonPrefix: "abusive-content", By: "alice"}, codes.FailedPrecondition, "selects no alert"},
	} {
		_, err := f.api.SuppressAlert(ctx, &headsupv1.SuppressAlertRequest{Suppression: c.s})
		wantCode(t, err, c.code, c.field)
	}

	sup, err := f.api.SuppressAlert(ctx, &headsupv1.SuppressAlertRequest{Suppression: &headsupv1.Suppression{
		CustomerId: "cus-3003", ReasonPrefix: "fraud", By: "alice", Note: "customer contacted", Until: timestamppb.New(time.Now().Add(time.Hour))}})
	if err != nil || !slices.Equal(sup.GetAlertIds(), []string{id}) || sup.GetSuppression().GetId() == 0 {
		t.Fatalf("SuppressAlert = %v, %v", sup, err)
	}
	suppressed := f.waitEvent(id, 3, alert.EventSuppressed)
	if d := suppressed.Desk; d == nil || d.Suppressed == nil || d.Suppressed.CustomerID != "cus-3003" || d.Suppressed.By != "alice" || d.Acked == nil {
		t.Fatalf("suppressed event desk: %+v", suppressed.Desk)
	}

	// An update while suppressed: a second path from the same issuer (no
	// stronger, no more severe). The store has it; the sinks do not.
	f.sight("edgeshield", root, "board.example")
	got := f.waitHistory(id, 4)
	if h := history(got); !slices.Equal(h, []string{"raised", "acked", "suppressed", "updated (silenced)"}) {
		t.Fatalf("history %v", h)
	}
	var stored alert.Event
	if err := json.Unmarshal([]byte(got.GetEventJson()), &stored); err != nil || len(stored.Paths) != 2 || stored.Desk == nil || stored.Desk.Suppressed == nil {
		t.Fatalf("stored event: %v %+v", err, stored)
	}
	list, err := f.api.ListAlerts(ctx, &headsupv1.ListAlertsRequest{Triage: "suppressed"})
	if err != nil || len(list.GetAlerts()) != 1 || !list.GetAlerts()[0].GetTriage().GetSuppressed() || !list.GetAlerts()[0].GetTriage().GetAcked() {
		t.Fatalf("ListAlerts(suppressed) = %v, %v", list, err)
	}

	// Lifted by hand: the unsuppressed event carries both paths.
	un, err := f.api.UnsuppressAlert(ctx, &headsupv1.UnsuppressAlertRequest{Target: &headsupv1.UnsuppressAlertRequest_AlertId{AlertId: id}, By: "bob", Note: "customer did not answer"})
	if err != nil || !slices.Equal(un.GetAlertIds(), []string{id}) {
		t.Fatalf("UnsuppressAlert = %v, %v", un, err)
	}
	back := f.waitEvent(id, 5, alert.EventUnsuppressed)
	if d := back.Desk; d == nil || d.Unsuppressed == nil || d.Unsuppressed.Automatic || d.Unsuppressed.By != "bob" || d.Unsuppressed.Why != "lifted by hand" || d.Acked == nil || d.Suppressed != nil || len(back.Paths) != 2 {
		t.Fatalf("unsuppressed event: desk %+v, %d paths", back.Desk, len(back.Paths))
	}
	// The outbox is ordered: revision 5 arrived, so revision 4 never will.
	if s := f.sent(id); !slices.Equal(s, []string{"raised", "acked", "suppressed", "unsuppressed"}) {
		t.Fatalf("the sink received %v", s)
	}
	_, err = f.api.UnsuppressAlert(ctx, &headsupv1.UnsuppressAlertRequest{Target: &headsupv1.UnsuppressAlertRequest_AlertId{AlertId: id}, By: "bob"})
	wantCode(t, err, codes.FailedPrecondition, "not suppressed")
	_, err = f.api.UnsuppressAlert(ctx, &headsupv1.UnsuppressAlertRequest{Target: &headsupv1.UnsuppressAlertRequest_SuppressionId{SuppressionId: 99}, By: "bob"})
	wantCode(t, err, codes.NotFound, "suppression 99")

	// Filters.
	for _, c := range []struct {
		req  *headsupv1.ListAlertsRequest
		want int
	}{
		{&headsupv1.ListAlertsRequest{}, 1},
		{&headsupv1.ListAlertsRequest{Triage: "acked", State: "active", CustomerId: "cus-3003", Type: "match"}, 1},
		{&headsupv1.ListAlertsRequest{Triage: "open"}, 0},
		{&headsupv1.ListAlertsRequest{Triage: "suppressed"}, 0},
		{&headsupv1.ListAlertsRequest{MinSeverity: "critical"}, 0},
		{&headsupv1.ListAlertsRequest{State: "withdrawn"}, 0},
		{&headsupv1.ListAlertsRequest{CustomerId: "cus-1"}, 0},
	} {
		list, err := f.api.ListAlerts(ctx, c.req)
		if err != nil || len(list.GetAlerts()) != c.want || list.GetTotal() != uint32(c.want) {
			t.Errorf("ListAlerts(%v) = %v, %v; want %d alerts", c.req, list, err, c.want)
		}
	}
	for field, req := range map[string]*headsupv1.ListAlertsRequest{
		"state":        {State: "open"},
		"triage":       {Triage: "closed"},
		"min_severity": {MinSeverity: "urgent"},
		"type":         {Type: "alarms"},
		"page_size":    {PageSize: 5000},
		"page_token":   {PageToken: "x"},
	} {
		_, err := f.api.ListAlerts(ctx, req)
		wantCode(t, err, codes.InvalidArgument, field)
	}
	full := f.waitHistory(id, 5)
	if h := history(full); !slices.Equal(h, []string{"raised", "acked", "suppressed", "updated (silenced)", "unsuppressed"}) {
		t.Fatalf("history %v", h)
	}
	if r := full.GetHistory()[4]; r.GetBy() != "bob" || !strings.Contains(r.GetNote(), "customer did not answer") {
		t.Fatalf("history of the unsuppression: %v", r)
	}
	if len(full.GetSuppressions()) != 1 || full.GetSuppressions()[0].GetBy() != "alice" {
		t.Fatalf("suppressions: %v", full.GetSuppressions())
	}
}

// TestTriageComesBackWhenStronger: a weak alert is suppressed; a sighting
// that gives it a strong path brings it back by itself.
func TestTriageComesBackWhenStronger(t *testing.T) {
	f := newTriageFed(t)
	ctx := context.Background()
	root := f.suspend("edgeshield", "www.board.example", "fraud:phishing")
	raised := f.waitEvent("", 1, alert.EventRaised)
	if raised.Strength != alert.StrengthWeak || raised.Severity != alert.SeverityMedium {
		t.Fatalf("raised %s %s, want a weak medium alert", raised.Strength, raised.Severity)
	}
	if _, err := f.api.SuppressAlert(ctx, &headsupv1.SuppressAlertRequest{Suppression: &headsupv1.Suppression{Subject: "board.example", By: "alice"}}); err != nil {
		t.Fatal(err)
	}
	f.waitEvent(raised.AlertID, 2, alert.EventSuppressed)
	f.sight("researcher", root, "board.example")
	back := f.waitEvent(raised.AlertID, 3, alert.EventUnsuppressed)
	if d := back.Desk; d == nil || d.Unsuppressed == nil || !d.Unsuppressed.Automatic || d.Unsuppressed.By != alert.AgentActor ||
		d.Unsuppressed.Why != "path strengthened from weak to strong" || back.Strength != alert.StrengthStrong || back.State != alert.StateActive {
		t.Fatalf("came back: strength %s, desk %+v", back.Strength, back.Desk)
	}
	if back.Severity != alert.SeverityCritical || back.PeakSeverity != alert.SeverityCritical {
		t.Fatalf("severity %s (peak %s), want critical: strong phishing corroborated by two issuers", back.Severity, back.PeakSeverity)
	}
}

// TestTriageComesBackWhenMoreSevere: a weak alert is suppressed; a second
// issuer corroborates it (still weak) and its severity rises: it comes
// back by itself.
func TestTriageComesBackWhenMoreSevere(t *testing.T) {
	f := newTriageFed(t)
	ctx := context.Background()
	root := f.suspend("edgeshield", "www.board.example", "fraud:phishing")
	raised := f.waitEvent("", 1, alert.EventRaised)
	if _, err := f.api.SuppressAlert(ctx, &headsupv1.SuppressAlertRequest{Suppression: &headsupv1.Suppression{AlertId: raised.AlertID, By: "alice"}}); err != nil {
		t.Fatal(err)
	}
	f.waitEvent(raised.AlertID, 2, alert.EventSuppressed)
	f.sight("researcher", root, "www.board.example")
	back := f.waitEvent(raised.AlertID, 3, alert.EventUnsuppressed)
	if d := back.Desk; d == nil || d.Unsuppressed == nil || !d.Unsuppressed.Automatic || d.Unsuppressed.Why != "severity rose from medium to high" ||
		back.Strength != alert.StrengthWeak || back.Severity != alert.SeverityHigh {
		t.Fatalf("came back: %s %s, desk %+v", back.Strength, back.Severity, back.Desk)
	}
}

// TestTriageComesBackOnNewRoot: an alert is suppressed; another issuer
// suspends the same subject, which makes a new alert in the same group:
// the new alert is sent, and the suppressed one comes back.
func TestTriageComesBackOnNewRoot(t *testing.T) {
	f := newTriageFed(t)
	ctx := context.Background()
	f.suspend("edgeshield", "board.example", "fraud:phishing")
	first := f.waitEvent("", 1, alert.EventRaised)
	if _, err := f.api.SuppressAlert(ctx, &headsupv1.SuppressAlertRequest{Suppression: &headsupv1.Suppression{CustomerId: "cus-3003", By: "alice"}}); err != nil {
		t.Fatal(err)
	}
	f.waitEvent(first.AlertID, 2, alert.EventSuppressed)
	second := f.suspend("researcher", "board.example", "fraud:phishing")
	back := f.waitEvent(first.AlertID, 3, alert.EventUnsuppressed)
	if want := "new root notice researcher/" + second.GetId(); back.Desk == nil || back.Desk.Unsuppressed == nil || back.Desk.Unsuppressed.Why != want || !back.Desk.Unsuppressed.Automatic {
		t.Fatalf("came back: %+v, want why %q", back.Desk, want)
	}
	var fresh alert.Event
	for _, e := range f.sink.all() {
		if e.AlertID != first.AlertID {
			fresh = e
		}
	}
	if fresh.Event != alert.EventRaised || fresh.GroupKey != first.GroupKey || fresh.Root.ID != second.GetId() || fresh.Desk != nil {
		t.Fatalf("the new alert: %s, group %s (want %s), desk %+v", fresh.Event, fresh.GroupKey, first.GroupKey, fresh.Desk)
	}
}

// TestTriageSuppressionEnds: a suppression with an until ends by itself
// once the agent's clock passes it; the alert comes back, saying why.
func TestTriageSuppressionEnds(t *testing.T) {
	f := newTriageFed(t)
	ctx := context.Background()
	f.suspend("edgeshield", "board.example", "fraud:phishing")
	raised := f.waitEvent("", 1, alert.EventRaised)
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	sup, err := f.api.SuppressAlert(ctx, &headsupv1.SuppressAlertRequest{Suppression: &headsupv1.Suppression{
		Root: raised.Root.Issuer.ID + "/" + raised.Root.ID, By: "alice", Until: timestamppb.New(until)}})
	if err != nil {
		t.Fatal(err)
	}
	f.waitEvent(raised.AlertID, 2, alert.EventSuppressed)
	f.offset.Store(int64(2 * time.Hour))
	back := f.waitEvent(raised.AlertID, 3, alert.EventUnsuppressed)
	want := "suppression " + strconvU(sup.GetSuppression().GetId()) + " ended at " + until.UTC().Format(time.RFC3339)
	if d := back.Desk; d == nil || d.Unsuppressed == nil || !d.Unsuppressed.Automatic || d.Unsuppressed.Why != want {
		t.Fatalf("came back: %+v, want why %q", back.Desk, want)
	}
	got := f.waitHistory(raised.AlertID, 3)
	if s := got.GetSuppressions(); len(s) != 1 || s[0].GetLiftedBy() != alert.AgentActor || s[0].GetLiftedAt() == nil || s[0].GetLiftedWhy() != want {
		t.Fatalf("suppression after its end: %v", s)
	}
	_, err = f.api.UnsuppressAlert(ctx, &headsupv1.UnsuppressAlertRequest{Target: &headsupv1.UnsuppressAlertRequest_SuppressionId{SuppressionId: sup.GetSuppression().GetId()}, By: "bob"})
	wantCode(t, err, codes.FailedPrecondition, "lifted already")
}

func strconvU(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
