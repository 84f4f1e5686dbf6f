package agent_test

import (
	"net"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/story"
)

// withholdingHub stands between the agent and the real hub and misbehaves
// as a compromised hub could: it passes every event through, except that a
// notice whose signed audience names the victim reaches it as a redacted
// entry, so that the victim never reads it.
type withholdingHub struct {
	headsupv1.UnimplementedHubServiceServer
	upstream headsupv1.HubServiceClient
	victim   string
}

func (w *withholdingHub) Subscribe(req *headsupv1.SubscribeRequest, stream headsupv1.HubService_SubscribeServer) error {
	up, err := w.upstream.Subscribe(stream.Context(), req)
	if err != nil {
		return err
	}
	for {
		ev, err := up.Recv()
		if err != nil {
			return err
		}
		if e := ev.GetEntry(); e != nil {
			c, err := envelope.PeekClaims(e.GetEnvelope().GetJws())
			if err == nil && slices.Contains(c.Audience, w.victim) {
				ev = &headsupv1.SubscribeResponse{Event: &headsupv1.SubscribeResponse_Redacted{Redacted: &headsupv1.RedactedEntry{
					Sequence: e.Sequence, StoredAt: e.StoredAt, Jws: e.GetEnvelope().GetJws(),
				}}}
			}
		}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
}

// startWithholdingHub serves a withholdingHub in front of the hub at
// upstream and returns its address.
func startWithholdingHub(t *testing.T, upstream, victim string) string {
	t.Helper()
	conn, err := grpc.NewClient(upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	headsupv1.RegisterHubServiceServer(srv, &withholdingHub{upstream: headsupv1.NewHubServiceClient(conn), victim: victim})
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Stop(); conn.Close() })
	return lis.Addr().String()
}

// TestHubWithholdingANoticeIsAnIntegrityAlert: a hub that redacts a notice
// addressed to the member cannot hide it: the redacted entry carries the
// JWS, the agent verifies it, sees itself in the signed audience and
// raises an integrity alert naming the sequence, and matches nothing on
// the strength of what it was not shown.
func TestHubWithholdingANoticeIsAnIntegrityAlert(t *testing.T) {
	var withholding string
	f := newFed(t, fedOptions{configure: func(c *agent.Config) {
		withholding = startWithholdingHub(t, c.Hub, c.Member)
		c.Hub = withholding
	}})
	if withholding == "" {
		t.Fatal("the agent was not pointed at the withholding hub")
	}
	// A notice for everyone passes untouched: the agent is otherwise well.
	open := f.publish("edgeshield", story.Suspended())
	if active := f.settle(open); len(active) != 0 {
		t.Fatalf("alerts before the withholding: %+v", active)
	}
	// One addressed to voxhost (and edgeshield) is withheld.
	s := story.Suspended()
	s.Audience = []string{"edgeshield", "voxhost"}
	f.prepare("edgeshield", s)
	seq := f.publish("edgeshield", s)
	active := f.settle(seq)
	if len(active) != 1 || active[0].Type != alert.TypeIntegrity || active[0].Integrity == nil ||
		active[0].Integrity.Sequence != seq || !strings.Contains(active[0].Integrity.Error, "withheld") {
		for _, a := range active {
			t.Logf("%s %s integrity %+v", a.Type, a.Headline, a.Integrity)
		}
		t.Fatalf("%d alerts, want one integrity alert for sequence %d saying the hub withheld the notice", len(active), seq)
	}
}
