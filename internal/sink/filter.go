package sink

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/headsup-dev/headsup/internal/alert"
)

// Filter selects the events a sink receives. The zero value passes every
// event except those marked TLP:RED. A criterion left empty does not
// filter.
type Filter struct {
	// ReasonPrefixes selects by the root's RSIT reason: a class
	// ("abusive-content") selects every type of that class, a class:type
	// ("fraud:phishing") that type only.
	ReasonPrefixes []string
	// MinStrength is "", "weak" or "strong".
	MinStrength string
	// MinSeverity is "", "low", "medium", "high" or "critical": the least
	// severe alert the sink receives.
	MinSeverity string
	// Issuers selects by the member id of the root's issuer (of the
	// envelope's claimed issuer, for integrity and directory_stale alerts).
	Issuers []string
	// MaxTLP is the most restricted marking the sink may receive: CLEAR,
	// GREEN, AMBER, AMBER+STRICT or RED ("TLP:" prefix and case are free).
	// Empty means AMBER+STRICT: TLP:RED goes only to a sink that says RED.
	MaxTLP string
	// Types selects by alert type (match, own_space, root_not_visible,
	// integrity, directory_stale, alarm; digest too, though the agent's
	// digests are made after the filter, from what it let through).
	Types []string
}

// Allows reports whether the sink receives e.
//
// The criteria look at what stays fixed for an alert id (its type, its
// root's issuer and reason), so that the updates and the withdrawal of an
// alert pass exactly when its raise did; two criteria look at what may
// change between revisions, and are judged so that a desk never keeps an
// alert it should have seen go:
//
//   - Strength is judged on the better of Strength and PeakStrength: a sink
//     that received an alert also receives its weakening and withdrawal.
//     A withdrawal that carries neither passes (a stray withdrawal is
//     harmless, a missing one leaves a stale alert). An alert that becomes
//     strong later first reaches a strong-only sink as "updated".
//   - Severity is judged the same way, on the higher of Severity and
//     PeakSeverity: an alert that once reached the sink keeps reaching it
//     as it calms down, and one that becomes more severe first reaches it
//     as "updated" (or "unsuppressed").
//   - TLP is judged on everything the event carries ([alert.MaxTLP]): a
//     revision carrying material above MaxTLP is withheld, and the sink
//     keeps the last revision it could receive.
//
// Severity applies to every type; issuers do not apply to alarms, which
// concern the agent itself. Reason and strength do not apply to integrity,
// directory_stale, alarm and digest events, which have neither (select
// them with Types); any other alert
// without a reason fails a ReasonPrefixes criterion. An invalid MaxTLP
// counts as CLEAR, an invalid MinStrength as strong and an invalid
// MinSeverity as critical, so a typo narrows
// what a sink receives; [Filter.Validate] reports them.
func (f Filter) Allows(e *alert.Event) bool {
	if e == nil {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if rank(alert.MaxTLP(e)) > f.maxTLP() {
		return false
	}
	noChain := e.Type == alert.TypeIntegrity || e.Type == alert.TypeDirectoryStale || e.Type == alert.TypeAlarm || e.Type == alert.TypeDigest
	// An alarm is about the agent, not about any issuer's notice: every
	// sink that takes its type and severity must hear that it is deaf.
	if len(f.Issuers) > 0 && e.Type != alert.TypeAlarm {
		issuer := ""
		switch {
		case e.Root != nil:
			issuer = e.Root.Issuer.ID
		case e.Integrity != nil:
			issuer = e.Integrity.Issuer
		}
		if !slices.Contains(f.Issuers, issuer) {
			return false
		}
	}
	if f.MinSeverity != "" {
		want := alert.SeverityRank(f.MinSeverity)
		if want == 0 {
			want = alert.SeverityRank(alert.SeverityCritical)
		}
		if max(alert.SeverityRank(e.Severity), alert.SeverityRank(e.PeakSeverity)) < want {
			return false
		}
	}
	if noChain {
		return true
	}
	if len(f.ReasonPrefixes) > 0 {
		reason := ""
		if e.Root != nil {
			reason = e.Root.Reason
		}
		if reason == "" || !slices.ContainsFunc(f.ReasonPrefixes, func(p string) bool {
			return reason == p || strings.HasPrefix(reason, p+":")
		}) {
			return false
		}
	}
	if f.MinStrength != "" {
		best := max(strengthRank(e.Strength), strengthRank(e.PeakStrength))
		if best == 0 && e.Event == alert.EventWithdrawn {
			return true
		}
		want := strengthRank(f.MinStrength)
		if want == 0 {
			want = 2
		}
		if best < want {
			return false
		}
	}
	return true
}

func (f Filter) maxTLP() int {
	if f.MaxTLP == "" {
		return 4 // AMBER+STRICT
	}
	if r, ok := alert.TLPRank(f.MaxTLP); ok {
		return r
	}
	return 1
}

// rank orders an event's overall marking; an unmarked event is 0.
func rank(tlp string) int {
	if tlp == "" {
		return 0
	}
	if r, ok := alert.TLPRank(tlp); ok {
		return r
	}
	return 5
}

func strengthRank(s string) int {
	switch s {
	case alert.StrengthWeak:
		return 1
	case alert.StrengthStrong:
		return 2
	}
	return 0
}

var (
	reasonPrefixRE = regexp.MustCompile(`^[a-z-]+(:[a-z0-9-]+)?$`)
	memberRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// Validate reports the first criterion that can never mean what its
// author intended, naming the field and the value.
func (f Filter) Validate() error {
	for i, p := range f.ReasonPrefixes {
		if !reasonPrefixRE.MatchString(p) {
			return fmt.Errorf("reason_prefixes[%d]: %q is not an RSIT class or class:type", i, p)
		}
	}
	if f.MinStrength != "" && strengthRank(f.MinStrength) == 0 {
		return fmt.Errorf("min_strength: %q is not weak or strong", f.MinStrength)
	}
	for i, m := range f.Issuers {
		if !memberRE.MatchString(m) {
			return fmt.Errorf("issuers[%d]: %q is not a member id", i, m)
		}
	}
	if f.MinSeverity != "" && alert.SeverityRank(f.MinSeverity) == 0 {
		return fmt.Errorf("min_severity: %q is not low, medium, high or critical", f.MinSeverity)
	}
	if f.MaxTLP != "" {
		if _, ok := alert.TLPRank(f.MaxTLP); !ok {
			return fmt.Errorf("max_tlp: %q is not CLEAR, GREEN, AMBER, AMBER+STRICT or RED", f.MaxTLP)
		}
	}
	for i, t := range f.Types {
		switch t {
		case alert.TypeMatch, alert.TypeOwnSpace, alert.TypeRootNotVisible, alert.TypeIntegrity, alert.TypeDirectoryStale, alert.TypeAlarm, alert.TypeDigest:
		default:
			return fmt.Errorf("types[%d]: %q is not an alert type", i, t)
		}
	}
	return nil
}
