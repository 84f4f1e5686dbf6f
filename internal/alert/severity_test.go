package alert_test

import (
	"strings"
	"testing"

	"github.com/headsup-dev/headsup/internal/alert"
)

func TestSeverity(t *testing.T) {
	const (
		tos   = alert.LegalTermsOfService
		court = alert.LegalCourtOrder
		auth  = alert.LegalAuthorityRequest
	)
	cases := []struct {
		typ, strength, reason, legal string
		issuers                      int
		want                         string
	}{
		// The table's base for a strong path, one issuer, terms of service.
		{alert.TypeMatch, "strong", "abusive-content:violence", tos, 1, "critical"},
		{alert.TypeMatch, "strong", "fraud:phishing", tos, 1, "high"},
		{alert.TypeMatch, "strong", "malicious-code:c2-server", tos, 1, "high"},
		{alert.TypeMatch, "strong", "malicious-code:infected-system", tos, 1, "medium"},
		{alert.TypeMatch, "strong", "abusive-content:spam", tos, 1, "low"},
		{alert.TypeMatch, "strong", "fraud:copyright", "", 1, "low"},
		{alert.TypeMatch, "strong", "vulnerable:ddos-amplifier", tos, 1, "low"},
		{alert.TypeMatch, "strong", "other:undetermined", tos, 1, "medium"},
		{alert.TypeMatch, "strong", "", "", 1, "medium"},                   // no reason: the default
		{alert.TypeMatch, "strong", "novel-class:thing", tos, 1, "medium"}, // unknown: the default
		// One down for a weak path.
		{alert.TypeMatch, "weak", "fraud:phishing", tos, 1, "medium"},
		{alert.TypeMatch, "weak", "abusive-content:spam", tos, 1, "low"}, // never below low
		// One up for a court order or an authority request.
		{alert.TypeMatch, "strong", "fraud:phishing", court, 1, "critical"},
		{alert.TypeMatch, "strong", "abusive-content:spam", auth, 1, "medium"},
		{alert.TypeMatch, "weak", "fraud:phishing", auth, 1, "high"},
		// One up for two or more independent issuers.
		{alert.TypeMatch, "strong", "abusive-content:spam", tos, 2, "medium"},
		{alert.TypeMatch, "strong", "abusive-content:spam", court, 3, "high"},
		{alert.TypeMatch, "strong", "abusive-content:violence", court, 3, "critical"}, // never above critical
		// A weak path is never critical, whatever else.
		{alert.TypeMatch, "weak", "abusive-content:violence", tos, 1, "high"},
		{alert.TypeMatch, "weak", "fraud:phishing", court, 3, "high"},
		// test:* is always low.
		{alert.TypeMatch, "strong", "test:test", court, 5, "low"},
		{alert.TypeOwnSpace, "strong", "fraud:phishing", tos, 1, "high"},
		{alert.TypeOwnSpace, "weak", "abusive-content:spam", tos, 1, "low"},
		// Fixed rules.
		{alert.TypeRootNotVisible, "weak", "fraud:phishing", court, 1, "low"},
		{alert.TypeRootNotVisible, "weak", "fraud:phishing", "", 2, "medium"},
		{alert.TypeIntegrity, "", "", "", 0, "high"},
		{alert.TypeDirectoryStale, "", "", "", 0, "medium"},
		{"novel", "", "", "", 0, "high"},
	}
	for _, c := range cases {
		r := alert.Rating{Type: c.typ, Strength: c.strength, Reason: c.reason, LegalBasis: c.legal, Corroboration: c.issuers}
		if got := alert.Severity(r); got != c.want {
			t.Errorf("Severity(%+v) = %s, want %s", r, got, c.want)
		}
	}
}

// TestSeverityTableOverrides: a provider's table replaces the base of a
// class or a type; class:type wins over class; the fixed rules and the
// weak-path guard still hold.
func TestSeverityTableOverrides(t *testing.T) {
	tab := alert.DefaultSeverityTable().WithOverrides(map[string]string{
		"abusive-content:spam": "high",
		"fraud":                "critical",
		"fraud:copyright":      "medium",
	}, "low")
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		strength, reason string
		want             string
	}{
		{"strong", "abusive-content:spam", "high"},
		{"strong", "fraud:masquerade", "high"}, // the default's class:type entry still wins over the new class
		{"strong", "fraud:unauthorised-use-of-resources", "critical"},
		{"strong", "fraud:copyright", "medium"},
		{"weak", "fraud:unauthorised-use-of-resources", "high"}, // weak: never critical
		{"strong", "unknown:thing", "low"},                      // the new default
		{"strong", "test:test", "low"},
	} {
		if got := tab.Severity(alert.Rating{Type: alert.TypeMatch, Strength: c.strength, Reason: c.reason, Corroboration: 1}); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.strength, c.reason, got, c.want)
		}
	}
	if d := alert.DefaultSeverityTable(); d.Base("abusive-content:spam") != "low" {
		t.Errorf("WithOverrides changed the default table: spam is %s", d.Base("abusive-content:spam"))
	}
	// Every reason the notice package accepts has a base from the table
	// (class:type or class), never the fallback by accident.
	for _, class := range []string{"abusive-content", "malicious-code", "information-gathering", "intrusion-attempts", "intrusions",
		"availability", "information-content-security", "fraud", "vulnerable", "other", "test"} {
		if _, ok := alert.DefaultSeverityTable().Reasons[class]; !ok {
			t.Errorf("the default table has no entry for class %s", class)
		}
	}
	for _, bad := range []struct {
		tab  alert.SeverityTable
		want string
	}{
		{alert.SeverityTable{Reasons: map[string]string{"fraud": "urgent"}}, `severity.reasons["fraud"]: "urgent"`},
		{alert.SeverityTable{Reasons: map[string]string{"Fraud:Phishing": "high"}}, `severity.reasons: "Fraud:Phishing"`},
		{alert.SeverityTable{Default: "severe"}, `severity.default: "severe"`},
	} {
		if err := bad.tab.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", bad.tab, err, bad.want)
		}
	}
}

func TestTLP(t *testing.T) {
	for _, c := range []struct {
		in          string
		rank        int
		ok, forward bool
	}{
		{"CLEAR", 1, true, true},
		{"tlp:clear", 1, true, true},
		{"TLP:GREEN", 2, true, true},
		{"AMBER", 3, true, true},
		{"amber+strict", 4, true, false},
		{"TLP:RED", 5, true, false},
		{"WHITE", 0, false, false}, // TLP 1.0 is not accepted
		{"", 0, false, false},
	} {
		r, ok := alert.TLPRank(c.in)
		if r != c.rank || ok != c.ok {
			t.Errorf("TLPRank(%q) = %d, %v; want %d, %v", c.in, r, ok, c.rank, c.ok)
		}
		if f := alert.Forwardable(c.in); f != c.forward {
			t.Errorf("Forwardable(%q) = %v, want %v", c.in, f, c.forward)
		}
	}
}

func TestMaxTLP(t *testing.T) {
	ex := examples()
	if got := alert.MaxTLP(ex[0].event); got != alert.TLPAmberStrict {
		t.Errorf("match-raised: %q, want AMBER+STRICT (its reporter statement)", got)
	}
	if got := alert.MaxTLP(ex[5].event); got != "" {
		t.Errorf("integrity: %q, want none", got)
	}
	e := ex[3].event
	e.Paths[0].Links[0].Notice.TLP = "RED"
	if got := alert.MaxTLP(e); got != alert.TLPRed {
		t.Errorf("a RED link: %q", got)
	}
	e = ex[3].event
	e.Paths[0].Links[0].Notice.TLP = "PURPLE"
	if got := alert.MaxTLP(e); got != alert.TLPRed {
		t.Errorf("an unknown marking counts as RED, got %q", got)
	}
}

func TestSeverityTableRefusesReasonsNoNoticeCarries(t *testing.T) {
	for _, k := range []string{"fraud:phising", "abusive-content:child-sexual-exploitation", "frauds", "Fraud"} {
		err := alert.SeverityTable{Reasons: map[string]string{k: alert.SeverityHigh}}.Validate()
		if err == nil || !strings.Contains(err.Error(), "not an RSIT class or class:type") {
			t.Errorf("Validate with %q: %v, want a refusal naming it", k, err)
		}
	}
	for reason := range alert.DefaultSeverityTable().Reasons {
		if err := (alert.SeverityTable{Reasons: map[string]string{reason: alert.SeverityLow}}).Validate(); err != nil {
			t.Errorf("the default table's own key %q: %v", reason, err)
		}
	}
}
