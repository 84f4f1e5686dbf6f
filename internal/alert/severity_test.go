package alert_test

import (
	"testing"

	"github.com/headsup-dev/headsup/internal/alert"
)

func TestSeverity(t *testing.T) {
	cases := []struct {
		typ, strength, reason string
		issuers               int
		want                  string
	}{
		{alert.TypeMatch, "strong", "abusive-content:violence", 1, "critical"},
		{alert.TypeMatch, "strong", "abusive-content:spam", 1, "high"},
		{alert.TypeMatch, "strong", "abusive-content:spam", 2, "critical"},
		{alert.TypeMatch, "strong", "malicious-code:c2-server", 1, "critical"},
		{alert.TypeMatch, "strong", "fraud:phishing", 1, "critical"},
		{alert.TypeMatch, "strong", "fraud:copyright", 1, "high"},
		{alert.TypeMatch, "strong", "vulnerable:ddos-amplifier", 1, "medium"},
		{alert.TypeMatch, "strong", "information-gathering:scanner", 3, "high"},
		{alert.TypeMatch, "strong", "test:test", 5, "low"},
		{alert.TypeMatch, "weak", "abusive-content:spam", 1, "medium"},
		{alert.TypeMatch, "weak", "abusive-content:violence", 1, "high"},
		{alert.TypeMatch, "weak", "abusive-content:violence", 3, "high"}, // weak is never critical
		{alert.TypeMatch, "weak", "other:other", 1, "low"},
		{alert.TypeOwnSpace, "strong", "fraud:phishing", 1, "critical"},
		{alert.TypeOwnSpace, "weak", "abusive-content:spam", 1, "medium"},
		{alert.TypeRootNotVisible, "weak", "fraud:phishing", 1, "low"},
		{alert.TypeRootNotVisible, "weak", "fraud:phishing", 2, "medium"},
		{alert.TypeIntegrity, "", "", 0, "high"},
		{alert.TypeDirectoryStale, "", "", 0, "medium"},
		{"novel", "", "", 0, "high"},
	}
	for _, c := range cases {
		if got := alert.Severity(c.typ, c.strength, c.reason, c.issuers); got != c.want {
			t.Errorf("Severity(%s, %s, %s, %d) = %s, want %s", c.typ, c.strength, c.reason, c.issuers, got, c.want)
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
