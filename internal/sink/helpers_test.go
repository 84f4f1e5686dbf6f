package sink_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
)

var at = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

const rootID = "01957a3c-8e2b-7c41-9a6d-3f2e1b0c4d5e"

func kid(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// event returns a valid match event of the story (edgeshield suspended
// chanboard.example for abusive-content:violence; voxhost's customer epiq
// serves it), revision rev.
func event(rev uint64) *alert.Event {
	link := func(issuer, id, kind string, seq uint64) alert.LinkNotice {
		return alert.LinkNotice{Issuer: issuer, ID: id, Kind: kind, Sequence: seq, KID: kid(issuer), SignedBy: issuer, Verified: true, TLP: alert.TLPAmber}
	}
	e := &alert.Event{
		Schema: alert.SchemaV1, Event: alert.EventRaised,
		AlertID:  alert.ID("voxhost", "c-1042", "edgeshield", rootID),
		Revision: rev,
		GroupKey: alert.GroupKey("voxhost", "c-1042", "host:chanboard.example"),
		Type:     alert.TypeMatch, At: at, Member: "voxhost",
		Headline: "your customer epiq (operator of mitigatr) serves chanboard.example, suspended by edgeshield for abusive-content:violence",
		Strength: alert.StrengthStrong, PeakStrength: alert.StrengthStrong,
		Customer: &alert.Customer{ID: "c-1042", Name: "epiq"},
		Subject:  &alert.Entity{Label: "chanboard.example", Identifiers: []string{"host:chanboard.example"}},
		Root: &alert.NoticeRef{
			Issuer: alert.Issuer{ID: "edgeshield", Name: "EdgeShield CDN", AbuseContact: "abuse@edgeshield.example"},
			ID:     rootID, Sequence: 1, KID: kid("edgeshield"), SignedBy: "edgeshield", Verified: true,
			Action: alert.ActionSuspended, Reason: "abusive-content:violence", ReasonVerified: true,
			LegalBasis: &alert.LegalBasis{Kind: alert.LegalTermsOfService, Reference: "AUP 4.2"},
			TLP:        alert.TLPAmber,
		},
		Paths: []alert.Path{{Strength: alert.StrengthStrong, Links: []alert.Link{
			{Notice: link("edgeshield", rootID, alert.KindCustomerSuspended, 1), Role: alert.RoleSubject,
				Matched: &alert.Match{Identifier: "host:chanboard.example", Row: alert.Row{Source: "customers.csv", Line: 12, Type: "host", Value: "chanboard.example"}, Rule: "same-host", Strength: alert.StrengthStrong}},
		}}},
		Corroboration: 1,
	}
	e.Severity = alert.Severity(alert.Rating{Type: e.Type, Strength: e.Strength, Reason: e.Root.Reason, Corroboration: e.Corroboration})
	e.PeakSeverity, e.State = e.Severity, alert.StateActive
	e.TLP = alert.MaxTLP(e)
	return e
}

func marshal(t *testing.T, e *alert.Event) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := alert.Validate(b); err != nil {
		t.Fatalf("test event invalid: %v", err)
	}
	return b
}
