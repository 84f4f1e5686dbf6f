// Package directory holds the federation's directory of members: who they
// are, which identifiers are their own, what they may do, and which Ed25519
// keys speak for them.
//
// The directory is a YAML document (one per federation) with a serial
// number. Parse validates all of it and refuses unknown keys, so a typo
// never silently disables a check:
//
//	serial: 1
//	test_network: true        # allow documentation addresses/ASNs (demo)
//	members:
//	  - id: edgeshield
//	    name: EdgeShield CDN
//	    abuse_contact: abuse@edgeshield.example   # e-mail or https URL
//	    asns: [64500]
//	    prefixes: [192.0.2.0/24]                  # masked
//	    domains: [edgeshield.example]             # lower case, no trailing dot
//	    roles: [publish, subscribe]               # publish | subscribe | audit
//	    witness_url: ""                           # optional https URL
//	    keys:
//	      - kid: <RFC 7638 thumbprint, base64url without padding>
//	        use: notice                           # notice | call | witness
//	        public_key: <base64url raw 32-byte Ed25519 key (the JWK "x")>
//	        not_before: 2026-01-01T00:00:00Z      # optional
//	        not_after: 2027-01-01T00:00:00Z       # optional
//	        revoked_at: 2026-06-01T00:00:00Z      # optional, may be past
//
// Invariants a parsed Directory keeps: member ids match
// ^[a-z0-9][a-z0-9-]{0,62}$ and are unique; members are sorted by id; every
// kid is the RFC 7638 thumbprint of its key (so one key has one kid, and a
// kid names one key in the whole directory); a key's use is fixed, so a
// key published for calls can never sign a notice.
//
// Key validity is judged at log time, not at verification time:
// revoked_at means that no entry logged at or after that instant is valid
// under the key (DESIGN.md, "Signed envelope"). A revoked_at in the past
// therefore invalidates entries already in the log, which is how a member
// reacts to a suspected compromise.
//
// The federation's governance key signs each version as a signed note
// (golang.org/x/mod/sumdb/note): the signed directory is the YAML text,
// byte for byte, then a blank line and one line per signature,
//
//	serial: 7
//	members: …
//
//	— headsup-governance.example Ab3x…base64…
//
// Every member pins the governance verifier key ("name+hash+base64") in
// its own config; Open and LoadSigned refuse a file with no signature
// block (ErrUnsigned) or none that verifies under the pinned key
// (ErrBadSignature). Signatures by other keys (cosigners) are ignored.
// GenerateGovernanceKey makes the key pair, Sign signs a version, and
// BumpSerial raises the serial of a YAML text in place.
//
// A Watcher keeps the current directory of a file up to date: it reloads
// on change, keeps the last good version when an edit is bad, and refuses
// a version whose serial is lower than the current one (a rollback). With
// WithVerifier it also refuses unsigned and wrongly signed versions, and a
// version whose serial is the current one but whose text differs (the
// serial names the version appended to the log). Production pins a
// verifier; the unsigned mode is for development and tests.
package directory
