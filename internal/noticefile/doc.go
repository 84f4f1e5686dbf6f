// Package noticefile reads and writes the notice document: the YAML (or
// JSON, which is YAML) form of a headsup notice that a person at an abuse
// desk writes, reviews and keeps.
//
// The document is a friendlier spelling of headsupv1.Notice, not a second
// schema:
//
//	kind: customer_suspended        # customer_suspended | customer_sighted | reseller_identified | retraction
//	issuer: edgeshield              # the publishing CLI defaults it to --member
//	subject:
//	  label: chanboard
//	  hosts: [chanboard.example]
//	  addresses: [{prefix: 192.0.2.10, role: origin}, 198.51.100.0/24]
//	  asns: [AS64500]               # a plain AS number is a holder
//	reason: abusive-content:violence
//	tlp: amber
//	legal_basis: {kind: terms_of_service, reference: AUP 4.2}
//	expires_in: 30d                 # or expires_at: 2026-01-02T15:04:05Z
//
// An entity lists its identifiers grouped by type (hosts, addresses, asns,
// emails, organisations, registrations, hashed); each item is either its
// value or a mapping with the value and, where it applies, role,
// assigned_until and the observation fields observed_at, method and
// evidence.
//
// Contract:
//   - Parse checks structure only: every key is known (an unknown or
//     misspelt key is an error naming it and its line), every enum value is
//     one of its names, every time is RFC 3339 in whole seconds, every
//     string is UTF-8. It does not normalise or validate identifiers: that
//     is notice.Normalize, which the hub and every agent also run, so there
//     is one rule, not two.
//   - Errors are *Error and name the field path in the document's own terms
//     ("subject.addresses[1].role") and its line.
//   - Format writes a notice as a document. Parse(Format(n)) equals n for
//     every notice Parse returns; a notice from elsewhere round-trips too as
//     long as it lists its identifiers grouped in document order, has no
//     empty Observation and uses only named enum values (Format refuses
//     what a document cannot say rather than write something else).
//   - Anchors, aliases and multiple documents are refused: a notice needs
//     none, and refusing them keeps the cost of parsing linear.
package noticefile
