package agent_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/story"
)

// newCheckFed is newFed with the agent's local API on a free loopback
// port, returning a client of it. The customer list is irrelevant to
// Check, so it is always the story's file.
func newCheckFed(t *testing.T) (*fed, headsupv1.AgentServiceClient) {
	t.Helper()
	ready := make(chan net.Addr, 1)
	f := newFed(t, fedOptions{configure: func(c *agent.Config) {
		c.CheckListen = "127.0.0.1:0"
		c.Match.HashKeys = map[string][]byte{"fed2026": []byte(checkHashKey)}
		c.CheckReady = func(a net.Addr) { ready <- a }
	}})
	select {
	case a := <-ready:
		conn, err := grpc.NewClient(a.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return f, headsupv1.NewAgentServiceClient(conn)
	case <-time.After(30 * time.Second):
		t.Fatal("the agent's local API did not listen within 30s")
	}
	return nil, nil
}

// checkHashKey is the federation's hash key in TestCheck.
const checkHashKey = "s3cret-federation-key"

// checkAfter asks until the answer reflects at least sequence seq: the
// agent publishes what Check reads after each commit.
func checkAfter(t *testing.T, c headsupv1.AgentServiceClient, seq uint64, values ...*headsupv1.CheckValue) *headsupv1.CheckResponse {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := c.Check(ctx, &headsupv1.CheckRequest{Values: values})
		cancel()
		switch {
		case err == nil && resp.GetCursor() >= seq:
			return resp
		case err != nil && status.Code(err) != codes.Unavailable:
			t.Fatalf("Check: %v", err)
		case time.Now().After(deadline):
			t.Fatalf("Check never reflected sequence %d (cursor %d, err %v)", seq, resp.GetCursor(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func guess(values ...string) []*headsupv1.CheckValue {
	out := make([]*headsupv1.CheckValue, len(values))
	for i, v := range values {
		out[i] = &headsupv1.CheckValue{Value: v}
	}
	return out
}

// hitSummary is a hit as the test compares it.
type hitSummary struct {
	seq      uint64
	role     headsupv1.EntityRole
	rule     string
	strength headsupv1.MatchStrength
}

func summarize(hits []*headsupv1.CheckHit) []hitSummary {
	out := make([]hitSummary, len(hits))
	for i, h := range hits {
		out[i] = hitSummary{h.GetNotice().GetSequence(), h.GetRole(), h.GetRule(), h.GetStrength()}
	}
	return out
}

// TestCheck: the story published to the real hub; the agent's local API
// says which notice names each value, in which role, by which rule and
// how strongly; a TLP:RED notice is reported without its reason; a
// retraction takes a notice out of the answers.
func TestCheck(t *testing.T) {
	f, c := newCheckFed(t)
	s := f.prepare("edgeshield", story.Suspended())
	sSeq := f.publish("edgeshield", s)
	g := f.prepare("researcher", story.Sighted(s))
	gSeq := f.publish("researcher", g)
	rSeq := f.publish("researcher", story.Reseller())
	red := story.Suspended()
	red.Subject = &headsupv1.Entity{Label: "secret-board", Identifiers: []*headsupv1.Identifier{story.Host("secret-board.example")}}
	red.Tlp, red.Reason, red.Summary = headsupv1.Tlp_TLP_RED, "fraud:phishing", "an ongoing investigation"
	red.Evidence = nil
	redSeq := f.publish("edgeshield", red)
	// A suspension that names its subject's e-mail address only hashed.
	mac := hmac.New(sha256.New, []byte(checkHashKey))
	mac.Write(notice.HashInput("email", "admin@hidden.example"))
	hidden := story.Suspended()
	hidden.Subject = &headsupv1.Entity{Label: "hidden", Identifiers: []*headsupv1.Identifier{story.Host("hidden-board.example"),
		{Value: &headsupv1.Identifier_Hashed{Hashed: "hmac-sha256:fed2026:email:" + hex.EncodeToString(mac.Sum(nil))}}}}
	hiddenSeq := f.publish("edgeshield", hidden)

	const (
		strong       = headsupv1.MatchStrength_MATCH_STRENGTH_STRONG
		weak         = headsupv1.MatchStrength_MATCH_STRENGTH_WEAK
		subject      = headsupv1.EntityRole_ENTITY_ROLE_SUBJECT
		sightingHost = headsupv1.EntityRole_ENTITY_ROLE_SIGHTING_HOST
		reseller     = headsupv1.EntityRole_ENTITY_ROLE_RESELLER
		operator     = headsupv1.EntityRole_ENTITY_ROLE_OPERATOR
	)
	values := append(guess("chanboard.example", "198.51.100.140", "AS64510", "epiq.example", "nothing.example", "Epiq Hosting Ltd.", "secret-board.example"),
		&headsupv1.CheckValue{Value: "a..example", Type: headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST}, &headsupv1.CheckValue{Value: "Admin@Hidden.Example"})
	resp := checkAfter(t, c, hiddenSeq, values...)
	tests := []struct {
		typ    headsupv1.IdentifierType
		normal string
		hits   []hitSummary
	}{
		{headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST, "chanboard.example", []hitSummary{{sSeq, subject, "same-host", strong}, {gSeq, subject, "same-host", strong}}},
		{headsupv1.IdentifierType_IDENTIFIER_TYPE_PREFIX, "198.51.100.140/32", []hitSummary{{gSeq, sightingHost, "prefix-covers", strong}, {rSeq, reseller, "prefix-within", strong}}},
		{headsupv1.IdentifierType_IDENTIFIER_TYPE_ASN, "AS64510", []hitSummary{{rSeq, reseller, "asn-holder", strong}}},
		{headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST, "epiq.example", []hitSummary{{rSeq, operator, "same-host", strong}}},
		{headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST, "nothing.example", []hitSummary{}},
		{headsupv1.IdentifierType_IDENTIFIER_TYPE_ORGANISATION, "epiq hosting", []hitSummary{{rSeq, operator, "organisation", weak}}},
		{headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST, "secret-board.example", []hitSummary{{redSeq, subject, "same-host", strong}}},
	}
	if len(resp.Results) != len(values) {
		t.Fatalf("%d results for %d values", len(resp.Results), len(values))
	}
	for i, tt := range tests {
		r := resp.Results[i]
		if r.Value != values[i].Value || r.Type != tt.typ || !r.Guessed || r.Normal != tt.normal || r.Error != "" {
			t.Errorf("%s: read as %s %q (guessed %v, error %q); want %s %q", values[i].Value, r.Type, r.Normal, r.Guessed, r.Error, tt.typ, tt.normal)
		}
		if got := summarize(r.Hits); !equalHits(got, tt.hits) {
			t.Errorf("%s: hits %+v\nwant %+v", values[i].Value, got, tt.hits)
		}
	}

	if got, want := summarize(resp.Results[8].Hits), []hitSummary{{hiddenSeq, subject, "hashed", strong}}; !equalHits(got, want) {
		t.Errorf("an address the notice names only hashed: %+v, want %+v", got, want)
	}

	// What may be shown: the story's notices are TLP:GREEN.
	h := resp.Results[0].Hits[0]
	if n := h.Notice; n.Issuer != "edgeshield" || n.Id != s.Id || n.Kind != headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED ||
		n.Reason != "abusive-content:violence" || n.Summary == "" || n.Withheld || n.IssuerAbuseContact != "abuse@edgeshield.example" ||
		n.IssuerName != "EdgeShield CDN" || n.IssuedAt == nil || h.EntityLabel != "chanboard.example" || h.Identifier != "host:chanboard.example" {
		t.Errorf("GREEN hit = %v", h)
	}
	// TLP:RED: the reference and whom to ask, not the content.
	h = resp.Results[6].Hits[0]
	if n := h.Notice; n.Id != red.Id || n.Tlp != headsupv1.Tlp_TLP_RED || !n.Withheld || n.Reason != "" || n.Summary != "" || h.EntityLabel != "" ||
		n.IssuerAbuseContact != "abuse@edgeshield.example" || n.Sequence != redSeq {
		t.Errorf("RED hit = %v; want the reference and contact without reason, summary or label", h)
	}
	// A value that is no identifier is answered on its own, naming it.
	if r := resp.Results[7]; r.Error == "" || !strings.Contains(r.Error, `"a..example"`) || !strings.HasPrefix(r.Error, "host ") || len(r.Hits) != 0 || r.Guessed {
		t.Errorf("bad value: %+v", r)
	}

	// The sighting retracted: the address is only the reseller's now.
	retraction := f.publish("researcher", &headsupv1.Notice{Kind: headsupv1.NoticeKind_NOTICE_KIND_RETRACTION, Supersedes: g.Id, Tlp: headsupv1.Tlp_TLP_GREEN})
	resp = checkAfter(t, c, retraction, guess("198.51.100.140")...)
	if got, want := summarize(resp.Results[0].Hits), []hitSummary{{rSeq, reseller, "prefix-within", strong}}; !equalHits(got, want) {
		t.Errorf("after the retraction: %+v, want %+v", got, want)
	}

	// A request that cannot be answered as a whole.
	_, err := c.Check(context.Background(), &headsupv1.CheckRequest{})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("no values: %v, want InvalidArgument", err)
	}
	_, err = c.Check(context.Background(), &headsupv1.CheckRequest{Values: guess(make([]string, 257)...)})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("257 values: %v, want InvalidArgument", err)
	}
}

func equalHits(a, b []hitSummary) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCheckListenLoopbackOnly: the local API answers without
// authentication, so an address another machine could reach is refused
// before anything starts.
func TestCheckListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7444", ":7444", "192.0.2.1:7444", "[::]:7444", "example.com:7444", "127.0.0.1"} {
		t.Run(addr, func(t *testing.T) {
			cfg := agent.DefaultConfig()
			cfg.Member, cfg.StateDir, cfg.CheckListen = "voxhost", t.TempDir(), addr
			err := agent.Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), addr) {
				t.Fatalf("Run with check_listen %q: %v; want a refusal naming it", addr, err)
			}
			if addr != "127.0.0.1" && !errors.Is(err, agent.ErrNotLoopback) {
				t.Fatalf("Run with check_listen %q: %v; want ErrNotLoopback", addr, err)
			}
		})
	}
}

// TestGuessType: the guesses Check makes for a value given without a type.
func TestGuessType(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want headsupv1.IdentifierType
	}{
		{"198.51.100.140", headsupv1.IdentifierType_IDENTIFIER_TYPE_PREFIX},
		{"198.51.100.0/24", headsupv1.IdentifierType_IDENTIFIER_TYPE_PREFIX},
		{"2001:db8::1", headsupv1.IdentifierType_IDENTIFIER_TYPE_PREFIX},
		{" 2001:db8::/32 ", headsupv1.IdentifierType_IDENTIFIER_TYPE_PREFIX},
		{"AS64510", headsupv1.IdentifierType_IDENTIFIER_TYPE_ASN},
		{"as 64510", headsupv1.IdentifierType_IDENTIFIER_TYPE_ASN},
		{"AS1.10", headsupv1.IdentifierType_IDENTIFIER_TYPE_ASN},
		{"64510", headsupv1.IdentifierType_IDENTIFIER_TYPE_ASN},
		{"noc@epiq.example", headsupv1.IdentifierType_IDENTIFIER_TYPE_EMAIL},
		{"lei:529900T8BM49AURSDO55", headsupv1.IdentifierType_IDENTIFIER_TYPE_REGISTRATION},
		{"company:GB:01234567", headsupv1.IdentifierType_IDENTIFIER_TYPE_REGISTRATION},
		{"chanboard.example", headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST},
		{"Bücher.example.", headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST},
		{"Epiq Hosting Ltd.", headsupv1.IdentifierType_IDENTIFIER_TYPE_ORGANISATION},
		{"Epiq", headsupv1.IdentifierType_IDENTIFIER_TYPE_ORGANISATION},
		{"1.10", headsupv1.IdentifierType_IDENTIFIER_TYPE_ORGANISATION},
		{"ASX", headsupv1.IdentifierType_IDENTIFIER_TYPE_ORGANISATION},
	} {
		if got := agent.GuessType(tt.in); got != tt.want {
			t.Errorf("GuessType(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestConfigFileCheckListen: check_listen absent keeps what the caller
// set (headsup-agent's default), an address replaces it, "" turns the
// local API off.
func TestConfigFileCheckListen(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"member: voxhost\n", agent.DefaultCheckListen},
		{"check_listen: 127.0.0.1:9444\n", "127.0.0.1:9444"},
		{"check_listen: \"\"\n", ""},
	} {
		path := filepath.Join(t.TempDir(), "agent.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := agent.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg := agent.DefaultConfig()
		cfg.CheckListen = agent.DefaultCheckListen
		if _, err := f.Apply(&cfg, io.Discard, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		if cfg.CheckListen != tt.want {
			t.Errorf("%q: CheckListen %q, want %q", tt.yaml, cfg.CheckListen, tt.want)
		}
	}
}
