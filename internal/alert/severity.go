package alert

import "strings"

// Severity rates an alert for a desk's queue. The rule, in order:
//
//  1. integrity: high (someone signed with a key they should not hold, or
//     forged an envelope; a person must look, but no customer is named).
//     directory_stale: medium (notices are parked and nothing they say is
//     matched until the directory catches up).
//  2. root_not_visible: low, medium when two or more issuers corroborate.
//     The suspension itself cannot be read, so the reason is unverified.
//  3. match and own_space start at high for a strong path and medium for a
//     weak one.
//  4. The reason's RSIT class moves it: one step up for harm that goes on
//     while the customer is served (malicious-code:*, intrusions:*,
//     fraud:phishing, abusive-content:violence, availability:dos,
//     availability:ddos); one step down for vulnerable:*,
//     information-gathering:*, other:*. test:* is always low.
//  5. Two or more distinct issuers on the paths: one step up.
//  6. A weak path is never critical: a weak link may point at an innocent
//     customer (a dns-only sighting, a shared platform), so it waits for
//     corroboration or a person.
//
// TLP does not enter the rule: it limits who may see an alert, not how
// soon someone must act on it (sinks enforce it, see the sink package).
// Unknown types are rated high, so a new kind of alert is looked at.
func Severity(typ, strength, reason string, corroboratingIssuers int) string {
	const (
		low = iota
		medium
		high
		critical
	)
	names := [...]string{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	switch typ {
	case TypeIntegrity:
		return SeverityHigh
	case TypeDirectoryStale:
		return SeverityMedium
	case TypeRootNotVisible:
		if corroboratingIssuers >= 2 {
			return SeverityMedium
		}
		return SeverityLow
	case TypeMatch, TypeOwnSpace:
	default:
		return SeverityHigh
	}
	class, _, _ := strings.Cut(reason, ":")
	if class == "test" {
		return SeverityLow
	}
	level := medium
	if strength == StrengthStrong {
		level = high
	}
	switch {
	case graveReason(reason):
		level++
	case class == "vulnerable" || class == "information-gathering" || class == "other":
		level--
	}
	if corroboratingIssuers >= 2 {
		level++
	}
	ceiling := critical
	if strength != StrengthStrong {
		ceiling = high
	}
	level = max(low, min(level, ceiling))
	return names[level]
}

// graveReason reports harm that continues while the customer is served.
func graveReason(reason string) bool {
	class, _, _ := strings.Cut(reason, ":")
	switch {
	case class == "malicious-code", class == "intrusions":
		return true
	}
	switch reason {
	case "fraud:phishing", "abusive-content:violence", "availability:dos", "availability:ddos":
		return true
	}
	return false
}
