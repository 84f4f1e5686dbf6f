package notice

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// Fixed ids and times so that the notices (and the fuzz seeds written from
// them) are byte-for-byte reproducible.
const (
	idSuspended = "0198c3a0-0000-7000-8000-000000000001"
	idSighted   = "0198c3a0-0000-7000-8000-000000000002"
	idReseller  = "0198c3a0-0000-7000-8000-000000000003"
	idRetract   = "0198c3a0-0000-7000-8000-000000000004"
	testHex     = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

var issued = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func hostID(h string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Host{Host: h}}
}

func addrID(p string, role headsupv1.AddressRole) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: p, Role: role}}}
}

func asnID(n uint32, role headsupv1.AsnRole) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Asn{Asn: &headsupv1.Asn{Number: n, Role: role}}}
}

func emailID(e string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Email{Email: e}}
}

func orgID(o string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Organisation{Organisation: o}}
}

func regID(s headsupv1.RegistrationScheme, v, c string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Registration{Registration: &headsupv1.Registration{Scheme: s, Value: v, Country: c}}}
}

func hashedID(h string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Hashed{Hashed: h}}
}

func observed(id *headsupv1.Identifier, m headsupv1.ObservationMethod) *headsupv1.Identifier {
	id.Observation = &headsupv1.Observation{
		ObservedAt: ts(issued.Add(-time.Hour)),
		Method:     m,
		Evidence:   []*headsupv1.Evidence{{Sha256: testHex, Description: "certificate", Tlp: headsupv1.Tlp_TLP_CLEAR}},
	}
	return id
}

// suspended is edgeshield's CUSTOMER_SUSPENDED notice about chanboard, with
// one identifier of every type (valid on a test network).
func suspended() *headsupv1.Notice {
	return &headsupv1.Notice{
		Id:     idSuspended,
		Issuer: "edgeshield",
		Kind:   headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Salt:   bytes.Repeat([]byte{0x5a}, 32),
		Subject: &headsupv1.Entity{
			Label: "chanboard",
			Identifiers: []*headsupv1.Identifier{
				hostID("chanboard.example"),
				addrID("203.0.113.10/32", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN),
				{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{
					Prefix:        "198.51.100.0/24",
					Role:          headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED,
					AssignedUntil: ts(issued.Add(-24 * time.Hour)),
				}}},
				addrID("2001:db8:c::/48", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN),
				asnID(64500, headsupv1.AsnRole_ASN_ROLE_HOLDER),
				emailID("abuse@chanboard.example"),
				orgID("chanboard media"),
				regID(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_LEI, "5493001KJTIIGC8Y1R12", ""),
				hashedID("hmac-sha256:fed-2026:phone:" + testHex),
			},
		},
		Reason:  "abusive-content:violence",
		Summary: "Terminated for inciting violence.",
		Evidence: []*headsupv1.Evidence{
			{Url: "https://evidence.example/chanboard/1", Tlp: headsupv1.Tlp_TLP_AMBER},
		},
		LegalBasis:  &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE, Reference: "AUP 4.2", Url: "https://edgeshield.example/aup"},
		Tlp:         headsupv1.Tlp_TLP_GREEN,
		IssuedAt:    ts(issued),
		EffectiveAt: ts(issued.Add(-2 * time.Hour)), // took effect before publication
	}
}

// sighted says chanboard now answers from mitigatr's addresses.
func sighted() *headsupv1.Notice {
	return &headsupv1.Notice{
		Id:      idSighted,
		Issuer:  "researcher",
		Kind:    headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED,
		Salt:    bytes.Repeat([]byte{0x5b}, 32),
		Subject: &headsupv1.Entity{Identifiers: []*headsupv1.Identifier{hostID("chanboard.example")}},
		Sighting: &headsupv1.Sighting{
			Host: &headsupv1.Entity{
				Member: "mitigatr",
				Identifiers: []*headsupv1.Identifier{
					observed(addrID("203.0.113.64/26", 0), headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS),
					observed(hostID("edge.mitigatr.example"), headsupv1.ObservationMethod_OBSERVATION_METHOD_DNS),
					observed(asnID(64501, headsupv1.AsnRole_ASN_ROLE_ORIGIN), headsupv1.ObservationMethod_OBSERVATION_METHOD_BGP),
				},
			},
			About: []*headsupv1.NoticeRef{{Issuer: "edgeshield", Id: idSuspended}},
		},
		Tlp:       headsupv1.Tlp_TLP_GREEN,
		Audience:  []string{"voxhost", "researcher", "edgeshield"},
		IssuedAt:  ts(issued),
		ExpiresAt: ts(issued.Add(DefaultExpiry)),
	}
}

// reseller says mitigatr resells voxhost and is operated by epiq.
func reseller() *headsupv1.Notice {
	return &headsupv1.Notice{
		Id:     idReseller,
		Issuer: "edgeshield",
		Kind:   headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED,
		Salt:   bytes.Repeat([]byte{0x5c}, 32),
		Subject: &headsupv1.Entity{
			Member: "mitigatr",
			Identifiers: []*headsupv1.Identifier{
				asnID(64501, headsupv1.AsnRole_ASN_ROLE_HOLDER),
				addrID("203.0.113.0/24", 0),
				hostID("mitigatr.example"),
			},
		},
		Relations: []*headsupv1.Relation{
			{Kind: headsupv1.RelationKind_RELATION_KIND_RESELLS, Entity: &headsupv1.Entity{Member: "voxhost"}},
			{Kind: headsupv1.RelationKind_RELATION_KIND_OPERATED_BY, Entity: &headsupv1.Entity{
				Label: "Epiq Hosting Ltd",
				Identifiers: []*headsupv1.Identifier{
					orgID("epiq hosting"),
					regID(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_RIR_ORG, "ORG-EH1-RIPE", ""),
					regID(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER, "01234567", "GB"),
					regID(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_VAT, "GB123456789", ""),
					hostID("github.io"), // a public suffix is refused only in a subject
				},
			}},
		},
		Tlp:       headsupv1.Tlp_TLP_AMBER,
		IssuedAt:  ts(issued),
		ExpiresAt: ts(issued.Add(DefaultExpiry)),
	}
}

// retraction withdraws the suspension.
func retraction() *headsupv1.Notice {
	return &headsupv1.Notice{
		Id:         idRetract,
		Issuer:     "edgeshield",
		Kind:       headsupv1.NoticeKind_NOTICE_KIND_RETRACTION,
		Salt:       bytes.Repeat([]byte{0x5d}, 32),
		Reason:     "other:other",
		Summary:    "Suspension lifted after review.",
		Tlp:        headsupv1.Tlp_TLP_GREEN,
		IssuedAt:   ts(issued.Add(48 * time.Hour)),
		Supersedes: idSuspended,
	}
}

// realNetwork is a suspension valid without TestNetwork.
func realNetwork() *headsupv1.Notice {
	n := suspended()
	n.Subject.Identifiers = []*headsupv1.Identifier{
		hostID("chanboard.example"),
		addrID("11.1.0.0/16", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN), // exactly MaxIPv4Addresses
		addrID("2a00:1450:4001::/48", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN),
		asnID(13335, headsupv1.AsnRole_ASN_ROLE_ORIGIN),
	}
	return n
}

func TestValidateValid(t *testing.T) {
	tests := []struct {
		name string
		n    func() *headsupv1.Notice
		opts Options
	}{
		{"suspended", suspended, testNet},
		{"sighted", sighted, testNet},
		{"reseller", reseller, testNet},
		{"retraction", retraction, testNet},
		{"real network", realNetwork, Options{}},
		{"suspended superseding", func() *headsupv1.Notice {
			n := suspended()
			n.Supersedes = idRetract
			return n
		}, testNet},
		{"suspended with expiry", func() *headsupv1.Notice {
			n := suspended()
			n.ExpiresAt = ts(issued.Add(time.Second))
			return n
		}, testNet},
		{"entity with member only", func() *headsupv1.Notice {
			n := suspended()
			n.Subject = &headsupv1.Entity{Member: "chanboard"}
			return n
		}, testNet},
		{"1000 identifiers", func() *headsupv1.Notice {
			n := reseller()
			n.Subject.Identifiers = manyHosts(MaxIdentifiers - len(n.Relations[1].Entity.Identifiers))
			return n
		}, testNet},
		{"max summary", func() *headsupv1.Notice {
			n := suspended()
			n.Summary = strings.Repeat("é", maxSummaryBytes/2)
			return n
		}, testNet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Validate(tt.n(), tt.opts); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func manyHosts(n int) []*headsupv1.Identifier {
	ids := make([]*headsupv1.Identifier, n)
	for i := range ids {
		ids[i] = hostID(fmt.Sprintf("h%d.mitigatr.example", i))
	}
	return ids
}

// subjectID returns the i-th subject identifier of n.
func subjectID(n *headsupv1.Notice, i int) *headsupv1.Identifier { return n.Subject.Identifiers[i] }

func TestValidateRefusals(t *testing.T) {
	fractional := &timestamppb.Timestamp{Seconds: issued.Unix(), Nanos: 500}
	tests := []struct {
		name   string
		n      func() *headsupv1.Notice
		mutate func(n *headsupv1.Notice)
		opts   Options
		path   string // the FieldError's path
		reason string // a substring of its reason
	}{
		// The notice's own fields.
		{"id empty", suspended, func(n *headsupv1.Notice) { n.Id = "" }, testNet, "id", "UUIDv7"},
		{"id upper case", suspended, func(n *headsupv1.Notice) { n.Id = strings.ToUpper(n.Id) }, testNet, "id", "UUIDv7"},
		{"id v4", suspended, func(n *headsupv1.Notice) { n.Id = "0198c3a0-0000-4000-8000-000000000001" }, testNet, "id", "UUIDv7"},
		{"issuer", suspended, func(n *headsupv1.Notice) { n.Issuer = "Edge_Shield" }, testNet, "issuer", "member id"},
		{"kind unspecified", suspended, func(n *headsupv1.Notice) { n.Kind = 0 }, testNet, "kind", "required"},
		{"kind unknown", suspended, func(n *headsupv1.Notice) { n.Kind = 99 }, testNet, "kind", "not a known value"},
		{"salt short", suspended, func(n *headsupv1.Notice) { n.Salt = n.Salt[:31] }, testNet, "salt", "32"},
		{"salt missing", suspended, func(n *headsupv1.Notice) { n.Salt = nil }, testNet, "salt", "32"},
		{"tlp", suspended, func(n *headsupv1.Notice) { n.Tlp = 0 }, testNet, "tlp", "required"},
		{"tlp unknown", suspended, func(n *headsupv1.Notice) { n.Tlp = 6 }, testNet, "tlp", "not a known value"},
		{"issued_at missing", suspended, func(n *headsupv1.Notice) { n.IssuedAt = nil }, testNet, "issued_at", "required"},
		{"issued_at fractional", suspended, func(n *headsupv1.Notice) { n.IssuedAt = fractional }, testNet, "issued_at", "fractional seconds are not allowed"},
		{"issued_at negative nanos", suspended, func(n *headsupv1.Notice) { n.IssuedAt = &timestamppb.Timestamp{Seconds: issued.Unix(), Nanos: -1} }, testNet, "issued_at", "fractional"},
		{"issued_at 1999", suspended, func(n *headsupv1.Notice) { n.IssuedAt = ts(time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)) }, testNet, "issued_at", "2000 to 9999"},
		{"issued_at 10000", suspended, func(n *headsupv1.Notice) { n.IssuedAt = &timestamppb.Timestamp{Seconds: maxTimeSeconds + 1} }, testNet, "issued_at", "2000 to 9999"},
		{"effective_at fractional", suspended, func(n *headsupv1.Notice) { n.EffectiveAt = fractional }, testNet, "effective_at", "fractional"},
		{"expires_at fractional", suspended, func(n *headsupv1.Notice) {
			n.ExpiresAt = &timestamppb.Timestamp{Seconds: issued.Unix() + 10, Nanos: 1}
		}, testNet, "expires_at", "fractional"},
		{"expires_at missing sighted", sighted, func(n *headsupv1.Notice) { n.ExpiresAt = nil }, testNet, "expires_at", "required"},
		{"expires_at missing reseller", reseller, func(n *headsupv1.Notice) { n.ExpiresAt = nil }, testNet, "expires_at", "required"},
		{"expires_at equals issued_at", sighted, func(n *headsupv1.Notice) { n.ExpiresAt = ts(issued) }, testNet, "expires_at", "not after issued_at"},
		{"expires_at before effective_at", suspended, func(n *headsupv1.Notice) {
			n.EffectiveAt = ts(issued.Add(time.Hour))
			n.ExpiresAt = ts(issued.Add(time.Minute))
		}, testNet, "expires_at", "not after effective_at"},
		{"expires_at on retraction", retraction, func(n *headsupv1.Notice) { n.ExpiresAt = ts(issued.Add(100 * time.Hour)) }, testNet, "expires_at", "not allowed"},
		{"supersedes itself", suspended, func(n *headsupv1.Notice) { n.Supersedes = n.Id }, testNet, "supersedes", "own id"},
		{"supersedes invalid", suspended, func(n *headsupv1.Notice) { n.Supersedes = "x" }, testNet, "supersedes", "UUIDv7"},
		{"retraction without supersedes", retraction, func(n *headsupv1.Notice) { n.Supersedes = "" }, testNet, "supersedes", "required"},
		{"audience without issuer", sighted, func(n *headsupv1.Notice) { n.Audience = []string{"voxhost"} }, testNet, "audience", "issuer"},
		{"audience duplicate", sighted, func(n *headsupv1.Notice) { n.Audience = []string{"researcher", "researcher"} }, testNet, "audience[1]", "twice"},
		{"audience invalid", sighted, func(n *headsupv1.Notice) { n.Audience = []string{"Vox Host", "researcher"} }, testNet, "audience[0]", "member id"},
		{"reason missing", suspended, func(n *headsupv1.Notice) { n.Reason = "" }, testNet, "reason", "required"},
		{"reason not rsit", suspended, func(n *headsupv1.Notice) { n.Reason = "abusive-content:hate" }, testNet, "reason", "RSIT"},
		{"reason on sighting not rsit", sighted, func(n *headsupv1.Notice) { n.Reason = "bad" }, testNet, "reason", "RSIT"},
		{"summary too long", suspended, func(n *headsupv1.Notice) { n.Summary = strings.Repeat("x", maxSummaryBytes+1) }, testNet, "summary", "at most 4096"},
		{"summary not utf-8", suspended, func(n *headsupv1.Notice) { n.Summary = "a\xffb" }, testNet, "summary", "UTF-8"},
		{"legal_basis missing", suspended, func(n *headsupv1.Notice) { n.LegalBasis = nil }, testNet, "legal_basis", "required"},
		{"legal_basis kind", suspended, func(n *headsupv1.Notice) { n.LegalBasis.Kind = 0 }, testNet, "legal_basis.kind", "required"},
		{"legal_basis url http", suspended, func(n *headsupv1.Notice) { n.LegalBasis.Url = "http://edgeshield.example/aup" }, testNet, "legal_basis.url", "https"},
		{"legal_basis reference too long", suspended, func(n *headsupv1.Notice) { n.LegalBasis.Reference = strings.Repeat("x", 1025) }, testNet, "legal_basis.reference", "at most"},
		{"evidence tlp", suspended, func(n *headsupv1.Notice) { n.Evidence[0].Tlp = 0 }, testNet, "evidence[0].tlp", "required"},
		{"evidence http", suspended, func(n *headsupv1.Notice) { n.Evidence[0].Url = "http://evidence.example/1" }, testNet, "evidence[0].url", "https"},
		{"evidence url no host", suspended, func(n *headsupv1.Notice) { n.Evidence[0].Url = "https:///x" }, testNet, "evidence[0].url", "https"},
		{"evidence url credentials", suspended, func(n *headsupv1.Notice) { n.Evidence[0].Url = "https://u:p@evidence.example/" }, testNet, "evidence[0].url", "user information"},
		{"evidence sha256 upper", suspended, func(n *headsupv1.Notice) { n.Evidence[0].Sha256 = strings.ToUpper(testHex) }, testNet, "evidence[0].sha256", "hex"},
		{"evidence sha256 short", suspended, func(n *headsupv1.Notice) { n.Evidence[0].Sha256 = testHex[:62] }, testNet, "evidence[0].sha256", "hex"},
		{"evidence empty", suspended, func(n *headsupv1.Notice) { n.Evidence[0] = &headsupv1.Evidence{Tlp: headsupv1.Tlp_TLP_RED} }, testNet, "evidence[0]", "url, a sha256 or a description"},
		{"evidence nil", suspended, func(n *headsupv1.Notice) { n.Evidence = append(n.Evidence, nil) }, testNet, "evidence[1]", "empty"},

		// Which fields belong to which kind.
		{"subject missing suspended", suspended, func(n *headsupv1.Notice) { n.Subject = nil }, testNet, "subject", "required"},
		{"subject missing sighted", sighted, func(n *headsupv1.Notice) { n.Subject = nil }, testNet, "subject", "required"},
		{"subject missing reseller", reseller, func(n *headsupv1.Notice) { n.Subject = nil }, testNet, "subject", "required"},
		{"subject on retraction", retraction, func(n *headsupv1.Notice) { n.Subject = suspended().Subject }, testNet, "subject", "not allowed"},
		{"sighting on suspended", suspended, func(n *headsupv1.Notice) { n.Sighting = sighted().Sighting }, testNet, "sighting", "not allowed"},
		{"sighting on retraction", retraction, func(n *headsupv1.Notice) { n.Sighting = sighted().Sighting }, testNet, "sighting", "not allowed"},
		{"relations on sighted", sighted, func(n *headsupv1.Notice) { n.Relations = reseller().Relations }, testNet, "relations", "not allowed"},
		{"relations on suspended", suspended, func(n *headsupv1.Notice) { n.Relations = reseller().Relations }, testNet, "relations", "not allowed"},
		{"sighting missing", sighted, func(n *headsupv1.Notice) { n.Sighting = nil }, testNet, "sighting", "required"},
		{"relations missing", reseller, func(n *headsupv1.Notice) { n.Relations = nil }, testNet, "relations", "at least one"},

		// Sighting.
		{"sighting host missing", sighted, func(n *headsupv1.Notice) { n.Sighting.Host = nil }, testNet, "sighting.host", "required"},
		{"sighting about missing", sighted, func(n *headsupv1.Notice) { n.Sighting.About = nil }, testNet, "sighting.about", "at least one"},
		{"about issuer", sighted, func(n *headsupv1.Notice) { n.Sighting.About[0].Issuer = "" }, testNet, "sighting.about[0].issuer", "member id"},
		{"about id", sighted, func(n *headsupv1.Notice) { n.Sighting.About[0].Id = "nope" }, testNet, "sighting.about[0].id", "UUIDv7"},
		{"about itself", sighted, func(n *headsupv1.Notice) { n.Sighting.About[0] = &headsupv1.NoticeRef{Issuer: n.Issuer, Id: n.Id} }, testNet, "sighting.about[0]", "itself"},
		{"about duplicate", sighted, func(n *headsupv1.Notice) {
			n.Sighting.About = append(n.Sighting.About, &headsupv1.NoticeRef{Issuer: "edgeshield", Id: idSuspended})
		}, testNet, "sighting.about[1]", "twice"},
		{"sighting address without observation", sighted, func(n *headsupv1.Notice) { n.Sighting.Host.Identifiers[0].Observation = nil }, testNet, "sighting.host.identifiers[0].observation", "required"},
		{"sighting host without observation", sighted, func(n *headsupv1.Notice) { n.Sighting.Host.Identifiers[1].Observation = nil }, testNet, "sighting.host.identifiers[1].observation", "required"},
		{"observed after issued", sighted, func(n *headsupv1.Notice) {
			n.Sighting.Host.Identifiers[0].Observation.ObservedAt = ts(issued.Add(time.Second))
		}, testNet, "sighting.host.identifiers[0].observation.observed_at", "after issued_at"},
		{"observed fractional", sighted, func(n *headsupv1.Notice) {
			n.Sighting.Host.Identifiers[0].Observation.ObservedAt = fractional
		}, testNet, "sighting.host.identifiers[0].observation.observed_at", "fractional"},
		{"observed_at missing", sighted, func(n *headsupv1.Notice) { n.Sighting.Host.Identifiers[0].Observation.ObservedAt = nil }, testNet, "sighting.host.identifiers[0].observation.observed_at", "required"},
		{"observation method", sighted, func(n *headsupv1.Notice) { n.Sighting.Host.Identifiers[0].Observation.Method = 0 }, testNet, "sighting.host.identifiers[0].observation.method", "required"},
		{"observation evidence", sighted, func(n *headsupv1.Notice) { n.Sighting.Host.Identifiers[0].Observation.Evidence[0].Tlp = 0 }, testNet, "sighting.host.identifiers[0].observation.evidence[0].tlp", "required"},

		// Relations.
		{"relation kind", reseller, func(n *headsupv1.Notice) { n.Relations[0].Kind = 0 }, testNet, "relations[0].kind", "required"},
		{"relation entity", reseller, func(n *headsupv1.Notice) { n.Relations[1].Entity = nil }, testNet, "relations[1].entity", "required"},
		{"relation nil", reseller, func(n *headsupv1.Notice) { n.Relations[0] = nil }, testNet, "relations[0]", "empty"},
		{"relation entity empty", reseller, func(n *headsupv1.Notice) { n.Relations[0].Entity.Member = "" }, testNet, "relations[0].entity", "at least one identifier or a member"},

		// Entities.
		{"entity empty", suspended, func(n *headsupv1.Notice) { n.Subject = &headsupv1.Entity{Label: "x"} }, testNet, "subject", "at least one identifier or a member"},
		{"entity member", suspended, func(n *headsupv1.Notice) { n.Subject.Member = "Chan Board" }, testNet, "subject.member", "member id"},
		{"entity label too long", suspended, func(n *headsupv1.Notice) { n.Subject.Label = strings.Repeat("x", 257) }, testNet, "subject.label", "at most 256"},
		{"identifier without value", suspended, func(n *headsupv1.Notice) { n.Subject.Identifiers[2] = &headsupv1.Identifier{} }, testNet, "subject.identifiers[2]", "no value"},
		{"identifier nil", suspended, func(n *headsupv1.Notice) { n.Subject.Identifiers[2] = nil }, testNet, "subject.identifiers[2]", "empty"},

		// Identifiers: normal forms and refusals.
		{"host not normal", suspended, func(n *headsupv1.Notice) {
			subjectID(n, 0).Value = &headsupv1.Identifier_Host{Host: "Chanboard.Example"}
		}, testNet, "subject.identifiers[0].host", `not in normal form (want "chanboard.example")`},
		{"host trailing dot", suspended, func(n *headsupv1.Notice) {
			subjectID(n, 0).Value = &headsupv1.Identifier_Host{Host: "chanboard.example."}
		}, testNet, "subject.identifiers[0].host", "not in normal form"},
		{"host unicode", suspended, func(n *headsupv1.Notice) { subjectID(n, 0).Value = &headsupv1.Identifier_Host{Host: "bücher.de"} }, testNet, "subject.identifiers[0].host", "not in normal form"},
		{"host invalid", suspended, func(n *headsupv1.Notice) { subjectID(n, 0).Value = &headsupv1.Identifier_Host{Host: "exa mple.com"} }, testNet, "subject.identifiers[0].host", "is not a valid host name"},
		{"host underscore", suspended, func(n *headsupv1.Notice) { subjectID(n, 0).Value = &headsupv1.Identifier_Host{Host: "_dmarc.x.com"} }, testNet, "subject.identifiers[0].host", "is not a valid host name"},
		{"subject host co.uk", suspended, func(n *headsupv1.Notice) { subjectID(n, 0).Value = &headsupv1.Identifier_Host{Host: "co.uk"} }, testNet, "subject.identifiers[0].host", "public suffix"},
		{"subject host github.io", sighted, func(n *headsupv1.Notice) { subjectID(n, 0).Value = &headsupv1.Identifier_Host{Host: "github.io"} }, testNet, "subject.identifiers[0].host", "public suffix"},
		{"subject host com", reseller, func(n *headsupv1.Notice) { subjectID(n, 2).Value = &headsupv1.Identifier_Host{Host: "com"} }, testNet, "subject.identifiers[2].host", "single label"},
		{"address unmasked", suspended, func(n *headsupv1.Notice) { subjectID(n, 2).GetAddress().Prefix = "198.51.100.5/24" }, testNet, "subject.identifiers[2].address.prefix", `not in normal form (want "198.51.100.0/24")`},
		{"address without length", suspended, func(n *headsupv1.Notice) { subjectID(n, 1).GetAddress().Prefix = "203.0.113.10" }, testNet, "subject.identifiers[1].address.prefix", "not in normal form"},
		{"address mapped", suspended, func(n *headsupv1.Notice) { subjectID(n, 1).GetAddress().Prefix = "::ffff:203.0.113.10/128" }, testNet, "subject.identifiers[1].address.prefix", "not in normal form"},
		{"address ipv6 not canonical", suspended, func(n *headsupv1.Notice) { subjectID(n, 3).GetAddress().Prefix = "2001:DB8:C::/48" }, testNet, "subject.identifiers[3].address.prefix", "not in normal form"},
		{"address /8", suspended, func(n *headsupv1.Notice) { subjectID(n, 1).GetAddress().Prefix = "11.0.0.0/8" }, testNet, "subject.identifiers[1].address.prefix", "shorter than /16"},
		{"address ::/0", suspended, func(n *headsupv1.Notice) { subjectID(n, 3).GetAddress().Prefix = "::/0" }, testNet, "subject.identifiers[3].address.prefix", "shorter than /29"},
		{"address private", suspended, func(n *headsupv1.Notice) { subjectID(n, 1).GetAddress().Prefix = "10.1.2.3/32" }, testNet, "subject.identifiers[1].address.prefix", "special-purpose"},
		{"address documentation", suspended, func(*headsupv1.Notice) {}, Options{}, "subject.identifiers[1].address.prefix", "test network"},
		{"address nil", suspended, func(n *headsupv1.Notice) { subjectID(n, 1).Value = &headsupv1.Identifier_Address{} }, testNet, "subject.identifiers[1].address", "empty"},
		{"address role missing in suspension", suspended, func(n *headsupv1.Notice) { subjectID(n, 1).GetAddress().Role = 0 }, testNet, "subject.identifiers[1].address.role", "required"},
		{"address role unknown", suspended, func(n *headsupv1.Notice) { subjectID(n, 1).GetAddress().Role = 7 }, testNet, "subject.identifiers[1].address.role", "not a known value"},
		{"address role in sighting subject", sighted, func(n *headsupv1.Notice) {
			n.Subject.Identifiers = append(n.Subject.Identifiers, addrID("203.0.113.9/32", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN))
		}, testNet, "subject.identifiers[1].address.role", "only allowed"},
		{"address role in sighting host", sighted, func(n *headsupv1.Notice) {
			n.Sighting.Host.Identifiers[0].GetAddress().Role = headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN
		}, testNet, "sighting.host.identifiers[0].address.role", "only allowed"},
		{"address role in reseller", reseller, func(n *headsupv1.Notice) {
			subjectID(n, 1).GetAddress().Role = headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED
		}, testNet, "subject.identifiers[1].address.role", "only allowed"},
		{"assigned without until", suspended, func(n *headsupv1.Notice) { subjectID(n, 2).GetAddress().AssignedUntil = nil }, testNet, "subject.identifiers[2].address.assigned_until", "required"},
		{"until without assigned", suspended, func(n *headsupv1.Notice) { subjectID(n, 1).GetAddress().AssignedUntil = ts(issued) }, testNet, "subject.identifiers[1].address.assigned_until", "only allowed"},
		{"assigned_until fractional", suspended, func(n *headsupv1.Notice) { subjectID(n, 2).GetAddress().AssignedUntil = fractional }, testNet, "subject.identifiers[2].address.assigned_until", "fractional"},
		{"asn 23456", suspended, func(n *headsupv1.Notice) { subjectID(n, 4).GetAsn().Number = 23456 }, testNet, "subject.identifiers[4].asn.number", "AS_TRANS"},
		{"asn private", suspended, func(n *headsupv1.Notice) { subjectID(n, 4).GetAsn().Number = 64512 }, testNet, "subject.identifiers[4].asn.number", "private"},
		{"asn documentation", realNetwork, func(n *headsupv1.Notice) { subjectID(n, 3).GetAsn().Number = 64500 }, Options{}, "subject.identifiers[3].asn.number", "documentation"},
		{"asn role", suspended, func(n *headsupv1.Notice) { subjectID(n, 4).GetAsn().Role = 0 }, testNet, "subject.identifiers[4].asn.role", "required"},
		{"asn nil", suspended, func(n *headsupv1.Notice) { subjectID(n, 4).Value = &headsupv1.Identifier_Asn{} }, testNet, "subject.identifiers[4].asn", "empty"},
		{"email not normal", suspended, func(n *headsupv1.Notice) {
			subjectID(n, 5).Value = &headsupv1.Identifier_Email{Email: "Abuse@chanboard.example"}
		}, testNet, "subject.identifiers[5].email", "not in normal form"},
		{"email ip literal", suspended, func(n *headsupv1.Notice) {
			subjectID(n, 5).Value = &headsupv1.Identifier_Email{Email: "abuse@[192.0.2.1]"}
		}, testNet, "subject.identifiers[5].email", "IP-literal"},
		{"organisation not normal", suspended, func(n *headsupv1.Notice) {
			subjectID(n, 6).Value = &headsupv1.Identifier_Organisation{Organisation: "Chanboard Media Ltd"}
		}, testNet, "subject.identifiers[6].organisation", `not in normal form (want "chanboard media")`},
		{"organisation generic", suspended, func(n *headsupv1.Notice) {
			subjectID(n, 6).Value = &headsupv1.Identifier_Organisation{Organisation: "cloud hosting"}
		}, testNet, "subject.identifiers[6].organisation", "generic"},
		{"organisation short", suspended, func(n *headsupv1.Notice) {
			subjectID(n, 6).Value = &headsupv1.Identifier_Organisation{Organisation: "abc"}
		}, testNet, "subject.identifiers[6].organisation", "4 letters"},
		{"lei check digit", suspended, func(n *headsupv1.Notice) { subjectID(n, 7).GetRegistration().Value = "5493001KJTIIGC8Y1R13" }, testNet, "subject.identifiers[7].registration.value", "check digits"},
		{"lei lower case", suspended, func(n *headsupv1.Notice) { subjectID(n, 7).GetRegistration().Value = "5493001kjtiigc8y1r12" }, testNet, "subject.identifiers[7].registration.value", "not in normal form"},
		{"registration scheme", suspended, func(n *headsupv1.Notice) { subjectID(n, 7).GetRegistration().Scheme = 0 }, testNet, "subject.identifiers[7].registration.scheme", "required"},
		{"registration nil", suspended, func(n *headsupv1.Notice) { subjectID(n, 7).Value = &headsupv1.Identifier_Registration{} }, testNet, "subject.identifiers[7].registration", "empty"},
		{"company number without country", reseller, func(n *headsupv1.Notice) {
			n.Relations[1].Entity.Identifiers[2].GetRegistration().Country = ""
		}, testNet, "relations[1].entity.identifiers[2].registration.country", "required"},
		{"company number lower country", reseller, func(n *headsupv1.Notice) {
			n.Relations[1].Entity.Identifiers[2].GetRegistration().Country = "gb"
		}, testNet, "relations[1].entity.identifiers[2].registration.country", "not in normal form"},
		{"country on lei", suspended, func(n *headsupv1.Notice) { subjectID(n, 7).GetRegistration().Country = "DE" }, testNet, "subject.identifiers[7].registration.country", "only given with a company number"},
		{"hashed unknown type", suspended, func(n *headsupv1.Notice) {
			subjectID(n, 8).Value = &headsupv1.Identifier_Hashed{Hashed: "hmac-sha256:fed-2026:name:" + testHex}
		}, testNet, "subject.identifiers[8].hashed", "unknown type"},
		{"hashed upper hex", suspended, func(n *headsupv1.Notice) {
			subjectID(n, 8).Value = &headsupv1.Identifier_Hashed{Hashed: "hmac-sha256:fed-2026:phone:" + strings.ToUpper(testHex)}
		}, testNet, "subject.identifiers[8].hashed", "not in normal form"},

		// Totals.
		{"1001 identifiers", reseller, func(n *headsupv1.Notice) {
			n.Subject.Identifiers = manyHosts(MaxIdentifiers + 1 - len(n.Relations[1].Entity.Identifiers))
		}, testNet, "", "1001 identifiers"},
		{"too many ipv4 addresses", realNetwork, func(n *headsupv1.Notice) {
			n.Subject.Identifiers = append(n.Subject.Identifiers, addrID("11.2.0.0/32", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN))
		}, Options{}, "", "65537 IPv4 addresses"},
		{"ipv4 addresses across entities", reseller, func(n *headsupv1.Notice) {
			n.Subject.Identifiers = append(n.Subject.Identifiers, addrID("11.1.0.0/16", 0))
		}, testNet, "", "65792 IPv4 addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n()
			tt.mutate(n)
			err := Validate(n, tt.opts)
			if err == nil {
				t.Fatal("Validate accepted the notice")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if fe.Path != tt.path || !strings.Contains(fe.Reason, tt.reason) {
				t.Fatalf("Validate = %v (path %q); want path %q, reason containing %q", err, fe.Path, tt.path, tt.reason)
			}
			if again := Validate(n, tt.opts); again.Error() != err.Error() {
				t.Fatalf("Validate is not deterministic: %v, then %v", err, again)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	if err := Validate(nil, Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate(nil) = %v", err)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	n := suspended()
	n.Subject.Identifiers[2] = hostID("exa mple.com")
	err := Validate(n, testNet)
	want := `subject.identifiers[2].host: "exa mple.com" is not a valid host name`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v, want prefix %s", err, want)
	}
	n = suspended()
	n.IssuedAt.Nanos = 5e8
	want = `issued_at: "2026-03-01T12:00:00.5Z" is not whole seconds: fractional seconds are not allowed`
	if err := Validate(n, testNet); err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	long := &FieldError{Path: "summary", Value: truncate(strings.Repeat("é", 200)), Reason: "x"}
	if len(long.Value) > maxErrValue+len("…") {
		t.Fatalf("value not truncated: %d bytes", len(long.Value))
	}
}

func TestNormalize(t *testing.T) {
	n := suspended()
	n.Subject.Identifiers = []*headsupv1.Identifier{
		hostID(" Chanboard.EXAMPLE. "),
		addrID("::ffff:203.0.113.10", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN),
		addrID("198.51.100.77/24", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN),
		addrID("2001:DB8:C:0::/48", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN),
		emailID("Abuse@CHANBOARD.example"),
		orgID("Chanboard Media Ltd."),
		regID(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_VAT, "de 123 456 789", ""),
		regID(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER, "hrb 1234", "de"),
		hashedID("HMAC-SHA256:fed-2026:phone:" + strings.ToUpper(testHex)),
	}
	if err := Normalize(n, testNet); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	want := []string{
		"chanboard.example", "203.0.113.10/32", "198.51.100.0/24", "2001:db8:c::/48",
		"abuse@chanboard.example", "chanboard media", "DE123456789", "HRB1234/DE",
		"hmac-sha256:fed-2026:phone:" + testHex,
	}
	for i, id := range n.Subject.Identifiers {
		var got string
		switch x := id.Value.(type) {
		case *headsupv1.Identifier_Host:
			got = x.Host
		case *headsupv1.Identifier_Address:
			got = x.Address.Prefix
		case *headsupv1.Identifier_Email:
			got = x.Email
		case *headsupv1.Identifier_Organisation:
			got = x.Organisation
		case *headsupv1.Identifier_Registration:
			got = x.Registration.Value
			if x.Registration.Country != "" {
				got += "/" + x.Registration.Country
			}
		case *headsupv1.Identifier_Hashed:
			got = x.Hashed
		}
		if got != want[i] {
			t.Errorf("identifier %d = %q, want %q", i, got, want[i])
		}
	}

	for _, tt := range []struct {
		name string
		n    func() *headsupv1.Notice
		path string
	}{
		{"bad host", func() *headsupv1.Notice {
			n := suspended()
			n.Subject.Identifiers[0] = hostID("exa mple.com")
			return n
		}, "subject.identifiers[0].host"},
		{"bad sighting prefix", func() *headsupv1.Notice {
			n := sighted()
			n.Sighting.Host.Identifiers[0].GetAddress().Prefix = "10.0.0.1"
			return n
		}, "sighting.host.identifiers[0].address.prefix"},
		{"bad relation registration", func() *headsupv1.Notice {
			n := reseller()
			n.Relations[1].Entity.Identifiers[2].GetRegistration().Country = "XX"
			return n
		}, "relations[1].entity.identifiers[2].registration.country"},
		{"bad lei", func() *headsupv1.Notice {
			n := suspended()
			n.Subject.Identifiers[7].GetRegistration().Value = "5493001KJTIIGC8Y1R13"
			return n
		}, "subject.identifiers[7].registration.value"},
		{"validation after normalising", func() *headsupv1.Notice {
			n := suspended()
			n.Reason = ""
			return n
		}, "reason"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Normalize(tt.n(), testNet)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != tt.path || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Normalize = %v, want a FieldError at %q", err, tt.path)
			}
		})
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnmarshalValid(t *testing.T) {
	for _, n := range []*headsupv1.Notice{suspended(), sighted(), reseller(), retraction()} {
		b := mustMarshal(t, n)
		got, err := Unmarshal(b, testNet)
		if err != nil {
			t.Fatalf("Unmarshal(%s): %v", n.Kind, err)
		}
		if !proto.Equal(got, n) {
			t.Fatalf("Unmarshal(%s) = %v, want %v", n.Kind, got, n)
		}
	}
}

// withUnknown appends an unknown varint field 99 to m's unknown fields.
func withUnknown(m proto.Message) {
	r := m.ProtoReflect()
	r.SetUnknown(protowire.AppendVarint(protowire.AppendTag(r.GetUnknown(), 99, protowire.VarintType), 1))
}

func TestUnmarshalUnknownFields(t *testing.T) {
	tests := []struct {
		name  string
		bytes func(t *testing.T) []byte
		path  string
	}{
		{"top level", func(t *testing.T) []byte {
			b := mustMarshal(t, suspended())
			return protowire.AppendVarint(protowire.AppendTag(b, 99, protowire.VarintType), 1)
		}, "notice"},
		{"nested entity, built with protowire", func(t *testing.T) []byte {
			n := suspended()
			subject := n.Subject
			n.Subject = nil
			b := mustMarshal(t, n)
			eb := mustMarshal(t, subject)
			eb = protowire.AppendBytes(protowire.AppendTag(eb, 42, protowire.BytesType), []byte("hidden"))
			b = protowire.AppendTag(b, 5, protowire.BytesType) // Notice.subject
			return protowire.AppendBytes(b, eb)
		}, "subject"},
		{"identifier", func(t *testing.T) []byte {
			n := suspended()
			withUnknown(n.Subject.Identifiers[3])
			return mustMarshal(t, n)
		}, "subject.identifiers[3]"},
		{"address in oneof", func(t *testing.T) []byte {
			n := suspended()
			withUnknown(n.Subject.Identifiers[1].GetAddress())
			return mustMarshal(t, n)
		}, "subject.identifiers[1].address"},
		{"timestamp", func(t *testing.T) []byte {
			n := suspended()
			withUnknown(n.IssuedAt)
			return mustMarshal(t, n)
		}, "issued_at"},
		{"assigned_until", func(t *testing.T) []byte {
			n := suspended()
			withUnknown(n.Subject.Identifiers[2].GetAddress().AssignedUntil)
			return mustMarshal(t, n)
		}, "subject.identifiers[2].address.assigned_until"},
		{"observation evidence", func(t *testing.T) []byte {
			n := sighted()
			withUnknown(n.Sighting.Host.Identifiers[0].Observation.Evidence[0])
			return mustMarshal(t, n)
		}, "sighting.host.identifiers[0].observation.evidence[0]"},
		{"notice ref", func(t *testing.T) []byte {
			n := sighted()
			withUnknown(n.Sighting.About[0])
			return mustMarshal(t, n)
		}, "sighting.about[0]"},
		{"relation entity", func(t *testing.T) []byte {
			n := reseller()
			withUnknown(n.Relations[1].Entity.Identifiers[1].GetRegistration())
			return mustMarshal(t, n)
		}, "relations[1].entity.identifiers[1].registration"},
		{"legal basis", func(t *testing.T) []byte {
			n := suspended()
			withUnknown(n.LegalBasis)
			return mustMarshal(t, n)
		}, "legal_basis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal(tt.bytes(t), testNet)
			if !errors.Is(err, ErrUnknownField) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Unmarshal = %v, want ErrUnknownField and ErrInvalid", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != tt.path {
				t.Fatalf("Unmarshal = %v, want path %q", err, tt.path)
			}
		})
	}
}

func TestUnmarshalRefusals(t *testing.T) {
	valid := mustMarshal(t, suspended())
	tests := []struct {
		name     string
		b        []byte
		tooLarge bool
	}{
		{"over the size limit", append(valid, make([]byte, MaxNoticeBytes+1-len(valid))...), true},
		{"garbage over the size limit", bytes.Repeat([]byte{0xff}, MaxNoticeBytes+1), true},
		{"garbage", []byte{0xff, 0xff, 0xff}, false},
		{"empty", nil, false},
		{"truncated", valid[:len(valid)-3], false},
		{"invalid utf-8", protowire.AppendString(protowire.AppendTag(valid, 9, protowire.BytesType), "a\xffb"), false},
		{"schema invalid", mustMarshal(t, &headsupv1.Notice{Id: idSuspended}), false},
		{"not in test network", nil, false}, // filled below
	}
	tests[len(tests)-1].b = valid
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testNet
			if tt.name == "not in test network" {
				opts = Options{}
			}
			n, err := Unmarshal(tt.b, opts)
			if err == nil || n != nil {
				t.Fatalf("Unmarshal = %v, %v; want refusal", n, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if errors.Is(err, ErrTooLarge) != tt.tooLarge {
				t.Fatalf("error %v: ErrTooLarge = %v, want %v", err, !tt.tooLarge, tt.tooLarge)
			}
		})
	}
}

func TestUnmarshalSizeBoundary(t *testing.T) {
	// A valid notice padded to exactly MaxNoticeBytes by its summary field
	// repeated (the last one wins) is not refused for size.
	n := suspended()
	b := mustMarshal(t, n)
	pad := MaxNoticeBytes - len(b)
	// tag (1 byte) + length (3 bytes for 128..16383, here a few KB) + data
	b = protowire.AppendTag(b, 50000, protowire.BytesType) // unknown, so refused for that, not size
	b = protowire.AppendBytes(b, make([]byte, pad-len(protowire.AppendTag(nil, 50000, protowire.BytesType))-3))
	if len(b) != MaxNoticeBytes {
		t.Fatalf("padding arithmetic: %d bytes", len(b))
	}
	_, err := Unmarshal(b, testNet)
	if errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrUnknownField) {
		t.Fatalf("Unmarshal at the limit = %v, want the unknown field, not the size", err)
	}
}

func TestFill(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 999_999_999, time.UTC)
	n := sighted()
	n.Id, n.Salt, n.IssuedAt, n.ExpiresAt = "", nil, nil, nil
	n.Audience = []string{"voxhost"}
	if err := Fill(n, now); err != nil {
		t.Fatal(err)
	}
	if !ValidNoticeID(n.Id) {
		t.Errorf("id = %q", n.Id)
	}
	if len(n.Salt) != 32 || bytes.Equal(n.Salt, make([]byte, 32)) {
		t.Errorf("salt = %x", n.Salt)
	}
	if n.IssuedAt.Seconds != issued.Unix() || n.IssuedAt.Nanos != 0 {
		t.Errorf("issued_at = %v, want %v truncated", n.IssuedAt.AsTime(), now)
	}
	if got := n.ExpiresAt.AsTime(); !got.Equal(issued.Add(DefaultExpiry)) {
		t.Errorf("expires_at = %v", got)
	}
	if len(n.Audience) != 2 || n.Audience[1] != "researcher" {
		t.Errorf("audience = %v", n.Audience)
	}
	if err := Validate(n, testNet); err != nil {
		t.Errorf("filled notice: %v", err)
	}

	// What is set stays; a suspension gets no default expiry; an empty
	// audience stays empty (everyone).
	s := suspended()
	want := proto.Clone(s)
	if err := Fill(s, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(s, want) {
		t.Errorf("Fill changed a complete notice: %v", s)
	}
	r := reseller()
	r.ExpiresAt = nil
	if err := Fill(r, now); err != nil {
		t.Fatal(err)
	}
	if r.ExpiresAt == nil {
		t.Error("reseller notice got no expires_at")
	}
	// Two fills draw different ids and salts.
	a, b := &headsupv1.Notice{}, &headsupv1.Notice{}
	if err := errors.Join(Fill(a, now), Fill(b, now)); err != nil {
		t.Fatal(err)
	}
	if a.Id == b.Id || bytes.Equal(a.Salt, b.Salt) {
		t.Error("two fills drew the same id or salt")
	}
}

func TestExpired(t *testing.T) {
	n := sighted()
	exp := n.ExpiresAt.AsTime()
	tests := []struct {
		n    *headsupv1.Notice
		now  time.Time
		want bool
	}{
		{n, exp.Add(-time.Nanosecond), false},
		{n, exp, true},
		{n, exp.Add(time.Second), true},
		{suspended(), exp.Add(1000 * time.Hour), false}, // no expiry
		{nil, exp, false},
	}
	for i, tt := range tests {
		if got := Expired(tt.n, tt.now); got != tt.want {
			t.Errorf("%d: Expired(%v) = %v, want %v", i, tt.now, got, tt.want)
		}
	}
}
