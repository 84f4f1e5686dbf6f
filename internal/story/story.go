// Package story is DESIGN.md's acceptance scenario as data: a fictitious
// federation of five providers and the notices of the story. The demo
// prints it; the agent's end-to-end tests assert on it.
package story

import (
	"crypto/ed25519"
	"net/netip"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
)

// Member is one fictitious provider with its notice key and its call key
// (for the hub's per-call tokens).
type Member struct {
	ID, Name string
	Key      ed25519.PrivateKey
	CallKey  ed25519.PrivateKey
	Dir      *directory.Member
}

// Federation returns the story's directory (test_network set) and its
// members by id: edgeshield (CDN), mitigatr (DDoS-protection reseller),
// epiq (its operator), voxhost (IaaS upstream), researcher.
func Federation() (*directory.Directory, map[string]*Member, error) {
	specs := []struct {
		id, name, prefix string
		asn              uint32
		domain           string
		roles            []directory.Role
	}{
		{"edgeshield", "EdgeShield CDN", "192.0.2.0/24", 64500, "edgeshield.example", []directory.Role{directory.RolePublish, directory.RoleSubscribe}},
		{"mitigatr", "Mitigatr DDoS Protection", "198.51.100.128/25", 64510, "mitigatr.example", []directory.Role{directory.RoleSubscribe}},
		{"epiq", "Epiq Hosting Ltd", "", 0, "epiq.example", []directory.Role{directory.RoleSubscribe}},
		{"voxhost", "VoxHost IaaS", "198.51.100.0/24", 64496, "voxhost.example", []directory.Role{directory.RolePublish, directory.RoleSubscribe}},
		{"researcher", "Abuse Research Collective", "", 0, "research.example", []directory.Role{directory.RolePublish}},
	}
	d := &directory.Directory{Serial: 1, TestNetwork: true}
	members := map[string]*Member{}
	for _, s := range specs {
		key, priv, err := directory.NewKey(directory.UseNotice)
		if err != nil {
			return nil, nil, err
		}
		callKey, callPriv, err := directory.NewKey(directory.UseCall)
		if err != nil {
			return nil, nil, err
		}
		m := &directory.Member{ID: s.id, Name: s.name, AbuseContact: "abuse@" + s.domain, Domains: []string{s.domain}, Roles: s.roles, Keys: []*directory.Key{key, callKey}}
		if s.prefix != "" {
			m.Prefixes = []netip.Prefix{netip.MustParsePrefix(s.prefix)}
		}
		if s.asn != 0 {
			m.ASNs = []uint32{s.asn}
		}
		d.Members = append(d.Members, m)
		members[s.id] = &Member{ID: s.id, Name: s.name, Key: priv, CallKey: callPriv, Dir: m}
	}
	return d, members, nil
}

// Customers is voxhost's customer list: it knows epiq, the company behind
// the mitigatr brand, by its domain and name, and an innocent neighbour.
const Customers = `customer_id,display_name,type,value
cus-1001,Epiq Hosting Ltd,host,epiq.example
cus-1001,Epiq Hosting Ltd,organisation,Epiq Hosting Ltd
cus-1001,Epiq Hosting Ltd,email,noc@epiq.example
cus-2002,Harmless Bakery,host,bakery.example
cus-2002,Harmless Bakery,prefix,198.51.100.16/29
`

// Host is a host identifier.
func Host(h string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Host{Host: h}}
}

// Address is an address identifier, observed by method at observedAt when
// method is set.
func Address(prefix string, method headsupv1.ObservationMethod, observedAt time.Time) *headsupv1.Identifier {
	id := &headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: prefix}}}
	if method != headsupv1.ObservationMethod_OBSERVATION_METHOD_UNSPECIFIED {
		id.Observation = &headsupv1.Observation{ObservedAt: timestamppb.New(observedAt.Truncate(time.Second)), Method: method}
	}
	return id
}

// Suspended is edgeshield's CUSTOMER_SUSPENDED of chanboard.example.
func Suspended() *headsupv1.Notice {
	return &headsupv1.Notice{
		Kind: headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject: &headsupv1.Entity{Label: "chanboard.example", Identifiers: []*headsupv1.Identifier{
			Host("chanboard.example"), Host("www.chanboard.example"),
			{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: "203.0.113.80", Role: headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN}}},
		}},
		Reason:     "abusive-content:violence",
		Summary:    "Terminated for inciting violence against a named group; content preserved.",
		Tlp:        headsupv1.Tlp_TLP_GREEN,
		LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE, Reference: "AUP 4.2 (incitement)", Url: "https://edgeshield.example/aup"},
		Evidence: []*headsupv1.Evidence{
			{Url: "https://edgeshield.example/abuse/case/4711", Description: "case file", Tlp: headsupv1.Tlp_TLP_AMBER},
			{Sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Description: "archived front page", Tlp: headsupv1.Tlp_TLP_GREEN},
		},
	}
}

// Sighted is a CUSTOMER_SIGHTED: chanboard.example answers over TLS from
// mitigatr's addresses.
func Sighted(root *headsupv1.Notice) *headsupv1.Notice {
	seen := timestamppb.New(time.Now().Add(-time.Hour).Truncate(time.Second))
	tls := &headsupv1.Observation{ObservedAt: seen, Method: headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS,
		Evidence: []*headsupv1.Evidence{{Sha256: "3b7a0c5d0c9a7e1f4d2b8e6a5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d", Description: "certificate for chanboard.example", Tlp: headsupv1.Tlp_TLP_CLEAR}}}
	return &headsupv1.Notice{
		Kind:    headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED,
		Subject: &headsupv1.Entity{Label: "chanboard.example", Identifiers: []*headsupv1.Identifier{Host("chanboard.example")}},
		Sighting: &headsupv1.Sighting{
			Host: &headsupv1.Entity{Label: "mitigatr", Identifiers: []*headsupv1.Identifier{
				{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: "198.51.100.140"}}, Observation: tls},
			}},
			About: []*headsupv1.NoticeRef{{Issuer: root.GetIssuer(), Id: root.GetId()}},
		},
		Reason:  "abusive-content:violence",
		Summary: "chanboard.example answers over TLS with its own certificate from mitigatr's addresses.",
		Tlp:     headsupv1.Tlp_TLP_GREEN,
	}
}

// Reseller is a RESELLER_IDENTIFIED: mitigatr resells voxhost and is
// operated by epiq.
func Reseller() *headsupv1.Notice {
	return &headsupv1.Notice{
		Kind: headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED,
		Subject: &headsupv1.Entity{Label: "mitigatr", Member: "mitigatr", Identifiers: []*headsupv1.Identifier{
			Host("mitigatr.example"),
			{Value: &headsupv1.Identifier_Asn{Asn: &headsupv1.Asn{Number: 64510, Role: headsupv1.AsnRole_ASN_ROLE_HOLDER}}},
			{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: "198.51.100.128/25"}}},
		}},
		Relations: []*headsupv1.Relation{
			{Kind: headsupv1.RelationKind_RELATION_KIND_RESELLS, Entity: &headsupv1.Entity{Label: "voxhost", Member: "voxhost"}},
			{Kind: headsupv1.RelationKind_RELATION_KIND_OPERATED_BY, Entity: &headsupv1.Entity{Label: "epiq", Identifiers: []*headsupv1.Identifier{
				Host("epiq.example"), {Value: &headsupv1.Identifier_Organisation{Organisation: "Epiq Hosting Ltd"}},
			}}},
		},
		Summary: "mitigatr rents servers and 198.51.100.128/25 from voxhost and is operated by Epiq Hosting Ltd.",
		Tlp:     headsupv1.Tlp_TLP_GREEN,
	}
}
