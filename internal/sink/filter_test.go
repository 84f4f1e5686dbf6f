package sink_test

import (
	"testing"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/sink"
)

func TestFilter(t *testing.T) {
	weak := func(e *alert.Event) {
		e.Strength, e.PeakStrength = alert.StrengthWeak, alert.StrengthWeak
		e.Paths[0].Strength = alert.StrengthWeak
	}
	red := func(e *alert.Event) { e.Root.TLP = alert.TLPRed; e.TLP = alert.MaxTLP(e) }
	redEvidence := func(e *alert.Event) {
		e.Evidence = []alert.Evidence{{Description: "informant", TLP: alert.TLPRed}}
		e.TLP = alert.MaxTLP(e)
	}
	withdrawn := func(e *alert.Event) {
		e.Event, e.State, e.Paths, e.Strength, e.PeakStrength = alert.EventWithdrawn, alert.StateWithdrawn, nil, "", ""
		e.Withdrawn = &alert.Withdrawal{Reason: alert.WithdrawRetracted}
	}
	integrity := func(e *alert.Event) {
		e.Type, e.Customer, e.Subject, e.Root, e.Paths, e.Strength, e.PeakStrength, e.TLP = alert.TypeIntegrity, nil, nil, nil, nil, "", "", ""
		e.Integrity = &alert.Integrity{Sequence: 42, Issuer: "edgeshield", KID: kid("edgeshield"), Error: "bad signature"}
	}
	alarm := func(e *alert.Event) {
		e.Type, e.Customer, e.Subject, e.Root, e.Paths, e.Strength, e.PeakStrength, e.TLP = alert.TypeAlarm, nil, nil, nil, nil, "", "", ""
		e.Severity, e.PeakSeverity = alert.SeverityHigh, alert.SeverityHigh
		e.Alarm = &alert.Alarm{Kind: alert.AlarmHubDisconnected, Detail: "no hub"}
	}
	cases := []struct {
		name   string
		filter sink.Filter
		mod    []func(*alert.Event)
		want   bool
	}{
		{"zero filter passes", sink.Filter{}, nil, true},
		{"reason class prefix", sink.Filter{ReasonPrefixes: []string{"abusive-content"}}, nil, true},
		{"reason exact", sink.Filter{ReasonPrefixes: []string{"fraud:phishing", "abusive-content:violence"}}, nil, true},
		{"reason other class", sink.Filter{ReasonPrefixes: []string{"fraud"}}, nil, false},
		{"reason prefix is per label", sink.Filter{ReasonPrefixes: []string{"abusive"}}, nil, false},
		{"reason type prefix is not a type", sink.Filter{ReasonPrefixes: []string{"abusive-content:viol"}}, nil, false},
		{"no reason fails a reason filter", sink.Filter{ReasonPrefixes: []string{"abusive-content"}}, []func(*alert.Event){func(e *alert.Event) { e.Root.Reason = "" }}, false},
		{"strong wanted, strong", sink.Filter{MinStrength: "strong"}, nil, true},
		{"strong wanted, weak", sink.Filter{MinStrength: "strong"}, []func(*alert.Event){weak}, false},
		{"weak wanted, weak", sink.Filter{MinStrength: "weak"}, []func(*alert.Event){weak}, true},
		{"weakened after strong: passes (peak)", sink.Filter{MinStrength: "strong"}, []func(*alert.Event){func(e *alert.Event) {
			e.Event, e.Strength = alert.EventUpdated, alert.StrengthWeak
			e.Paths[0].Strength = alert.StrengthWeak
		}}, true},
		{"withdrawal without strengths passes a strength filter", sink.Filter{MinStrength: "strong"}, []func(*alert.Event){withdrawn}, true},
		{"withdrawal of a weak alert", sink.Filter{MinStrength: "strong"}, []func(*alert.Event){weak, withdrawn, func(e *alert.Event) { e.PeakStrength = alert.StrengthWeak }}, false},
		{"withdrawal keeps reason filter", sink.Filter{ReasonPrefixes: []string{"fraud"}}, []func(*alert.Event){withdrawn}, false},
		{"severity at the minimum", sink.Filter{MinSeverity: "critical"}, []func(*alert.Event){func(e *alert.Event) { e.Severity, e.PeakSeverity = "critical", "critical" }}, true},
		{"severity below the minimum", sink.Filter{MinSeverity: "high"}, []func(*alert.Event){func(e *alert.Event) { e.Severity, e.PeakSeverity = "medium", "medium" }}, false},
		{"calmed down after high: passes (peak)", sink.Filter{MinSeverity: "high"}, []func(*alert.Event){func(e *alert.Event) { e.Severity, e.PeakSeverity = "low", "high" }}, true},
		{"severity applies to integrity", sink.Filter{MinSeverity: "critical"}, []func(*alert.Event){integrity, func(e *alert.Event) { e.Severity, e.PeakSeverity = "high", "high" }}, false},
		{"invalid min severity narrows to critical", sink.Filter{MinSeverity: "urgent"}, []func(*alert.Event){func(e *alert.Event) { e.Severity, e.PeakSeverity = "high", "high" }}, false},
		{"issuer listed", sink.Filter{Issuers: []string{"edgeshield"}}, nil, true},
		{"issuer not listed", sink.Filter{Issuers: []string{"researchorg"}}, nil, false},
		{"integrity issuer", sink.Filter{Issuers: []string{"edgeshield"}}, []func(*alert.Event){integrity}, true},
		{"integrity ignores reason and strength", sink.Filter{ReasonPrefixes: []string{"fraud"}, MinStrength: "strong"}, []func(*alert.Event){integrity}, true},
		{"alarm ignores issuer, reason and strength", sink.Filter{Issuers: []string{"researchorg"}, ReasonPrefixes: []string{"fraud"}, MinStrength: "strong"}, []func(*alert.Event){alarm}, true},
		{"alarm below the minimum severity", sink.Filter{MinSeverity: "critical"}, []func(*alert.Event){alarm}, false},
		{"alarm not among the types", sink.Filter{Types: []string{alert.TypeMatch}}, []func(*alert.Event){alarm}, false},
		{"type listed", sink.Filter{Types: []string{alert.TypeMatch, alert.TypeOwnSpace}}, nil, true},
		{"type not listed", sink.Filter{Types: []string{alert.TypeIntegrity}}, nil, false},
		{"amber under default", sink.Filter{}, nil, true},
		{"amber over green", sink.Filter{MaxTLP: "GREEN"}, nil, false},
		{"amber under TLP:AMBER spelled loosely", sink.Filter{MaxTLP: "tlp:amber"}, nil, true},
		{"red refused by default", sink.Filter{}, []func(*alert.Event){red}, false},
		{"red refused under amber+strict", sink.Filter{MaxTLP: "AMBER+STRICT"}, []func(*alert.Event){red}, false},
		{"red allowed explicitly", sink.Filter{MaxTLP: "RED"}, []func(*alert.Event){red}, true},
		{"red evidence refused", sink.Filter{MaxTLP: "AMBER"}, []func(*alert.Event){redEvidence}, false},
		{"red link notice refused even if e.TLP is stale", sink.Filter{}, []func(*alert.Event){func(e *alert.Event) { e.Paths[0].Links[0].Notice.TLP = alert.TLPRed }}, false},
		{"invalid MaxTLP narrows to CLEAR", sink.Filter{MaxTLP: "WHITE"}, nil, false},
		{"invalid MinStrength narrows to strong", sink.Filter{MinStrength: "medium"}, []func(*alert.Event){weak}, false},
		{"all criteria", sink.Filter{ReasonPrefixes: []string{"abusive-content"}, MinStrength: "strong", Issuers: []string{"edgeshield"}, MaxTLP: "AMBER", Types: []string{"match"}}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := event(1)
			for _, m := range c.mod {
				m(e)
			}
			if got := c.filter.Allows(e); got != c.want {
				t.Fatalf("Allows = %v, want %v", got, c.want)
			}
		})
	}
	if (sink.Filter{}).Allows(nil) {
		t.Fatal("nil event allowed")
	}
}

func TestFilterValidate(t *testing.T) {
	good := sink.Filter{ReasonPrefixes: []string{"fraud", "abusive-content:violence"}, MinStrength: "weak", Issuers: []string{"edgeshield"}, MaxTLP: "TLP:RED", Types: []string{"match"}, MinSeverity: "high"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []sink.Filter{
		{ReasonPrefixes: []string{"Fraud"}},
		{ReasonPrefixes: []string{"fraud:"}},
		{MinStrength: "medium"},
		{MinSeverity: "urgent"},
		{Issuers: []string{"Edge Shield"}},
		{MaxTLP: "WHITE"},
		{Types: []string{"alarms"}},
	} {
		if err := f.Validate(); err == nil {
			t.Errorf("%+v: no error", f)
		}
	}
}
