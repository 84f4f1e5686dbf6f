// Package notice normalises and validates headsup notices and the
// identifiers they carry.
//
// It is the single source of truth for what a well-formed notice is. The hub
// calls [Unmarshal] before it stores a notice, every agent calls it again
// before it matches, and the CLI calls [Fill] and [Normalize] before it
// signs. The identifier normalisers ([Host], [Prefix], [ASN], [Email],
// [Organisation], [Registration], [Hashed]) are shared with customer lists
// and the `hash` and `check` commands, so that both sides of a match meet in
// one normal form.
//
// The contract:
//
//   - A normaliser accepts messy human input and returns the normal form, or
//     an error saying why the input can never be an identifier. The normal
//     form is a fixed point: normalising it again returns it unchanged (the
//     fuzz targets check this).
//   - [Validate] never rewrites: it refuses a notice whose identifiers are
//     not already in normal form, because a notice travels as the exact
//     bytes its issuer signed and nobody may re-marshal it. Two spellings of
//     one identifier on the wire would let two verifiers disagree about what
//     a signed notice says.
//   - Every validation error wraps [ErrInvalid]; most are a [*FieldError]
//     naming the field path (in proto field names, e.g.
//     `subject.identifiers[2].host`) and the offending value. Validation is
//     deterministic: the same notice always yields the same first error.
//   - [Unmarshal] refuses a notice larger than [MaxNoticeBytes]
//     ([ErrTooLarge]) and any unknown field at any depth ([ErrUnknownField]),
//     so that no signed bytes carry content some verifiers cannot see.
//
// Decisions this package takes, beyond the letter of DESIGN.md:
//
//   - Host names with underscore labels (`_dmarc.example.com`) are refused.
//     They are valid DNS owner names of SRV and TXT records, never the name
//     of a host that serves content or mail, and the IDNA lookup profile
//     every implementation is told to use (STD3 rules) refuses '_'. Allowing
//     them would need a second, looser profile that other implementations
//     could not reproduce.
//   - A host whose last label is numeric (`1.2.3.4`, `example.123`,
//     `0x7f.1`) is refused as an IP literal: no top-level domain is numeric,
//     and URL parsers read such names as IPv4 addresses.
//   - IPv6 prefixes outside 2000::/3 (global unicast) are refused: IANA has
//     allocated nothing else to the RIRs, and that rule covers ::1, ::,
//     IPv4-mapped and -compatible space, 64:ff9b::/96, 100::/64, fc00::/7,
//     fe80::/10, ff00::/8 and 5f00::/16 (SRv6) in one check. The
//     special-purpose ranges inside 2000::/3 (2001::/23, 2002::/16,
//     2620:4f:8000::/48, and the documentation ranges 2001:db8::/32 and
//     3fff::/20) are listed individually.
//   - effective_at may be earlier than issued_at: an issuer reports a
//     suspension that took effect before it published. It must be before
//     expires_at when both are set.
//   - A RETRACTION may not carry expires_at: a retraction that expires would
//     silently revive the notice it withdrew.
//   - [ASN] only parses; [CheckASN] decides whether a number may appear in a
//     notice, because that depends on [Options].
//   - On the addresses of a CUSTOMER_SUSPENDED subject a role is required
//     (notice.proto allows the unspecified role only elsewhere). Whether an
//     address falls inside the issuer's own prefixes needs the directory and
//     is checked by its callers, not here.
//   - Organisation names: punctuation is dropped without a word break
//     ("S.A." is "sa", so legal forms are recognised however they are
//     dotted), legal forms include multi-word ones ("sa de cv", "sp z oo"),
//     and the first word is never dropped.
//   - Reasons are checked against the RSIT taxonomy by [ValidReason].
package notice
