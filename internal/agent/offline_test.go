package agent_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/match"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/story"
)

func storyRows(t *testing.T) []match.Row {
	t.Helper()
	var rows []match.Row
	for i, line := range strings.Split(strings.TrimSpace(story.Customers), "\n")[1:] {
		f := strings.SplitN(line, ",", 4)
		rows = append(rows, match.Row{Owner: f[0], Name: f[1], Type: match.Type(f[2]), Value: f[3], Source: "customers.csv", Line: i + 2})
	}
	return rows
}

func offlineNotice(t *testing.T, issuer string, n *headsupv1.Notice, now time.Time) *headsupv1.Notice {
	t.Helper()
	n.Issuer = issuer
	if err := notice.Fill(n, now); err != nil {
		t.Fatal(err)
	}
	if err := notice.Normalize(n, notice.Options{TestNetwork: true}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMatchNotices: the story's notices in hand give the alert the agent
// raises from the log, shown as unsigned; a retraction among them takes
// the alert away; an issuer without a key is refused.
func TestMatchNotices(t *testing.T) {
	dir, _, err := story.Federation()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := offlineNotice(t, "edgeshield", story.Suspended(), now)
	notices := []*headsupv1.Notice{s, offlineNotice(t, "researcher", story.Sighted(s), now), offlineNotice(t, "researcher", story.Reseller(), now)}
	o := agent.Offline{Member: "voxhost", Directory: dir, Customers: storyRows(t), Now: now}
	events, bad, err := agent.MatchNotices(notices, o)
	if err != nil || len(bad) != 0 {
		t.Fatalf("MatchNotices: %v, bad rows %v", err, bad)
	}
	if len(events) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(events), events)
	}
	ev := events[0]
	if ev.Type != alert.TypeMatch || ev.Customer.ID != "cus-1001" || ev.Strength != alert.StrengthStrong || ev.Event != alert.EventRaised || ev.Revision != 1 {
		t.Fatalf("event %+v", ev)
	}
	var roles []string
	for _, l := range ev.Paths[0].Links {
		roles = append(roles, l.Role)
		if l.Notice.Verified || l.Notice.KID != "" || l.Notice.Sequence != 0 {
			t.Errorf("link %+v is shown as signed or logged", l.Notice)
		}
	}
	if want := []string{"subject", "sighting", "operator"}; !slices.Equal(roles, want) {
		t.Errorf("roles %v, want %v", roles, want)
	}
	if ev.Root.Verified || ev.Root.KID != "" || ev.Headline != "your customer Epiq Hosting Ltd (operator of mitigatr) serves chanboard.example, suspended by edgeshield for abusive-content:violence" {
		t.Errorf("root %+v, headline %q", ev.Root, ev.Headline)
	}
	if err := alert.Validate(mustJSON(t, ev)); err != nil {
		t.Errorf("event does not validate against headsup.alert.v1: %v", err)
	}

	retract := offlineNotice(t, "edgeshield", &headsupv1.Notice{Kind: headsupv1.NoticeKind_NOTICE_KIND_RETRACTION, Supersedes: s.Id, Tlp: headsupv1.Tlp_TLP_GREEN}, now)
	if events, _, err := agent.MatchNotices(append(notices, retract), o); err != nil || len(events) != 0 {
		t.Errorf("with the suspension retracted: %v, %+v; want no event", err, events)
	}

	o.Customers = append(o.Customers, match.Row{Owner: "cus-3", Type: "host", Value: "a..example", Source: "customers.csv", Line: 9})
	if _, bad, _ := agent.MatchNotices(notices, o); len(bad) != 1 || bad[0].Line != 9 {
		t.Errorf("bad rows %v, want line 9", bad)
	}

	stranger := offlineNotice(t, "nobody", story.Suspended(), now)
	if _, _, err := agent.MatchNotices([]*headsupv1.Notice{stranger}, o); !errors.Is(err, agent.ErrNoNoticeKey) {
		t.Errorf("an issuer unknown to the directory: %v, want ErrNoNoticeKey", err)
	}
}
