package alert

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/headsup-dev/headsup/internal/notice"
)

// Rating is what [SeverityTable.Severity] judges an alert by.
type Rating struct {
	// Type is the alert type (one of the Type… constants).
	Type string
	// Strength is the best path's strength (strong, weak; empty for
	// integrity and directory_stale).
	Strength string
	// Reason is the root's RSIT reason, "class:type".
	Reason string
	// LegalBasis is the root's legal basis kind (one of the Legal…
	// constants), empty when not stated.
	LegalBasis string
	// Corroboration is how many distinct issuers the paths' notices have.
	Corroboration int
}

// SeverityTable rates alerts for a desk's queue: a base severity per RSIT
// reason, moved by the strength of the path, the legal basis and
// corroboration ([SeverityTable.Severity] states the rule). The zero value
// is [DefaultSeverityTable]; a provider overrides entries in the agent's
// configuration (severity.reasons, severity.default).
type SeverityTable struct {
	// Reasons maps an RSIT class ("fraud") or class:type
	// ("fraud:phishing") to a base severity; class:type wins over its
	// class. Nil means the default table.
	Reasons map[string]string
	// Default is the base of a reason the table does not name, and of an
	// alert without a reason; empty means medium.
	Default string
}

// defaultReasons is the default base severity for a strong path with one
// issuer and a terms-of-service basis. The principle: how much harm goes
// on while the customer is served, and to whom. Ongoing harm to people
// (child sexual exploitation, incitement to violence) is critical;
// ongoing harm to third parties' systems and money (malware, phishing,
// intrusions, DoS, data leaks) is high; nuisance (spam) and exposure
// without abuse (vulnerable systems, scanning) are low; the rest waits
// for a person at medium.
var defaultReasons = map[string]string{
	"abusive-content":                          SeverityMedium,
	"abusive-content:spam":                     SeverityLow,
	"abusive-content:harmful-speech":           SeverityMedium,
	"abusive-content:violence":                 SeverityCritical, // RSIT files child sexual exploitation here
	"malicious-code":                           SeverityHigh,
	"malicious-code:infected-system":           SeverityMedium, // usually the customer is the victim
	"information-gathering":                    SeverityLow,
	"information-gathering:social-engineering": SeverityMedium,
	"intrusion-attempts":                       SeverityMedium,
	"intrusion-attempts:ids-alert":             SeverityLow,
	"intrusions":                               SeverityHigh,
	"availability":                             SeverityMedium,
	"availability:dos":                         SeverityHigh,
	"availability:ddos":                        SeverityHigh,
	"availability:sabotage":                    SeverityHigh,
	"availability:misconfiguration":            SeverityLow,
	"availability:outage":                      SeverityLow,
	"information-content-security":             SeverityHigh,
	"information-content-security:data-loss":   SeverityMedium,
	"fraud":                                    SeverityMedium,
	"fraud:phishing":                           SeverityHigh,
	"fraud:masquerade":                         SeverityHigh,
	"fraud:copyright":                          SeverityLow,
	"vulnerable":                               SeverityLow,
	"other":                                    SeverityMedium, // undetermined: a person judges
	"test":                                     SeverityLow,
}

// DefaultSeverityTable returns the default table (a fresh copy: callers
// may change it).
func DefaultSeverityTable() SeverityTable {
	return SeverityTable{Reasons: maps.Clone(defaultReasons), Default: SeverityMedium}
}

// WithOverrides returns the table with reasons (class or class:type →
// severity) replacing or adding entries, and def, when not empty,
// replacing the default. It does not validate: see
// [SeverityTable.Validate].
func (t SeverityTable) WithOverrides(reasons map[string]string, def string) SeverityTable {
	out := t.normal()
	out.Reasons = maps.Clone(out.Reasons)
	maps.Copy(out.Reasons, reasons)
	if def != "" {
		out.Default = def
	}
	return out
}

var reasonKeyRE = regexp.MustCompile(`^[a-z-]+(:[a-z0-9-]+)?$`)

// Validate reports the first entry that is not an RSIT class or
// class:type mapped to one of critical, high, medium, low, naming it as
// the agent's configuration spells it.
func (t SeverityTable) Validate() error {
	if t.Default != "" && severityLevel(t.Default) < 0 {
		return fmt.Errorf("severity.default: %q is not one of critical, high, medium, low", t.Default)
	}
	for _, k := range slices.Sorted(maps.Keys(t.Reasons)) {
		class, _, typed := strings.Cut(k, ":")
		if !reasonKeyRE.MatchString(k) || !notice.ValidReasonClass(class) || typed && !notice.ValidReason(k) {
			// A misspelt reason would silently never apply.
			return fmt.Errorf("severity.reasons: %q is not an RSIT class or class:type that notices carry", k)
		}
		if severityLevel(t.Reasons[k]) < 0 {
			return fmt.Errorf("severity.reasons[%q]: %q is not one of critical, high, medium, low", k, t.Reasons[k])
		}
	}
	return nil
}

func (t SeverityTable) normal() SeverityTable {
	if t.Reasons == nil {
		// Read only: WithOverrides clones before writing.
		t.Reasons = defaultReasons
	}
	if t.Default == "" {
		t.Default = SeverityMedium
	}
	return t
}

// Base returns the table's base severity for reason: its class:type
// entry, else its class entry, else the default.
func (t SeverityTable) Base(reason string) string {
	t = t.normal()
	if s, ok := t.Reasons[reason]; ok && severityLevel(s) >= 0 {
		return s
	}
	class, _, _ := strings.Cut(reason, ":")
	if s, ok := t.Reasons[class]; ok && severityLevel(s) >= 0 {
		return s
	}
	if severityLevel(t.Default) >= 0 {
		return t.Default
	}
	return SeverityMedium
}

// Severity rates an alert. The rule, in order:
//
//  1. integrity: high (someone signed with a key they should not hold, or
//     forged an envelope; a person must look, but no customer is named).
//     directory_stale: medium (notices are parked and nothing they say is
//     matched until the directory catches up). Unknown types: high, so a
//     new kind of alert is looked at.
//  2. root_not_visible: low, medium when two or more issuers corroborate.
//     The suspension itself cannot be read, so its reason is unverified
//     and the table does not apply.
//  3. match and own_space: test:* is always low (a federation's drills
//     never page anyone). Otherwise start from the table's base for the
//     reason; one level down for a weak path; one up when the root's
//     legal basis is a court order or an authority request (someone with
//     the power to order it has judged the case); one up when two or more
//     distinct issuers are on the paths (independent corroboration).
//     The result is kept within low..critical.
//  4. A weak path is never critical, whatever the table says: a weak link
//     may point at an innocent customer (a dns-only sighting, a shared
//     platform), so it waits for corroboration by a strong path or for a
//     person. This guard is applied last, so no override can page a desk
//     at night on a guess.
//
// TLP does not enter the rule: it limits who may see an alert, not how
// soon someone must act on it (sinks enforce it, see the sink package).
func (t SeverityTable) Severity(r Rating) string {
	switch r.Type {
	case TypeIntegrity:
		return SeverityHigh
	case TypeDirectoryStale:
		return SeverityMedium
	case TypeRootNotVisible:
		if r.Corroboration >= 2 {
			return SeverityMedium
		}
		return SeverityLow
	case TypeMatch, TypeOwnSpace:
	default:
		return SeverityHigh
	}
	class, _, _ := strings.Cut(r.Reason, ":")
	if class == "test" {
		return SeverityLow
	}
	level := severityLevel(t.Base(r.Reason))
	if r.Strength != StrengthStrong {
		level--
	}
	if r.LegalBasis == LegalCourtOrder || r.LegalBasis == LegalAuthorityRequest {
		level++
	}
	if r.Corroboration >= 2 {
		level++
	}
	ceiling := levelCritical
	if r.Strength != StrengthStrong {
		ceiling = levelHigh
	}
	return severityNames[max(levelLow, min(level, ceiling))]
}

// Severity rates an alert with [DefaultSeverityTable].
func Severity(r Rating) string { return SeverityTable{}.Severity(r) }

const (
	levelLow = iota
	levelMedium
	levelHigh
	levelCritical
)

var severityNames = [...]string{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// severityLevel orders severities from low (0) to critical (3); -1 for
// anything else.
func severityLevel(s string) int {
	return slices.Index(severityNames[:], s)
}

// SeverityRank orders severities from low (1) to critical (4); 0 for
// anything else, so that an unknown or missing severity ranks lowest.
func SeverityRank(s string) int { return severityLevel(s) + 1 }
