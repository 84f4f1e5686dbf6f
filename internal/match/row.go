package match

import (
	"fmt"
	"strings"
	"time"
)

// Type is the kind of identifier a row holds, in DESIGN.md's vocabulary.
type Type string

// The row types. Aliases accepted by ParseType are given in its comment.
const (
	TypeHost         Type = "host"         // a host or domain name
	TypePrefix       Type = "prefix"       // an IP address or prefix
	TypeASN          Type = "asn"          // an AS number (the customer holds it)
	TypeEmail        Type = "email"        // an e-mail address
	TypeOrganisation Type = "organisation" // an organisation name (weak only)
	TypeRegistration Type = "registration" // "lei:…", "company:<CC>:…", "vat:…", "rir:…"
	TypePhone        Type = "phone"        // E.164; matches hashed identifiers only, weakly
	TypeHashed       Type = "hashed"       // hmac-sha256:<key-id>:<type>:<hex>
	TypeMember       Type = "member"       // a headsup member id
)

// ParseType reads a row type; "domain" means host, "ip" and "cidr" mean
// prefix, "org" means organisation. Anything else is an error naming the
// value.
func ParseType(s string) (Type, error) {
	switch t := Type(strings.ToLower(strings.TrimSpace(s))); t {
	case TypeHost, TypePrefix, TypeASN, TypeEmail, TypeOrganisation, TypeRegistration, TypePhone, TypeHashed, TypeMember:
		return t, nil
	case "domain":
		return TypeHost, nil
	case "ip", "cidr":
		return TypePrefix, nil
	case "org":
		return TypeOrganisation, nil
	}
	return "", fmt.Errorf("%q is not one of host, prefix, asn, email, organisation, registration, phone, hashed, member", s)
}

// Row is one identifier of one owner: a customer of this provider (from a
// customer source), or an entity of an active notice (in the agent's
// notice index). Rows of every source have this one shape.
type Row struct {
	// Owner is the customer id (or the notice entity's reference).
	Owner string
	// Name is the owner's display name.
	Name string
	// Type and Value are the identifier; Value is in its normal form once
	// the row has been through NormalizeRow.
	Type  Type
	Value string
	// Member is the owner's headsup member id, when it is a member.
	Member string
	// ValidFrom, when set, is when the identifier became the owner's.
	ValidFrom time.Time
	// Link is the desk's page for the owner (a URL template already
	// filled in, or empty).
	Link string
	// Source and Line say where the row came from, so that every match can
	// show its source row.
	Source string
	Line   int
}
