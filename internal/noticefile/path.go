package noticefile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// protoIdentifierPath matches "<entity>.identifiers[<k>]<rest>", where the
// entity is one of the three places a notice holds one.
var protoIdentifierPath = regexp.MustCompile(`^(subject|sighting\.host|relations\[(\d+)\]\.entity)\.identifiers\[(\d+)\](.*)$`)

// DocumentPath translates a field path in proto terms, as the notice
// package's errors name it ("subject.identifiers[4].address.role"), into
// the document's terms ("subject.addresses[1].role"), so that a person can
// find the field in the file they wrote. n is the notice the path refers
// to; identifier positions are counted within their type, which is how
// Parse lays them out. A path that needs no translation, or that n does
// not resolve, is returned unchanged.
func DocumentPath(n *headsupv1.Notice, path string) string {
	m := protoIdentifierPath.FindStringSubmatch(path)
	if m == nil {
		return path
	}
	var e *headsupv1.Entity
	switch {
	case m[1] == "subject":
		e = n.GetSubject()
	case m[1] == "sighting.host":
		e = n.GetSighting().GetHost()
	default:
		i, err := strconv.Atoi(m[2])
		if err != nil || i >= len(n.GetRelations()) {
			return path
		}
		e = n.GetRelations()[i].GetEntity()
	}
	k, err := strconv.Atoi(m[3])
	if err != nil || k >= len(e.GetIdentifiers()) {
		return path
	}
	group, oneof := identifierGroup(e.Identifiers[k])
	if group == "" {
		return path
	}
	pos := 0
	for _, id := range e.Identifiers[:k] {
		if g, _ := identifierGroup(id); g == group {
			pos++
		}
	}
	rest := m[4]
	// ".address.role" -> ".role"; the value itself (".host",
	// ".address.prefix") is the item, or its value key.
	rest = strings.TrimPrefix(rest, "."+oneof)
	rest = strings.TrimPrefix(rest, ".observation")
	switch rest {
	case ".prefix", ".number":
		rest = ""
	}
	return fmt.Sprintf("%s.%s[%d]%s", m[1], group, pos, rest)
}

// identifierGroup returns the document key listing id and the proto name
// of its value.
func identifierGroup(id *headsupv1.Identifier) (group, oneof string) {
	switch id.GetValue().(type) {
	case *headsupv1.Identifier_Host:
		return "hosts", "host"
	case *headsupv1.Identifier_Address:
		return "addresses", "address"
	case *headsupv1.Identifier_Asn:
		return "asns", "asn"
	case *headsupv1.Identifier_Email:
		return "emails", "email"
	case *headsupv1.Identifier_Organisation:
		return "organisations", "organisation"
	case *headsupv1.Identifier_Registration:
		return "registrations", "registration"
	case *headsupv1.Identifier_Hashed:
		return "hashed", "hashed"
	}
	return "", ""
}
