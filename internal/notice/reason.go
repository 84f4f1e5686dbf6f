package notice

// ValidReason reports whether s is a "class:type" pair of the Reference
// Security Incident Taxonomy (RSIT, the e-CSIRT/ENISA working group's
// taxonomy), e.g. "abusive-content:violence" or "fraud:phishing". Exact,
// lower-case spelling only: reasons are compared as strings downstream.
func ValidReason(s string) bool {
	switch s {
	case "abusive-content:spam", "abusive-content:harmful-speech", "abusive-content:violence":
		return true
	case "malicious-code:infected-system", "malicious-code:c2-server", "malicious-code:malware-distribution", "malicious-code:malware-configuration":
		return true
	case "information-gathering:scanner", "information-gathering:sniffing", "information-gathering:social-engineering":
		return true
	case "intrusion-attempts:ids-alert", "intrusion-attempts:brute-force", "intrusion-attempts:exploit":
		return true
	case "intrusions:privileged-account-compromise", "intrusions:unprivileged-account-compromise", "intrusions:application-compromise", "intrusions:system-compromise", "intrusions:burglary":
		return true
	case "availability:dos", "availability:ddos", "availability:misconfiguration", "availability:sabotage", "availability:outage":
		return true
	case "information-content-security:unauthorised-information-access", "information-content-security:unauthorised-information-modification", "information-content-security:data-loss", "information-content-security:data-leak":
		return true
	case "fraud:unauthorised-use-of-resources", "fraud:copyright", "fraud:masquerade", "fraud:phishing":
		return true
	case "vulnerable:weak-crypto", "vulnerable:ddos-amplifier", "vulnerable:potentially-unwanted-accessible", "vulnerable:information-disclosure", "vulnerable:vulnerable-system":
		return true
	case "other:other", "other:undetermined":
		return true
	case "test:test":
		return true
	}
	return false
}

// ValidReasonClass reports whether s is an RSIT class, the part of a
// reason before the colon (a desk's severity table may rate a whole class).
func ValidReasonClass(s string) bool {
	switch s {
	case "abusive-content", "malicious-code", "information-gathering", "intrusion-attempts", "intrusions",
		"availability", "information-content-security", "fraud", "vulnerable", "other", "test":
		return true
	}
	return false
}
